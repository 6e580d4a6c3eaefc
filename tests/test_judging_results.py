"""Judging (/score), results (/results with a chart), publishing (/publish) and the citizens'
results view, through the real Application driven offline."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from matplotlib import font_manager

from bot.campaign_file import parse_campaign
from bot.chart import FONT_FILE, WIDTH, render_results_chart
from bot.phrases import readiness_lines
from bot.services.judging import ScoreOutcome
from bot.services.results import PublishOutcome
from handlers.telegram.offline import TelegramUser
from storage.repositories import ScoreRepository
from storage.tables import audit_log
from tests.conftest import ADMIN, SEOUL, SMITH, VOTING_CLOSES, small_campaign
from tests.test_chart import png_size
from tests.test_search import is_search_answer

LEE = TelegramUser(1003, "이영희", "ko", username="lee_judge")
PARK = TelegramUser(1004, "박민수", "ko", username="park_mod")
KIM = TelegramUser(1001, "김순자", "ko")
HINT = "아래 버튼을 눌러 주세요."
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
AFTER_REVIEW = datetime(2024, 12, 6, 18, 0, tzinfo=SEOUL)
AWARDS = [{"ko": "대상", "en": "Grand prize", "count": 1},
          {"ko": "우수상", "en": "Excellence", "count": 2}]



@pytest.fixture
async def judge(staffbot):
    await staffbot.send(LEE, "/start")
    await staffbot.send(ADMIN, f"/grant {LEE.id} judge")
    return LEE


async def audit(services, action: str) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.action == action)
                                  .order_by(audit_log.c.id))
        return [dict(r) for r in rows.mappings()]


async def my_scores(services, campaign) -> dict[tuple[int, int], float]:
    async with services.db.read() as conn:
        rows = await ScoreRepository(conn).of_campaign(campaign.id)
    return {(r["case_id"], r["criterion"]): r["score"] for r in rows}


async def reload(services, **changes):
    report = await services.campaigns.load(parse_campaign(small_campaign(**changes)))
    return await services.campaigns.get(report.campaign_id)


async def first_cases(services, campaign, n: int):
    ranked = await services.results.ranking(campaign)
    return sorted(r.case.id for r in ranked)[:n]


def sent(calls, method="sendMessage"):
    return [c for c in calls if c.method in (method, "editMessageText")]


# --- judging -----------------------------------------------------------------------------------

async def test_judge_scores_by_button_and_by_typed_number_then_revises(staffbot, judge,
                                                                        services, campaign):
    one, two, three = await first_cases(services, campaign, 3)
    calls = await staffbot.send(LEE, "/score")
    card = calls[-1]
    assert "사례 제목 01번" in card.text and "0/10건 완료" in card.text
    assert ("사례 제목 01번 본문입니다. " * 6).strip() in card.text  # the whole text
    assert card.labels()[:11] == [str(v) for v in range(0, 101, 10)]
    assert "⏭ 건너뛰기" in card.labels()

    calls = await staffbot.press(LEE, "80")
    assert "사례 제목 01번: 80점 저장" in calls[-1].text
    assert "사례 제목 02번" in calls[-1].text and "1/10건 완료" in calls[-1].text

    calls = await staffbot.send(LEE, "75")
    assert "사례 제목 02번: 75점 저장" in calls[-1].text
    assert "사례 제목 03번" in calls[-1].text
    assert await my_scores(services, campaign) == {(one, 0): 80.0, (two, 0): 75.0}

    calls = await staffbot.send(LEE, f"/score {one}")
    assert "사례 제목 01번" in calls[-1].text
    calls = await staffbot.send(LEE, "90")
    assert "80점 → 90점으로 고쳤습니다" in calls[-1].text
    assert (await my_scores(services, campaign))[(one, 0)] == 90.0

    entries = await audit(services, "score.set")
    assert [(e["detail"]["before"], e["detail"]["after"]) for e in entries] == [
        (None, 80.0), (None, 75.0), (80.0, 90.0)]
    assert entries[0]["actor"] == f"telegram:{LEE.id}"
    assert entries[0]["campaign_id"] == campaign.id
    assert entries[0]["detail"]["case_id"] == one
    progress = await services.judging.progress(campaign, await services.citizens.identify(
        "telegram", str(LEE.id), "ko"))
    assert (progress.scored, progress.total) == (2, 10)


async def test_judge_reads_a_long_case_in_full_with_its_photo(staffbot, judge, services,
                                                              tmp_path):
    (tmp_path / "case1.png").write_bytes(PNG)
    raw = small_campaign()
    words = [f"문장{n:03d} & <뜻>" for n in range(230)]  # 2,989 characters, 4,370 escaped
    raw["cases"][0]["ko"]["body"] = " ".join(words)
    raw["cases"][0]["image"] = "case1.png"
    await services.campaigns.load(parse_campaign(raw, base_dir=tmp_path))
    calls = await staffbot.send(LEE, "/score")
    assert [c.method for c in calls][0] == "sendPhoto"
    texts = [c.text for c in calls if c.method == "sendMessage"]
    assert len(texts) >= 2 and all(len(text) <= 4096 for text in texts)
    parts, card = texts[:-1], texts[-1]
    assert parts[0].startswith("📄 <b>#") and f"(1/{len(parts)})" in parts[0]
    shown = " ".join(p.split("\n\n", 1)[1] for p in parts)
    assert all(f"문장{n:03d} &amp; &lt;뜻&gt;" in shown for n in range(230))  # nothing lost
    assert "사례 제목 01번" in card and "0/10건 완료" in card
    assert calls[-1].labels()[:11] == [str(v) for v in range(0, 101, 10)]
    # The next criterion or case of a short text: one card, edited in place.
    calls = await staffbot.press(LEE, "80")
    assert [c.method for c in calls if c.method != "answerCallbackQuery"] == [
        "editMessageText"]
    assert "사례 제목 02번 본문입니다." in calls[-1].text


async def test_judge_sees_a_picture_given_by_its_address(staffbot, judge, services):
    raw = small_campaign()
    raw["cases"][0]["image"] = "https://example.org/case1.jpg"
    await services.campaigns.load(parse_campaign(raw))
    card = (await staffbot.send(LEE, "/score"))[-1]
    assert "사례 제목 01번" in card.text
    assert card.params["link_preview_options"]["url"] == "https://example.org/case1.jpg"


async def test_out_of_range_skip_and_stop(staffbot, judge, services, campaign):
    await staffbot.send(LEE, "/score")
    for text in ("150", "-5"):
        calls = await staffbot.send(LEE, text)
        assert calls[-1].text == "0~100 사이의 숫자를 입력해 주세요."
    assert await my_scores(services, campaign) == {}

    calls = await staffbot.press(LEE, "건너뛰기")
    assert "사례 제목 02번" in calls[-1].text
    calls = await staffbot.press(LEE, "그만하기")
    assert "심사를 멈췄습니다" in calls[-1].text
    calls = await staffbot.send(LEE, "50")  # no step open: an ordinary message, a search
    assert is_search_answer(calls[-1].text)
    assert await my_scores(services, campaign) == {}


async def test_criteria_are_scored_one_at_a_time(staffbot, judge, services):
    campaign = await reload(services, judging={
        "scale_min": 0, "scale_max": 10,
        "criteria": [{"ko": "혁신성", "en": "Innovation"}, {"ko": "효과성", "en": "Impact"}]})
    one, two = await first_cases(services, campaign, 2)
    calls = await staffbot.send(LEE, "/score")
    assert "혁신성</b> (1/2)" in calls[-1].text
    assert calls[-1].labels()[:11] == [str(v) for v in range(11)]
    calls = await staffbot.press(LEE, "7")
    assert "효과성</b> (2/2)" in calls[-1].text and "사례 제목 01번" in calls[-1].text
    calls = await staffbot.send(LEE, "9")
    assert "혁신성</b> (1/2)" in calls[-1].text and "사례 제목 02번" in calls[-1].text
    assert await my_scores(services, campaign) == {(one, 1): 7.0, (one, 2): 9.0}
    [result] = [r for r in await services.results.ranking(campaign) if r.case.id == one]
    assert result.ranked.judge_mean == 16.0 and result.ranked.judge_points == 80.0


@pytest.mark.parametrize("who", ["citizen", "moderator"])
async def test_score_is_refused_to_citizens_and_moderators(staffbot, services, campaign, who,
                                                           clock):
    user = KIM if who == "citizen" else PARK
    await staffbot.send(user, "/start")
    if who == "moderator":
        await staffbot.send(ADMIN, f"/grant {PARK.id} moderator")
    calls = await staffbot.send(user, "/score")
    assert [c.method for c in calls] == ["sendMessage"]
    if who == "citizen":  # the staff surface stays hidden from citizens
        assert calls[0].text.startswith(HINT)
    else:  # staff are told which role the command needs
        assert calls[0].text == "/score 명령은 심사위원만 쓸 수 있습니다."
    one = (await first_cases(services, campaign, 1))[0]
    clock.advance(timedelta(minutes=1))  # refusals within one minute are one counted entry
    calls = await staffbot.press(user, data=f"Sj:s:{campaign.id}:{one}:0:100")
    assert calls[-1].method == "answerCallbackQuery" and calls[-1].params["show_alert"]
    calls = await staffbot.send(user, "100")  # no score: an ordinary message, a search
    assert is_search_answer(calls[-1].text)
    assert await my_scores(services, campaign) == {}
    refused = await audit(services, "staff.refused")
    assert [r["detail"]["attempt"] for r in refused] == ["/score",
                                                         f"Sj:s:{campaign.id}:{one}:0:100"]


async def test_an_admin_without_the_judge_role_is_told_the_role_needed(staffbot, services):
    calls = await staffbot.send(ADMIN, "/score 3")
    assert [c.text for c in calls if c.method == "sendMessage"] == [
        "/score 명령은 심사위원만 쓸 수 있습니다."]
    assert [r["detail"]["attempt"] for r in await audit(services, "staff.refused")] == [
        "/score 3"]


async def test_a_judge_is_told_in_english_which_roles_may_moderate(staffbot, services):
    await staffbot.send(SMITH, "/start")
    await staffbot.send(ADMIN, f"/grant {SMITH.id} judge")
    calls = await staffbot.send(SMITH, "/moderate")
    assert calls[-1].text == "Only a moderator or admin can use /moderate."


async def test_scoring_is_refused_after_the_review_closes(staffbot, judge, services, campaign,
                                                          clock):
    await staffbot.send(LEE, "/score")  # a card open from before
    clock.set(AFTER_REVIEW)
    calls = await staffbot.press(LEE, "80")
    assert calls[-1].text == "심사 기간이 끝나 점수를 매길 수 없습니다."
    calls = await staffbot.send(LEE, "/score")
    assert calls[-1].text == "심사 기간이 끝나 점수를 매길 수 없습니다."
    assert await my_scores(services, campaign) == {}
    lee = await services.citizens.identify("telegram", str(LEE.id), "ko")
    one = (await first_cases(services, campaign, 1))[0]
    result = await services.judging.score(campaign, lee, one, 0, 50)
    assert result.outcome is ScoreOutcome.CLOSED
    clock.set(datetime(2024, 12, 6, 17, 59, tzinfo=SEOUL))  # still in review: allowed
    assert (await services.judging.score(campaign, lee, one, 0, 50)).outcome is ScoreOutcome.SAVED
    assert (await services.judging.score(campaign, lee, 10**6, 0, 50)).outcome \
        is ScoreOutcome.UNKNOWN_CASE
    assert (await services.judging.score(campaign, lee, one, 3, 50)).outcome \
        is ScoreOutcome.UNKNOWN_CRITERION


# --- results and the chart ---------------------------------------------------------------------

async def vote_and_score(staffbot, services, campaign):
    """Three citizens vote, the judge scores two cases."""
    one, two, three = await first_cases(services, campaign, 3)
    for i, case_id in enumerate([two, two, three]):
        citizen = await services.citizens.identify("telegram", str(2000 + i), "ko")
        assert (await services.voting.cast_vote(campaign, citizen, case_id)).stored
    lee = await services.citizens.identify("telegram", str(LEE.id), "ko")
    await services.judging.score(campaign, lee, one, 0, 95)
    await services.judging.score(campaign, lee, two, 0, 60)
    return one, two, three


def test_the_chart_is_a_png_drawn_with_the_korean_font(services):
    assert font_manager.FontProperties(fname=str(FONT_FILE)).get_name() == "NanumGothic"


async def test_chart_renders_korean_labels_without_missing_glyphs(services, campaign):
    ranked = await services.results.ranking(campaign)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font" would fail here
        png = render_results_chart(ranked, "ko", campaign)
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert render_results_chart(ranked, "en", campaign).startswith(b"\x89PNG")


async def test_results_preview_sends_the_chart_and_the_ranking(staffbot, judge, services):
    campaign = await reload(services, awards=AWARDS)
    one, two, three = await vote_and_score(staffbot, services, campaign)
    calls = await staffbot.send(ADMIN, "/results")
    [photo] = [c for c in calls if c.method == "sendPhoto"]
    assert "photo" not in photo.params  # an upload, not a file id or URL
    [(_, png)] = photo.params["_files"].values()
    assert png.startswith(b"\x89PNG")
    assert png_size(png)[0] == WIDTH  # the phone-shaped chart (tests/test_chart.py)
    assert len(photo.params["caption"]) <= 1024 and "결과 미리 보기" in photo.params["caption"]
    text = "\n".join(c.text for c in calls if c.method == "sendMessage")
    # case one: judges 95 -> 66.5 final; case two: 2 votes (100) and 60 -> 30 + 42 = 72
    first = text.index("1. [대상] <b>사례 제목 02번</b>")
    assert first < text.index("2. [우수상] <b>사례 제목 01번")
    assert "표 2 · 심사 평균 60 (1명) · 최종 72.00" in text
    assert "표 1 · 심사 평균 - (0명) · 최종 15.00" in text
    assert ("⚠️ 승인된 사례 10건 중 8건은 아직 심사 점수가 없습니다. 지금 발표하면 이 사례들은 "
            "심사 점수 0점으로 순위가 매겨집니다.") in text
    assert all(len(c.text) <= 4096 for c in calls if c.method == "sendMessage")


async def test_results_and_publish_are_admin_only(staffbot, judge, services, campaign):
    for command in ("/results", "/publish"):
        calls = await staffbot.send(LEE, command)
        assert calls[-1].text == f"{command} 명령은 관리자만 쓸 수 있습니다."
    calls = await staffbot.press(LEE, data=f"Sr:p:{campaign.id}")
    assert calls[-1].method == "answerCallbackQuery"
    assert (await services.campaigns.get(campaign.id)).results_published_at is None


# --- publishing and the citizens' view ---------------------------------------------------------

async def test_publish_confirm_announces_and_shows_citizens_the_results(staffbot, services,
                                                                       clock):
    campaign = await reload(services, awards=AWARDS)
    await staffbot.send(KIM, "/start")
    await staffbot.press(KIM, "네, 받을게요")
    calls = await staffbot.send(KIM, "/start")
    assert "🏆 결과 보기" not in calls[0].labels()
    calls = await staffbot.press(KIM, data=f"rs:{campaign.id}")  # forged before publishing
    assert "아직 결과가 발표되지 않았습니다" in calls[-1].text

    # Before voting closes: refused with the reason, before any confirmation.
    calls = await staffbot.send(ADMIN, "/publish")
    assert calls[-1].text == ("아직 투표가 끝나지 않아 발표할 수 없습니다. "
                              "투표 마감: 12월 1일(일) 18:00")
    assert calls[-1].labels() == ["🏠 처음으로"]
    assert (await services.campaigns.get(campaign.id)).results_published_at is None

    clock.set(VOTING_CLOSES)
    calls = await staffbot.send(ADMIN, "/publish")
    assert "결과를 발표할까요?" in calls[-1].text
    # what is missing is named on the confirmation itself
    assert "승인된 사례 10건 중 10건은 아직 심사 점수가 없습니다" in calls[-1].text
    calls = await staffbot.press(ADMIN, "발표하기")
    # no judge has scored: the first confirmation only warns, and asks a second time
    assert calls[-1].text.startswith("⚠️ 아직 끝나지 않은 것이 있습니다.")
    assert "10건은 아직 심사 점수가 없습니다" in calls[-1].text
    assert "감사 기록에 남습니다" in calls[-1].text
    assert calls[-1].labels() == ["⚠️ 알고 있습니다. 그래도 발표합니다", "취소"]
    assert (await services.campaigns.get(campaign.id)).results_published_at is None
    assert await audit(services, "results.published") == []
    calls = await staffbot.press(ADMIN, "그래도 발표합니다")
    assert calls[-1].text.startswith("✅ 결과를 발표했습니다")
    await services.broadcaster.idle()
    published = (await services.campaigns.get(campaign.id)).results_published_at
    assert published == VOTING_CLOSES
    news = [c for c in staffbot.request.calls if c.chat_id == KIM.id and c.text
            and "결과가 발표되었습니다" in c.text]
    assert len(news) == 1
    [entry] = await audit(services, "results.published")
    assert entry["actor"] == f"telegram:{ADMIN.id}" and entry["campaign_id"] == campaign.id
    assert entry["detail"]["incomplete_ok"] is True and entry["detail"]["unscored"] == 10

    calls = await staffbot.send(KIM, "/start")
    assert calls[0].labels()[0] == "🏆 결과 보기"
    calls = await staffbot.press(KIM, "결과 보기")
    assert [c.method for c in calls if c.method != "answerCallbackQuery"] == [
        "sendPhoto", "sendMessage"]
    assert next(iter(calls[-2].params["_files"].values()))[1].startswith(b"\x89PNG")
    assert "1. [대상]" in calls[-1].text and "[우수상]" in calls[-1].text
    # the next citizen gets the same chart by its file id: drawn and uploaded once
    calls = await staffbot.press(KIM, "결과 보기")
    photo = next(c for c in calls if c.method == "sendPhoto")
    assert isinstance(photo.params["photo"], str) and "_files" not in photo.params

    calls = await staffbot.send(ADMIN, "/publish")  # twice: refused at once, no button
    assert calls[-1].text.startswith("이미 ") and calls[-1].labels() == ["🏠 처음으로"]
    calls = await staffbot.press(ADMIN, data=f"Sr:f:{campaign.id}")  # a stale second button
    # (on the refusal just shown: the same words again, so nothing is edited)
    assert all(c.text.startswith("이미 ") for c in calls if c.text)
    await services.broadcaster.idle()
    assert (await services.campaigns.get(campaign.id)).results_published_at == published
    assert len(await audit(services, "results.published")) == 1
    assert len([c for c in staffbot.request.calls if c.chat_id == KIM.id and c.text
                and "결과가 발표되었습니다" in c.text]) == 1


async def score_all(services, campaign) -> None:
    lee = await services.citizens.identify("telegram", str(LEE.id), "ko")
    for case_id in await first_cases(services, campaign, 10):
        await services.judging.score(campaign, lee, case_id, 0, 70)


async def test_complete_judging_publishes_with_one_confirmation(staffbot, judge, services,
                                                                campaign, clock):
    await score_all(services, campaign)
    calls = await staffbot.send(ADMIN, "/results")
    assert "심사 점수가 없습니다" not in "\n".join(c.text or "" for c in calls)
    clock.set(VOTING_CLOSES)
    await staffbot.send(ADMIN, "/publish")
    calls = await staffbot.press(ADMIN, "발표하기")
    assert calls[-1].text.startswith("✅ 결과를 발표했습니다")
    await services.broadcaster.idle()
    [entry] = await audit(services, "results.published")
    assert "unscored" not in entry["detail"] and "incomplete_ok" not in entry["detail"]


async def test_service_refuses_incomplete_judging_and_changes_nothing(services, campaign,
                                                                      clock):
    clock.set(VOTING_CLOSES)
    lee = await services.citizens.identify("telegram", str(LEE.id), "ko")
    [one] = await first_cases(services, campaign, 1)
    await services.judging.score(campaign, lee, one, 0, 70)
    result = await services.results.publish(campaign, "telegram:1")
    assert (result.outcome, result.unscored) == (PublishOutcome.INCOMPLETE, 9)
    assert (await services.campaigns.get(campaign.id)).results_published_at is None
    assert await audit(services, "results.published") == []
    result = await services.results.publish(campaign, "telegram:1", incomplete_ok=True)
    assert (result.outcome, result.unscored) == (PublishOutcome.PUBLISHED, 9)
    await services.broadcaster.idle()
    [entry] = await audit(services, "results.published")
    assert entry["detail"]["unscored"] == 9 and entry["detail"]["incomplete_ok"] is True


async def test_judging_with_no_weight_is_never_incomplete(staffbot, services, clock):
    campaign = await reload(services, ranking={"citizen_weight": 1.0, "judge_weight": 0.0})
    calls = await staffbot.send(ADMIN, "/results")
    assert "심사 점수가 없습니다" not in "\n".join(c.text or "" for c in calls)
    clock.set(VOTING_CLOSES)
    result = await services.results.publish(campaign, "telegram:1")
    assert (result.outcome, result.unscored) == (PublishOutcome.PUBLISHED, 0)
    await services.broadcaster.idle()


async def test_cancel_changes_nothing(staffbot, services, campaign, clock):
    clock.set(VOTING_CLOSES)
    await staffbot.send(ADMIN, "/publish")
    calls = await staffbot.press(ADMIN, "취소")
    assert calls[-1].text == "발표를 취소했습니다. 아무것도 바뀌지 않았습니다."
    assert (await services.campaigns.get(campaign.id)).results_published_at is None
    assert await audit(services, "results.published") == []


# --- what is incomplete: idle judges, ties at an award's edge ---------------------------------

MIN = TelegramUser(1005, "민지훈", "ko", username="min_judge")


async def test_a_judge_who_scored_nothing_makes_publishing_incomplete(staffbot, judge, services,
                                                                     campaign, clock):
    await staffbot.send(MIN, "/start")
    await staffbot.send(ADMIN, f"/grant {MIN.id} judge")
    await score_all(services, campaign)  # Lee scores everything, Min nothing
    readiness = await services.results.readiness(campaign)
    assert readiness.too_early and readiness.unscored == ()
    assert readiness.idle_judges == ("@min_judge",) and readiness.incomplete
    calls = await staffbot.send(ADMIN, "/results")
    text = "\n".join(c.text or "" for c in calls)
    assert "아직 한 건도 심사하지 않은 심사위원 1명: @min_judge" in text

    clock.set(VOTING_CLOSES)
    calls = await staffbot.send(ADMIN, "/publish")
    assert "@min_judge" in calls[-1].text
    calls = await staffbot.press(ADMIN, "발표하기")
    assert "@min_judge" in calls[-1].text and "그래도 발표합니다" in calls[-1].labels()[0]
    assert (await services.campaigns.get(campaign.id)).results_published_at is None
    await staffbot.press(ADMIN, "그래도 발표합니다")
    await services.broadcaster.idle()
    [entry] = await audit(services, "results.published")
    assert entry["detail"] == {"before": None, "after": VOTING_CLOSES.astimezone(UTC).isoformat(),
                               "incomplete_ok": True, "unscored": 0, "idle_judges": 1,
                               "boundary_ties": 0}


async def test_a_tie_at_an_awards_edge_is_named_and_needs_the_second_confirmation(
        services, clock):
    # Votes alone count (judges weigh nothing), one award place: two cases with one vote each
    # tie for it, and only the tie-break (the earlier case) decides.
    campaign = await reload(services, awards=[{"ko": "대상", "en": "Grand prize", "count": 1}],
                            ranking={"citizen_weight": 1.0, "judge_weight": 0.0})
    ids = await first_cases(services, campaign, 2)
    clock.set(VOTING_CLOSES - timedelta(hours=1))
    for n, case_id in enumerate(ids):
        voter = await services.citizens.identify("telegram", str(5000 + n), "ko")
        await services.voting.cast_vote(campaign, voter, case_id)
    clock.set(VOTING_CLOSES)
    readiness = await services.results.readiness(campaign)
    [tie] = readiness.ties
    assert (tie.inside.id, tie.outside.id, tie.final) == (ids[0], ids[1], 100.0)
    assert readiness.unscored == () and readiness.idle_judges == ()
    lines = readiness_lines("ko", campaign, readiness, 10)
    assert lines == ["⚠️ 「대상」 경계에서 동점: 「사례 제목 01번」 · 「사례 제목 02번」 모두 "
                     "최종 100.00점. 동점 규칙(심사 점수 → 표 → 먼저 낸 사례)에 따라 수상: "
                     "「사례 제목 01번」"]
    result = await services.results.publish(campaign, "telegram:1")
    assert result.outcome is PublishOutcome.INCOMPLETE and result.readiness.ties == (tie,)
    result = await services.results.publish(campaign, "telegram:1", incomplete_ok=True)
    assert result.outcome is PublishOutcome.PUBLISHED
    [entry] = await audit(services, "results.published")
    assert entry["detail"]["boundary_ties"] == 1

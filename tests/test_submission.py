"""Submitting a case by chat, through the real Application: the guided steps in Korean and
English, every refusal, Back and Stop, the per-citizen limit, a restart halfway through, the
phase closing mid-way, and the case going through moderation into the voting list."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.drafts import Step
from bot.settings import Settings
from handlers.telegram.offline import OfflineRequest, OfflineTelegram, TelegramUser
from storage.tables import audit_log, cases, submission_drafts, votes
from tests.conftest import ADMIN, KIM, SMITH, small_campaign
from tests.test_search import is_search_answer

SEOUL = ZoneInfo("Asia/Seoul")
SUBMITTING = datetime(2024, 11, 1, 10, 0, tzinfo=SEOUL)
SUBMISSION_ENDS = datetime(2024, 11, 24, 18, 0, tzinfo=SEOUL)
LEE = TelegramUser(1003, "이영희", "ko")

TITLE = "우리 동네 어르신 반찬 나눔"
SUMMARY = "매주 목요일 이웃이 함께 반찬을 만들어 어르신 30가구에 전합니다."
BODY = ("2023년부터 주민 봉사자 20명이 매주 목요일 모여 반찬을 만들고, 홀로 사는 어르신 "
        "30가구를 찾아가 안부를 묻습니다. 고독사 예방에도 도움이 되었습니다.")


@pytest.fixture(autouse=True)
def submission_open(clock):
    clock.set(SUBMITTING)


def texts(calls) -> list[str]:
    return [c.text for c in calls if c.text]


def last_text(calls) -> str:
    return texts(calls)[-1]


async def stored_cases(services) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(cases.select().where(cases.c.source == "chat"))
        return [dict(r) for r in rows.mappings()]


async def draft_of(services, user: TelegramUser):
    citizen = await services.citizens.identify("telegram", str(user.id), user.language_code)
    return await services.submissions.draft_of(citizen)


async def write_until(bot: OfflineTelegram, user: TelegramUser, stop: Step | None,
                      photo: str | None = None, contact: str | None = None) -> list:
    """Answer every step in order (in Korean labels or English ones) until `stop`."""
    english = user.language_code == "en"
    answers = [
        (Step.TYPE, "press", "organization" if english else "기관·단체"),
        (Step.NAME, "send", "대전 행복 복지관"),
        (Step.CONTACT, "send", contact) if contact
        else (Step.CONTACT, "press", "Skip" if english else "건너뛰기"),
        (Step.DISTRICT, "press", "Dong-gu" if english else "동구"),
        (Step.NEIGHBOURHOOD, "press", "Hyo-dong" if english else "효동"),
        (Step.CATEGORY, "press", "Care" if english else "돌봄"),
        (Step.TITLE, "send", TITLE),
        (Step.SUMMARY, "send", SUMMARY),
        (Step.BODY, "send", BODY),
        (Step.PHOTO, "photo" if photo else "press", photo or ("No photo" if english
                                                               else "사진 없이")),
        (Step.CONSENT, "press", "I agree" if english else "동의합니다"),
    ]
    calls = await bot.send(user, "/submit")
    for step, how, value in answers:
        if step is stop:
            return calls
        if how == "press":
            calls = await bot.press(user, value)
        elif how == "photo":
            calls = await bot.send_photo(user, value)
        else:
            calls = await bot.send(user, value)
    return calls


# --- the whole conversation ---------------------------------------------------------------


async def test_a_case_submitted_in_korean(telegram, services, campaign):
    calls = await telegram.send(KIM, "/start")
    assert "✍️ 사례 접수하기" in calls[0].labels()
    calls = await telegram.press(KIM, "사례 접수하기")
    assert last_text(calls) == "✍️ <b>사례 접수</b> (1/11)\n\n누가 내는 사례인가요?"
    calls = await telegram.press(KIM, "기관·단체")
    assert "기관·단체 이름을 써 주세요 (100자까지)" in last_text(calls)
    calls = await telegram.send(KIM, "대전 행복 복지관")
    assert "(3/11)" in last_text(calls) and "연락처를 남겨 주세요 (선택)" in last_text(calls)
    assert calls[-1].labels() == ["➡ 건너뛰기", "◀ 이전", "✖ 그만두기"]
    calls = await telegram.send(KIM, "전화 주세요")  # neither a phone nor an e-mail
    assert last_text(calls).startswith("⚠️ 전화번호나 이메일 주소로 써 주세요.")
    assert (await draft_of(services, KIM)).answer(Step.CONTACT) is None
    calls = await telegram.send(KIM, "042 123 4567")
    assert "사례가 있는 구를 고르세요." in last_text(calls)
    assert (await draft_of(services, KIM)).answer(Step.CONTACT) == "042-123-4567"
    calls = await telegram.press(KIM, "동구")
    assert "동구의 어느 동인가요?" in last_text(calls)
    assert calls[-1].labels()[:2] == ["효동", "판암1동"]
    await telegram.press(KIM, "판암1동")
    calls = await telegram.press(KIM, "돌봄")
    assert "(7/11)" in last_text(calls) and "제목을 써 주세요 (5~80자)" in last_text(calls)
    await telegram.send(KIM, TITLE)
    await telegram.send(KIM, SUMMARY)
    calls = await telegram.send(KIM, BODY)
    assert "사진이 있으면 한 장 보내 주세요" in last_text(calls)
    calls = await telegram.send_photo(KIM, "PHOTO-1")
    assert "두 가지에 동의해 주세요" in last_text(calls)
    calls = await telegram.press(KIM, "동의합니다")
    # The preview: the photo, then the case card exactly as citizens will read it.
    photo, card = calls[-2], calls[-1]
    assert photo.method == "sendPhoto" and photo.params["photo"] == "PHOTO-1"
    assert card.text.startswith("👀 <b>미리보기</b>")
    assert (f"<b>{TITLE}</b>\n🏢 대전 행복 복지관\n📍 동구 판암1동 · 🏷 돌봄\n\n"
            f"<i>{SUMMARY}</i>\n\n{BODY}") in card.text
    assert card.labels() == ["📨 접수하기", "✏️ 고치기", "✖ 그만두기"]
    # Their own contact under the card, said to be for staff only.
    assert card.text.endswith("📞 연락처 (운영진만 봅니다): 042-123-4567")
    assert await stored_cases(services) == []  # nothing is sent in before Submit

    calls = await telegram.press(KIM, "접수하기")
    [case] = await stored_cases(services)
    assert case["status"] == "submitted" and case["source"] == "chat"
    assert (case["title_ko"], case["summary_ko"], case["body_ko"], case["organization_ko"]) \
        == (TITLE, SUMMARY, BODY, "대전 행복 복지관")
    assert (case["district"], case["neighbourhood"], case["category"]) \
        == ("dong", "판암1동", "care")
    assert case["image"] == "telegram:PHOTO-1"
    assert case["submitter_type"] == "organization" and case["consented_at"] is not None
    assert case["contact"] == "042-123-4567"
    assert f"접수번호: <b>{case['key']}</b>" in last_text(calls)
    assert await draft_of(services, KIM) is None
    async with services.db.read() as conn:
        actions = list((await conn.execute(sa.select(audit_log.c.action))).scalars())
    assert "case.submitted" in actions

    calls = await telegram.send(KIM, "/mycases")
    assert last_text(calls) == (f"📂 <b>내가 낸 사례</b> (1/3건)\n\n<b>{TITLE}</b>\n"
                                f"접수번호 {case['key']} · 11월 1일(금) 10:00\n상태: ⏳ 검토 중"
                                "\n\n사례를 누르면 내용을 볼 수 있습니다.")
    assert calls[-1].labels()[0] == f"📄 {TITLE}"


async def test_a_case_submitted_in_english(telegram, services, campaign):
    calls = await telegram.send(SMITH, "/submit")
    assert last_text(calls) == "✍️ <b>Submit a case</b> (1/11)\n\nWho is submitting this case?"
    assert calls[-1].labels() == ["🙋 An individual", "🏢 An organization",
                                  "🏘 A neighbourhood council", "✖ Stop"]
    calls = await write_until(telegram, SMITH, Step.CONSENT)
    assert "Finally, please agree to two things" in last_text(calls)
    calls = await telegram.press(SMITH, "I agree")
    assert "👀 <b>Preview</b>: citizens will see your case like this." in last_text(calls)
    assert "📍 Dong-gu Hyo-dong · 🏷 Care" in last_text(calls)
    calls = await telegram.press(SMITH, "Submit")
    [case] = await stored_cases(services)
    assert f"Reference number: <b>{case['key']}</b>" in last_text(calls)
    assert case["image"] is None
    calls = await telegram.send(SMITH, "/mycases")
    assert "📂 <b>My cases</b> (1 case sent, up to 3)" in last_text(calls)
    assert "Status: ⏳ Under review" in last_text(calls)


# --- refusals: each keeps what was entered -------------------------------------------------


@pytest.mark.parametrize(("stop", "answer", "problem"), [
    (Step.NAME, "   \n  ", "빈 답은 받을 수 없습니다"),
    (Step.NAME, "가" * 101, "너무 깁니다 (101자). 100자 이하로"),
    (Step.TITLE, "짧은글", "너무 짧습니다 (3자). 5자 이상"),
    (Step.TITLE, "가" * 81, "너무 깁니다 (81자). 80자 이하로"),
    (Step.SUMMARY, "요" * 301, "너무 깁니다 (301자). 300자 이하로"),
    (Step.BODY, "본문이 짧습니다.", "너무 짧습니다 (9자). 50자 이상"),
    (Step.BODY, "가" * 3001, "너무 깁니다 (3001자). 3000자 이하로"),
    (Step.DISTRICT, "강남구", "아래 버튼 중에서 골라 주세요"),  # not a district's name
    (Step.CONSENT, "네 동의합니다", "아래 버튼 중에서 골라 주세요"),
    (Step.PHOTO, "사진은 없어요", "이 단계에서는 <b>사진</b>을 받습니다"),
])
async def test_a_bad_answer_is_explained_and_changes_nothing(
        telegram, services, campaign, stop, answer, problem):
    await write_until(telegram, KIM, stop)
    before = await draft_of(services, KIM)
    calls = await telegram.send(KIM, answer)
    assert texts(calls)[-1].startswith("⚠️ ") and problem in texts(calls)[-1]
    assert await draft_of(services, KIM) == before
    assert before.step is stop


@pytest.mark.parametrize("typed", ["대덕구", " 대덕구 ", "daedeok-gu", "✓ 대덕구"])
async def test_a_choice_typed_instead_of_pressed_is_taken(telegram, services, campaign, typed):
    await write_until(telegram, KIM, Step.DISTRICT)
    calls = await telegram.send(KIM, typed)
    assert not texts(calls)[-1].startswith("⚠️")
    draft = await draft_of(services, KIM)
    assert draft.answer(Step.DISTRICT) == "daedeok" and draft.step is Step.NEIGHBOURHOOD
    await telegram.send(KIM, "송촌동")  # the neighbourhood, typed too
    assert (await draft_of(services, KIM)).answer(Step.NEIGHBOURHOOD) == "송촌동"


async def test_a_file_where_a_photo_is_asked_for_is_refused(telegram, services, campaign):
    await write_until(telegram, KIM, Step.PHOTO)
    calls = await telegram.send_document(KIM, "picture.jpg")
    assert "⚠️ 사진으로 보내 주세요. 파일로 보내면 받을 수 없습니다." in last_text(calls)
    assert (await draft_of(services, KIM)).answer(Step.PHOTO) is None
    calls = await telegram.send_photo(KIM, "PHOTO-2")
    assert "동의해 주세요" in last_text(calls)
    assert (await draft_of(services, KIM)).answer(Step.PHOTO) == "telegram:PHOTO-2"


async def test_a_photo_or_a_sticker_where_text_is_asked_for(telegram, services, campaign):
    await write_until(telegram, KIM, Step.TITLE)
    calls = await telegram.send_photo(KIM, "PHOTO-3")
    assert "⚠️ 여기에는 글을 써서 보내 주세요." in last_text(calls)
    calls = await telegram.feed(telegram.media_update(KIM, sticker={
        "file_id": "s1", "file_unique_id": "s1", "width": 512, "height": 512,
        "is_animated": False, "is_video": False, "type": "regular"}))
    assert "⚠️ 여기에는 글을 써서 보내 주세요." in last_text(calls)
    draft = await draft_of(services, KIM)
    assert draft.step is Step.TITLE and draft.answer(Step.PHOTO) is None


async def test_consent_refused_keeps_the_draft_at_consent(telegram, services, campaign):
    await write_until(telegram, KIM, Step.CONSENT)
    calls = await telegram.press(KIM, "동의하지 않습니다")
    assert "동의하지 않으면 사례를 접수할 수 없습니다" in last_text(calls)
    assert (await draft_of(services, KIM)).step is Step.CONSENT
    assert await stored_cases(services) == []


@pytest.mark.parametrize("data", [
    "d:1:district:7",  # an option that does not exist
    "d:1:district:0",  # a button of an earlier step
    "d:1:preview:send",  # Submit before the preview
    "d:1:title:keep",  # keep an answer that was never given
    "d:1:preview:e-zzz",  # no such field
    "d:1:title:discard",  # "throw it away" made before buttons carried the draft's token
    "d:1:title:discard-00000000",  # a forged token
    "d:1:title:discard-zz",  # not even a token
])
async def test_stale_or_forged_step_buttons_change_nothing(telegram, services, campaign, data):
    await write_until(telegram, KIM, Step.TITLE)
    before = await draft_of(services, KIM)
    calls = await telegram.press(KIM, data=data)
    assert "지난 단계의 버튼입니다" in last_text(calls)
    assert "제목을 써 주세요" in last_text(calls)
    assert await draft_of(services, KIM) == before
    assert await stored_cases(services) == []


@pytest.mark.parametrize("data", ["d:999:title:keep", "d:1:nostep:0", "d:1:title:KEEP",
                                  "d:1:title:" + "x" * 50, "sb:999"])
async def test_garbage_buttons_are_expired(telegram, services, campaign, data):
    await write_until(telegram, KIM, Step.TITLE)
    before = await draft_of(services, KIM)
    calls = await telegram.press(KIM, data=data)
    answer = [c for c in calls if c.method == "answerCallbackQuery"][-1]
    assert answer.params.get("show_alert") is True
    assert await draft_of(services, KIM) == before
    # The conversation still takes the title.
    calls = await telegram.send(KIM, TITLE)
    assert "요약해 주세요" in last_text(calls)


# --- Back, edit and stop -------------------------------------------------------------------


async def test_back_keeps_the_answers_and_offers_to_keep_them(telegram, services, campaign):
    await write_until(telegram, KIM, Step.SUMMARY)
    calls = await telegram.press(KIM, "이전")
    assert "제목을 써 주세요" in last_text(calls)
    assert f"지금 입력된 내용: {TITLE}" in last_text(calls)
    calls = await telegram.press(KIM, "이전")
    assert "✓ 돌봄" in calls[-1].labels()
    await telegram.press(KIM, "이전")  # the neighbourhood
    calls = await telegram.press(KIM, "이전")  # the district
    assert "✓ 동구" in calls[-1].labels()
    calls = await telegram.press(KIM, "대덕구")  # another district: its own neighbourhoods
    assert calls[-1].labels()[0] == "송촌동"
    assert (await draft_of(services, KIM)).answer(Step.NEIGHBOURHOOD) is None
    await telegram.press(KIM, "송촌동")
    await telegram.press(KIM, "돌봄")
    calls = await telegram.press(KIM, "그대로 두기")  # the title stays
    assert "요약해 주세요" in last_text(calls)
    draft = await draft_of(services, KIM)
    assert draft.answer(Step.TITLE) == TITLE and draft.answer(Step.DISTRICT) == "daedeok"
    # No Back on the first step.
    calls = await telegram.send(LEE, "/submit")
    assert "◀ 이전" not in calls[-1].labels() and "✖ 그만두기" in calls[-1].labels()


async def test_edit_a_field_from_the_preview(telegram, services, campaign):
    await write_until(telegram, KIM, None)
    await telegram.press(KIM, "고치기")
    calls = await telegram.press(KIM, "구")
    assert "사례가 있는 구를 고르세요." in last_text(calls)
    assert "👀 미리보기로" in calls[-1].labels()
    await telegram.press(KIM, "대덕구")
    calls = await telegram.press(KIM, "송촌동")  # a new district needs its neighbourhood
    assert "📍 대덕구 송촌동" in last_text(calls) and "미리보기" in last_text(calls)
    await telegram.press(KIM, "고치기")
    await telegram.press(KIM, "제목")
    calls = await telegram.send(KIM, "반찬 나눔, 이웃과 함께")
    assert "<b>반찬 나눔, 이웃과 함께</b>" in last_text(calls)
    await telegram.press(KIM, "접수하기")
    [case] = await stored_cases(services)
    assert case["title_ko"] == "반찬 나눔, 이웃과 함께" and case["neighbourhood"] == "송촌동"


async def test_stop_asks_first_then_throws_the_draft_away(telegram, services, campaign):
    await write_until(telegram, KIM, Step.BODY)
    calls = await telegram.press(KIM, "그만두기")
    assert "쓰던 사례를 버릴까요?" in last_text(calls)
    calls = await telegram.press(KIM, "계속 쓰기")
    assert "자세히 써 주세요" in last_text(calls)
    await telegram.press(KIM, "그만두기")
    calls = await telegram.press(KIM, "네, 버립니다")
    assert "아무것도 접수되지 않았습니다" in last_text(calls)
    assert await draft_of(services, KIM) is None
    assert await stored_cases(services) == []
    # The conversation is over: typed text is not an answer any more, but a search.
    calls = await telegram.send(KIM, BODY)
    assert is_search_answer(last_text(calls))


async def test_an_old_throw_away_button_does_not_delete_a_newer_draft(telegram, services,
                                                                     campaign, clock):
    """Stop pressed and the question ignored: the draft goes on, is sent in, a second one is
    begun; the old "Yes, throw it away" (same step) is stale and deletes nothing."""
    await write_until(telegram, KIM, Step.TITLE)
    await telegram.press(KIM, "그만두기")
    confirmation = telegram.last_message_with_buttons(KIM.id)
    await telegram.send(KIM, TITLE)  # goes on writing instead
    await telegram.send(KIM, SUMMARY)
    await telegram.send(KIM, BODY)
    await telegram.press(KIM, "사진 없이")
    await telegram.press(KIM, "동의합니다")
    await telegram.press(KIM, "접수하기")
    assert len(await stored_cases(services)) == 1
    clock.advance(timedelta(minutes=10))
    await write_until(telegram, KIM, Step.TITLE)  # a second draft, at the same step
    second = await draft_of(services, KIM)
    calls = await telegram.press(KIM, "네, 버립니다", message=confirmation)
    assert "지난 단계의 버튼입니다" in last_text(calls)
    assert "제목을 써 주세요" in last_text(calls)
    assert await draft_of(services, KIM) == second
    # The second draft's own confirmation still throws it away.
    await telegram.press(KIM, "그만두기")
    calls = await telegram.press(KIM, "네, 버립니다")
    assert "아무것도 접수되지 않았습니다" in last_text(calls)
    assert await draft_of(services, KIM) is None
    assert len(await stored_cases(services)) == 1


@pytest.mark.parametrize("stop", [Step.TYPE, Step.NAME, Step.DISTRICT, Step.TITLE, Step.PHOTO,
                                  Step.CONSENT, None])
async def test_cancel_command_works_at_every_step(telegram, services, campaign, stop):
    await write_until(telegram, KIM, stop)
    calls = await telegram.send(KIM, "/cancel")
    assert last_text(calls) == "사례 쓰기를 그만두었습니다. 아무것도 접수되지 않았습니다."
    assert await draft_of(services, KIM) is None
    calls = await telegram.send(KIM, "/cancel")
    assert last_text(calls) == "쓰고 있는 사례가 없습니다."
    assert await stored_cases(services) == []


# --- going elsewhere and coming back ------------------------------------------------------


async def test_text_after_going_elsewhere_is_not_taken_as_an_answer(telegram, services,
                                                                   campaign):
    await write_until(telegram, KIM, Step.TITLE)
    calls = await telegram.send(KIM, "/start")
    assert "✍️ 쓰던 사례 이어 쓰기" in calls[0].labels()
    calls = await telegram.send(KIM, "안녕하세요")
    assert last_text(calls) == ("✍️ 쓰던 사례가 기다리고 있습니다. ‘쓰던 사례 이어 쓰기’를 "
                                "누른 뒤 답을 다시 보내 주세요.")
    assert "✍️ 쓰던 사례 이어 쓰기" in calls[-1].labels()
    # A search word after "search" is a search word, not a title.
    await telegram.press(KIM, "사례 보기")
    await telegram.press(KIM, "낱말 찾기")
    calls = await telegram.send(KIM, "돌봄")
    assert is_search_answer(last_text(calls))
    assert (await draft_of(services, KIM)).answer(Step.TITLE) is None
    calls = await telegram.send(KIM, "/start")
    calls = await telegram.press(KIM, "쓰던 사례 이어 쓰기")
    assert last_text(calls).startswith("쓰던 사례를 이어서 씁니다.")
    assert "제목을 써 주세요" in last_text(calls)
    calls = await telegram.send(KIM, TITLE)
    assert "요약해 주세요" in last_text(calls)


# --- the limit, the phase, a restart -------------------------------------------------------


async def test_one_case_per_citizen_when_the_campaign_says_so(services, clock, telegram):
    await services.campaigns.load(parse_campaign(small_campaign(
        submission={"cases_per_citizen": 1})))
    await write_until(telegram, KIM, None)
    await telegram.press(KIM, "접수하기")
    calls = await telegram.send(KIM, "/submit")
    assert last_text(calls) == ("한 사람이 낼 수 있는 사례는 1건까지입니다. "
                                "이미 1건을 냈습니다.")
    assert await draft_of(services, KIM) is None
    calls = await telegram.send(KIM, "/mycases")
    assert "(1/1건)" in last_text(calls) and "사례 접수하기" not in calls[-1].labels()
    # Someone else still can.
    calls = await telegram.send(LEE, "/submit")
    assert "누가 내는 사례인가요?" in last_text(calls)


async def test_outside_the_submission_phase(telegram, services, campaign, clock):
    clock.set(datetime(2024, 10, 1, 9, 0, tzinfo=SEOUL))
    calls = await telegram.send(KIM, "/submit")
    assert last_text(calls) == "사례 접수는 10월 7일(월) 09:00에 시작합니다. 그때 다시 와 주세요."
    clock.set(SUBMISSION_ENDS)
    calls = await telegram.send(KIM, "/submit")
    assert last_text(calls) == "사례 접수는 11월 24일(일) 18:00에 마감되었습니다."
    calls = await telegram.send(KIM, "/start")
    assert not any("사례 접수하기" in label for label in calls[0].labels())
    calls = await telegram.send(SMITH, "/submit")
    assert last_text(calls) == "Case submission closed on Sun 24 Nov 18:00."
    assert await draft_of(services, KIM) is None


async def test_the_phase_closing_mid_way_refuses_the_rest(telegram, services, campaign,
                                                          clock):
    await write_until(telegram, KIM, None)
    clock.set(SUBMISSION_ENDS + timedelta(seconds=1))
    calls = await telegram.press(KIM, "접수하기")
    assert last_text(calls) == ("사례 접수가 11월 24일(일) 18:00에 마감되어, 쓰던 사례는 "
                                "접수되지 않았습니다.")
    assert await stored_cases(services) == []
    assert await draft_of(services, KIM) is None
    calls = await telegram.send(KIM, TITLE)  # the conversation has ended: a search
    assert is_search_answer(last_text(calls))


async def test_the_phase_closing_while_typing(telegram, services, campaign, clock):
    await write_until(telegram, KIM, Step.BODY)
    clock.set(SUBMISSION_ENDS)
    calls = await telegram.send(KIM, BODY)
    assert "쓰던 사례는 접수되지 않았습니다" in last_text(calls)
    assert await draft_of(services, KIM) is None


async def test_a_restart_halfway_continues_where_the_citizen_was(services, clock, campaign):
    async def application(request):
        from bot.app import build_application

        return build_application(Settings(_env_file=None), services, request=request,
                                 rate_limited=False)

    first_request = OfflineRequest(clock=clock)
    first = await application(first_request)
    async with first:
        bot = OfflineTelegram(first, first_request, clock)
        await write_until(bot, KIM, Step.CATEGORY)
        old_message = bot.last_message_with_buttons(KIM.id)
        await bot.press(KIM, "돌봄")
        await bot.send(KIM, TITLE)
    # A new process: a new Application over the same database.
    request = OfflineRequest(clock=clock)
    second = await application(request)
    async with second:
        bot = OfflineTelegram(second, request, clock)
        calls = await bot.send(KIM, SUMMARY)  # typed text goes on as the summary
        assert "(9/11)" in last_text(calls) and "자세히 써 주세요" in last_text(calls)
        calls = await bot.press(KIM, "이전")
        assert f"지금 입력된 내용: {SUMMARY}" in last_text(calls)
        # A button of a message from before the restart is checked against the draft.
        calls = await bot.press(KIM, "어르신", message=old_message)
        assert "지난 단계의 버튼입니다" in last_text(calls)
        draft = await draft_of(services, KIM)
        assert draft.step is Step.SUMMARY and draft.answer(Step.TITLE) == TITLE
        assert draft.answer(Step.CATEGORY) == "care"


async def test_drafts_table_holds_the_draft_between_updates(telegram, services, campaign):
    await write_until(telegram, KIM, Step.CATEGORY)
    async with services.db.read() as conn:
        row = (await conn.execute(submission_drafts.select())).mappings().one()
    assert row["step"] == "category"
    assert row["answers"] == {"type": "organization", "name": "대전 행복 복지관",
                              "district": "dong", "hood": "효동", "contact": ""}


# --- after submitting: moderation, notification, the voting list ---------------------------


async def test_approved_case_is_listed_for_voting_with_its_photo(staffbot, services, campaign,
                                                                 clock):
    await write_until(staffbot, KIM, None, photo="PHOTO-9")
    await staffbot.press(KIM, "접수하기")
    [case] = await stored_cases(services)
    calls = await staffbot.send(ADMIN, "/moderate")
    assert calls[0].method == "sendPhoto" and calls[0].params["photo"] == "PHOTO-9"
    await staffbot.press(ADMIN, "승인")
    await services.broadcaster.idle()  # the notice goes out through the broadcaster
    told = [c for c in staffbot.request.calls if c.chat_id == KIM.id
            and f"「{TITLE}」이 승인되었습니다" in (c.text or "")]
    assert len(told) == 1 and told[0].method == "sendMessage"
    calls = await staffbot.send(KIM, "/mycases")
    assert "상태: ✅ 승인됨 (목록에 공개)" in last_text(calls)

    clock.set(datetime(2024, 11, 28, 10, 0, tzinfo=SEOUL))
    calls = await staffbot.send(KIM, "/search 반찬")
    assert any(TITLE in label for label in calls[-1].labels())
    calls = await staffbot.press(KIM, TITLE[:10])
    assert calls[1].method == "sendPhoto" and calls[1].params["photo"] == "PHOTO-9"
    assert f"<b>{TITLE}</b>" in last_text(calls)
    await staffbot.press(KIM, "투표하기")
    await staffbot.press(KIM, "네")
    async with services.db.read() as conn:
        voted = list((await conn.execute(sa.select(votes.c.case_id))).scalars())
    assert voted == [case["id"]]


async def test_rejected_case_shows_the_reason(staffbot, services, campaign):
    await write_until(staffbot, SMITH, None)
    await staffbot.press(SMITH, "Submit")
    await staffbot.send(ADMIN, "/moderate")
    await staffbot.press(ADMIN, "반려")
    await staffbot.send(ADMIN, "같은 사례가 이미 접수되었습니다")
    await services.broadcaster.idle()  # the notice goes out through the broadcaster
    told = [c for c in staffbot.request.calls if c.chat_id == SMITH.id
            and "Reason: 같은 사례가 이미 접수되었습니다" in (c.text or "")]
    assert len(told) == 1 and told[0].method == "sendMessage"
    calls = await staffbot.send(SMITH, "/mycases")
    assert "Status: ❌ Not accepted\nReason: 같은 사례가 이미 접수되었습니다" in last_text(calls)
    [case] = await stored_cases(services)
    assert case["status"] == "rejected"


async def test_refusals_in_english(telegram, services, campaign):
    await write_until(telegram, SMITH, Step.TITLE)
    calls = await telegram.send(SMITH, "Tiny")
    assert last_text(calls).startswith(
        "⚠️ Too short (4 characters). Please write at least 5.\n\n✍️ <b>Submit a case</b> (7/11)")
    calls = await telegram.send_photo(SMITH, "P")
    assert "⚠️ Please type your answer here." in last_text(calls)
    await telegram.send(SMITH, TITLE)
    await telegram.send(SMITH, SUMMARY)
    await telegram.send(SMITH, BODY)
    calls = await telegram.send_document(SMITH, "scan.pdf")
    assert "⚠️ Please send it as a photo: a file cannot be taken." in last_text(calls)
    calls = await telegram.press(SMITH, "No photo")
    calls = await telegram.send(SMITH, "yes")
    assert "⚠️ Please choose one of the buttons below." in last_text(calls)
    assert (await draft_of(services, SMITH)).step is Step.CONSENT


# --- found in review: double taps, long lists, reloads, the preview of a long text ---------


async def test_a_second_tap_on_submit_keeps_the_reference_on_screen(telegram, services,
                                                                   campaign):
    await write_until(telegram, KIM, None)
    preview = telegram.last_message_with_buttons(KIM.id)
    await telegram.press(KIM, "접수하기", message=preview)
    calls = await telegram.press(KIM, "접수하기", message=preview)
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params == {"callback_query_id": calls[0].params["callback_query_id"],
                               "text": "쓰고 있는 사례가 없습니다.", "show_alert": True}
    assert len(await stored_cases(services)) == 1


async def test_the_preview_shows_every_part_of_a_long_description(telegram, services,
                                                                  campaign):
    long_body = ("우리 마을 이야기입니다. " * 120).strip()  # about 1,700 characters: two parts
    await write_until(telegram, KIM, Step.BODY)
    await telegram.send(KIM, long_body)
    await telegram.press(KIM, "사진 없이")
    calls = await telegram.press(KIM, "동의합니다")
    cards = [c for c in calls if c.method in ("sendMessage", "editMessageText")]
    assert len(cards) == 2
    assert cards[0].text.startswith("👀 <b>미리보기</b>") and not cards[0].buttons()
    assert cards[1].text.startswith(f"<b>{TITLE}</b> (2/2)")
    assert "2쪽으로 나뉘어 보입니다" in cards[1].text
    assert cards[1].labels() == ["📨 접수하기", "✏️ 고치기", "✖ 그만두기"]
    shown = "".join(c.text for c in cards)
    assert long_body[-200:] in shown.replace("\n", " ")


async def test_an_old_button_after_the_campaign_lost_a_step(telegram, services, campaign):
    await write_until(telegram, KIM, Step.NEIGHBOURHOOD)
    raw = small_campaign()
    raw["districts"][0]["neighbourhoods"] = []
    raw["cases"] = [c for c in raw["cases"] if c["district"] != "dong"]
    await services.campaigns.load(parse_campaign(raw))
    calls = await telegram.press(KIM, data=f"d:{campaign.id}:district:0")  # an old 동구 button
    assert "지난 단계의 버튼입니다" in last_text(calls)
    assert "어느 분야의 사례인가요?" in last_text(calls)  # moved on to the category
    calls = await telegram.press(KIM, "돌봄")
    assert "제목을 써 주세요" in last_text(calls)


async def test_my_cases_fits_in_one_message(services, clock, telegram):
    await services.campaigns.load(parse_campaign(small_campaign(
        submission={"cases_per_citizen": 50})))
    campaign = await services.campaigns.current()
    citizen = await services.citizens.identify("telegram", str(KIM.id), "ko")
    for n in range(30):
        await services.submissions.start(campaign, citizen)
        for step, value in ((Step.TYPE, 0), (Step.DISTRICT, 0), (Step.NEIGHBOURHOOD, 0),
                            (Step.CATEGORY, 0)):
            if step is Step.DISTRICT:
                await services.submissions.type_text(campaign, citizen, f"단체 {n}")
                await services.submissions.skip(campaign, citizen, Step.CONTACT)
            await services.submissions.choose(campaign, citizen, step, value)
        for text in (f"사례 제목 {n:02d} " + "가" * 60, "요약" * 100, "본문" * 1000):
            await services.submissions.type_text(campaign, citizen, text)
        await services.submissions.skip_photo(campaign, citizen)
        await services.submissions.choose(campaign, citizen, Step.CONSENT, 0)
        reply = await services.submissions.submit(campaign, citizen, "test")
        await services.moderation.reject(campaign, reply.case.id, "test", "사유 " * 95)
    await services.broadcaster.idle()  # the 30 notices of rejection, sent before we look
    calls = await telegram.send(KIM, "/mycases")
    text = last_text(calls)
    assert len(text) <= 4096
    assert text.startswith("📂 <b>내가 낸 사례</b> (30/50건)")
    assert "사례 제목 29" in text and "사례 제목 00" not in text  # newest first
    assert "❌ 반려됨\n사유: 사유 사유" in text


async def test_after_the_phase_my_cases_offers_no_stale_draft(telegram, services, campaign,
                                                             clock):
    await write_until(telegram, KIM, Step.TITLE)
    clock.set(SUBMISSION_ENDS)
    calls = await telegram.send(KIM, "/mycases")
    assert "쓰다 만 사례" not in last_text(calls)
    assert calls[-1].labels() == ["🏠 처음으로"]
    calls = await telegram.send(KIM, "/submit")
    assert "쓰던 사례는 접수되지 않았습니다" in last_text(calls)


async def test_the_moderation_card_names_the_reference_and_the_sender(staffbot, services,
                                                                      campaign):
    await write_until(staffbot, KIM, None)
    await staffbot.press(KIM, "접수하기")
    [case] = await stored_cases(services)
    calls = await staffbot.send(ADMIN, "/moderate")
    assert (f"✍️ 채팅으로 접수 · 접수번호 {case['key']} · 🏢 기관·단체\n"
            f'👤 <a href="tg://user?id={KIM.id}">보낸 분에게 연락하기</a>') in last_text(calls)
    await staffbot.press(ADMIN, "승인")
    await services.broadcaster.idle()  # the notice goes out through the broadcaster
    told = [c for c in staffbot.request.calls if c.chat_id == KIM.id and "승인되었습니다" in
            (c.text or "")]
    assert told[-1].text.endswith(f"접수번호 {case['key']}")
    # Outside the submission phase the menu still leads to the citizen's cases.
    staffbot.clock.set(datetime(2024, 11, 28, 10, 0, tzinfo=SEOUL))
    calls = await staffbot.send(KIM, "/start")
    assert "📂 내가 낸 사례" in calls[0].labels() and "✍️ 사례 접수하기" not in calls[0].labels()


# --- the contact for staff, and "my cases": open, withdraw ----------------------------------


async def case_row(services, case_id: int) -> dict:
    async with services.db.read() as conn:
        return dict((await conn.execute(cases.select().where(cases.c.id == case_id)))
                    .mappings().one())


async def test_the_moderation_card_shows_the_contact_to_staff(staffbot, services, campaign):
    await write_until(staffbot, KIM, None, contact="+82 10-9876-5432")
    await staffbot.press(KIM, "접수하기")
    [case] = await stored_cases(services)
    assert case["contact"] == "010-9876-5432"
    calls = await staffbot.send(ADMIN, "/moderate")
    assert "📞 연락처: 010-9876-5432 (운영진만 보는 정보)" in last_text(calls)
    await staffbot.press(ADMIN, "승인")
    await services.broadcaster.idle()
    # Citizens never see it: not in the list, the case card, nor the notice of approval.
    for text in (c.text or "" for c in staffbot.request.calls if c.chat_id != ADMIN.id):
        assert "9876" not in text or "운영진만 봅니다" in text  # only the submitter's preview


async def test_my_cases_opens_a_case_and_withdraws_it_while_pending(telegram, services,
                                                                     campaign):
    await write_until(telegram, KIM, None, contact="kim@example.com")
    await telegram.press(KIM, "접수하기")
    [case] = await stored_cases(services)
    calls = await telegram.send(KIM, "/mycases")
    calls = await telegram.press(KIM, f"📄 {TITLE}")
    text = last_text(calls)
    assert text.startswith(f"<b>{TITLE}</b>\n접수번호 {case['key']}")
    assert "상태: ⏳ 검토 중" in text and f"<i>{SUMMARY}</i>" in text and BODY in text
    assert "📞 연락처 (운영진만 봅니다): kim@example.com" in text
    assert text.endswith("아직 검토 전이라 접수를 취소할 수 있습니다.")
    assert calls[-1].labels() == ["↩️ 접수 취소하기", "◀ 내가 낸 사례", "🏠 처음으로"]
    calls = await telegram.press(KIM, "접수 취소하기")
    assert last_text(calls).startswith(f"「{TITLE}」 접수를 취소할까요?")
    assert (await case_row(services, case["id"]))["status"] == "submitted"  # asked first
    calls = await telegram.press(KIM, "네, 취소합니다")
    assert last_text(calls) == f"↩️ 「{TITLE}」 접수를 취소했습니다."
    row = await case_row(services, case["id"])
    assert row["status"] == "withdrawn"
    async with services.db.read() as conn:
        [audited] = (await conn.execute(sa.select(audit_log).where(
            audit_log.c.action == "case.withdrawn"))).mappings().all()
    assert audited["actor"] == f"telegram:{KIM.id}" and audited["campaign_id"] == campaign.id
    assert await services.moderation.queue(campaign) == []  # out of the moderation queue
    # The same confirmation again (a second tap): nothing more, said so.
    calls = await telegram.press(KIM, data=f"wd:{campaign.id}:{case['id']}:1")
    assert "이제 접수를 취소할 수 없습니다.\n상태: ↩️ 접수 취소됨" in last_text(calls)
    calls = await telegram.send(KIM, "/mycases")
    assert last_text(calls).startswith("📂 <b>내가 낸 사례</b> (0/3건)")  # not counted
    assert "상태: ↩️ 접수 취소됨" in last_text(calls)
    assert "✍️ 사례 접수하기" in calls[-1].labels()


async def test_withdrawing_is_refused_for_a_moderated_case_and_anyone_elses(
        telegram, services, campaign):
    await write_until(telegram, KIM, None)
    await telegram.press(KIM, "접수하기")
    [case] = await stored_cases(services)
    case_id = case["id"]
    # Another citizen, with forged buttons carrying KIM's case id: not found, nothing changes.
    said: list[str] = []
    for data in (f"mo:{campaign.id}:{case_id}", f"wd:{campaign.id}:{case_id}:0",
                 f"wd:{campaign.id}:{case_id}:1"):
        calls = await telegram.press(LEE, data=data)
        # (The same text again is not sent again: the message already says so.)
        assert texts(calls) in ([], ["찾을 수 없는 사례입니다. 목록을 다시 열어 주세요."])
        assert not any(TITLE in text for text in texts(calls))
        said = said or texts(calls)
    assert said == ["찾을 수 없는 사례입니다. 목록을 다시 열어 주세요."]
    assert (await case_row(services, case_id))["status"] == "submitted"
    # Malformed, or of another campaign: "expired".
    for data in (f"wd:{campaign.id}:{case_id}:2", f"wd:{campaign.id}:x:1",
                 f"wd:{campaign.id + 1}:{case_id}:1", f"mo:{campaign.id}"):
        calls = await telegram.press(KIM, data=data)
        answer = [c for c in calls if c.method == "answerCallbackQuery"][-1]
        assert answer.params.get("show_alert") is True
    assert (await case_row(services, case_id))["status"] == "submitted"
    # Approved meanwhile: the old confirmation withdraws nothing.
    await telegram.send(KIM, "/mycases")
    await telegram.press(KIM, f"📄 {TITLE}")
    calls = await telegram.press(KIM, "접수 취소하기")
    result = await services.moderation.approve(campaign, case_id, "telegram:9001")
    assert result.case is not None
    calls = await telegram.press(KIM, "네, 취소합니다")
    assert last_text(calls).startswith("⚠️ 이 사례는 이제 접수를 취소할 수 없습니다.\n"
                                       "상태: ✅ 승인됨")
    assert "접수 취소하기" not in " ".join(calls[-1].labels())
    assert (await case_row(services, case_id))["status"] == "approved"
    calls = await telegram.press(KIM, data=f"wd:{campaign.id}:{case_id}:0")  # asking again
    assert not any("취소할까요" in text for text in texts(calls))
    assert (await case_row(services, case_id))["status"] == "approved"


async def test_a_typed_district_name_is_taken_like_its_button(telegram, services, campaign):
    await write_until(telegram, KIM, Step.DISTRICT)
    calls = await telegram.send(KIM, "  동구 ")
    assert "동구의 어느 동인가요?" in last_text(calls)
    calls = await telegram.send(KIM, "hyo-DONG")  # the other language's name, any case
    assert "어느 분야의 사례인가요?" in last_text(calls)
    assert (await draft_of(services, KIM)).answers["hood"] == "효동"
    calls = await telegram.send(KIM, "동구")  # not a category: use the buttons
    assert last_text(calls).startswith("⚠️ 아래 버튼 중에서 골라 주세요.")

"""What a citizen is told about themselves and where they are: home after voting and after the
results, news asked of those who came by a shared link, and no screen without a way home."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.campaign_file import parse_campaign
from tests.conftest import ADMIN, KIM, SMITH, VOTING_CLOSES, small_campaign
from tests.test_kakao_skill import (
    ask,
    card_button,
    press,
    quick_reply,
    skill_request,
    texts,
)
from tests.test_telegram_rules import case_ids


def edited(calls):
    return next(c for c in calls if c.method == "editMessageText")


def sent(calls):
    return [c for c in calls if c.method == "sendMessage"]


async def test_home_before_and_after_voting(telegram):
    calls = await telegram.send(KIM, "/start")
    assert "한 표를 주세요" in calls[0].text and "투표하셨습니다" not in calls[0].text
    await telegram.press(KIM, "아니요")
    await telegram.press(KIM, "사례 보기")
    await telegram.press(KIM, "사례 제목 02번")
    await telegram.press(KIM, "투표하기")
    await telegram.press(KIM, "네, 투표합니다")
    home = edited(await telegram.press(KIM, "처음으로"))
    assert "✅ 투표하셨습니다. 고맙습니다!" in home.text
    assert "한 표를 주세요" not in home.text

    calls = await telegram.send(SMITH, "/start")
    assert "Please cast your vote" in calls[0].text
    await telegram.press(SMITH, "No")
    await telegram.press(SMITH, "Browse cases")
    await telegram.press(SMITH, "Case title 04")
    await telegram.press(SMITH, "Vote for this case")
    await telegram.press(SMITH, "Yes, vote")
    home = edited(await telegram.press(SMITH, "Main menu"))
    assert "✅ You have voted. Thank you!" in home.text
    assert "you can still change to another case" in home.text


async def test_home_says_the_results_are_out(telegram, services, campaign, clock):
    clock.set(VOTING_CLOSES + timedelta(days=2))  # the review phase
    calls = await telegram.send(KIM, "/start")
    assert "<b>심사</b> 기간입니다" in calls[0].text
    await services.results.publish(campaign, "telegram:1", incomplete_ok=True)
    await services.broadcaster.idle()
    calls = await telegram.send(KIM, "/start")
    assert "결과가 나왔습니다" in calls[0].text and "심사" not in calls[0].text
    assert calls[0].labels()[0] == "🏆 결과 보기"
    calls = await telegram.send(SMITH, "/start")
    assert "The results are out" in calls[0].text and "reviewing" not in calls[0].text


async def test_a_shared_link_arrival_is_asked_about_news_once_at_the_first_pause(
        telegram, services, campaign):
    ids = await case_ids(services, campaign)
    calls = await telegram.send(KIM, f"/start case_{ids['case-1']}")
    assert [c for c in sent(calls) if "새 소식" in c.text] == []  # not over the case itself
    await telegram.press(KIM, "투표하기")
    calls = await telegram.press(KIM, "네, 투표합니다")
    [question] = sent(calls)
    assert "새 소식" in question.text
    assert question.labels() == ["🔔 네, 받을게요", "아니요, 괜찮아요"]
    await telegram.press(KIM, "네, 받을게요")
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    assert await services.subscriptions.status(campaign, kim) is True
    # once: home afterwards asks nothing more
    calls = await telegram.press(KIM, "처음으로")
    assert sent(calls) == []


async def test_a_shared_link_arrival_going_home_is_asked_there(telegram, services, campaign):
    ids = await case_ids(services, campaign)
    await telegram.send(SMITH, f"/start case_{ids['case-2']}")
    await telegram.press(SMITH, "Back to the list")
    calls = await telegram.press(SMITH, "Main menu")
    [question] = sent(calls)
    assert question.labels()[0].endswith("Yes, please")
    smith = await services.citizens.identify("telegram", str(SMITH.id), "en")
    assert await services.subscriptions.status(campaign, smith) is False  # asked, not yet yes


async def test_no_citizen_screen_is_a_dead_end(telegram):
    """Every message the bot sends or edits has a button: at least a way home."""
    start = len(telegram.request.calls)
    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "아니요")
    await telegram.send(KIM, "/schedule")
    await telegram.send(KIM, "/search")
    await telegram.send(KIM, "/myvote")
    await telegram.send(KIM, "/forgetme")
    await telegram.press(KIM, "지워 주세요")
    shown = [c for c in telegram.request.calls[start:]
             if c.method in ("sendMessage", "editMessageText")]
    assert len(shown) >= 6
    assert [c.text for c in shown if not c.labels()] == []


async def test_a_staff_cancel_is_not_a_dead_end(staffbot):
    await staffbot.send(ADMIN, "/phase voting end 2024-12-01T20:00")
    calls = await staffbot.press(ADMIN, "취소")
    assert calls[-1].text == "취소했습니다. 바뀐 것은 없습니다."
    assert calls[-1].labels() == ["🏠 처음으로"]


# --- the same on KakaoTalk -------------------------------------------------------------------


async def test_kakao_marks_the_vote_in_the_list_on_the_case_and_at_home(kakao):
    _, answer = await ask(kakao, skill_request("시작"))
    assert "한 표를 주세요" in texts(answer)[0]
    _, answer = await press(kakao, quick_reply(answer, "사례 보기"))
    _, answer = await press(kakao, card_button(answer, "투표하기", index=1))
    _, answer = await press(kakao, card_button(answer, "네, 투표합니다"))
    assert "투표가 기록되었습니다" in texts(answer)[0]

    _, answer = await press(kakao, quick_reply(answer, "목록"))
    items = answer["template"]["outputs"][1]["carousel"]["items"]
    assert items[1]["title"] == "✅ 사례 제목 02번"
    assert [b["label"] for b in items[1]["buttons"]] == ["📖 자세히 보기"]
    assert any("투표" in b["label"] for b in items[0]["buttons"])
    _, answer = await press(kakao, card_button(answer, "자세히", index=1))
    card = texts(answer)[0]
    assert "✅ 내가 투표한 사례" in card
    with pytest.raises(LookupError):
        card_button(answer, "투표하기")
    _, answer = await press(kakao, quick_reply(answer, "처음"))
    assert "✅ 투표하셨습니다" in texts(answer)[0] and "한 표를 주세요" not in texts(answer)[0]


async def test_kakao_long_case_parts_go_back_too(kakao, services, campaign):
    raw = small_campaign()
    raw["cases"][0]["ko"]["body"] = "\n\n".join(f"{i}번째 문단입니다. " * 20 for i in range(12))
    await services.campaigns.load(parse_campaign(raw))
    _, answer = await ask(kakao, skill_request("시작"))
    _, answer = await press(kakao, quick_reply(answer, "사례 보기"))
    _, first = await press(kakao, card_button(answer, "자세히", index=0))
    with pytest.raises(LookupError):
        quick_reply(first, "앞부분")
    _, second = await press(kakao, quick_reply(first, "더 읽기"))
    _, again = await press(kakao, quick_reply(second, "앞부분"))
    assert texts(again) == texts(first)

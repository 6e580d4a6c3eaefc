"""Telegram rules through the real Application: the voting window on buttons, forged and stale
buttons, deep links, the fallback, search, language, the command menu, Telegram's size limits,
the error handling around edits, and the per-user update processor."""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa
from telegram import Update

from bot.campaign_file import parse_campaign
from bot.domain import NO_VOTES, CaseStatus
from bot.i18n import t
from handlers.telegram import callbacks as cb
from handlers.telegram.processor import PerUserUpdateProcessor
from storage.repositories import CaseRepository
from storage.tables import citizens, votes
from tests.conftest import KIM, SMITH, VOTING_CLOSES, VOTING_OPENS, small_campaign

MENU_KO = ["📋 사례 보기", "🗳 내 투표", "📅 일정", "❓ 도움말", "🔔 알림 받기"]
MENU_EN = ["📋 Browse cases", "🗳 My vote", "📅 Schedule", "❓ Help", "🔔 Get news"]
EXPIRED_KO = "이 버튼은 만료되었습니다. 처음 화면에서 다시 해 주세요."
EXPIRED_EN = "This button has expired. Please start again from the main menu."
ERROR_WORDS = ("문제가 생겼습니다", "something went wrong")
HINT_KO = "아래 버튼을 눌러 주세요.\n사례를 찾으려면 「/search 돌봄」처럼 보내 주세요."
NOTHING_FOUND_KO = ["📋 모든 사례 보기", "🔎 다시 찾기", "🏠 처음으로"]


def nothing_found_ko(word: str) -> str:
    return (f"🔎 찾는 말: 「{word}」\n맞는 사례가 없습니다.\n"
            "다른 낱말로 찾아보거나 아래 버튼을 눌러 주세요.")


def methods(calls) -> list[str]:
    return [c.method for c in calls]


def only(calls, method: str):
    found = [c for c in calls if c.method == method]
    assert len(found) == 1, f"{method} in {methods(calls)}"
    return found[0]


def assert_no_error(calls) -> None:
    for call in calls:
        text = call.text or ""
        assert not any(word in text for word in ERROR_WORDS), call


async def case_ids(services, campaign) -> dict[str, int]:
    async with services.db.read() as conn:
        found = await CaseRepository(conn).from_file(campaign.id)
    return {key: case.id for key, case in found.items()}


async def vote_count(services) -> int:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(votes))


def confirm(campaign_id: int, case_id: int) -> str:
    return cb.encode(cb.ConfirmVote(campaign_id, case_id, cb.ListState(), NO_VOTES))


@pytest.fixture
def errors_logged(caplog):
    """The error records of the one error handler: a test asserts there are none."""
    caplog.set_level(logging.ERROR, logger="handlers.telegram.errors")
    return lambda: [r for r in caplog.records if r.name == "handlers.telegram.errors"]


# --- the voting window on buttons ---------------------------------------------------------


async def test_before_voting_no_vote_button_and_a_press_is_refused(
    telegram, services, campaign, clock, errors_logged
):
    ids = await case_ids(services, campaign)
    clock.set(VOTING_OPENS - timedelta(days=1))

    calls = await telegram.send(KIM, f"/start case_{ids['case-2']}")
    card = only(calls, "sendMessage")
    assert card.text.startswith("<b>사례 제목 02번</b>")
    assert card.labels() == ["📤 공유하기", "◀ 목록으로"]

    for data in (confirm(campaign.id, ids["case-2"]),
                 cb.encode(cb.AskVote(campaign.id, ids["case-2"], cb.ListState()))):
        calls = await telegram.press(KIM, data=data)
        assert methods(calls) == ["answerCallbackQuery", "editMessageText"]
        assert calls[0].params.get("show_alert") is None
        edit = calls[1]
        assert edit.chat_id == KIM.id
        assert edit.text == "투표는 <b>11월 28일(목) 09:00</b>에 시작합니다."
    assert await vote_count(services) == 0

    clock.set(VOTING_OPENS - timedelta(seconds=1))
    calls = await telegram.press(SMITH, data=confirm(campaign.id, ids["case-2"]))
    assert only(calls, "editMessageText").text == "Voting opens on <b>Thu 28 Nov 09:00</b>."
    assert await vote_count(services) == 0

    clock.set(VOTING_OPENS)
    calls = await telegram.press(KIM, data=confirm(campaign.id, ids["case-2"]))
    assert "투표가 기록되었습니다" in only(calls, "editMessageText").text
    assert await vote_count(services) == 1
    assert errors_logged() == []


@pytest.mark.parametrize("after", [timedelta(0), timedelta(seconds=1), timedelta(days=2)])
async def test_after_closing_no_vote_button_and_a_press_is_refused(
    telegram, services, campaign, clock, after, errors_logged
):
    ids = await case_ids(services, campaign)
    clock.set(VOTING_CLOSES + after)

    calls = await telegram.send(KIM, f"/start case_{ids['case-4']}")
    assert "🗳 이 사례에 투표하기" not in only(calls, "sendMessage").labels()

    calls = await telegram.press(KIM, data=confirm(campaign.id, ids["case-4"]))
    assert methods(calls) == ["answerCallbackQuery", "editMessageText"]
    assert calls[1].text == "투표는 <b>12월 1일(일) 18:00</b>에 마감되었습니다."
    assert calls[1].labels() == ["◀ 목록으로", "🏠 처음으로"]
    calls = await telegram.press(SMITH, data=confirm(campaign.id, ids["case-4"]))
    assert only(calls, "editMessageText").text == "Voting closed on <b>Sun 1 Dec 18:00</b>."
    assert await vote_count(services) == 0
    assert errors_logged() == []


async def test_a_stale_confirm_button_pressed_after_the_close(
    telegram, services, campaign, clock
):
    """The confirmation screen was shown while voting was open; the press comes too late."""
    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "사례 보기")
    await telegram.press(KIM, "사례 제목 01번")
    await telegram.press(KIM, "투표하기")
    clock.set(VOTING_CLOSES + timedelta(seconds=1))

    calls = await telegram.press(KIM, "네, 투표합니다")

    closed = "투표는 <b>12월 1일(일) 18:00</b>에 마감되었습니다."
    assert only(calls, "editMessageText").text == closed
    assert await vote_count(services) == 0


# --- a stale confirmation ----------------------------------------------------------------


async def vote_state(services) -> list[tuple]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(votes.c.case_id, votes.c.receipt, votes.c.cast_at))
        return [tuple(r) for r in rows]


def button_data(call, label: str) -> str:
    return next(b["callback_data"] for b in call.buttons() if label in b["text"])


async def test_a_stale_confirmation_does_not_move_the_vote(
    telegram, services, campaign, errors_logged
):
    """The KakaoTalk replay, on Telegram: confirm case 1, change to case 10 with "✅ 네,
    바꿉니다", then the first confirmation's button again (a late second tap, replayed): the
    press changes nothing and asks again, made for the vote as it is now."""
    ids = await case_ids(services, campaign)
    await telegram.send(KIM, f"/start case_{ids['case-1']}")
    calls = await telegram.press(KIM, "투표하기")
    first_confirm = button_data(only(calls, "editMessageText"), "네, 투표합니다")
    first_message = telegram.last_message_with_buttons(KIM.id)
    calls = await telegram.press(KIM, "네, 투표합니다")
    assert "투표가 기록되었습니다" in only(calls, "editMessageText").text

    await telegram.send(KIM, f"/start case_{ids['case-10']}")
    calls = await telegram.press(KIM, "투표하기")
    change_confirm = button_data(only(calls, "editMessageText"), "네, 바꿉니다")
    calls = await telegram.press(KIM, "네, 바꿉니다")
    assert "투표를 바꾸었습니다" in only(calls, "editMessageText").text
    changed = await vote_state(services)
    assert [row[0] for row in changed] == [ids["case-10"]]

    calls = await telegram.press(KIM, data=first_confirm, message=first_message)
    assert await vote_state(services) == changed  # nothing moved, no new receipt
    asked = only(calls, "editMessageText")
    assert asked.text.startswith(t("ko", "vote.stale"))
    assert ("지금 <b>사례 제목 10번</b>에 투표하셨습니다.\n\n<b>사례 제목 01번</b>\n"
            "이 사례로 바꿀까요?") in asked.text
    assert asked.labels() == ["✅ 네, 바꿉니다", "취소"]
    again = button_data(asked, "네, 바꿉니다")

    calls = await telegram.press(KIM, data=change_confirm, message=first_message)
    assert only(calls, "editMessageText").text.startswith(t("ko", "vote.stale"))
    assert "이미 이 사례에 투표하셨습니다" in only(calls, "editMessageText").text
    assert await vote_state(services) == changed

    calls = await telegram.press(KIM, data=again, message=first_message)
    assert "사례 제목 10번 → 사례 제목 01번" in only(calls, "editMessageText").text
    assert [row[0] for row in await vote_state(services)] == [ids["case-1"]]
    assert errors_logged() == []


async def test_two_open_confirmations_cannot_change_a_vote_unasked(
    telegram, services, campaign, errors_logged
):
    """Two cards in the chat, each at "vote for this case?": the second confirmed first; the
    first, pressed after, asked for a first vote, so it must not change the vote unasked."""
    ids = await case_ids(services, campaign)
    await telegram.send(KIM, f"/start case_{ids['case-2']}")
    await telegram.press(KIM, "투표하기")
    waiting = telegram.last_message_with_buttons(KIM.id)
    await telegram.send(KIM, f"/start case_{ids['case-7']}")
    await telegram.press(KIM, "투표하기")
    calls = await telegram.press(KIM, "네, 투표합니다")
    assert "투표가 기록되었습니다" in only(calls, "editMessageText").text

    calls = await telegram.press(KIM, "네, 투표합니다", message=waiting)
    asked = only(calls, "editMessageText")
    assert asked.text.startswith(t("ko", "vote.stale"))
    assert "이 사례로 바꿀까요?" in asked.text
    assert [row[0] for row in await vote_state(services)] == [ids["case-7"]]
    calls = await telegram.press(KIM, "네, 바꿉니다")
    assert "사례 제목 07번 → 사례 제목 02번" in only(calls, "editMessageText").text
    assert errors_logged() == []


@pytest.mark.parametrize(("user", "yes"), [(KIM, "✅ 네, 투표합니다"), (SMITH, "✅ Yes, vote")])
async def test_a_confirm_button_from_before_it_carried_the_vote_asks_again(
    telegram, services, campaign, user, yes, errors_logged
):
    """`y:` data, as buttons were made before they carried the votes: taken as stale."""
    ids = await case_ids(services, campaign)
    calls = await telegram.press(user, data=f"y:{campaign.id}:{ids['case-3']}:0:::")
    asked = only(calls, "editMessageText")
    assert asked.text.startswith(t(user.language_code, "vote.stale"))
    assert asked.labels()[0] == yes
    assert await vote_count(services) == 0
    calls = await telegram.press(user, yes)
    assert not only(calls, "editMessageText").text.startswith(t(user.language_code,
                                                                "vote.stale"))
    assert await vote_count(services) == 1
    assert errors_logged() == []


# --- forged and stale buttons -------------------------------------------------------------

MALFORMED = [
    "garbage", "", "y:1:abc", "x" * 64, "c:1", "y", "y:1", "y:1:2", "y:1:2:0::",
    "y:-1:1:0:::", "y:1:-5:0:::", "y:1:99999999999:0:::", "l:1:0::", "lg:fr", "mv:1",
    "c:1:2:0:0::", "v:1:2:x:::", "투표:1:2", "\u0000", "y:1:1:0:::" + "가" * 20,
]


@pytest.mark.parametrize("data", MALFORMED)
async def test_malformed_button_data_expires(telegram, services, campaign, data, errors_logged):
    await telegram.send(KIM, "/start")
    calls = await telegram.press(KIM, data=data)
    assert methods(calls) == ["answerCallbackQuery"]
    assert calls[0].params["show_alert"] is True
    assert calls[0].params["text"] == EXPIRED_KO
    assert "만료" in calls[0].params["text"]
    assert await vote_count(services) == 0
    assert errors_logged() == []


async def test_malformed_button_data_expires_in_english(telegram, services, campaign):
    for data in ("garbage", "y:1:abc", "c:1"):
        calls = await telegram.press(SMITH, data=data)
        assert methods(calls) == ["answerCallbackQuery"]
        assert calls[0].params["show_alert"] is True
        assert "expired" in calls[0].params["text"]
        assert calls[0].params["text"] == EXPIRED_EN
    assert await vote_count(services) == 0


async def test_buttons_of_a_campaign_that_is_not_current_expire(
    telegram, services, campaign, errors_logged
):
    # Another campaign, next year: real rows, real ids, but not the one the bot serves.
    other_raw = small_campaign(slug="other-2025", phases={
        "voting": {"start": "2025-11-28T09:00", "end": "2025-12-01T18:00"},
    })
    report = await services.campaigns.load(parse_campaign(other_raw))
    other = await services.campaigns.get(report.campaign_id)
    assert (await services.campaigns.current()).id == campaign.id
    theirs = await case_ids(services, other)
    ours = await case_ids(services, campaign)

    forged = [
        confirm(other.id, theirs["case-1"]),
        confirm(other.id, ours["case-1"]),
        confirm(999_999, ours["case-1"]),
        cb.encode(cb.AskVote(other.id, theirs["case-1"], cb.ListState())),
        cb.encode(cb.ShowCase(other.id, theirs["case-1"], cb.ListState())),
        cb.encode(cb.ShowList(other.id, cb.ListState())),
        cb.encode(cb.AskSearch(other.id)),
    ]
    for data in forged:
        calls = await telegram.press(KIM, data=data)
        assert methods(calls) == ["answerCallbackQuery"], data
        assert calls[0].params == {"callback_query_id": calls[0].params["callback_query_id"],
                                   "text": EXPIRED_KO, "show_alert": True}
    assert await vote_count(services) == 0
    assert errors_logged() == []


async def test_a_case_of_another_campaign_under_the_current_campaign_id(
    telegram, services, campaign, errors_logged
):
    other_raw = small_campaign(slug="other-2025", phases={
        "voting": {"start": "2025-11-28T09:00", "end": "2025-12-01T18:00"},
    })
    report = await services.campaigns.load(parse_campaign(other_raw))
    theirs = await case_ids(services, await services.campaigns.get(report.campaign_id))

    calls = await telegram.press(KIM, data=confirm(campaign.id, theirs["case-1"]))
    assert methods(calls) == ["answerCallbackQuery", "editMessageText"]
    assert calls[1].text == "이 사례에는 투표할 수 없습니다."

    show_case = cb.encode(cb.ShowCase(campaign.id, theirs["case-1"], cb.ListState()))
    calls = await telegram.press(KIM, data=show_case)
    assert only(calls, "editMessageText").text == "이 사례는 지금 볼 수 없습니다."
    assert await vote_count(services) == 0
    assert errors_logged() == []


async def test_unknown_and_hidden_cases_in_the_current_campaign(
    telegram, services, campaign, clock, errors_logged
):
    ids = await case_ids(services, campaign)
    async with services.db.write() as conn:
        await CaseRepository(conn).set_status(ids["case-7"], CaseStatus.HIDDEN, clock.now())
        await CaseRepository(conn).set_status(ids["case-8"], CaseStatus.REMOVED, clock.now())

    for case_id in (999_999, ids["case-7"], ids["case-8"]):
        data = cb.encode(cb.ShowCase(campaign.id, case_id, cb.ListState()))
        calls = await telegram.press(KIM, data=data)
        assert methods(calls) == ["answerCallbackQuery", "editMessageText"]
        assert calls[1].text == "이 사례는 지금 볼 수 없습니다."
        assert calls[1].labels() == ["🏠 처음으로"]

        calls = await telegram.press(KIM, data=confirm(campaign.id, case_id))
        assert only(calls, "editMessageText").text == "이 사례에는 투표할 수 없습니다."

        ask = cb.encode(cb.AskVote(campaign.id, case_id, cb.ListState()))
        calls = await telegram.press(KIM, data=ask)
        assert only(calls, "editMessageText").text == "이 사례에는 투표할 수 없습니다."
    assert await vote_count(services) == 0
    assert errors_logged() == []


async def test_out_of_range_list_state_is_harmless(telegram, services, campaign, errors_logged):
    state = cb.ListState(page=999, district=42, category=77, search=None)
    calls = await telegram.press(KIM, data=cb.encode(cb.ShowList(campaign.id, state)))
    edit = only(calls, "editMessageText")
    assert edit.text.startswith("📋 <b>사례 목록</b> (2/2쪽, 모두 10건)")
    ids = await case_ids(services, campaign)
    part = cb.encode(cb.ShowCase(campaign.id, ids["case-1"], cb.ListState(), part=999))
    calls = await telegram.press(KIM, data=part)
    assert only(calls, "editMessageText").text.startswith("<b>사례 제목 01번</b>")
    assert errors_logged() == []


# --- deep links ---------------------------------------------------------------------------


async def test_deep_link_opens_the_case(telegram, services, campaign):
    ids = await case_ids(services, campaign)
    calls = await telegram.send(KIM, f"/start case_{ids['case-6']}")
    card = only(calls, "sendMessage")
    assert methods(calls) == ["sendMessage"]
    assert card.chat_id == KIM.id
    assert card.text.startswith("<b>사례 제목 06번</b>\n🏢 송촌동 지역사회보장협의체\n"
                                "📍 대덕구 송촌동 · 🏷 어르신")
    assert card.labels() == ["🗳 이 사례에 투표하기", "📤 공유하기", "◀ 목록으로"]
    share = next(b for b in card.buttons() if "url" in b)
    assert f"chamyeo_test_bot%3Fstart%3Dcase_{ids['case-6']}" in share["url"]


@pytest.mark.parametrize("argument,expected", [
    ("case_999999", "이 사례는 지금 볼 수 없습니다."),
    ("case_abc", "안녕하세요!"),
    ("case_", "안녕하세요!"),
    ("case_-1", "안녕하세요!"),
    ("case_99999999999999999999", "안녕하세요!"),
    ("somethingelse", "안녕하세요!"),
])
async def test_bad_deep_links_get_a_clear_answer(
    telegram, services, campaign, argument, expected, errors_logged
):
    calls = await telegram.send(KIM, f"/start {argument}")
    greeting = expected == "안녕하세요!"
    # the greeting is followed, the first time, by the question about news
    assert methods(calls) == ["sendMessage"] * (2 if greeting else 1)
    assert calls[0].text.startswith(expected)
    assert calls[0].labels() in (["🏠 처음으로"], MENU_KO)
    assert errors_logged() == []


# --- fallback and search ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["/foo", "/foo bar", "/1234"])
async def test_an_unknown_command_gets_the_hint_with_the_menu(telegram, campaign, text):
    calls = await telegram.send(KIM, text)
    assert methods(calls) == ["sendMessage"]
    assert calls[0].chat_id == KIM.id
    assert calls[0].text == HINT_KO
    assert calls[0].labels() == MENU_KO


@pytest.mark.parametrize("text", ["안녕하세요", "1234"])
async def test_typed_text_that_finds_nothing_says_so_with_a_way_on(telegram, campaign, text):
    calls = await telegram.send(KIM, text)
    assert methods(calls) == ["sendMessage"]
    assert calls[0].text == nothing_found_ko(text)
    assert calls[0].labels() == NOTHING_FOUND_KO
    calls = await telegram.press(KIM, "모든 사례 보기")
    assert only(calls, "editMessageText").text.startswith(
        "📋 <b>사례 목록</b> (1/2쪽, 모두 10건)\n보고")


async def test_hint_in_english(telegram, campaign):
    calls = await telegram.send(SMITH, "/what")
    assert calls[0].text == ("Please use the buttons below.\n"
                             "To find cases, send something like “/search care”.")
    assert calls[0].labels() == MENU_EN


async def test_search_button_then_a_typed_word(telegram, campaign):
    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "사례 보기")
    calls = await telegram.press(KIM, "낱말 찾기")
    assert only(calls, "editMessageText").text == "찾을 낱말을 보내 주세요.\n예: 돌봄"

    calls = await telegram.send(KIM, "  07번 ")
    listing = only(calls, "sendMessage")
    assert listing.text == ("📋 <b>사례 목록</b> (1/1쪽, 모두 1건)\n조건: 「07번」\n"
                            "보고 싶은 사례를 누르세요.")
    assert listing.labels()[0] == "사례 제목 07번 · 동구"
    assert "✖ 조건 지우기" in listing.labels()

    # the search was answered; free text searches anyway, as /search does
    calls = await telegram.send(KIM, "사례 07번")
    assert only(calls, "sendMessage").text.startswith(
        "📋 <b>사례 목록</b> (1/1쪽, 모두 1건)\n조건: 「사례 07번」")


async def test_search_command(telegram, campaign):
    calls = await telegram.send(KIM, "/search 05번")
    listing = only(calls, "sendMessage")
    assert listing.text == ("📋 <b>사례 목록</b> (1/1쪽, 모두 1건)\n조건: 「05번」\n"
                            "보고 싶은 사례를 누르세요.")
    assert [label for label in listing.labels() if label.startswith("사례 제목")] == [
        "사례 제목 05번 · 동구"
    ]

    calls = await telegram.send(KIM, "/search 사례 제목")
    assert "(1/2쪽, 모두 10건)" in only(calls, "sendMessage").text

    calls = await telegram.send(SMITH, "/search title 0")
    # every word, anywhere: 01 to 10 but not 03, which has no English text
    assert "(page 1 of 2, 9 in all)" in only(calls, "sendMessage").text


async def test_search_without_a_word_asks_for_one(telegram, campaign):
    calls = await telegram.send(KIM, "/search")
    usage = "/search 다음에 찾을 낱말을 써 주세요.\n예: /search 돌봄"
    assert only(calls, "sendMessage").text == usage
    # the next message is taken as the word
    calls = await telegram.send(KIM, "10번")
    assert "모두 1건" in only(calls, "sendMessage").text


async def test_search_with_no_match_says_so(telegram, campaign):
    calls = await telegram.send(KIM, "/search 없는낱말")
    listing = only(calls, "sendMessage")
    assert listing.text == nothing_found_ko("없는낱말")
    assert listing.labels() == NOTHING_FOUND_KO
    calls = await telegram.press(KIM, "다시 찾기")
    assert only(calls, "editMessageText").text == "찾을 낱말을 보내 주세요.\n예: 돌봄"


@pytest.mark.parametrize("word", ["%", "_", "\\", "<b>", "' OR 1=1 --"])
async def test_search_words_are_taken_literally(telegram, campaign, word, errors_logged):
    calls = await telegram.send(KIM, f"/search {word}")
    listing = only(calls, "sendMessage")
    assert listing.text == nothing_found_ko(html.escape(word, quote=False))
    assert listing.labels() == NOTHING_FOUND_KO
    assert errors_logged() == []


# --- language, schedule, help, command menu -----------------------------------------------


async def test_language_switch_to_english(telegram, services, campaign):
    calls = await telegram.send(KIM, "/language")
    picker = only(calls, "sendMessage")
    assert picker.text == "언어를 고르세요. / Choose a language."
    assert picker.labels() == ["한국어", "English"]

    calls = await telegram.press(KIM, "English")
    edit = only(calls, "editMessageText")
    assert edit.text.startswith("I will speak English from now on.\n\nHello! 👋\n"
                                "<b>Test competition 2024</b>")
    assert edit.labels() == MENU_EN
    async with services.db.read() as conn:
        language = await conn.scalar(
            sa.select(citizens.c.language).where(citizens.c.external_id == str(KIM.id)))
    assert language == "en"

    calls = await telegram.send(KIM, "/start")
    greeting, question = calls
    assert greeting.text.startswith("Hello! 👋")
    assert question.text.startswith("🔔 Would you like news")
    calls = await telegram.send(KIM, "/start")  # asked once only
    assert only(calls, "sendMessage").text.startswith("Hello! 👋")
    calls = await telegram.send(KIM, "/help")
    assert only(calls, "sendMessage").text.startswith("<b>How to use this bot</b>")
    calls = await telegram.press(KIM, data="garbage")
    assert calls[0].params["text"] == EXPIRED_EN

    await telegram.send(KIM, "/language")
    calls = await telegram.press(KIM, "한국어")
    assert only(calls, "editMessageText").text.startswith("이제 한국어로 안내합니다.")


async def test_schedule_shows_the_four_phases(telegram, campaign, clock):
    calls = await telegram.send(KIM, "/schedule")
    assert only(calls, "sendMessage").text == (
        "📅 <b>시험 공모 2024</b> 일정\n\n"
        "✔️ 사례 접수: 10월 7일(월) 09:00 ~ 11월 24일(일) 18:00 · 끝남\n"
        "🟢 시민 투표: 11월 28일(목) 09:00 ~ 12월 1일(일) 18:00 · 진행 중\n"
        "⏳ 심사: 12월 2일(월) 09:00 ~ 12월 6일(금) 18:00 · 예정\n"
        "⏳ 시상: 12월 9일(월) 14:00 · 예정"
    )
    assert calls[0].labels() == ["🏠 처음으로"]

    clock.set(VOTING_CLOSES)
    calls = await telegram.send(SMITH, "/schedule")
    assert only(calls, "sendMessage").text == (
        "📅 <b>Test competition 2024</b>: schedule\n\n"
        "✔️ Case submission: Mon 7 Oct 09:00 – Sun 24 Nov 18:00 · closed\n"
        "✔️ Citizen voting: Thu 28 Nov 09:00 – Sun 1 Dec 18:00 · closed\n"
        "⏳ Review: Mon 2 Dec 09:00 – Fri 6 Dec 18:00 · upcoming\n"
        "⏳ Awards: Mon 9 Dec 14:00 · upcoming"
    )


async def test_help_answers(telegram, campaign):
    calls = await telegram.send(KIM, "/help")
    text = only(calls, "sendMessage").text
    assert text.startswith("<b>이렇게 쓰세요</b>")
    assert "/search 돌봄" in text and "/schedule" in text and "/language" in text
    await telegram.send(KIM, "/start")
    calls = await telegram.press(KIM, "도움말")
    assert only(calls, "editMessageText").text == text


async def test_command_menu_in_korean_and_english(telegram):
    calls = [c for c in telegram.request.calls if c.method == "setMyCommands"]
    assert len(calls) == 2
    korean, english = calls
    assert "language_code" not in korean.params
    assert english.params["language_code"] == "en"
    assert korean.params["commands"] == [
        {"command": "start", "description": "처음 화면"},
        {"command": "submit", "description": "사례 접수하기 (접수 기간에)"},
        {"command": "mycases", "description": "내가 낸 사례 보기"},
        {"command": "search", "description": "사례 찾기 (예: /search 돌봄)"},
        {"command": "myvote", "description": "내 투표 보기"},
        {"command": "schedule", "description": "일정 보기"},
        {"command": "notify", "description": "알림 켜기·끄기"},
        {"command": "help", "description": "도움말"},
        {"command": "language", "description": "언어 바꾸기 / Language"},
        {"command": "cancel", "description": "작성 그만두기"},
        {"command": "forgetme", "description": "내 정보 삭제"},
    ]
    assert english.params["commands"] == [
        {"command": "start", "description": "Main menu"},
        {"command": "submit", "description": "Submit a case (while submission is open)"},
        {"command": "mycases", "description": "My submitted cases"},
        {"command": "search", "description": "Find cases (e.g. /search care)"},
        {"command": "myvote", "description": "See my vote"},
        {"command": "schedule", "description": "See the schedule"},
        {"command": "notify", "description": "News on or off"},
        {"command": "help", "description": "Help"},
        {"command": "language", "description": "언어 바꾸기 / Language"},
        {"command": "cancel", "description": "Stop writing a case"},
        {"command": "forgetme", "description": "Forget me (delete my data)"},
    ]


# --- Telegram's size limits ---------------------------------------------------------------


def long_body() -> str:
    paragraphs = []
    n = 0
    while sum(len(p) + 2 for p in paragraphs) < 3200:
        n += 1
        paragraphs.append(" ".join(f"{n}문단의 {m}번째 문장입니다." for m in range(1, 16)))
    body = "\n\n".join(paragraphs)[:3000].rstrip()
    return body[: body.rfind(".") + 1]


def assert_within_limits(calls) -> None:
    for call in calls:
        if call.method in ("sendMessage", "editMessageText"):
            assert 0 < len(call.text) <= 4096, (call.method, len(call.text))
        for button in call.buttons():
            if "callback_data" in button:
                assert len(button["callback_data"].encode()) <= 64, button
        if call.method == "answerCallbackQuery" and "text" in call.params:
            assert len(call.params["text"]) <= 200


async def test_long_case_body_is_shown_in_parts(telegram, services, campaign):
    body = long_body()
    assert 2900 < len(body) <= 3000 and body.count("\n\n") >= 3
    raw = small_campaign()
    raw["cases"][0]["ko"]["body"] = body
    await services.campaigns.load(parse_campaign(raw))
    ids = await case_ids(services, campaign)
    start = len(telegram.request.calls)

    calls = await telegram.send(KIM, f"/start case_{ids['case-1']}")
    card = only(calls, "sendMessage")
    assert card.labels()[0] == "더 보기 ▼"
    shown = [card.text.split("</i>\n\n", 1)[1]]

    calls = await telegram.press(KIM, "더 보기")
    second = only(calls, "editMessageText")
    assert second.text.startswith("<b>사례 제목 01번</b> (2/")
    shown.append(second.text.split("\n\n", 1)[1])
    assert not shown[1].startswith(shown[0][:20])
    # and back: a part has its previous part one tap away
    assert second.labels()[0] == "▲ 앞부분 보기"
    first_again = only(await telegram.press(KIM, "앞부분 보기"), "editMessageText")
    assert first_again.text == card.text and "▲ 앞부분 보기" not in first_again.labels()
    await telegram.press(KIM, "더 보기")
    while "더 보기 ▼" in (calls[-1].labels() if calls else []):
        calls = await telegram.press(KIM, "더 보기")
        shown.append(only(calls, "editMessageText").text.split("\n\n", 1)[1])
    assert 2 <= len(shown) <= 3
    # every paragraph is shown whole, in order, across the parts
    assert " ".join(" ".join(shown).split()) == " ".join(body.split())
    assert "🗳 이 사례에 투표하기" in calls[-1].labels()
    assert_within_limits(telegram.request.calls[start:])


async def test_every_message_and_button_stays_within_limits(telegram, services, campaign):
    raw = small_campaign()
    raw["cases"][0]["ko"]["body"] = long_body()
    raw["cases"][0]["ko"]["title"] = "가" * 80
    raw["cases"][0]["ko"]["summary"] = "나" * 300
    await services.campaigns.load(parse_campaign(raw))
    start = len(telegram.request.calls)

    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "사례 보기")
    await telegram.press(KIM, "다음")
    await telegram.press(KIM, "이전")
    await telegram.press(KIM, "가가가")
    await telegram.press(KIM, "더 보기")
    await telegram.send(KIM, "/search 사례 " + "제목 " * 60)  # cut to its first words
    await telegram.press(KIM, "지역")
    await telegram.press(KIM, "동구")
    await telegram.send(KIM, "/search 사례 제목")
    await telegram.press(KIM, "사례 제목 05번")
    await telegram.press(KIM, "투표하기")
    await telegram.press(KIM, "네, 투표합니다")
    await telegram.send(KIM, "/myvote")
    await telegram.send(KIM, "/schedule")
    await telegram.press(SMITH, data="x" * 64)

    calls = telegram.request.calls[start:]
    assert len(calls) >= 25
    assert_within_limits(calls)
    assert_no_error(calls)


# --- errors around edits ------------------------------------------------------------------


async def test_a_failed_edit_falls_back_to_a_new_message(telegram, campaign, errors_logged):
    await telegram.send(KIM, "/start")
    telegram.request.fail_next("editMessageText", 400, "Bad Request: message to edit not found")

    calls = await telegram.press(KIM, "사례 보기")

    assert methods(calls) == ["answerCallbackQuery", "editMessageText", "sendMessage"]
    assert calls[1].params["_failed"] == 400
    sent = calls[2]
    assert sent.chat_id == KIM.id
    assert sent.text == calls[1].text
    assert sent.text.startswith("📋 <b>사례 목록</b> (1/2쪽, 모두 10건)")
    assert sent.labels() == calls[1].labels()
    assert sent.params["parse_mode"] == "HTML"
    assert_no_error(calls)
    assert errors_logged() == []
    # the new message has the buttons: the next press works on it
    calls = await telegram.press(KIM, "다음")
    assert "(2/2쪽, 모두 10건)" in only(calls, "editMessageText").text


async def test_message_not_modified_is_not_an_error(telegram, campaign, errors_logged):
    await telegram.send(KIM, "/start")
    telegram.request.fail_next(
        "editMessageText", 400,
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message",
    )
    calls = await telegram.press(KIM, "사례 보기")
    assert methods(calls) == ["answerCallbackQuery", "editMessageText"]
    assert_no_error(calls)
    assert errors_logged() == []


async def test_an_unexpected_failure_reaches_the_error_handler(telegram, campaign, errors_logged):
    telegram.request.fail_next("sendMessage", 500, "Internal Server Error")
    calls = await telegram.send(SMITH, "/start")
    assert methods(calls) == ["sendMessage", "sendMessage"]
    assert calls[0].params["_failed"] == 500
    assert calls[1].chat_id == SMITH.id
    assert calls[1].text == "Sorry, something went wrong. Please try again in a moment."
    assert len(errors_logged()) == 1

    await telegram.send(KIM, "/start")
    telegram.request.fail_next("editMessageText", 403, "Forbidden: bot was blocked by the user")
    calls = await telegram.press(KIM, "사례 보기")
    assert methods(calls) == ["answerCallbackQuery", "editMessageText", "answerCallbackQuery"]
    assert calls[2].params["text"] == "죄송합니다. 문제가 생겼습니다. 잠시 후 다시 해 주세요."
    assert calls[2].params["show_alert"] is True


# --- the per-user update processor --------------------------------------------------------


def message_update(update_id: int, user_id: int, text: str) -> Update:
    return Update.de_json({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1732752000, "text": text,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"},
        },
    }, None)


async def until(condition, rounds: int = 200) -> None:
    """Let the other tasks run (no wall-clock sleep) until `condition` holds."""
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


async def test_per_user_processor_orders_each_user_and_runs_users_concurrently():
    processor = PerUserUpdateProcessor(16)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in ("a1", "a2", "a3", "b1")}

    async def job(name: str) -> None:
        log.append(f"start {name}")
        await gates[name].wait()
        log.append(f"end {name}")

    updates = {"a1": message_update(1, 1, "a1"), "a2": message_update(2, 1, "a2"),
               "a3": message_update(3, 1, "a3"), "b1": message_update(4, 2, "b1")}
    tasks = [asyncio.create_task(processor.process_update(updates[name], job(name)))
             for name in ("a1", "a2", "a3", "b1")]

    # user 1's first update and user 2's update run at the same time; user 1's others wait
    await until(lambda: {"start a1", "start b1"} <= set(log))
    for _ in range(20):
        await asyncio.sleep(0)
    assert log == ["start a1", "start b1"]

    # user 2 finishes while user 1 is still busy: one slow user holds up nobody else
    gates["b1"].set()
    await until(lambda: "end b1" in log)
    assert "end a1" not in log

    # releasing user 1's later updates first does not let them overtake the first one
    gates["a3"].set()
    gates["a2"].set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert "start a2" not in log and "start a3" not in log

    gates["a1"].set()
    await asyncio.gather(*tasks)
    user1 = [entry for entry in log if entry.endswith(("a1", "a2", "a3"))]
    assert user1 == ["start a1", "end a1", "start a2", "end a2", "start a3", "end a3"]
    assert processor._waiting == {}  # idle users are forgotten


async def test_one_busy_user_does_not_take_every_slot():
    """Updates queued behind a user's running update give their slot back."""
    processor = PerUserUpdateProcessor(2)
    log: list[str] = []
    gate = asyncio.Event()

    async def slow(name: str) -> None:
        log.append(f"start {name}")
        await gate.wait()

    async def quick(name: str) -> None:
        log.append(f"done {name}")

    busy = [asyncio.create_task(processor.process_update(message_update(i, 1, "a"), slow(f"a{i}")))
            for i in range(1, 6)]
    other = asyncio.create_task(processor.process_update(message_update(9, 2, "b"), quick("b")))
    await until(lambda: "done b" in log)
    assert log[:2] == ["start a1", "done b"]
    gate.set()
    await asyncio.gather(*busy, other)
    assert [e for e in log if e.startswith("start")] == [f"start a{i}" for i in range(1, 6)]


async def test_per_user_processor_survives_a_failing_update():
    processor = PerUserUpdateProcessor(8)
    log: list[str] = []

    async def failing() -> None:
        log.append("fail")
        raise RuntimeError("boom")

    async def fine(name: str) -> None:
        log.append(name)

    first = asyncio.create_task(processor.process_update(message_update(1, 7, "x"), failing()))
    second = asyncio.create_task(processor.process_update(message_update(2, 7, "y"), fine("y")))
    await asyncio.gather(first, second)  # the failure is logged, not raised
    assert log == ["fail", "y"]
    assert processor._waiting == {}


async def test_per_user_processor_runs_updates_without_a_user():
    processor = PerUserUpdateProcessor(8)
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    await processor.process_update(Update.de_json({"update_id": 9}, None), job())
    assert ran.is_set()
    assert processor._waiting == {}


# --- counts are sealed from citizens ------------------------------------------------------


@pytest.mark.parametrize("show_running_tally", [False, True])
async def test_vote_counts_are_sealed_unless_allowed(db, clock, show_running_tally):
    from bot.app import build_application
    from bot.campaign_file import parse_campaign
    from bot.services import Services
    from bot.services.catalog import ListQuery
    from bot.settings import Settings
    from handlers.telegram.offline import OfflineRequest, OfflineTelegram
    from tests.conftest import small_campaign

    services = Services.create(db, clock)
    spec = parse_campaign(small_campaign(voting={"show_running_tally": show_running_tally}))
    campaign = await services.campaigns.get((await services.campaigns.load(spec)).campaign_id)
    citizen = await services.citizens.identify("telegram", "555", "ko")
    page = await services.catalog.list_cases(campaign, ListQuery(), None)
    await services.voting.cast_vote(campaign, citizen, page.cases[0].id)
    request = OfflineRequest(clock=clock)
    application = build_application(Settings(_env_file=None), services, request=request,
                                    rate_limited=False)
    async with application:
        telegram = OfflineTelegram(application, request, clock)
        calls = await telegram.send(KIM, f"/start case_{page.cases[0].id}")
    assert calls[0].text.startswith("<b>사례 제목 01번</b>")
    assert ("🗳 지금까지 1표" in calls[0].text) is show_running_tally

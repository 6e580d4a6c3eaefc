"""Through the real Application, with two workers on one database (tests/worker_pair.py): a
double tap on "next" sends one edit, on either worker; a hundred messages from one user at once
are bounded, the rest dropped without an error reply; a bootstrap admin's command menu waits
until their chat exists; NUL characters (which PostgreSQL cannot store) pass everywhere."""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa

from bot.domain import Role
from handlers.telegram.menus import refresh_staff_menu
from handlers.telegram.offline import TelegramUser
from handlers.telegram.processor import MAX_WAITING
from storage.tables import cases, citizens
from tests.conftest import ADMIN, KIM
from tests.databases import ON_POSTGRES
from tests.test_moderation import submit
from tests.test_search import is_search_answer
from tests.test_submission import BODY, SUBMITTING, SUMMARY, TITLE
from tests.worker_pair import (
    case_row,
    message_with,
    no_error,
    sent,
    soon,
    subscribers,
    worker,
)

# --- 8. a double tap, and a flood of messages from one user ---------------------------------


async def test_a_double_tap_on_next_sends_one_edit(pair, campaign):
    a, b = pair
    await a.bot.send(KIM, "/start")
    await a.bot.press(KIM, "사례 보기")
    listing = message_with(a, KIM, "다음 ▶")
    data = a.bot.find_button(listing, "다음 ▶")["callback_data"]
    start = len(a.request.calls)

    # Two taps carry the same button of the same message, as Telegram sends them.
    await asyncio.gather(a.bot.press(KIM, data=data, message=listing),
                         a.bot.press(KIM, data=data, message=listing))
    calls = a.request.calls[start:]
    [edit] = sent(calls, "editMessageText")
    assert "(2/2쪽" in edit.text
    answers = sent(calls, "answerCallbackQuery")
    assert len(answers) == 2 and not any("show_alert" in c.params for c in answers)

    # A third tap of the same button reaches the other worker: it knows the screen too (from
    # the session; on SQLite, which one process serves, what a message shows stays in that
    # process's memory: bot/services/sessions.py).
    other = b if ON_POSTGRES else a
    calls = await other.bot.press(KIM, data=data, message=listing)
    assert sent(calls, "editMessageText") == []
    assert len(sent(calls, "answerCallbackQuery")) == 1
    # ...and a tap that changes the screen is still sent.
    calls = await other.bot.press(KIM, "◀ 이전", message=message_with(other, KIM, "◀ 이전"))
    [edit] = sent(calls, "editMessageText")
    assert "(1/2쪽" in edit.text


async def test_a_hundred_messages_at_once_are_bounded_and_the_next_one_is_answered(
        pair, campaign, caplog):
    a, _ = pair
    await a.bot.send(KIM, "/start")
    start = len(a.request.calls)
    with caplog.at_level(logging.WARNING, logger="handlers.telegram.processor"):
        await asyncio.gather(*(a.bot.send(KIM, f"안녕하세요 {n}") for n in range(100)))
    calls = a.request.calls[start:]
    replies = sent(calls)
    assert len(replies) == 1 + MAX_WAITING
    assert all(is_search_answer(c.text) and c.chat_id == KIM.id for c in replies)
    assert [c.method for c in calls if c.method != "sendMessage"] == []  # no error reply
    no_error(calls)
    dropping = [r for r in caplog.records if "dropping the rest" in r.getMessage()]
    assert len(dropping) == 1

    calls = await a.bot.send(KIM, "/help")
    [reply] = sent(calls)
    assert reply.text.startswith("<b>이렇게 쓰세요</b>")


# --- 9. a bootstrap admin's command menu --------------------------------------------------


async def test_a_bootstrap_admin_who_never_wrote_gets_a_menu_at_the_first_start(
        database_url, clock, cloud, campaign):
    newcomer = TelegramUser(9100, "새관리자", "ko")
    async with worker(database_url, clock, cloud, "worker-a",
                      admins=(newcomer.id, ADMIN.id)) as a:
        await a.services.citizens.identify("telegram", str(ADMIN.id), "ko", "boss")  # wrote
        await a.application.post_init(a.application)
        menus = sent(a.request.calls, "setMyCommands")
        assert [c.params.get("scope") for c in menus] == [
            None, None, {"type": "chat", "chat_id": ADMIN.id},
            {"type": "chat", "chat_id": ADMIN.id}]

        calls = await a.bot.send(newcomer, "/start")
        menus = sent(calls, "setMyCommands")
        assert [(c.params["scope"], c.params.get("language_code")) for c in menus] == [
            ({"type": "chat", "chat_id": newcomer.id}, None),
            ({"type": "chat", "chat_id": newcomer.id}, "en")]
        korean, english = ({c["command"]: c["description"] for c in m.params["commands"]}
                           for m in menus)
        assert "admin" in korean and "grant" in korean and "moderate" in korean
        assert korean.keys() == english.keys() and korean["start"] != english["start"]
        assert sent(calls)[0].text.startswith("안녕하세요!")

    # From now on, the next worker to start sets it at startup.
    async with worker(database_url, clock, cloud, "worker-b", admins=(newcomer.id,)) as b:
        await b.application.post_init(b.application)
        scoped = [c.params["scope"]["chat_id"] for c in sent(b.request.calls, "setMyCommands")
                  if "scope" in c.params]
        assert scoped == [newcomer.id, newcomer.id]


async def test_one_staff_chat_that_refuses_its_menu_does_not_cost_the_others_theirs(
        database_url, clock, cloud, campaign):
    """Startup sets each staff member's menu; Telegram refusing one chat (it is gone, say)
    must not leave every staff member after it without theirs."""
    async with worker(database_url, clock, cloud, "worker-a", admins=(ADMIN.id,)) as a:
        for user in (KIM, ADMIN):  # both have written to the bot
            await a.services.citizens.identify("telegram", str(user.id), "ko")
        await a.services.staff.grant(f"telegram:{ADMIN.id}", "telegram", str(KIM.id),
                                     Role.JUDGE)
        a.request.fail_next("setMyCommands", 400, "Bad Request: chat not found")
        await refresh_staff_menu(a.application.bot, a.services)
        menus = [c for c in sent(a.request.calls, "setMyCommands") if "_failed" not in c.params]
        assert [(c.params["scope"]["chat_id"], c.params.get("language_code"))
                for c in menus if c.params["scope"]["chat_id"] == ADMIN.id] \
            == [(ADMIN.id, None), (ADMIN.id, "en")]


# --- 10. NUL characters ------------------------------------------------------------------


NUL_USER = TelegramUser(1077, "널", "ko", username="nul\x00user")


async def test_a_nul_in_a_username_is_dropped(pair, services, campaign):
    a, b = pair
    for w in (a, b, a):
        calls = await w.bot.send(NUL_USER, "/start")
        no_error(calls)
        assert sent(calls)[0].text.startswith("안녕하세요!")
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(citizens.c.username).where(
            citizens.c.external_id == str(NUL_USER.id))) == "nuluser"
    calls = await a.bot.send(ADMIN, "/grant @nuluser judge")
    assert sent(calls)[0].text.startswith("✅ @nuluser")


async def test_a_nul_in_a_search_word_is_dropped(pair, campaign):
    a, b = pair
    await a.bot.send(KIM, "/start")
    await a.bot.press(KIM, "사례 보기")
    await a.bot.press(KIM, "낱말 찾기")
    calls = await b.bot.send(KIM, "03\x00번")
    no_error(calls)
    assert "모두 1건" in sent(calls)[-1].text
    calls = await a.bot.send(KIM, "/search 제목\x00 03번")
    no_error(calls)
    assert "모두 1건" in sent(calls)[-1].text


async def test_a_nul_in_a_rejection_reason_is_dropped(pair, services, campaign):
    a, b = pair
    case = await submit(services, campaign, KIM, "골목 화단")
    await a.bot.send(ADMIN, "/moderate")
    await a.bot.press(ADMIN, "반려")
    calls = await b.bot.send(ADMIN, "사진이\x00 흐립니다")
    no_error(calls)
    row = await case_row(services.db, case)
    assert (row["status"], row["status_reason"]) == ("rejected", "사진이 흐립니다")


async def test_a_nul_in_a_submission_answer_is_dropped(pair, services, campaign, clock):
    a, b = pair
    clock.set(SUBMITTING)
    await a.bot.send(KIM, "/submit")
    await a.bot.press(KIM, "기관·단체")
    answers = [("send", "대전\x00 행복 복지관"), ("press", "건너뛰기"),
               ("press", "동구"), ("press", "효동"),
               ("press", "돌봄"), ("send", f"{TITLE}\x00"), ("send", SUMMARY),
               ("send", BODY), ("press", "사진 없이"), ("press", "동의합니다"),
               ("press", "📨 접수하기")]
    for n, (how, value) in enumerate(answers):
        w = (b, a)[n % 2]
        calls = await (w.bot.press(KIM, value) if how == "press" else w.bot.send(KIM, value))
        no_error(calls)
    async with services.db.read() as conn:
        [case] = (await conn.execute(cases.select().where(cases.c.source == "chat"))).mappings()
    assert (case["organization_ko"], case["title_ko"]) == ("대전 행복 복지관", TITLE)


async def test_a_nul_in_a_staff_broadcast_text_kept_in_the_session(pair, campaign):
    """The draft waits in the chat session (JSON, where PostgreSQL's json type keeps a NUL),
    then goes out as a broadcast."""
    a, b = pair
    if not ON_POSTGRES:  # one process serves SQLite, remembering its sessions: no second one
        b = a
    await subscribers(a.services, campaign, [7301])
    await a.bot.send(ADMIN, "/broadcast")
    calls = await b.bot.send(ADMIN, "내일\x00 마감합니다")
    no_error(calls)
    assert "미리 보기" in sent(calls)[-1].text
    calls = await a.bot.press(ADMIN, "보내기")
    no_error(calls)
    await soon(a.services.broadcaster.idle(), "the broadcast ends")
    [message] = [c for c in sent(a.request.calls) if c.chat_id == 7301]
    assert "마감합니다" in message.text

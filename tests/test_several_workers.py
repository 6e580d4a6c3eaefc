"""Several workers on one database, simulated in one test process (tests/worker_pair.py): two
Services over two Database objects, and two real Applications, as two `chamyeo run` processes.
What one worker decides, the other must see at once: a closed vote, what a chat session awaits,
a citizen's language; one account's updates take turns across workers, and a dead worker's turn
ends with its lease.

Broadcasts shared by workers: tests/test_several_workers_broadcasts.py; a double tap, a flood of
messages, staff menus and NUL characters: tests/test_several_workers_telegram.py."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from telegram import Update
from telegram.ext import TypeHandler

import bot.services.campaigns as campaigns_module
from bot.domain import NO_VOTES, PhaseName, VoteOutcome
from bot.services.sessions import TURN_LEASE
from handlers.telegram import callbacks as cb
from handlers.telegram.offline import TelegramUser
from storage.coordination import WORKER_SILENT_AFTER
from storage.repositories import CampaignRepository
from storage.repositories.sessions import SessionRepository
from storage.repositories.workers import WorkerRepository
from storage.tables import audit_log, cases, chat_sessions, votes
from tests.conftest import ADMIN, KIM, SMITH, VOTING_CLOSES
from tests.databases import ON_POSTGRES
from tests.test_moderation import submit
from tests.test_search import is_search_answer
from tests.test_submission import BODY, SUBMITTING, SUMMARY, TITLE
from tests.worker_pair import (
    HINT,
    case_row,
    clock_sleep,
    message_with,
    no_error,
    postgres_only,
    sent,
    soon,
    worker,
)

ADMIN_ACTOR = f"telegram:{ADMIN.id}"


async def case_id(services, campaign, key: str) -> int:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(cases.c.id).where(
            cases.c.campaign_id == campaign.id, cases.c.key == key))


async def vote_rows(services) -> list[dict]:
    async with services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(votes.select())).mappings()]


async def stored_voting_end(services, campaign):
    async with services.db.read() as conn:
        return (await CampaignRepository(conn).get(campaign.id)).phase(PhaseName.VOTING).end


async def session_row(services, user: TelegramUser) -> dict | None:
    async with services.db.read() as conn:
        row = (await conn.execute(chat_sessions.select().where(
            chat_sessions.c.external_id == str(user.id)))).mappings().first()
        return dict(row) if row else None


# --- 1. voting closed on one worker, voted on another ---------------------------------------


async def test_a_vote_right_after_another_worker_closed_voting_is_refused_then_extended(
        pair, campaign, clock, monkeypatch):
    a, b = pair
    # However slow the machine, B's campaign cache stays as it was before the close.
    monkeypatch.setattr(campaigns_module, "CACHE_SECONDS", 3600.0)
    first = await case_id(b.services, campaign, "case-1")
    await b.bot.send(KIM, "/start")  # B reads the campaign: its cache holds voting's end
    confirm = cb.encode(cb.ConfirmVote(campaign.id, first, cb.ListState(), NO_VOTES))

    await a.bot.send(ADMIN, "/close voting")
    calls = await a.bot.press(ADMIN, "확인")
    no_error(calls)
    closed_at = clock.now()
    assert await stored_voting_end(a.services, campaign) == closed_at
    cached = await b.services.campaigns.current()
    assert cached.phase(PhaseName.VOTING).end == VOTING_CLOSES  # B still believes it is open

    calls = await b.bot.press(KIM, data=confirm)
    [refusal] = sent(calls, "editMessageText")
    assert "마감되었습니다" in refusal.text
    assert await vote_rows(b.services) == []

    await a.bot.send(ADMIN, "/extend voting 2h")
    await a.bot.press(ADMIN, "확인")
    assert await stored_voting_end(a.services, campaign) == closed_at + timedelta(hours=2)
    calls = await b.bot.press(KIM, data=confirm)  # at once: no cache to expire first
    [receipt] = sent(calls, "editMessageText")
    assert "투표가 기록되었습니다" in receipt.text
    [row] = await vote_rows(b.services)
    assert row["case_id"] == first


async def test_every_kind_of_vote_is_refused_after_a_close_on_another_worker(pair, campaign,
                                                                            clock):
    """services.phases on A; on B the campaign as B last read it (voting open until Dec 1)."""
    a, b = pair
    stale = await b.services.campaigns.get(campaign.id)
    one = await case_id(b.services, campaign, "case-1")
    two = await case_id(b.services, campaign, "case-2")
    kim = await b.services.citizens.identify("telegram", str(KIM.id), "ko")
    smith = await b.services.citizens.identify("telegram", str(SMITH.id), "en")
    assert (await b.services.voting.cast_vote(stale, kim, one)).outcome is VoteOutcome.RECORDED

    closed = await a.services.phases.apply(campaign.id, "voting", "end", None, ADMIN_ACTOR)
    assert closed.ok and closed.after.end == clock.now()
    for citizen, case in ((smith, one), (kim, two), (kim, one)):  # a first vote, a change, same
        result = await b.services.voting.cast_vote(stale, citizen, case)
        assert (result.outcome, result.boundary) == (VoteOutcome.CLOSED, clock.now())
    assert [(r["citizen_id"], r["case_id"]) for r in await vote_rows(a.services)] \
        == [(kim.id, one)]

    reopened = await a.services.phases.apply(campaign.id, "voting", "end",
                                             clock.now() + timedelta(hours=1), ADMIN_ACTOR)
    assert reopened.ok
    assert (await b.services.voting.cast_vote(stale, smith, one)).outcome \
        is VoteOutcome.RECORDED
    assert (await b.services.voting.cast_vote(stale, kim, two)).outcome is VoteOutcome.CHANGED


@pytest.mark.skipif(not ON_POSTGRES, reason="SQLite is served by one process, whose own "
                    "/close refreshes its campaign cache at once")
async def test_a_case_sent_right_after_another_worker_closed_submission_is_refused(
        pair, services, campaign, clock, monkeypatch):
    """As for votes: whether submission is open is decided by the phase times as stored at
    the moment of the request, not by a worker's cached copy (which another worker's /close
    leaves stale for up to CACHE_SECONDS)."""
    a, b = pair
    monkeypatch.setattr(campaigns_module, "CACHE_SECONDS", 3600.0)
    clock.set(SUBMITTING)
    calls = await b.bot.send(KIM, "/submit")  # B reads the campaign: submission open
    for how, value in [("press", "기관·단체"), ("send", "대전 행복 복지관"), ("press", "건너뛰기"),
             ("press", "동구"),
                       ("press", "효동"), ("press", "돌봄"), ("send", TITLE),
                       ("send", SUMMARY), ("send", BODY), ("press", "사진 없이"),
                       ("press", "동의합니다")]:
        calls = await (b.bot.press(KIM, value) if how == "press" else b.bot.send(KIM, value))
    assert "미리보기" in calls[-1].text

    await a.bot.send(ADMIN, "/close submission")
    await a.bot.press(ADMIN, "확인")
    async with a.db.read() as conn:
        stored = await CampaignRepository(conn).get(campaign.id)
    assert stored.phase(PhaseName.SUBMISSION).end == clock.now()

    calls = await b.bot.press(KIM, "📨 접수하기")
    async with services.db.read() as conn:
        sent_in = (await conn.execute(sa.select(cases.c.key)
                                      .where(cases.c.source == "chat"))).scalars().all()
    assert sent_in == [], "a case was accepted after submission closed on another worker"
    assert "마감되" in calls[-1].text


# --- 2. a chat session started on one worker, continued on another -------------------------


async def test_a_search_asked_on_one_worker_is_answered_on_another(pair, campaign):
    a, b = pair
    await a.bot.send(KIM, "/start")
    await a.bot.press(KIM, "사례 보기")
    calls = await a.bot.press(KIM, "낱말 찾기")
    assert "찾을 낱말을 보내 주세요" in calls[-1].text

    calls = await b.bot.send(KIM, "03번")
    [listing] = sent(calls)
    assert "모두 1건" in listing.text and "「03번」" in listing.text
    assert any("사례 제목 03번" in label for label in listing.labels())
    # The word was taken: typed again, on either worker, it is ordinary text (a search).
    for w in (a, b):
        calls = await w.bot.send(KIM, "03번")
        assert is_search_answer(sent(calls)[-1].text)


async def test_a_rejection_reason_asked_on_one_worker_is_taken_on_another(pair, services,
                                                                          campaign, cloud):
    a, b = pair
    case = await submit(services, campaign, KIM, "골목 화단")
    await a.bot.send(ADMIN, "/moderate")
    calls = await a.bot.press(ADMIN, "반려")
    assert "이유를 한 메시지로" in calls[-1].text

    calls = await b.bot.send(ADMIN, "사진이 흐립니다")
    row = await case_row(services.db, case)
    assert (row["status"], row["status_reason"]) == ("rejected", "사진이 흐립니다")
    await b.services.broadcaster.idle()  # the notice, sent by the worker that decided
    [told] = [c for c in cloud.calls() if c.chat_id == KIM.id]
    assert "이유: 사진이 흐립니다" in told.text
    assert any("반려했습니다" in (c.text or "") for c in calls)
    async with services.db.read() as conn:
        actors = (await conn.execute(sa.select(audit_log.c.actor)
                                     .where(audit_log.c.action == "case.rejected"))).scalars()
        assert list(actors) == [ADMIN_ACTOR]


async def test_a_case_written_step_by_step_on_two_workers_in_turn(pair, services, campaign,
                                                                  clock):
    a, b = pair
    clock.set(SUBMITTING)
    steps = [("press", "기관·단체"), ("send", "대전 행복 복지관"), ("press", "건너뛰기"),
             ("press", "동구"),
             ("press", "효동"), ("press", "돌봄"), ("send", TITLE), ("send", SUMMARY),
             ("send", BODY), ("press", "사진 없이"), ("press", "동의합니다"),
             ("press", "📨 접수하기")]
    calls = await a.bot.send(KIM, "/submit")
    assert "(1/11)" in calls[-1].text
    for n, (how, value) in enumerate(steps):
        w = (b, a)[n % 2]  # B takes the first answer, A the next, and so on
        calls = await (w.bot.press(KIM, value) if how == "press" else w.bot.send(KIM, value))
        no_error(calls)
        assert not sent(calls) or not sent(calls)[-1].text.startswith(HINT), value
    async with services.db.read() as conn:
        rows = [dict(r) for r in (await conn.execute(
            cases.select().where(cases.c.source == "chat"))).mappings()]
    [case] = rows
    assert (case["status"], case["organization_ko"], case["title_ko"], case["summary_ko"],
            case["body_ko"], case["district"], case["neighbourhood"], case["category"]) \
        == ("submitted", "대전 행복 복지관", TITLE, SUMMARY, BODY, "dong", "효동", "care")


async def test_a_restart_remembers_what_was_awaited(database_url, clock, cloud, services,
                                                    campaign):
    case = await submit(services, campaign, SMITH, "경로당 점심")
    async with worker(database_url, clock, cloud, "first-life", admins=(ADMIN.id,)) as first:
        await first.bot.send(KIM, "/start")
        await first.bot.press(KIM, "사례 보기")
        await first.bot.press(KIM, "낱말 찾기")
        await first.bot.send(ADMIN, "/moderate")
        await first.bot.press(ADMIN, "반려")
    async with worker(database_url, clock, cloud, "second-life", admins=(ADMIN.id,)) as second:
        calls = await second.bot.send(KIM, "03번")
        assert "모두 1건" in sent(calls)[-1].text
        await second.bot.send(ADMIN, "개인정보가 들어 있습니다")
    row = await case_row(services.db, case)
    assert (row["status"], row["status_reason"]) == ("rejected", "개인정보가 들어 있습니다")


@pytest.mark.skipif(ON_POSTGRES, reason="on PostgreSQL what a message shows is kept with the "
                    "session, by the turn's own write (test_a_double_tap_on_next_sends_one_edit)")
async def test_one_process_keeps_what_a_message_shows_in_memory(database_url, clock, cloud,
                                                                campaign):
    """SQLite, which one process serves: paging through the list writes no session (what the
    pressed message shows is bookkeeping, kept in memory), a repeated tap still edits
    nothing, and after a restart the first tap edits again."""
    async with worker(database_url, clock, cloud, "only") as w:
        await w.bot.send(KIM, "/start")
        await w.bot.press(KIM, "사례 보기")
        listing = message_with(w, KIM, "다음 ▶")
        data = w.bot.find_button(listing, "다음 ▶")["callback_data"]
        before = await session_row(w.services, KIM)
        [edit] = sent(await w.bot.press(KIM, data=data, message=listing), "editMessageText")
        assert "(2/2쪽" in edit.text
        assert sent(await w.bot.press(KIM, data=data, message=listing),
                    "editMessageText") == []
        after = await session_row(w.services, KIM)
        assert after == before  # (none: nothing is awaited from a citizen who browses)
        assert after is None or not any(k.startswith("_") for k in after["state"])
    async with worker(database_url, clock, cloud, "restarted") as again:
        [edit] = sent(await again.bot.press(KIM, data=data, message=listing), "editMessageText")
        assert "(2/2쪽" in edit.text


# --- 3. one account's turn across workers (PostgreSQL) -------------------------------------


def record_order(w, order: list, hold: asyncio.Event | None = None,
                 held: asyncio.Event | None = None) -> None:
    """Note when each update starts and ends on worker `w`; with `hold`, its first update
    waits at the end (its changes made, its turn not yet ended) until `hold` is set."""

    async def starting(update: Update, context) -> None:
        order.append((w.name, "start", w.services.clock.now()))

    async def ending(update: Update, context) -> None:
        order.append((w.name, "end", w.services.clock.now()))
        if hold is not None and not hold.is_set():
            held.set()
            await hold.wait()

    w.application.add_handler(TypeHandler(Update, starting), group=-100)
    w.application.add_handler(TypeHandler(Update, ending), group=100)


@postgres_only
@pytest.mark.parametrize("second", ["press", "text"])
async def test_two_updates_of_one_citizen_on_two_workers_run_one_after_the_other(
        database_url, clock, cloud, campaign, second):
    polls: list[float] = []
    waiting = asyncio.Event()

    async def poll(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) >= 5:
            waiting.set()
        await asyncio.sleep(0)

    async with worker(database_url, clock, cloud, "worker-a") as a, \
            worker(database_url, clock, cloud, "worker-b", turn_sleep=poll) as b:
        await a.bot.send(KIM, "/start")
        await a.bot.press(KIM, "사례 보기")
        order: list = []
        hold, held = asyncio.Event(), asyncio.Event()
        record_order(a, order, hold, held)
        record_order(b, order)
        first = asyncio.create_task(a.bot.press(KIM, "낱말 찾기"))
        # A has handled the press and still holds the turn:
        await soon(held.wait(), "A handles the press")
        later = (b.bot.press(KIM, "처음으로") if second == "press" else b.bot.send(KIM, "03번"))
        second_task = asyncio.create_task(later)
        await soon(waiting.wait(), "B asks for the turn, again and again")
        assert [(w, what) for w, what, _ in order] == [("worker-a", "start"), ("worker-a", "end")]
        assert (await session_row(a.services, KIM))["turn_owner"] == "worker-a"
        hold.set()
        await soon(first, "A's update ends")
        calls = await soon(second_task, "B's update runs")
    assert [(w, what) for w, what, _ in order] == [
        ("worker-a", "start"), ("worker-a", "end"), ("worker-b", "start"), ("worker-b", "end")]
    if second == "text":  # B saw what A's update left in the session: a search word awaited
        assert "모두 1건" in sent(calls)[-1].text
    else:
        assert sent(calls, "editMessageText")[-1].text.startswith("안녕하세요!")
    assert (await session_row(a.services, KIM))["turn_owner"] is None


@postgres_only
async def test_a_dead_workers_turn_is_taken_over_after_its_lease(database_url, clock, cloud,
                                                                 campaign):
    naps: list[float] = []
    async with worker(database_url, clock, cloud, "worker-b",
                      turn_sleep=clock_sleep(clock, naps)) as b:
        await b.bot.send(KIM, "/start")
        await b.bot.press(KIM, "사례 보기")
        await b.bot.press(KIM, "낱말 찾기")  # the session awaits a search word
        died_at = clock.now()
        async with b.db.write() as conn:  # a worker took KIM's turn, and died
            assert await SessionRepository(conn).take_turn(
                "telegram", str(KIM.id), "dead-worker", died_at, died_at + TURN_LEASE,
                silent_since=died_at - WORKER_SILENT_AFTER) is not None
        order: list = []
        record_order(b, order)

        calls = await b.bot.send(KIM, "03번")
        [(_, _, started_at), _] = order
        assert started_at > died_at + TURN_LEASE  # not one update ran before the lease ended
        assert sum(naps) >= TURN_LEASE.total_seconds()
        assert "모두 1건" in sent(calls)[-1].text  # and the session was kept through it
        kept = (await session_row(b.services, KIM))["state"]

        # The dead worker, back from the dead, ends "its" turn: it changes nothing.
        async with b.db.write() as conn:
            await SessionRepository(conn).end_turn("telegram", str(KIM.id), "dead-worker",
                                                   {"stale": True}, clock.now())
        row = await session_row(b.services, KIM)
        assert row["state"] == kept and row["turn_owner"] is None


@postgres_only
async def test_a_dead_workers_turn_is_taken_over_once_it_falls_silent(database_url, clock,
                                                                       cloud, campaign):
    """A worker that ticked (said it was alive) and then died: its turn is taken over once it
    has been silent WORKER_SILENT_AFTER, long before the turn's lease would end."""
    naps: list[float] = []
    async with worker(database_url, clock, cloud, "worker-b",
                      turn_sleep=clock_sleep(clock, naps)) as b:
        await b.bot.send(KIM, "/start")
        died_at = clock.now()
        async with b.db.write() as conn:  # it said it was alive, took KIM's turn, and died
            await WorkerRepository(conn).beat("dead-worker", died_at)
            assert await SessionRepository(conn).take_turn(
                "telegram", str(KIM.id), "dead-worker", died_at, died_at + TURN_LEASE,
                silent_since=died_at - WORKER_SILENT_AFTER) is not None
        calls = await b.bot.send(KIM, "/start")
        assert sent(calls)  # answered
        waited = sum(naps)
        assert WORKER_SILENT_AFTER.total_seconds() <= waited < TURN_LEASE.total_seconds()


@postgres_only
async def test_a_double_tap_reaching_two_workers_at_once_sends_one_edit(pair, campaign):
    a, b = pair
    await a.bot.send(KIM, "/start")
    await a.bot.press(KIM, "사례 보기")
    listing = message_with(a, KIM, "다음 ▶")
    data = a.bot.find_button(listing, "다음 ▶")["callback_data"]
    starts = len(a.request.calls), len(b.request.calls)
    await asyncio.gather(a.bot.press(KIM, data=data, message=listing),
                         b.bot.press(KIM, data=data, message=listing))
    calls = a.request.calls[starts[0]:] + b.request.calls[starts[1]:]
    [edit] = sent(calls, "editMessageText")
    assert "(2/2쪽" in edit.text
    assert len(sent(calls, "answerCallbackQuery")) == 2


# --- 4. a citizen's language across workers (PostgreSQL) ----------------------------------


@postgres_only
async def test_a_language_changed_on_one_worker_is_used_by_the_other_at_once(pair, campaign):
    a, b = pair
    calls = await b.bot.send(KIM, "/start")
    assert sent(calls)[0].text.startswith("안녕하세요!")
    await a.bot.send(KIM, "/language")
    calls = await a.bot.press(KIM, "English")
    assert "English" in sent(calls, "editMessageText")[-1].text
    calls = await b.bot.send(KIM, "/start")
    assert sent(calls)[0].text.startswith("Hello!")
    await b.bot.send(KIM, "/language")
    await b.bot.press(KIM, "한국어")
    calls = await a.bot.send(KIM, "/help")
    assert sent(calls)[0].text.startswith("<b>이렇게 쓰세요</b>")

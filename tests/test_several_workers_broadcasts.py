"""Broadcasts shared by several workers on one database (tests/worker_pair.py): a live
worker's messages in flight are its own until their lease ends, a dead worker's are recorded
uncertain after it and never sent again; a message waiting out flood control (or a retry) is
pending, not in flight, so a worker that dies during the wait loses nothing; a failing database
is retried with growing pauses, and a broadcast stopped by it is finished by the next tick.
Nothing sleeps on the wall clock: the broadcasters' sleeps are fakes that move the clock."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from bot.scheduler import Scheduler
from bot.services.broadcasts import CLAIM_LEASE, DATABASE_PAUSE_SECONDS, DATABASE_TRIES
from storage.repositories import BroadcastRepository
from tests.worker_pair import (
    broadcast_status,
    clock_sleep,
    delivery_rows,
    new_broadcast,
    soon,
    statuses,
    worker,
)

SECOND = timedelta(seconds=1)
CHATS = list(range(7101, 7107))


def summaries_of(w) -> list:
    found: list = []

    async def listener(summary) -> None:
        found.append(summary)

    w.services.broadcaster.on_finished(listener)
    return found


class HeldSender:
    """Passes sends to the real sender, but holds the first `hold` of them in flight (sent to
    nobody yet) until `release` is set."""

    def __init__(self, real, hold: int) -> None:
        self.real = real
        self.hold = hold
        self.entered = 0
        self.handed_over = 0
        self.all_held = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, delivery, broadcast, campaign, handover):
        self.entered += 1
        if self.entered <= self.hold:
            await handover()  # held "on its way": the request has left, no answer yet
            # Counted once its handover is recorded (the first may finish after the second).
            self.handed_over += 1
            if self.handed_over == self.hold:
                self.all_held.set()
            await self.release.wait()
        return await self.real.send(delivery, broadcast, campaign, handover)


# --- 5. claims and their lease ------------------------------------------------------------


async def test_a_live_workers_messages_in_flight_are_left_to_it(database_url, clock, cloud,
                                                                campaign):
    async with worker(database_url, clock, cloud, "worker-a", workers=2) as a, \
            worker(database_url, clock, cloud, "worker-b") as b:
        broadcast = await new_broadcast(a.services, campaign, CHATS)
        held = HeldSender(a.services.broadcaster.senders["telegram"], hold=2)
        a.services.broadcaster.register("telegram", held)
        a.services.broadcaster.start(broadcast)
        await soon(held.all_held.wait(), "A's two workers each hold a message in flight")
        rows = await delivery_rows(a.db, broadcast)
        in_flight = {chat for chat, row in rows.items() if row["status"] == "sending"}
        assert len(in_flight) == 2
        assert {rows[chat]["claimed_by"] for chat in in_flight} == {"worker-a"}

        assert await b.services.broadcaster.resume() == [broadcast]
        await soon(b.services.broadcaster.idle(), "B's run ends")
        assert await statuses(b.db, broadcast) == {
            chat: "sending" if chat in in_flight else "sent" for chat in CHATS}
        assert await broadcast_status(b.db, broadcast) == "running"  # A has not finished yet

        held.release.set()
        await soon(a.services.broadcaster.idle(), "A's run ends")
        assert await statuses(b.db, broadcast) == {chat: "sent" for chat in CHATS}
        assert await broadcast_status(b.db, broadcast) == "done"
    assert cloud.received() == {chat: 1 for chat in CHATS}


async def test_a_dead_workers_messages_are_uncertain_after_their_lease_and_never_sent(
        database_url, clock, cloud, campaign):
    async with worker(database_url, clock, cloud, "worker-b") as b:
        summaries = summaries_of(b)
        broadcast = await new_broadcast(b.services, campaign, CHATS)
        died_at = clock.now()
        # A worker claimed two messages, sent their requests, and died before the answers.
        async with b.db.write() as conn:
            repo = BroadcastRepository(conn)
            taken = await repo.claim(broadcast, "dead-worker", died_at,
                                     died_at + CLAIM_LEASE, limit=2)
            await repo.hand_over([d.id for d in taken], died_at)
        dead = {int(d.address) for d in taken}
        alive = set(CHATS) - dead
        assert len(dead) == 2

        for now in (died_at, died_at + CLAIM_LEASE):  # the lease is running: hands off
            clock.set(now)
            assert await b.services.broadcaster.resume() == [broadcast]
            await soon(b.services.broadcaster.idle(), "B's run ends")
            assert await statuses(b.db, broadcast) == {
                chat: "sending" if chat in dead else "sent" for chat in CHATS}
            assert await broadcast_status(b.db, broadcast) == "running"
        assert summaries == []

        clock.set(died_at + CLAIM_LEASE + SECOND)  # the lease has run out
        assert await b.services.broadcaster.resume() == [broadcast]
        await soon(b.services.broadcaster.idle(), "B's run ends")
        assert await statuses(b.db, broadcast) == {
            chat: "uncertain" if chat in dead else "sent" for chat in CHATS}
        assert await broadcast_status(b.db, broadcast) == "done"
        [summary] = summaries
        assert (summary.sent, summary.uncertain) == (4, 2)
        assert await b.services.broadcaster.resume() == []
    assert cloud.received() == {chat: 1 for chat in alive}


async def test_two_workers_running_one_broadcast_send_each_message_once_and_report_once(
        database_url, clock, cloud, campaign):
    chats = list(range(7201, 7261))
    async with worker(database_url, clock, cloud, "worker-a") as a, \
            worker(database_url, clock, cloud, "worker-b") as b:
        found_a, found_b = summaries_of(a), summaries_of(b)
        broadcast = await new_broadcast(a.services, campaign, chats)
        a.services.broadcaster.start(broadcast)
        assert await b.services.broadcaster.resume() == [broadcast]
        await soon(asyncio.gather(a.services.broadcaster.idle(), b.services.broadcaster.idle()),
                   "both runs end")
        assert await statuses(a.db, broadcast) == {chat: "sent" for chat in chats}
        assert await broadcast_status(a.db, broadcast) == "done"
        [summary] = found_a + found_b
        assert summary.sent == len(chats)
        by_worker = {w.name: sum(1 for c in w.request.calls if c.method == "sendMessage")
                     for w in (a, b)}
        assert sum(by_worker.values()) == len(chats)
    assert cloud.received() == {chat: 1 for chat in chats}


# --- 6. a wait for flood control (or a retry) is not "in flight" ----------------------------


async def test_a_delivery_waiting_out_flood_control_is_pending_not_sending(database_url, clock,
                                                                          cloud, campaign):
    seen: list = []

    async with worker(database_url, clock, cloud, "worker-a") as a:
        async def sleep(seconds: float) -> None:
            seen.append((seconds, clock.now(), await delivery_rows(a.db, broadcast)))
            clock.advance(timedelta(seconds=seconds))

        a.services.broadcaster.sleep = sleep
        broadcast = await new_broadcast(a.services, campaign, CHATS)
        a.request.fail_next("sendMessage", 429, "Too Many Requests: retry after 30",
                            retry_after=30)
        a.services.broadcaster.start(broadcast)
        await soon(a.services.broadcaster.idle(), "the broadcast ends")
        assert await statuses(a.db, broadcast) == {chat: "sent" for chat in CHATS}
    [throttled] = [c.chat_id for c in a.request.calls if c.params.get("_failed") == 429]
    [(seconds, waiting_since, rows)] = seen
    assert seconds == 30
    row = rows[throttled]
    assert (row["status"], row["claimed_by"], row["attempts"]) == ("pending", None, 0)
    assert row["lease_until"] == waiting_since + timedelta(seconds=30)  # not before then
    assert cloud.received() == {chat: 1 for chat in CHATS}


@pytest.mark.parametrize("exclusive", [False, True], ids=["shared", "exclusive"])
@pytest.mark.parametrize(("status", "description", "wait"), [
    (429, "Too Many Requests: retry after 30", 30.0),
    (500, "Internal Server Error", 1.0),  # a retry: RETRY_PAUSE_SECONDS after attempt 1
], ids=["flood-control", "server-error"])
async def test_a_worker_that_dies_while_waiting_loses_nothing(database_url, clock, cloud,
                                                              campaign, status, description,
                                                              wait, exclusive):
    seen: list = []
    waiting = asyncio.Event()

    async with worker(database_url, clock, cloud, "worker-a", workers=1) as a:
        async def die_waiting(seconds: float) -> None:
            seen.append((seconds, await delivery_rows(a.db, broadcast)))
            waiting.set()
            await asyncio.Event().wait()  # never wakes: the process dies in this wait

        a.services.broadcaster.sleep = die_waiting
        broadcast = await new_broadcast(a.services, campaign, CHATS)
        parameters = {"retry_after": 30} if status == 429 else {}
        a.request.fail_next("sendMessage", status, description, **parameters)
        task = a.services.broadcaster.start(broadcast)
        await soon(waiting.wait(), "A waits")
        wait_started = clock.now()
        task.cancel()  # killed: not one more statement from worker A
        with suppress(asyncio.CancelledError):
            await task
    [(seconds, rows)] = seen
    first = CHATS[0]
    assert seconds == wait
    assert (rows[first]["status"], rows[first]["claimed_by"]) == ("pending", None)
    assert rows[first]["lease_until"] == wait_started + timedelta(seconds=wait)

    async with worker(database_url, clock, cloud, "worker-b") as b:
        assert await b.services.broadcaster.resume(exclusive=exclusive) == [broadcast]
        await soon(b.services.broadcaster.idle(), "B's run ends")
        # Not before its time: the others are sent, it waits.
        assert await statuses(b.db, broadcast) == {
            chat: "pending" if chat == first else "sent" for chat in CHATS}
        assert await broadcast_status(b.db, broadcast) == "running"

        clock.set(wait_started + timedelta(seconds=wait))
        assert await b.services.broadcaster.resume(exclusive=exclusive) == [broadcast]
        await soon(b.services.broadcaster.idle(), "B's run ends")
        assert await statuses(b.db, broadcast) == {chat: "sent" for chat in CHATS}
        assert await broadcast_status(b.db, broadcast) == "done"
    assert cloud.received() == {chat: 1 for chat in CHATS}
    assert [c.chat_id for c in a.request.calls if "_failed" in c.params] == [first]


# --- 7. a failing database ----------------------------------------------------------------


def fail(monkeypatch, method: str, times: int | None) -> dict:
    """BroadcastRepository.<method> raises OperationalError `times` times (None: until the
    returned switch's "failing" is set False)."""
    real = getattr(BroadcastRepository, method)
    state = {"failing": True, "left": times, "raised": 0}

    async def flaky(self, *args, **kwargs):
        if state["failing"] and (state["left"] is None or state["left"] > 0):
            if state["left"] is not None:
                state["left"] -= 1
            state["raised"] += 1
            raise OperationalError(f"{method} (test)", {}, Exception("the database is gone"))
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(BroadcastRepository, method, flaky)
    return state


async def quiet_announcements(w) -> None:
    """Fire the announcements due now while nobody is subscribed, so that a scheduler tick
    later only resumes broadcasts and starts no announcement of its own."""
    await w.services.announcements.tick()
    await soon(w.services.broadcaster.idle(), "the empty announcement ends")


async def test_database_errors_are_retried_with_growing_pauses(database_url, clock, cloud,
                                                               campaign, monkeypatch, caplog):
    naps: list[float] = []
    async with worker(database_url, clock, cloud, "worker-a", workers=1,
                      sleep=clock_sleep(clock, naps)) as a:
        await quiet_announcements(a)
        broadcast = await new_broadcast(a.services, campaign, CHATS)
        claims = fail(monkeypatch, "claim", 3)
        records = fail(monkeypatch, "record", 2)
        with caplog.at_level(logging.WARNING, logger="bot.services.broadcasts"):
            a.services.broadcaster.start(broadcast)
            await soon(a.services.broadcaster.idle(), "the broadcast ends")
        assert (claims["raised"], records["raised"]) == (3, 2)
        assert naps == [0.5, 1.0, 2.0, 0.5, 1.0]  # claims, then recording the first result
        retried = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(retried) == 5
        assert all("OperationalError" in r.getMessage() for r in retried)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert await statuses(a.db, broadcast) == {chat: "sent" for chat in CHATS}
        assert await broadcast_status(a.db, broadcast) == "done"
    assert cloud.received() == {chat: 1 for chat in CHATS}


@pytest.mark.parametrize("method", ["claim", "record"])
async def test_a_broadcast_stopped_by_database_errors_is_finished_by_the_next_tick(
        database_url, clock, cloud, campaign, monkeypatch, caplog, method):
    naps: list[float] = []
    async with worker(database_url, clock, cloud, "worker-a", workers=1,
                      sleep=clock_sleep(clock, naps)) as a:
        await quiet_announcements(a)
        summaries = summaries_of(a)
        broadcast = await new_broadcast(a.services, campaign, CHATS)
        failing = fail(monkeypatch, method, None)
        with caplog.at_level(logging.WARNING, logger="bot.services.broadcasts"):
            a.services.broadcaster.start(broadcast)
            await soon(a.services.broadcaster.idle(), "the broadcast's task stops")
        assert failing["raised"] == DATABASE_TRIES
        pauses = [DATABASE_PAUSE_SECONDS * 2 ** n for n in range(DATABASE_TRIES - 1)]
        assert naps == pauses
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(f"failed {DATABASE_TRIES} times; stopped until the next tick" in e
                   for e in errors)
        assert await broadcast_status(a.db, broadcast) == "running"
        # "record" failed after the first message went out: it stays claimed, in flight.
        expected = {"claim": set(), "record": {CHATS[0]}}[method]
        assert cloud.received() == {chat: 1 for chat in expected}

        failing["failing"] = False  # the database is back
        await Scheduler(a.services).tick()
        await soon(a.services.broadcaster.idle(), "the broadcast ends")
        assert await broadcast_status(a.db, broadcast) == "done"
        final = await statuses(a.db, broadcast)
        # The message whose result was never written may have arrived: uncertain, not resent.
        assert final == {chat: "uncertain" if chat in expected else "sent" for chat in CHATS}
        [summary] = summaries
        assert (summary.sent, summary.uncertain) == (len(CHATS) - len(expected), len(expected))
    assert cloud.received() == {chat: 1 for chat in CHATS}  # nobody messaged twice


class GatePerChat:
    """Holds each chat's send in flight until that chat's gate opens; knows who is inside."""

    def __init__(self, real, chats) -> None:
        self.real = real
        self.gates = {chat: asyncio.Event() for chat in chats}
        self.inside: set[int] = set()
        self.two_inside = asyncio.Event()

    async def send(self, delivery, broadcast, campaign, handover):
        chat = int(delivery.address)
        self.inside.add(chat)
        if len(self.inside) >= 2:
            self.two_inside.set()
        try:
            await handover()
            await self.gates[chat].wait()
            return await self.real.send(delivery, broadcast, campaign, handover)
        finally:
            self.inside.discard(chat)


async def test_a_task_stopped_by_database_errors_leaves_none_of_its_workers_sending(
        database_url, clock, cloud, campaign, monkeypatch):
    """With several workers in one broadcast's task, the database failing for one of them
    ends the task (its error is logged, idle() returns, the next tick resumes it); its other
    workers must end with it, not go on sending unseen by idle() and stop()."""
    chats = CHATS[:3]
    async with worker(database_url, clock, cloud, "worker-a", workers=2) as a:
        await quiet_announcements(a)
        broadcast = await new_broadcast(a.services, campaign, chats)
        first = (await delivery_rows(a.db, broadcast))[chats[0]]["id"]
        gate = GatePerChat(a.services.broadcaster.senders["telegram"], chats)
        a.services.broadcaster.register("telegram", gate)
        real_record = BroadcastRepository.record
        failing = {"on": True}

        async def record(self, delivery_id, *args, **kwargs):
            if failing["on"] and delivery_id == first:
                raise OperationalError("record (test)", {}, Exception("the database is gone"))
            return await real_record(self, delivery_id, *args, **kwargs)

        monkeypatch.setattr(BroadcastRepository, "record", record)
        task = a.services.broadcaster.start(broadcast)
        await soon(gate.two_inside.wait(), "both workers have a message in flight")
        gate.gates[chats[0]].set()  # its result cannot be written: the task stops
        await soon(asyncio.wait([task]), "the task stops")
        assert task.exception() is not None  # logged; the next tick starts it again

        idle = asyncio.create_task(a.services.broadcaster.idle())
        for _ in range(10):
            await asyncio.sleep(0)
        assert not (idle.done() and gate.inside), (
            f"idle() returned while the stopped task still has chat(s) {gate.inside} in flight")

        failing["on"] = False
        for event in gate.gates.values():
            event.set()
        await soon(idle, "idle() returns")
        # The stopped task claims nothing more: the last chat waits for the next tick.
        assert (await statuses(a.db, broadcast))[chats[2]] == "pending"
        await Scheduler(a.services).tick()
        await soon(a.services.broadcaster.idle(), "the broadcast ends")
        assert await broadcast_status(a.db, broadcast) == "done"
    assert set(cloud.received().values()) == {1}  # nobody twice
    assert chats[2] in cloud.received()

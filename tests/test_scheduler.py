"""The scheduler (bot/scheduler.py): it ticks only while this worker leads; it says when it takes
the lead and when it loses it; a worker that loses the lead stops claiming broadcast messages,
and the one that leads next carries on; a broadcast whose task died starts again at the next
tick. ClockWatch notices the wall clock stepping (against a monotonic clock) and has the
announcement plan checked again (AnnouncementService.after_clock_step).

The leadership is a stand-in the test switches; the clock is a SettableClock and the monotonic
clock a number; nothing sleeps."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.domain import AnnouncementKind
from bot.scheduler import CLOCK_STEP_SECONDS, ClockWatch, Scheduler
from bot.services import Services
from bot.services.broadcasts import Broadcaster, SendResult, SendStatus
from storage.repositories import AuditRepository
from storage.tables import broadcasts, deliveries
from tests.conftest import VOTING_CLOSES, VOTING_OPENS, small_campaign

SECOND = timedelta(seconds=1)
REMINDER_24H = VOTING_CLOSES - timedelta(hours=24)
REMINDER_1H = VOTING_CLOSES - timedelta(hours=1)
V_OPENS = AnnouncementKind.VOTING_OPENS
REMINDER = AnnouncementKind.VOTING_REMINDER
V_CLOSES = AnnouncementKind.VOTING_CLOSES


class SwitchedLeadership:
    """Leads when the test says so."""

    def __init__(self, leading: bool = False, exclusive: bool = False) -> None:
        self.leading = leading
        self.exclusive = exclusive
        self.released = False

    async def lead(self) -> bool:
        return self.leading

    async def release(self) -> None:
        self.released = True


class GatedSender:
    """Records every send; with the gate closed, sends wait for it (messages in flight)."""

    def __init__(self, gated: bool = False) -> None:
        self.sent: list[str] = []
        self.in_flight = 0
        self.reached = asyncio.Event()
        self.wanted_in_flight = 0
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()

    async def send(self, delivery, broadcast, campaign, handover) -> SendResult:
        await handover()
        self.in_flight += 1
        if self.in_flight >= self.wanted_in_flight:
            self.reached.set()
        await self.gate.wait()
        self.in_flight -= 1
        self.sent.append(delivery.address)
        return SendResult(SendStatus.SENT)


async def no_sleep(seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def services(db, clock) -> Services:
    """Two broadcast workers, sleeping on nothing."""
    return Services.create(db, clock, broadcaster=Broadcaster(db, clock, sleep=no_sleep,
                                                              workers=2))


async def subscribe_many(services: Services, campaign, count: int) -> list[str]:
    addresses = [str(5000 + i) for i in range(count)]
    for address in addresses:
        citizen = await services.citizens.identify("telegram", address, "ko")
        await services.subscriptions.set(campaign, citizen, True)
    return addresses


async def plan(services: Services, campaign) -> dict:
    rows = await services.announcements.plan(campaign)
    return {(a.kind, a.due_at): a.status for a in rows}


async def broadcast_count(services: Services) -> Counter:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(broadcasts.c.kind))
        return Counter(kind for (kind,) in rows)


async def delivery_states(services: Services) -> Counter:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(deliveries.c.status))
        return Counter(state for (state,) in rows)


def messages_with(caplog, text: str, level: int | None = None) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if text in r.getMessage() and (level is None or r.levelno == level)]


# --- only the leader ticks ----------------------------------------------------------------------


async def test_a_tick_while_not_leading_fires_nothing(services, campaign, clock, caplog):
    caplog.set_level(logging.INFO)
    clock.set(VOTING_OPENS + SECOND)
    scheduler = Scheduler(services, leadership=SwitchedLeadership(leading=False))
    await scheduler.tick()
    await scheduler.tick()
    assert (await plan(services, campaign))[(V_OPENS, VOTING_OPENS)] == "planned"
    assert await broadcast_count(services) == Counter()
    assert messages_with(caplog, "leading") == []


async def test_taking_the_lead_is_said_once_and_the_leader_fires(services, campaign, clock,
                                                                  caplog):
    caplog.set_level(logging.INFO)
    clock.set(VOTING_OPENS + SECOND)
    leadership = SwitchedLeadership(leading=False)
    scheduler = Scheduler(services, leadership=leadership)
    await scheduler.tick()
    leadership.leading = True
    await scheduler.tick()
    await scheduler.tick()
    await services.broadcaster.idle()
    assert (await plan(services, campaign))[(V_OPENS, VOTING_OPENS)] == "sent"
    assert len(messages_with(caplog, "leading:", logging.INFO)) == 1
    leadership.leading = False
    await scheduler.tick()
    await scheduler.tick()
    assert len(messages_with(caplog, "no longer leading", logging.WARNING)) == 1
    await scheduler.stop()
    assert leadership.released


async def test_a_worker_that_loses_the_lead_stops_claiming_and_the_next_leader_finishes(
    services, campaign, clock, caplog
):
    caplog.set_level(logging.INFO)
    addresses = await subscribe_many(services, campaign, 6)
    sender = GatedSender(gated=True)
    sender.wanted_in_flight = 2  # both broadcast workers hold a message in flight
    services.broadcaster.register("telegram", sender)
    leadership = SwitchedLeadership(leading=True)
    scheduler = Scheduler(services, leadership=leadership)
    clock.set(VOTING_OPENS + SECOND)
    await scheduler.tick()  # fires "voting is open": six deliveries
    await asyncio.wait_for(sender.reached.wait(), timeout=30)

    leadership.leading = False
    await scheduler.tick()
    sender.gate.set()  # the two in flight finish...
    await services.broadcaster.idle()
    assert len(sender.sent) == 2  # ...and nothing more is claimed
    assert await delivery_states(services) == Counter({"sent": 2, "pending": 4})
    await scheduler.tick()  # still not leading: still nothing
    await services.broadcaster.idle()
    assert len(sender.sent) == 2

    leadership.leading = True  # leading again (or another worker leading): it carries on
    await scheduler.tick()
    await services.broadcaster.idle()
    assert sorted(sender.sent) == sorted(addresses)  # each exactly once
    assert await delivery_states(services) == Counter({"sent": 6})
    assert len(messages_with(caplog, "leading:", logging.INFO)) == 2
    await scheduler.stop()


async def test_a_broadcast_whose_task_died_is_started_again_by_the_next_tick(
    services, campaign, clock, caplog
):
    caplog.set_level(logging.INFO)
    addresses = await subscribe_many(services, campaign, 3)
    sender = GatedSender()
    services.broadcaster.register("telegram", sender)
    broken = True

    async def wait_for_room() -> None:
        if broken:
            raise ConnectionResetError("the database went away")

    services.broadcaster.wait_for_room = wait_for_room
    scheduler = Scheduler(services, leadership=SwitchedLeadership(leading=True))
    clock.set(VOTING_OPENS + SECOND)
    await scheduler.tick()
    await services.broadcaster.idle()  # the task died
    assert sender.sent == []
    assert messages_with(caplog, "stopped on an error", logging.ERROR)

    broken = False
    await scheduler.tick()
    await services.broadcaster.idle()
    assert sorted(sender.sent) == sorted(addresses)
    assert messages_with(caplog, "running broadcasts", logging.INFO)
    await scheduler.stop()


async def test_without_a_leadership_the_one_process_leads_and_says_nothing(
    services, campaign, clock, caplog
):
    caplog.set_level(logging.INFO)
    clock.set(VOTING_OPENS + SECOND)
    scheduler = Scheduler(services)
    await scheduler.tick()
    await services.broadcaster.idle()
    assert (await plan(services, campaign))[(V_OPENS, VOTING_OPENS)] == "sent"
    assert messages_with(caplog, "leading") == []
    await scheduler.stop()


# --- the clock stepping ----------------------------------------------------------------------


class Monotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_clock_watch_measures_steps_against_the_monotonic_clock(clock):
    mono = Monotonic()
    watch = ClockWatch(mono)
    start = clock.now()
    assert watch.step(start) == 0.0  # the first call only starts
    mono.t += 1
    assert watch.step(start + SECOND) == 0.0  # both moved one second
    mono.t += 1
    assert watch.step(start + SECOND - timedelta(hours=2) + SECOND) == pytest.approx(-7200)
    mono.t += 1
    assert watch.step(start + timedelta(hours=3)) == pytest.approx(5 * 3600 - 2 - 1)


def test_a_drift_of_thirty_seconds_is_not_a_step(clock):
    mono = Monotonic()
    watch = ClockWatch(mono)
    start = clock.now()
    watch.step(start)
    mono.t += 1
    assert watch.step(start + timedelta(seconds=31)) == 0.0
    mono.t += 31
    assert watch.step(start + timedelta(seconds=32)) == 0.0
    mono.t += 1
    assert watch.step(start + timedelta(seconds=33 + CLOCK_STEP_SECONDS + 1)) != 0.0


async def clock_steps(services: Services) -> list[dict]:
    async with services.db.read() as conn:
        return await AuditRepository(conn).entries(actions={"clock.stepped"})


async def test_a_step_back_revives_what_was_skipped_as_stale_and_keeps_what_was_sent(
    services, campaign, clock, caplog
):
    """The clock ran two hours fast: at "19:59" on the closing day the bot took the close for
    news (sent) and the one-hour reminder for old news (skipped). Then NTP stepped the clock
    back to 16:59: the reminder is due again in a minute, and must go; the close was sent
    and must not go twice."""
    caplog.set_level(logging.INFO)
    mono = Monotonic()
    scheduler = Scheduler(services, clock_watch=ClockWatch(mono))
    wrong = VOTING_CLOSES + timedelta(minutes=59)
    clock.set(wrong)
    await scheduler.tick()
    await services.broadcaster.idle()
    before = await plan(services, campaign)
    assert before[(REMINDER, REMINDER_1H)] == "skipped"
    assert before[(V_CLOSES, VOTING_CLOSES)] == "sent"

    mono.t += 1
    clock.set(wrong - timedelta(hours=2) + SECOND)  # stepped back two hours
    await scheduler.tick()
    after = await plan(services, campaign)
    assert after[(REMINDER, REMINDER_1H)] == "planned"
    assert after[(REMINDER, REMINDER_24H)] == "skipped"  # its time is past: stays skipped
    assert after[(V_OPENS, VOTING_OPENS)] == "skipped"
    assert after[(V_CLOSES, VOTING_CLOSES)] == "sent"
    [entry] = await clock_steps(services)
    assert entry["actor"] == "system"
    assert entry["detail"] == {"seconds": -7200, "revived": 1}
    assert messages_with(caplog, "the clock stepped -7200 s", logging.WARNING)

    for instant in (REMINDER_1H + SECOND, VOTING_CLOSES + SECOND):
        mono.t += (instant - clock.now()).total_seconds()
        clock.set(instant)
        await scheduler.tick()
        await services.broadcaster.idle()
    final = await plan(services, campaign)
    assert final[(REMINDER, REMINDER_1H)] == "sent"
    assert (await broadcast_count(services))[V_CLOSES.value] == 1
    assert len(await clock_steps(services)) == 1  # time ran evenly since
    await scheduler.stop()


async def test_a_drift_of_thirty_seconds_checks_nothing_again(services, campaign, clock,
                                                             monkeypatch):
    calls: list[float] = []

    async def after_clock_step(seconds: float) -> int:
        calls.append(seconds)
        return 0

    monkeypatch.setattr(services.announcements, "after_clock_step", after_clock_step)
    mono = Monotonic()
    scheduler = Scheduler(services, clock_watch=ClockWatch(mono))
    await scheduler.tick()
    mono.t += 1
    clock.advance(timedelta(seconds=31))
    await scheduler.tick()
    await services.broadcaster.idle()
    assert calls == []
    assert await clock_steps(services) == []
    await scheduler.stop()


async def test_a_step_forward_is_recorded_and_revives_nothing(services, campaign, clock):
    mono = Monotonic()
    scheduler = Scheduler(services, clock_watch=ClockWatch(mono))
    clock.set(VOTING_CLOSES + timedelta(hours=13))  # everything is stale: all skipped
    await scheduler.tick()
    await services.broadcaster.idle()
    mono.t += 1
    clock.advance(timedelta(hours=2))
    await scheduler.tick()
    [entry] = await clock_steps(services)
    assert entry["detail"]["revived"] == 0
    assert entry["detail"]["seconds"] == pytest.approx(7200 - 1, abs=1)
    assert "planned" not in set((await plan(services, campaign)).values())
    await scheduler.stop()


async def test_a_step_back_revives_only_what_the_plan_still_calls_for(services, campaign, clock):
    """While the clock ran 13 hours fast, every voting announcement was judged stale, and
    staff then extended voting by two days. When the clock is stepped back, the old close (no
    longer in the plan: voting now ends two days later) must stay skipped; revived, it would tell
    every subscriber at the old time that voting had closed while it is still open."""
    mono = Monotonic()
    scheduler = Scheduler(services, clock_watch=ClockWatch(mono))
    wrong = VOTING_CLOSES + timedelta(hours=13)
    clock.set(wrong)
    await scheduler.tick()
    await services.broadcaster.idle()
    assert (await plan(services, campaign))[(V_CLOSES, VOTING_CLOSES)] == "skipped"
    extended = small_campaign()["phases"] | {
        "voting": {"start": "2024-11-28T09:00", "end": "2024-12-03T18:00"},
        "review": {"start": "2024-12-04T09:00", "end": "2024-12-06T18:00"},
    }
    await services.campaigns.load(parse_campaign(small_campaign(phases=extended)))
    new_close = VOTING_CLOSES + timedelta(days=2)
    assert (await plan(services, campaign))[(V_CLOSES, new_close)] == "planned"

    mono.t += 1
    clock.set(VOTING_CLOSES - timedelta(hours=1))  # stepped back 14 hours
    await scheduler.tick()
    after = await plan(services, campaign)
    assert after[(V_CLOSES, VOTING_CLOSES)] == "skipped"
    assert after[(V_CLOSES, new_close)] == "planned"
    mono.t += 3601
    clock.set(VOTING_CLOSES + SECOND)  # the old close: voting is still open
    await scheduler.tick()
    await services.broadcaster.idle()
    assert V_CLOSES.value not in await broadcast_count(services)
    await scheduler.stop()

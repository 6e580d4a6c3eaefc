"""The broadcaster over the real Application and Telegram's failure answers: flood control,
blocked users, transient errors, timeouts, a broadcast interrupted and resumed by a fresh
process, and the "still true" rule for late announcements. Nothing sleeps: the broadcaster's
sleep is a fake that records the seconds and moves the clock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections import Counter
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from telegram.error import TimedOut

from bot.app import build_application
from bot.campaign_file import parse_campaign
from bot.domain import (
    CLOSE_NEWS_LIFETIME,
    AnnouncementKind,
    PhaseName,
    announcement_still_true,
)
from bot.services import Services
from bot.services.broadcasts import Broadcaster, BroadcastSummary
from bot.services.campaigns import campaign_from_spec
from bot.settings import Settings
from handlers.telegram.offline import OfflineRequest, OfflineTelegram
from storage.database import Database
from storage.repositories import BroadcastRepository
from storage.tables import broadcasts, deliveries
from tests.conftest import SEOUL, VOTING_CLOSES, VOTING_OPENS, small_campaign

SECOND = timedelta(seconds=1)
REMINDER_24H = VOTING_CLOSES - timedelta(hours=24)
BLOCKED = "Forbidden: bot was blocked by the user"


class LossyRequest(OfflineRequest):
    """Telegram gets the next `lose` messages, but the answers never come back: a timeout."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lose = 0

    async def do_request(self, url: str, method: str, *args, **kwargs):
        answer = await super().do_request(url, method, *args, **kwargs)
        if self.lose and url.endswith("/sendMessage"):
            self.lose -= 1
            raise TimedOut()
        return answer


class GatedSender:
    """Passes the first `free` sends to the real sender; the next ones wait for the gate."""

    def __init__(self, real, free: int) -> None:
        self.real = real
        self.free = free
        self.count = 0
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()

    async def send(self, delivery, broadcast, campaign, handover):
        self.count += 1
        if self.count > self.free:
            self.reached.set()
            await self.gate.wait()
        return await self.real.send(delivery, broadcast, campaign, handover)


@pytest.fixture
def naps() -> list[float]:
    return []


@pytest.fixture
def fake_sleep(clock, naps):
    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    return sleep


def make_services(db, clock, sleep, **broadcaster_options) -> Services:
    return Services.create(
        db, clock, broadcaster=Broadcaster(db, clock, sleep=sleep, **broadcaster_options))


@asynccontextmanager
async def offline_bot(services: Services, clock, request: OfflineRequest | None = None):
    request = request or OfflineRequest(clock=clock)
    application = build_application(Settings(_env_file=None), services, request=request,
                                    rate_limited=False)
    async with application:
        yield OfflineTelegram(application, request, clock)


async def subscribe_many(services: Services, campaign, chat_ids, language: str = "ko"):
    """Citizens (in the order given, so their deliveries are in that order) who said yes."""
    citizens = []
    for chat_id in chat_ids:
        citizen = await services.citizens.identify("telegram", str(chat_id), language)
        await services.subscriptions.set(campaign, citizen, True)
        citizens.append(citizen)
    return citizens


async def fire(services: Services, at: datetime) -> list:
    services.clock.set(at)
    fired = await services.announcements.tick()
    await services.broadcaster.idle()
    return fired


def received(*requests: OfflineRequest) -> Counter:
    """Messages that reached Telegram, by chat."""
    return Counter(c.chat_id for request in requests for c in request.calls
                   if c.method == "sendMessage" and "_failed" not in c.params)


def failed_calls(request: OfflineRequest) -> list:
    return [c for c in request.calls if "_failed" in c.params]


async def delivery_rows(db, broadcast_id: int | None = None) -> dict[str, dict]:
    """Deliveries by address (of the latest broadcast unless one is named)."""
    async with db.read() as conn:
        if broadcast_id is None:
            broadcast_id = await conn.scalar(sa.select(sa.func.max(broadcasts.c.id)))
        rows = (await conn.execute(
            deliveries.select().where(deliveries.c.broadcast_id == broadcast_id))).mappings()
        return {row["address"]: dict(row) for row in rows}


def collect_summaries(services: Services) -> list[BroadcastSummary]:
    summaries: list[BroadcastSummary] = []

    async def listener(summary: BroadcastSummary) -> None:
        summaries.append(summary)

    services.broadcaster.on_finished(listener)
    return summaries


# --- flood control ------------------------------------------------------------------------


async def test_retry_after_waits_as_told_and_then_delivers(db, clock, campaign, fake_sleep,
                                                          naps):
    services = make_services(db, clock, fake_sleep)
    async with offline_bot(services, clock) as telegram:
        await subscribe_many(services, campaign, [3001, 3002])
        telegram.request.fail_next("sendMessage", 429, "Too Many Requests: retry after 7",
                                   retry_after=7)
        start = VOTING_OPENS + SECOND
        await fire(services, start)
    assert naps == [7]
    assert clock.now() == start + timedelta(seconds=7)  # the wait ran on the injected clock
    assert received(telegram.request) == {3001: 1, 3002: 1}
    [throttled] = failed_calls(telegram.request)
    assert throttled.params["_failed"] == 429
    rows = await delivery_rows(db)
    assert {a: r["status"] for a, r in rows.items()} == {"3001": "sent", "3002": "sent"}
    # waiting out flood control is not a failed attempt
    assert {r["attempts"] for r in rows.values()} == {1}


# --- blocked users ------------------------------------------------------------------------


async def test_a_blocked_user_is_unsubscribed_everywhere_and_skipped_next_time(
    db, clock, campaign, fake_sleep
):
    services = make_services(db, clock, fake_sleep, workers=1)  # deliveries in order
    phases = {
        "submission": {"start": "2025-10-06T09:00", "end": "2025-11-23T18:00"},
        "voting": {"start": "2025-11-27T09:00", "end": "2025-11-30T18:00"},
        "awards": {"at": "2025-12-08T14:00"},
    }
    report = await services.campaigns.load(parse_campaign(
        small_campaign(slug="next-2025", phases=phases)))
    next_year = await services.campaigns.get(report.campaign_id)
    async with offline_bot(services, clock) as telegram:
        blocker, *others = await subscribe_many(services, campaign, [4001, 4002, 4003])
        await services.subscriptions.set(next_year, blocker, True)
        telegram.request.fail_next("sendMessage", 403, BLOCKED)
        await fire(services, VOTING_OPENS + SECOND)
        assert received(telegram.request) == {4002: 1, 4003: 1}
        rows = await delivery_rows(db)
        assert rows["4001"]["status"] == "blocked" and rows["4001"]["attempts"] == 1
        assert BLOCKED in rows["4001"]["error"]
        assert await services.subscriptions.status(campaign, blocker) is False
        assert await services.subscriptions.status(next_year, blocker) is False
        for citizen in others:
            assert await services.subscriptions.status(campaign, citizen) is True

        await fire(services, REMINDER_24H + SECOND)
        assert set(await delivery_rows(db)) == {"4002", "4003"}
        assert received(telegram.request) == {4002: 2, 4003: 2}
        assert len([c for c in telegram.request.calls if c.chat_id == 4001]) == 1


# --- transient errors ---------------------------------------------------------------------


async def test_a_server_error_is_retried_and_then_sent(db, clock, campaign, fake_sleep):
    services = make_services(db, clock, fake_sleep, workers=1)
    summaries = collect_summaries(services)
    async with offline_bot(services, clock) as telegram:
        await subscribe_many(services, campaign, [5001, 5002])
        telegram.request.fail_next("sendMessage", 500, "Internal Server Error")
        await fire(services, VOTING_OPENS + SECOND)
    assert received(telegram.request) == {5001: 1, 5002: 1}
    assert [c.chat_id for c in failed_calls(telegram.request)] == [5001]
    rows = await delivery_rows(db)
    assert rows["5001"]["status"] == "sent" and rows["5001"]["attempts"] == 2
    assert rows["5002"]["status"] == "sent" and rows["5002"]["attempts"] == 1
    [summary] = summaries
    assert (summary.sent, summary.failed, summary.blocked, summary.uncertain) == (2, 0, 0, 0)


async def test_three_failures_in_a_row_give_up_without_hurting_the_others(
    db, clock, campaign, fake_sleep
):
    services = make_services(db, clock, fake_sleep, workers=1)
    summaries = collect_summaries(services)
    async with offline_bot(services, clock) as telegram:
        await subscribe_many(services, campaign, [5001, 5002, 5003])
        for _ in range(3):
            telegram.request.fail_next("sendMessage", 500, "Internal Server Error")
        await fire(services, VOTING_OPENS + SECOND)
    assert received(telegram.request) == {5002: 1, 5003: 1}
    assert [c.chat_id for c in failed_calls(telegram.request)] == [5001, 5001, 5001]
    rows = await delivery_rows(db)
    assert rows["5001"]["status"] == "failed" and rows["5001"]["attempts"] == 3
    assert "Internal Server Error" in rows["5001"]["error"]
    [summary] = summaries
    assert (summary.sent, summary.failed) == (2, 1)
    # a failure is not a block: still subscribed
    citizen = await services.citizens.identify("telegram", "5001", "ko")
    assert await services.subscriptions.status(campaign, citizen) is True


# --- timeouts -----------------------------------------------------------------------------


async def test_a_timeout_is_uncertain_and_never_sent_twice(db, clock, campaign, fake_sleep):
    services = make_services(db, clock, fake_sleep, workers=1)
    summaries = collect_summaries(services)
    request = LossyRequest(clock=clock)
    async with offline_bot(services, clock, request):
        await subscribe_many(services, campaign, [6001, 6002, 6003])
        request.lose = 1  # the first message arrives, its answer is lost
        await fire(services, VOTING_OPENS + SECOND)
        assert received(request) == {6001: 1, 6002: 1, 6003: 1}  # 6001 got it once, not twice
        rows = await delivery_rows(db)
        assert rows["6001"]["status"] == "uncertain" and rows["6001"]["attempts"] == 1
        assert {rows[a]["status"] for a in ("6002", "6003")} == {"sent"}
        [summary] = summaries
        assert (summary.sent, summary.uncertain) == (2, 1)
        # uncertain is not blocked: the next announcement goes to 6001 again
        await fire(services, REMINDER_24H + SECOND)
        assert received(request) == {6001: 2, 6002: 2, 6003: 2}


# --- interruption and resumption ----------------------------------------------------------


async def test_an_interrupted_broadcast_resumes_in_a_new_process_without_sending_twice(
    db, clock, campaign, fake_sleep
):
    services = make_services(db, clock, fake_sleep)
    chat_ids = list(range(7001, 7051))
    async with offline_bot(services, clock) as first_life:
        await subscribe_many(services, campaign, chat_ids)
        gated = GatedSender(services.broadcaster.senders["telegram"], free=20)
        services.broadcaster.register("telegram", gated)
        clock.set(VOTING_OPENS + SECOND)
        [announcement] = await services.announcements.tick()
        await gated.reached.wait()  # 20 sent, the next ones in flight
        stopping = asyncio.create_task(services.broadcaster.stop())
        await asyncio.sleep(0)  # stop() raises its flag: no new claims
        gated.gate.set()  # the messages in flight complete
        await stopping
    [broadcast_id] = [a.broadcast_id for a in await services.announcements.plan(campaign)
                      if a.id == announcement.id]
    first = received(first_life.request)
    assert 20 < len(first) < 50 and set(first.values()) == {1}
    rows = await delivery_rows(db, broadcast_id)
    assert Counter(r["status"] for r in rows.values()) == {"sent": len(first),
                                                          "pending": 50 - len(first)}
    async with db.read() as conn:
        assert await conn.scalar(sa.select(broadcasts.c.status)
                                 .where(broadcasts.c.id == broadcast_id)) == "running"

    # a crash while one message was on its way: it may have arrived, so it is not resent
    in_flight = min((r for r in rows.values() if r["status"] == "pending"),
                    key=lambda r: r["id"])
    async with db.write() as conn:
        await conn.execute(deliveries.update().where(deliveries.c.id == in_flight["id"])
                           .values(status="sending"))

    database = Database(db.url)
    try:
        revived = make_services(database, clock, fake_sleep)
        summaries = collect_summaries(revived)
        async with offline_bot(revived, clock) as second_life:
            assert await revived.broadcaster.resume() == [broadcast_id]
            await revived.broadcaster.idle()
    finally:
        await database.dispose()
    second = received(second_life.request)
    overall = first + second
    assert set(overall.values()) == {1}  # nobody twice
    assert set(overall) == set(chat_ids) - {int(in_flight["address"])}
    assert not set(first) & set(second)
    rows = await delivery_rows(db, broadcast_id)
    assert rows[in_flight["address"]]["status"] == "uncertain"
    assert Counter(r["status"] for r in rows.values()) == {"sent": 49, "uncertain": 1}
    [summary] = summaries
    assert (summary.sent, summary.uncertain) == (49, 1)
    async with db.read() as conn:
        assert await conn.scalar(sa.select(broadcasts.c.status)
                                 .where(broadcasts.c.id == broadcast_id)) == "done"


async def test_starting_a_broadcast_twice_runs_it_once(telegram, services, campaign, clock):
    await subscribe_many(services, campaign, [8001, 8002, 8003])
    async with services.db.write() as conn:
        repo = BroadcastRepository(conn)
        broadcast_id = await repo.create(campaign.id, AnnouncementKind.VOTING_OPENS.value, {},
                                         clock.now())
        assert await repo.add_subscribers(broadcast_id, campaign.id, clock.now()) == 3
    summaries = collect_summaries(services)
    first = services.broadcaster.start(broadcast_id)
    assert services.broadcaster.start(broadcast_id) is first
    await services.broadcaster.idle()
    assert received(telegram.request) == {8001: 1, 8002: 1, 8003: 1}
    assert len(summaries) == 1
    # once done, starting it again sends nothing
    assert await services.broadcaster.start(broadcast_id) is None
    assert received(telegram.request) == {8001: 1, 8002: 1, 8003: 1}
    assert len(summaries) == 1


async def test_two_runners_on_one_broadcast_never_send_a_delivery_twice(
    telegram, services, campaign, clock
):
    await subscribe_many(services, campaign, range(8101, 8121))
    async with services.db.write() as conn:
        repo = BroadcastRepository(conn)
        broadcast_id = await repo.create(campaign.id, AnnouncementKind.VOTING_OPENS.value, {},
                                         clock.now())
        await repo.add_subscribers(broadcast_id, campaign.id, clock.now())
    await asyncio.gather(services.broadcaster.run(broadcast_id),
                         services.broadcaster.run(broadcast_id))
    assert received(telegram.request) == {chat: 1 for chat in range(8101, 8121)}


# --- announcement_still_true --------------------------------------------------------------


@pytest.fixture
def plain_campaign():
    return campaign_from_spec(parse_campaign(small_campaign()), campaign_id=1)


def test_opening_news_is_true_exactly_while_its_phase_is_open(plain_campaign):
    c = plain_campaign
    tiny = timedelta(microseconds=1)
    for kind, name in ((AnnouncementKind.SUBMISSION_OPENS, PhaseName.SUBMISSION),
                       (AnnouncementKind.VOTING_OPENS, PhaseName.VOTING)):
        phase = c.phase(name)
        due = phase.start
        assert not announcement_still_true(kind, due, c, phase.start - tiny)
        assert announcement_still_true(kind, due, c, phase.start)
        assert announcement_still_true(kind, due, c, phase.end - tiny)
        assert not announcement_still_true(kind, due, c, phase.end)
        assert not announcement_still_true(kind, due, c, phase.end + timedelta(days=30))


def test_a_reminder_is_true_only_until_voting_closes(plain_campaign):
    c = plain_campaign
    kind = AnnouncementKind.VOTING_REMINDER
    for hours in (24, 1):
        due = VOTING_CLOSES - timedelta(hours=hours)
        assert announcement_still_true(kind, due, c, due)
        assert announcement_still_true(kind, due, c, VOTING_CLOSES - SECOND)
        assert not announcement_still_true(kind, due, c, VOTING_CLOSES)


def test_closing_news_stays_true_for_its_lifetime(plain_campaign):
    c = plain_campaign
    for kind, due in ((AnnouncementKind.SUBMISSION_CLOSES, c.phase(PhaseName.SUBMISSION).end),
                      (AnnouncementKind.VOTING_CLOSES, VOTING_CLOSES)):
        assert announcement_still_true(kind, due, c, due)
        assert announcement_still_true(kind, due, c, due + CLOSE_NEWS_LIFETIME - SECOND)
        assert not announcement_still_true(kind, due, c, due + CLOSE_NEWS_LIFETIME)
        assert not announcement_still_true(kind, due, c, due + timedelta(days=3))


def test_results_news_is_always_true(plain_campaign):
    later = datetime(2025, 6, 1, 12, 0, tzinfo=SEOUL)
    assert announcement_still_true(AnnouncementKind.RESULTS, later, plain_campaign, later)


def test_news_about_a_missing_phase_is_never_true(plain_campaign):
    without_voting = dataclasses.replace(
        plain_campaign,
        phases=tuple(p for p in plain_campaign.phases if p.name is not PhaseName.VOTING))
    during = VOTING_OPENS + timedelta(hours=1)
    for kind in (AnnouncementKind.VOTING_OPENS, AnnouncementKind.VOTING_REMINDER):
        assert not announcement_still_true(kind, VOTING_OPENS, without_voting, during)


async def test_a_broadcast_with_no_recipients_sends_no_summary(db, clock, campaign):
    """Voting opens with nobody subscribed: the announcement is recorded, the admins are
    not bothered with a summary of nothing."""
    from bot.app import build_application
    from bot.settings import Settings
    from handlers.telegram.offline import OfflineRequest

    services = Services.create(db, clock)
    request = OfflineRequest(clock=clock)
    settings = Settings(_env_file=None, chamyeo_admin_ids=(5,))
    application = build_application(settings, services, request=request, rate_limited=False)
    async with application:
        await services.announcements.tick()
        await services.broadcaster.idle()
    assert [c for c in request.calls if c.method == "sendMessage"] == []
    kinds = {a.kind.value: a.status for a in await services.announcements.plan(campaign)}
    assert kinds["voting_opens"] == "sent"

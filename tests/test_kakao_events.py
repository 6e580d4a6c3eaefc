"""Announcements to Kakao subscribers through the Event API, against a local stub of
`POST /v2/bots/{botId}/talk`: batches of at most 100 users of one language, the headers and
body Kakao expects, and every answer the broadcaster has to handle (429, 401, 500, FAIL, a
timeout), plus the stand-in sender when the Event API is not configured. Retries never sleep:
the broadcaster's sleep is a fake that records the seconds and moves the clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.campaign_file import parse_campaign
from bot.domain import AnnouncementKind
from bot.phrases import announcement_text
from bot.services import Services
from bot.services.broadcasts import CLAIM_LEASE, BatchSender, Broadcaster, BroadcastSummary
from bot.settings import Settings
from bot.text import plain_text
from handlers.kakao.events import (
    NOT_CONFIGURED,
    KakaoEventSender,
    SkippedKakaoSender,
    kakao_sender,
)
from storage.database import Database
from storage.repositories import BroadcastRepository
from storage.tables import broadcasts, deliveries
from tests.conftest import VOTING_OPENS, small_campaign

BOT_ID = "BOTID"
KEY = "KEY-0123456789abcdef"
EVENT = "chamyeo_announcement"
PATH = f"/v2/bots/{BOT_ID}/talk"


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict
    answer: str

    @property
    def users(self) -> list[str]:
        return [u["id"] for u in self.body["user"]]

    @property
    def text(self) -> str:
        return self.body["event"]["data"]["text"]


class EventApiStub:
    """Records every request; answers the next queued mode, else `always` ("ok")."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.queue: list[str] = []
        self.always = "ok"
        self.slow_seconds = 0.3
        self.url = ""

    def answer_next(self, *modes: str) -> None:
        self.queue.extend(modes)

    async def talk(self, request: web.Request) -> web.Response:
        body = await request.json()
        mode = self.queue.pop(0) if self.queue else self.always
        self.calls.append(Call(request.path, dict(request.headers), body, mode))
        if mode == "429":
            return web.json_response({"message": "too many requests"}, status=429,
                                     headers={"Retry-After": "7"})
        if mode == "401":
            return web.json_response({"message": "invalid appkey"}, status=401)
        if mode == "500":
            return web.json_response({"message": "internal error"}, status=500)
        if mode == "fail":
            return web.json_response({"taskId": "t", "status": "FAIL",
                                      "message": "event not found", "timestamp": _ms()})
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        return web.json_response({"taskId": f"task-{len(self.calls)}", "status": "SUCCESS",
                                  "timestamp": _ms()})

    def delivered(self) -> Counter:
        """Users in requests Kakao accepted, and how often."""
        return Counter(u for c in self.calls if c.answer in ("ok", "slow") for u in c.users)


def _ms() -> int:
    return int(time.time() * 1000)


@contextlib.asynccontextmanager
async def event_api_server() -> AsyncIterator[EventApiStub]:
    """The Event API stub, listening on a port of its own (`.url`) until the block ends."""
    api = EventApiStub()
    app = web.Application()
    app.router.add_post("/v2/bots/{bot_id}/talk", api.talk)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    api.url = str(server.make_url("")).rstrip("/")
    try:
        yield api
    finally:
        await server.close()


@pytest.fixture
async def stub():
    async with event_api_server() as api:
        yield api


@pytest.fixture
async def sender(stub):
    kakao = KakaoEventSender(stub.url, BOT_ID, KEY, EVENT)
    yield kakao
    await kakao.close()


@pytest.fixture
def naps() -> list[float]:
    return []


@pytest.fixture
def fake_sleep(clock, naps):
    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    return sleep


def make_services(db, clock, sleep, kakao, **broadcaster_options) -> Services:
    services = Services.create(
        db, clock, broadcaster=Broadcaster(db, clock, sleep=sleep, **broadcaster_options))
    services.broadcaster.register("kakao", kakao)
    return services


async def subscribe(services: Services, campaign, keys, language: str = "ko") -> None:
    for key in keys:
        citizen = await services.citizens.identify("kakao", key, language)
        await services.subscriptions.set(campaign, citizen, True)


def keys(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(n)]


async def announce(services: Services, campaign,
                   kind: AnnouncementKind = AnnouncementKind.VOTING_OPENS) -> int:
    broadcast_id = await services.announcements.announce_now(campaign, kind)
    await services.broadcaster.idle()
    return broadcast_id


async def delivery_rows(db, broadcast_id: int | None = None) -> dict[str, dict]:
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


def statuses(rows: dict[str, dict]) -> Counter:
    return Counter((r["status"], r["attempts"]) for r in rows.values())


# --- batches ------------------------------------------------------------------------------


async def test_250_subscribers_go_out_in_three_requests_of_at_most_100(
    db, clock, campaign, fake_sleep, naps, stub, sender
):
    services = make_services(db, clock, fake_sleep, sender)
    summaries = collect_summaries(services)
    users = keys("ko", 250)
    await subscribe(services, campaign, users)
    await announce(services, campaign)

    # Batches of at most 100: three calls; on PostgreSQL a row another claim skipped (SKIP
    # LOCKED) may go in a call of its own (seen: 1 + 49 + 100 + 100), never a message more.
    sizes = sorted(len(c.users) for c in stub.calls)
    assert sum(sizes) == 250 and max(sizes) == 100 and len(sizes) <= 5
    expected = plain_text(announcement_text("ko", campaign, AnnouncementKind.VOTING_OPENS))
    assert "시험 공모 2024" in expected and "<" not in expected
    for call in stub.calls:
        assert call.path == PATH
        assert call.headers["Authorization"] == f"KakaoAK {KEY}"
        assert call.headers["Content-Type"] == "application/json"
        assert call.body["event"] == {"name": EVENT, "data": {"text": expected}}
        assert {u["type"] for u in call.body["user"]} == {"botUserKey"}
        assert len(set(call.users)) == len(call.users)  # Kakao refuses duplicates
    assert stub.delivered() == {user: 1 for user in users}
    rows = await delivery_rows(db)
    assert statuses(rows) == {("sent", 1): 250}
    assert naps == []
    [summary] = summaries
    assert (summary.sent, summary.failed, summary.uncertain) == (250, 0, 0)


async def test_each_language_is_batched_separately_with_its_own_text(
    db, clock, campaign, fake_sleep, stub, sender
):
    services = make_services(db, clock, fake_sleep, sender)
    korean, english = keys("ko", 120), keys("en", 30)
    for i in range(0, 120, 4):  # interleaved, so a batch has to skip the other language
        await subscribe(services, campaign, korean[i:i + 4])
        await subscribe(services, campaign, english[i // 4:i // 4 + 1], language="en")
    await announce(services, campaign)

    texts = {lang: plain_text(announcement_text(lang, campaign, AnnouncementKind.VOTING_OPENS))
             for lang in ("ko", "en")}
    assert texts["ko"] != texts["en"] and "Test competition 2024" in texts["en"]
    sizes = Counter()
    for call in stub.calls:
        lang = "en" if call.users[0].startswith("en") else "ko"
        assert {u[:2] for u in call.users} == {lang}
        assert call.text == texts[lang]
        sizes[lang, len(call.users)] += 1
    # Batches of up to 100, per language. On PostgreSQL the broadcaster's workers claim with
    # SKIP LOCKED, so rows another worker is looking at may go in a batch of their own: a few
    # more calls (seen: 5 for the 3 needed), never a message more.
    totals = Counter()
    for (lang, size), n in sizes.items():
        assert size <= 100
        totals[lang] += size * n
    assert totals == {"ko": 120, "en": 30}
    assert sum(sizes.values()) <= 6
    assert stub.delivered() == {user: 1 for user in korean + english}
    assert statuses(await delivery_rows(db)) == {("sent", 1): 150}


async def test_a_staff_broadcast_sends_the_text_as_written(
    db, clock, campaign, fake_sleep, stub, sender
):
    services = make_services(db, clock, fake_sleep, sender)
    await subscribe(services, campaign, keys("ko", 3))
    await subscribe(services, campaign, keys("en", 2), language="en")
    text = "내일 18시 투표 마감 <b>안내</b> & 감사합니다"
    result = await services.staff_broadcasts.send(campaign, text, by="telegram:9001")
    await services.broadcaster.idle()
    assert result.recipients == 5
    # One call per language; on PostgreSQL a row another worker skipped (SKIP LOCKED) may go
    # in a call of its own: one more call at most, never a message more.
    sent = Counter(u[:2] for c in stub.calls for u in c.users)
    assert sent == {"ko": 3, "en": 2} and len(stub.calls) <= 3
    assert all(len({u[:2] for u in c.users}) == 1 for c in stub.calls)
    assert {c.text for c in stub.calls} == {text}  # the same words in every language
    assert statuses(await delivery_rows(db)) == {("sent", 1): 5}


# --- Kakao's answers ----------------------------------------------------------------------


async def test_too_many_requests_waits_as_told_then_sends_everyone_once(
    db, clock, campaign, fake_sleep, naps, stub, sender
):
    services = make_services(db, clock, fake_sleep, sender)
    users = keys("ko", 150)
    await subscribe(services, campaign, users)
    stub.answer_next("429")
    await announce(services, campaign)

    assert [c.answer for c in stub.calls].count("429") == 1
    assert naps == [7.0]  # Retry-After, waited once for the whole batch
    assert stub.delivered() == {user: 1 for user in users}
    # waiting out flood control is not a failed attempt
    assert statuses(await delivery_rows(db)) == {("sent", 1): 150}


async def test_a_refused_key_rejects_the_deliveries_without_retrying(
    db, clock, campaign, fake_sleep, naps, stub, sender, caplog
):
    caplog.set_level(logging.INFO, logger="handlers.kakao.events")
    services = make_services(db, clock, fake_sleep, sender)
    summaries = collect_summaries(services)
    await subscribe(services, campaign, keys("ko", 150))
    stub.always = "401"
    await announce(services, campaign)

    tried = [u for c in stub.calls for u in c.users]  # each user tried once (in batches)
    assert len(tried) == len(set(tried)) == 150 and len(stub.calls) <= 4
    assert naps == []
    rows = await delivery_rows(db)
    assert statuses(rows) == {("failed", 1): 150}
    assert all("HTTP 401" in r["error"] for r in rows.values())
    warnings = [r for r in caplog.records if r.name == "handlers.kakao.events"
                and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "CHAMYEO_KAKAO_REST_API_KEY" in warnings[0].getMessage()
    assert KEY not in caplog.text
    assert all(KEY not in r["error"] for r in rows.values())
    [summary] = summaries
    assert (summary.sent, summary.failed) == (0, 150)


@pytest.mark.parametrize("answer", ["500", "fail"])
async def test_a_server_error_or_fail_is_retried_up_to_the_limit(
    db, clock, campaign, fake_sleep, naps, stub, sender, answer
):
    services = make_services(db, clock, fake_sleep, sender)
    users = keys("ko", 30)
    await subscribe(services, campaign, users)
    stub.always = answer
    await announce(services, campaign)

    assert [len(c.users) for c in stub.calls] == [30, 30, 30]  # max_attempts = 3
    assert naps == [1.0, 2.0]  # one pause per batch, not one per recipient
    rows = await delivery_rows(db)
    assert statuses(rows) == {("failed", 3): 30}
    # a failure is not a block: still subscribed
    citizen = await services.citizens.identify("kakao", users[0], "ko")
    assert await services.subscriptions.status(campaign, citizen) is True


async def test_a_server_error_then_success_sends_once(
    db, clock, campaign, fake_sleep, naps, stub, sender
):
    services = make_services(db, clock, fake_sleep, sender)
    users = keys("ko", 30)
    await subscribe(services, campaign, users)
    stub.answer_next("500")
    await announce(services, campaign)
    assert [c.answer for c in stub.calls] == ["500", "ok"]
    assert stub.delivered() == {user: 1 for user in users}
    assert naps == [1.0]
    assert statuses(await delivery_rows(db)) == {("sent", 2): 30}


async def test_a_timeout_is_uncertain_and_never_sent_again(
    db, clock, campaign, fake_sleep, naps, stub
):
    kakao = KakaoEventSender(stub.url, BOT_ID, KEY, EVENT, timeout=0.05)
    try:
        # One batch at a time: a second request racing the slow one could miss the short
        # timeout too, on a busy machine.
        services = make_services(db, clock, fake_sleep, kakao, workers=1)
        summaries = collect_summaries(services)
        users = keys("ko", 150)
        await subscribe(services, campaign, users)
        stub.answer_next("slow")  # Kakao gets it, the answer comes too late
        await announce(services, campaign)
    finally:
        await kakao.close()

    [slow] = [c for c in stub.calls if c.answer == "slow"]
    assert len(stub.calls) == 2  # nothing sent again
    assert Counter(u for c in stub.calls for u in c.users) == {user: 1 for user in users}
    rows = await delivery_rows(db)
    assert {rows[u]["status"] for u in slow.users} == {"uncertain"}
    assert statuses(rows) == {("uncertain", 1): len(slow.users),
                              ("sent", 1): 150 - len(slow.users)}
    assert naps == []
    [summary] = summaries
    assert (summary.sent, summary.uncertain) == (150 - len(slow.users), len(slow.users))


async def test_kakao_unreachable_is_a_failure_retried(db, clock, campaign, fake_sleep, naps):
    server = TestServer(web.Application(), host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    await server.close()  # nobody listens there any more
    kakao = KakaoEventSender(url, BOT_ID, KEY, EVENT)
    try:
        services = make_services(db, clock, fake_sleep, kakao)
        await subscribe(services, campaign, keys("ko", 3))
        await announce(services, campaign)
    finally:
        await kakao.close()
    rows = await delivery_rows(db)
    assert statuses(rows) == {("failed", 3): 3}
    assert all(r["error"].startswith("connection error") for r in rows.values())
    assert naps == [1.0, 2.0]


# --- not configured -----------------------------------------------------------------------


async def test_without_event_api_settings_kakao_announcements_are_skipped_with_one_line(
    db, clock, campaign, fake_sleep, stub, caplog
):
    caplog.set_level(logging.INFO, logger="handlers.kakao.events")
    settings = Settings(_env_file=None, chamyeo_kakao_bot_id=BOT_ID,
                        chamyeo_kakao_skill_secret="secret", chamyeo_kakao_block_id="BLOCK",
                        chamyeo_kakao_event_api_url=stub.url)
    kakao = kakao_sender(settings)
    assert isinstance(kakao, SkippedKakaoSender) and isinstance(kakao, BatchSender)
    services = make_services(db, clock, fake_sleep, kakao)
    await subscribe(services, campaign, keys("ko", 250))
    await announce(services, campaign)

    assert stub.calls == []
    lines = [r.getMessage() for r in caplog.records if r.name == "handlers.kakao.events"]
    assert len(lines) == 1
    assert lines[0].startswith("Kakao announcements skipped: CHAMYEO_KAKAO_REST_API_KEY / "
                               "CHAMYEO_KAKAO_EVENT_NAME not set")
    rows = await delivery_rows(db)
    assert statuses(rows) == {("failed", 1): 250}
    assert {r["error"] for r in rows.values()} == {NOT_CONFIGURED}


def test_the_factory_builds_the_event_sender_when_configured():
    settings = Settings(_env_file=None, chamyeo_kakao_bot_id="abc123!",
                        chamyeo_kakao_skill_secret="secret", chamyeo_kakao_block_id="BLOCK",
                        chamyeo_kakao_rest_api_key=KEY,
                        chamyeo_kakao_event_name=EVENT,
                        chamyeo_kakao_event_api_url="https://bot-api.kakao.com/")
    kakao = kakao_sender(settings)
    assert isinstance(kakao, KakaoEventSender) and isinstance(kakao, BatchSender)
    assert kakao.batch_size == 100
    assert kakao.url == "https://bot-api.kakao.com/v2/bots/abc123!/talk"  # dev channel "!"
    assert KEY not in repr(kakao)
    # without the key, or without the skill server, the stand-in says what is missing
    skipped = kakao_sender(settings.model_copy(update={"chamyeo_kakao_block_id": None,
                                                       "chamyeo_kakao_event_name": None}))
    assert isinstance(skipped, SkippedKakaoSender)
    assert skipped.missing == ("CHAMYEO_KAKAO_EVENT_NAME", "CHAMYEO_KAKAO_BLOCK_ID")


# --- crash safety and the other channels --------------------------------------------------


@pytest.mark.parametrize("handed_over", [False, True])
async def test_a_batch_lost_in_a_crash_goes_out_once_unless_it_may_have_gone(
    db, clock, campaign, fake_sleep, stub, sender, handed_over
):
    """A worker claimed a batch and died. If its request had not left yet (claimed only), the
    batch goes out once, after the dead worker's lease; if it had (handed over), it may have
    arrived: uncertain, never sent again."""
    services = make_services(db, clock, fake_sleep, sender)
    users = keys("ko", 130)
    await subscribe(services, campaign, users)
    async with db.write() as conn:
        repo = BroadcastRepository(conn)
        broadcast_id = await repo.create(campaign.id, AnnouncementKind.VOTING_OPENS.value, {},
                                         clock.now())
        await repo.add_subscribers(broadcast_id, campaign.id, clock.now())
        claimed = await repo.claim(broadcast_id, "dead-worker", clock.now(),
                                   clock.now() + CLAIM_LEASE, limit=100)
        if handed_over:
            await repo.hand_over([d.id for d in claimed], clock.now())
    lost = {d.address for d in claimed}
    assert len(lost) == 100

    database = Database(db.url)
    try:
        revived = make_services(database, clock, fake_sleep, sender)
        # While the dead worker's lease runs, its claims are left alone.
        assert await revived.broadcaster.resume() == [broadcast_id]
        await revived.broadcaster.idle()
        assert stub.delivered() == {user: 1 for user in users if user not in lost}
        clock.advance(CLAIM_LEASE + timedelta(seconds=1))  # the dead worker's lease runs out
        assert await revived.broadcaster.resume() == [broadcast_id]
        await revived.broadcaster.idle()
    finally:
        await database.dispose()
    rows = await delivery_rows(db, broadcast_id)
    if handed_over:
        assert stub.delivered() == {user: 1 for user in users if user not in lost}
        assert {rows[u]["status"] for u in lost} == {"uncertain"}
        assert statuses(rows) == {("uncertain", 0): 100, ("sent", 1): 30}
    else:
        assert stub.delivered() == {user: 1 for user in users}
        assert statuses(rows) == {("sent", 1): 130}
    async with db.read() as conn:
        assert await conn.scalar(sa.select(broadcasts.c.status)
                                 .where(broadcasts.c.id == broadcast_id)) == "done"


async def test_one_broadcast_reaches_telegram_one_by_one_and_kakao_in_a_batch(
    telegram, services, campaign, stub, sender
):
    services.broadcaster.register("kakao", sender)
    for chat_id in (8001, 8002, 8003):
        citizen = await services.citizens.identify("telegram", str(chat_id), "ko")
        await services.subscriptions.set(campaign, citizen, True)
    await subscribe(services, campaign, keys("ko", 5))
    await announce(services, campaign)
    sent = [c.chat_id for c in telegram.request.calls if c.method == "sendMessage"]
    assert sorted(sent) == [8001, 8002, 8003]
    assert [len(c.users) for c in stub.calls] == [5]
    assert statuses(await delivery_rows(services.db)) == {("sent", 1): 8}


# --- what was announced is not announced again ----------------------------------------------


async def test_moving_an_opened_start_earlier_sends_kakao_nothing_and_reopening_once(
    db, clock, campaign, fake_sleep, stub, sender
):
    # Replayed: 252 Kakao subscribers were billed a second "voting is open" after a reload
    # moved the start one minute earlier.
    def with_voting(**times: str):
        phases = small_campaign()["phases"]
        phases["voting"].update(times)
        return parse_campaign(small_campaign(phases=phases))

    async def tick() -> list[AnnouncementKind]:
        fired = await services.announcements.tick()
        await services.broadcaster.idle()
        return [a.kind for a in fired]

    services = make_services(db, clock, fake_sleep, sender)
    users = keys("ko", 252)
    await subscribe(services, campaign, users)
    clock.set(VOTING_OPENS + timedelta(seconds=1))
    assert await tick() == [AnnouncementKind.VOTING_OPENS]
    assert stub.delivered() == {user: 1 for user in users}

    clock.advance(timedelta(minutes=10))
    await services.campaigns.load(with_voting(start="2024-11-28T08:59"))
    assert await tick() == []
    assert stub.delivered() == {user: 1 for user in users}  # nobody billed twice

    # closed by a reload, reopened by the original: each told once, in plain text
    await services.campaigns.load(with_voting(end="2024-11-28T09:05"))
    assert await tick() == [AnnouncementKind.VOTING_CLOSES]
    clock.advance(timedelta(minutes=1))
    await services.campaigns.load(with_voting())
    assert await tick() == [AnnouncementKind.VOTING_REOPENS]
    assert await tick() == []
    assert stub.delivered() == {user: 3 for user in users}
    reopened = plain_text(announcement_text("ko", campaign, AnnouncementKind.VOTING_REOPENS))
    assert "시민 투표가 다시 열렸습니다" in reopened and "<" not in reopened
    assert [c.text for c in stub.calls][-1] == reopened

"""Several workers in one test process, as several `chamyeo run` processes on one database:
each worker has its own Database object (its own connections, caches and change counters),
its own Services and its own python-telegram-bot Application, over the same database URL. They
talk to one Telegram: the message store and the message ids are shared (a button one worker
sent can be pressed on another), while each worker keeps its own record of the calls it made.

Nothing here sleeps on the wall clock: the broadcaster's sleep moves the test's clock, and the
wait for another worker's turn only yields to the event loop unless a test injects its own."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from telegram.ext import Application

from bot.app import build_application
from bot.clock import SettableClock
from bot.domain import AnnouncementKind, Campaign
from bot.i18n import plain
from bot.services import Services
from bot.services.broadcasts import Broadcaster
from bot.services.sessions import SessionService
from bot.settings import Settings
from handlers.telegram.offline import ApiCall, OfflineRequest, OfflineTelegram, TelegramUser
from storage.database import Database
from storage.repositories import BroadcastRepository
from storage.tables import broadcasts, cases, deliveries
from tests.databases import ON_POSTGRES

Sleep = Callable[[float], Awaitable[None]]
TURN_POLLS_AT_MOST = 100_000  # a turn that never comes fails the test instead of hanging it
HINT = "아래 버튼을 눌러 주세요."
ERROR = plain("ko", "error")

postgres_only = pytest.mark.skipif(
    not ON_POSTGRES, reason="turns and a fresh read of the citizen are for workers sharing a "
    "PostgreSQL database; SQLite is served by one process (its lock file), which keeps its "
    "own cache and needs no turns")


@dataclass
class Telegram:
    """The one Telegram every worker's bot talks to."""

    clock: SettableClock
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    requests: list[OfflineRequest] = field(default_factory=list)

    def request(self, kind: type[OfflineRequest] = OfflineRequest) -> OfflineRequest:
        request = kind(clock=self.clock)
        request.messages = self.messages
        request._ids = self.ids  # message ids unique across workers, as Telegram's are
        self.requests.append(request)
        return request

    def calls(self) -> list[ApiCall]:
        return [call for request in self.requests for call in request.calls]

    def received(self) -> Counter:
        """Messages that reached a chat (failed calls not counted), by chat, from any worker."""
        return Counter(c.chat_id for c in self.calls()
                       if c.method == "sendMessage" and "_failed" not in c.params)


@dataclass
class Worker:
    name: str
    db: Database
    services: Services
    bot: OfflineTelegram

    @property
    def request(self) -> OfflineRequest:
        return self.bot.request

    @property
    def application(self) -> Application:
        return self.bot.application


def clock_sleep(clock: SettableClock, naps: list[float] | None = None) -> Sleep:
    """A sleep that records the seconds and moves the clock by them, at once."""

    async def sleep(seconds: float) -> None:
        if naps is not None:
            naps.append(seconds)
        clock.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)

    return sleep


def yielding_sleep(polls: list[float] | None = None) -> Sleep:
    """A sleep that only lets the other tasks run (a worker waiting for another's turn)."""
    polls = [] if polls is None else polls

    async def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) > TURN_POLLS_AT_MOST:
            raise AssertionError("waited for a turn that never came")
        await asyncio.sleep(0)

    return sleep


@asynccontextmanager
async def worker(
    url: str,
    clock: SettableClock,
    telegram: Telegram,
    name: str,
    *,
    admins: tuple[int, ...] = (),
    turn_sleep: Sleep | None = None,
    sleep: Sleep | None = None,
    request: OfflineRequest | None = None,
    **broadcaster_options: Any,
) -> AsyncIterator[Worker]:
    """A worker named `name` (its id in claims and turns) on the database at `url`."""
    database = Database(url)
    broadcaster = Broadcaster(database, clock, sleep=sleep or clock_sleep(clock),
                              worker_id=name, **broadcaster_options)
    services = Services.create(database, clock, broadcaster=broadcaster, worker_id=name)
    services.sessions = SessionService(database, clock, name,
                                       sleep=turn_sleep or yielding_sleep())
    request = request or telegram.request()
    settings = Settings(_env_file=None, chamyeo_admin_ids=admins)
    application = build_application(settings, services, request=request, rate_limited=False)
    try:
        async with application:
            try:
                yield Worker(name, database, services,
                             OfflineTelegram(application, request, clock))
            finally:
                # A broadcast a test left running (a worker it "killed") ends with its worker.
                running = list(broadcaster._tasks.values())
                for task in running:
                    task.cancel()
                await asyncio.gather(*running, return_exceptions=True)
    finally:
        await database.dispose()


async def subscribers(services: Services, campaign: Campaign, chat_ids) -> None:
    for chat_id in chat_ids:
        citizen = await services.citizens.identify("telegram", str(chat_id), "ko")
        await services.subscriptions.set(campaign, citizen, True)


async def new_broadcast(services: Services, campaign: Campaign, chat_ids) -> int:
    """A broadcast written down (recipients in the order given) but not started."""
    await subscribers(services, campaign, chat_ids)
    async with services.db.write() as conn:
        repo = BroadcastRepository(conn)
        broadcast_id = await repo.create(campaign.id, AnnouncementKind.VOTING_OPENS.value, {},
                                         services.clock.now())
        await repo.add_subscribers(broadcast_id, campaign.id, services.clock.now())
    return broadcast_id


async def delivery_rows(db: Database, broadcast_id: int) -> dict[int, dict]:
    """The broadcast's deliveries by chat id."""
    async with db.read() as conn:
        rows = (await conn.execute(
            deliveries.select().where(deliveries.c.broadcast_id == broadcast_id))).mappings()
        return {int(row["address"]): dict(row) for row in rows}


async def statuses(db: Database, broadcast_id: int) -> dict[int, str]:
    return {chat: row["status"] for chat, row in (await delivery_rows(db, broadcast_id)).items()}


async def broadcast_status(db: Database, broadcast_id: int) -> str:
    async with db.read() as conn:
        return await conn.scalar(sa.select(broadcasts.c.status)
                                 .where(broadcasts.c.id == broadcast_id))


async def soon(awaitable, what: str):
    """Await something the test expects within moments. A safety net, never a pause: the
    timeout only turns a hang (say, no turns taken at all) into a failure."""
    try:
        return await asyncio.wait_for(awaitable, timeout=30)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


def sent(calls, method: str = "sendMessage") -> list[ApiCall]:
    return [c for c in calls if c.method == method]


def no_error(calls) -> None:
    """No error reply and no refused answer among the calls."""
    assert not [c for c in calls if ERROR in (c.text or "") or "⚠️" in (c.text or "")]


def message_with(w: Worker, user: TelegramUser, label: str) -> dict:
    """The newest message in the user's chat with a button labelled `label`."""
    for message in w.bot.messages_with_buttons(user.id):
        if any(label in b["text"] for b in w.bot.buttons_of(message)):
            return message
    raise LookupError(label)


async def case_row(db: Database, case_id: int) -> dict:
    async with db.read() as conn:
        return dict((await conn.execute(cases.select().where(cases.c.id == case_id)))
                    .mappings().one())

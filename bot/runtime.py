"""What `chamyeo run` runs besides the chat apps, whichever channels it serves: the scheduler
(announcements, reminders and broadcasts, only in the leading worker) and the broadcaster's
KakaoTalk sender; and the run of a city that has only a KakaoTalk channel: the skill server
and the scheduler, without python-telegram-bot. bot/app.py adds Telegram on top of `Runtime`."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from bot.scheduler import TICK_SECONDS, ClockWatch, Scheduler
from bot.services import Services
from bot.services.outbound import OutboundPace
from bot.settings import Settings
from handlers.kakao import CHANNEL as KAKAO_CHANNEL
from handlers.kakao.events import KakaoEventSender, SkippedKakaoSender, kakao_sender
from handlers.server import HttpServer
from storage.coordination import Leadership

log = logging.getLogger(__name__)


def settle_memory() -> None:
    """Once a worker has loaded everything it serves with (the frameworks, the templates, the
    catalogs: some 200,000 objects): keep those out of the garbage collector's full passes.
    Each such pass otherwise walks them all and stalls the event loop for 100-170 ms on a
    small machine (bench.scale saw it while exporting); objects made later are collected as
    before. (gc.freeze, as large Python services do after starting.)"""
    gc.collect()
    gc.freeze()


class Runtime:
    """The channel-neutral part of a running bot, over services on a migrated database. With
    `leadership` the scheduler acts only while this worker leads (without it, it always does:
    tests, the demo); `clock_watch` notices the wall clock stepping; `paces` are the outbound
    paces it moves with the clock and prunes."""

    def __init__(self, settings: Settings, services: Services, *,
                 leadership: Leadership | None = None, clock_watch: ClockWatch | None = None,
                 paces: tuple[OutboundPace, ...] = (),
                 tick_seconds: float = TICK_SECONDS) -> None:
        self.services = services
        self.scheduler = Scheduler(services, tick_seconds, leadership=leadership,
                                   clock_watch=clock_watch, paces=paces)
        # Kakao subscribers get announcements through the Event API, or a log line without it.
        self.kakao_events: KakaoEventSender | SkippedKakaoSender = kakao_sender(settings)
        services.broadcaster.register(KAKAO_CHANNEL, self.kakao_events)

    async def close(self) -> None:
        """Last, after the scheduler has stopped: nothing is sent or written any more."""
        await self.kakao_events.close()
        await self.services.db.dispose()


class WithoutTelegram:
    """`chamyeo run` without Telegram: the HTTP server (the KakaoTalk skill, the web, or both)
    and the scheduler, until
    SIGINT or SIGTERM. Telegram deliveries in the database (subscribers from an earlier run
    with Telegram) have no sender here: the broadcaster records them as failed, with a log
    line, and sends nothing (bot/services/broadcasts.py). Broadcast summaries go to the log
    only (the broadcaster logs each one); with Telegram they also go to the admins."""

    def __init__(self, settings: Settings, services: Services, *,
                 leadership: Leadership | None = None, clock_watch: ClockWatch | None = None,
                 tick_seconds: float = TICK_SECONDS) -> None:
        self.runtime = Runtime(settings, services, leadership=leadership,
                               clock_watch=clock_watch, tick_seconds=tick_seconds)
        self.scheduler = self.runtime.scheduler
        self.server = HttpServer(services, settings)
        self._server_started = False

    async def start(self) -> None:
        await self.server.start()
        self._server_started = True
        await self.scheduler.start()

    async def stop(self) -> None:
        """In order: no new requests (those under way are answered), then the scheduler
        (messages in flight finish, the rest resumes at the next start), then the Event API
        client and the database."""
        if self._server_started:
            await self.server.stop()
            self._server_started = False
        await self.scheduler.stop()
        await self.runtime.close()

    async def serve(self) -> None:
        """Start, serve until SIGINT or SIGTERM, then stop in order."""
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)
        for signum in signals:
            loop.add_signal_handler(signum, stopping.set)
        try:
            await self.start()
            await stopping.wait()
            log.info("stopping: HTTP requests are no longer taken")
        finally:
            for signum in signals:
                loop.remove_signal_handler(signum)
            await self.stop()
        log.info("Chamyeo stopped")

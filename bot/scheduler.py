"""The scheduler: an APScheduler job that asks the announcement service, every second, to fire
whatever is due by the services' clock. The plan itself lives in the database, so a restart, a
reloaded campaign file or a changed phase time needs no job bookkeeping here, and the demo's
clock (which can jump) drives it like the real one."""

from __future__ import annotations

import logging

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.services import Services

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0


class Scheduler:
    def __init__(self, services: Services, tick_seconds: float = TICK_SECONDS) -> None:
        self.services = services
        self.tick_seconds = tick_seconds
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        """Resume interrupted broadcasts, fire what was missed while stopped, then keep time."""
        resumed = await self.services.broadcaster.resume()
        if resumed:
            log.info("resuming broadcasts %s", resumed)
        await self.tick()
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(
            self.tick, IntervalTrigger(seconds=self.tick_seconds), id="announcements",
            max_instances=1, coalesce=True, misfire_grace_time=None,
        )
        self._scheduler.start()

    async def tick(self) -> None:
        try:
            await self.services.announcements.tick()
        except Exception:
            log.exception("announcement tick failed; trying again at the next tick")

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await self.services.broadcaster.stop()

"""The scheduler: an APScheduler job that ticks every second. The plan itself lives in the
database, so a restart, a reloaded campaign file or a changed phase time needs no job
bookkeeping here, and the demo's clock (which can jump) drives it like the real one.

Several workers may share the database; only the leader (storage/coordination.py) does
anything at a tick: it fires the announcements that are due, keeps the broadcasts running
(one stopped by a database error starts again here), and watches the clock. A worker that
loses the lead stops claiming broadcast messages at once; the next leader carries on."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.services import Services
from bot.services.outbound import OutboundPace
from storage.coordination import Leadership
from storage.repositories.workers import WorkerRepository

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
CLOCK_STEP_SECONDS = 60.0  # a clock that jumps more than this between two ticks has stepped
PRUNE_EVERY_TICKS = 600  # forget idle outbound lanes and long-gone workers every ten minutes
FORGET_WORKERS_AFTER = timedelta(days=1)


class ClockWatch:
    """Notices the clock stepping (the wall clock against a monotonic one): after a step the
    announcement plan is checked again, since what was due, or stale, may no longer be."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self._last: tuple[datetime, float] | None = None

    def step(self, now: datetime) -> float:
        """Seconds the clock stepped since the last call (0 when it just ran)."""
        mono = self.monotonic()
        last, self._last = self._last, (now, mono)
        if last is None:
            return 0.0
        drift = (now - last[0]).total_seconds() - (mono - last[1])
        return drift if abs(drift) > CLOCK_STEP_SECONDS else 0.0


class Scheduler:
    def __init__(
        self,
        services: Services,
        tick_seconds: float = TICK_SECONDS,
        leadership: Leadership | None = None,
        clock_watch: ClockWatch | None = None,
        paces: tuple[OutboundPace, ...] = (),
    ) -> None:
        """Without `leadership` this process leads (one process: tests, the demo)."""
        self.services = services
        self.tick_seconds = tick_seconds
        self.leadership = leadership
        self.clock_watch = clock_watch
        self.paces = paces
        self.leading = False
        self._ticks = 0
        self._scheduler: AsyncIOScheduler | None = None
        self._stepping_down: asyncio.Task | None = None

    async def start(self) -> None:
        """Fire what was missed while stopped (if this worker leads), then keep time."""
        await self.tick()
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.add_job(
            self.tick, IntervalTrigger(seconds=self.tick_seconds), id="announcements",
            max_instances=1, coalesce=True, misfire_grace_time=None,
        )
        self._scheduler.start()

    async def tick(self) -> None:
        try:
            await self._say_alive()
            if not await self._lead():
                return
            self._ticks += 1
            await self._watch_clock()
            exclusive = self.leadership is None or self.leadership.exclusive
            resumed = await self.services.broadcaster.resume(exclusive=exclusive)
            if resumed:
                log.info("running broadcasts %s", resumed)
            await self.services.announcements.tick()
            if self._ticks % PRUNE_EVERY_TICKS == 0:
                await self._prune()
        except Exception:
            log.exception("scheduler tick failed; trying again at the next tick")

    async def _say_alive(self) -> None:
        """Every worker, leading or not: its turns and claims count as live while it does
        (storage/coordination.py). Only where several processes share the database."""
        if self.services.db.shared:
            async with self.services.db.write() as conn:
                await WorkerRepository(conn).beat(self.services.worker_id,
                                                  self.services.clock.now())

    async def _prune(self) -> None:
        for pace in self.paces:
            await pace.prune()
        async with self.services.db.write() as conn:
            await WorkerRepository(conn).prune(self.services.clock.now() - FORGET_WORKERS_AFTER)

    async def _lead(self) -> bool:
        leading = True if self.leadership is None else await self.leadership.lead()
        if leading and not self.leading:
            if self.leadership is not None:
                log.info("leading: this worker runs the scheduler and the broadcasts")
            if self._stepping_down is not None:
                await self._stepping_down
                self._stepping_down = None
            self.services.broadcaster.restart()
        elif not leading and self.leading:
            log.warning("no longer leading: this worker stops broadcasting; another leads")
            # Messages in flight finish; nothing new is claimed. Not awaited here: the tick
            # must not wait for them.
            self._stepping_down = asyncio.create_task(self.services.broadcaster.stop())
        self.leading = leading
        return leading

    async def _watch_clock(self) -> None:
        if self.clock_watch is None:
            return
        now = self.services.clock.now()
        stepped = self.clock_watch.step(now)
        if stepped:
            log.warning("the clock stepped %+.0f s: checking the announcement plan again",
                        stepped)
            await self.services.announcements.after_clock_step(stepped)
            for pace in self.paces:
                await pace.shift(stepped)

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await self.services.broadcaster.stop()
        if self.leadership is not None:
            await self.leadership.release()
        if self.services.db.shared:
            try:
                async with self.services.db.write() as conn:
                    await WorkerRepository(conn).leave(self.services.worker_id)
            except Exception:
                log.warning("could not say this worker is leaving; it goes silent instead")

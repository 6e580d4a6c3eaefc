"""The broadcaster: one message to many recipients, each in their language, losing nothing.

Recipients are written down before the first message goes out. Each delivery is claimed
(committed as "sending") before it is sent and recorded after, so a restart resumes where the
broadcast stopped and never sends anyone the same broadcast twice. Channels plug in a `Sender`
(one message per call) or a `BatchSender` (up to `batch_size` recipients of one language per
call, claimed together); this module knows no chat app."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable

from bot.clock import Clock
from bot.domain import Broadcast, Campaign, Delivery
from storage.database import Database
from storage.repositories import (
    BroadcastRepository,
    CampaignRepository,
    SubscriptionRepository,
)
from storage.repositories import broadcasts as status

log = logging.getLogger(__name__)

# Sends in flight at most. The pace (see pace()) sets the rate; workers cover the round trip.
WORKERS = 16
MAX_ATTEMPTS = 3
MAX_FLOOD_WAITS = 10  # flood-control waits for one recipient before giving up on them
RETRY_PAUSE_SECONDS = 1.0  # times the attempt number, before a failed send is tried again


class SendStatus(Enum):
    SENT = "sent"
    BLOCKED = "blocked"  # the user blocked the bot or is gone: unsubscribe
    RETRY_AFTER = "retry_after"  # flood control: wait `retry_after` seconds, then again
    FAILED = "failed"  # may work another time: retried a bounded number of times
    REJECTED = "rejected"  # will never work (e.g. chat not found): not retried
    UNCERTAIN = "uncertain"  # may or may not have arrived (a timeout): not sent again


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    retry_after: float = 0.0
    error: str | None = None


class Sender(Protocol):
    async def send(
        self, delivery: Delivery, broadcast: Broadcast, campaign: Campaign
    ) -> SendResult:
        """Send the broadcast's message to one recipient, in `delivery.language`."""


@runtime_checkable
class BatchSender(Protocol):
    """A channel whose API takes many recipients in one request. The broadcaster claims up to
    `batch_size` pending deliveries of one broadcast, channel and language at a time."""

    batch_size: int

    async def send_batch(
        self, deliveries: list[Delivery], broadcast: Broadcast, campaign: Campaign
    ) -> list[SendResult]:
        """Send to every delivery (all in one language); one result per delivery, in order."""


@dataclass(frozen=True)
class _Outcome:
    """What becomes of one delivery after a send: its next state, and for a delivery that goes
    back to pending, how long to wait first (under the flood pause if `flood`)."""

    delivery: Delivery
    state: str
    attempts: int
    error: str | None
    wait: float = 0.0
    flood: bool = False


@dataclass(frozen=True)
class BroadcastSummary:
    broadcast_id: int
    campaign_id: int
    kind: str
    sent: int
    blocked: int
    failed: int
    uncertain: int
    seconds: float
    requested_by: str | None = None  # the staff member who sent it ("channel:id"), if any


Sleep = Callable[[float], Awaitable[None]]
Listener = Callable[[BroadcastSummary], Awaitable[None]]


class Broadcaster:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        workers: int = WORKERS,
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self.db = db
        self.clock = clock
        self.sleep = sleep
        self.workers = workers
        self.max_attempts = max_attempts
        self.senders: dict[str, Sender | BatchSender] = {}
        self.listeners: list[Listener] = []
        self._tasks: dict[int, asyncio.Task] = {}
        self._stopping = False
        # Held while waiting out flood control: every worker pauses, not only the one told.
        self._flood_pause = asyncio.Lock()
        self._flood_waits: dict[int, int] = {}
        # Even pacing (messages per second), set by the channel's wiring; None in tests.
        self._interval: float | None = None
        self._next_turn = 0.0
        self._pace = asyncio.Lock()

    def pace(self, per_second: float) -> None:
        """Send at most this many messages per second, evenly spaced. Pacing here, before a
        delivery is claimed, keeps bursts from tripping flood control and keeps the number of
        claimed-but-unsent deliveries (lost as "uncertain" in a crash) to those in flight."""
        self._interval = 1.0 / per_second

    def register(self, channel: str, sender: Sender | BatchSender) -> None:
        self.senders[channel] = sender

    def on_finished(self, listener: Listener) -> None:
        self.listeners.append(listener)

    def start(self, broadcast_id: int) -> asyncio.Task:
        """Run the broadcast in the background; starting it twice runs it once."""
        task = self._tasks.get(broadcast_id)
        if task is None or task.done():
            task = asyncio.create_task(self.run(broadcast_id), name=f"broadcast-{broadcast_id}")
            self._tasks[broadcast_id] = task
            task.add_done_callback(lambda _t: self._tasks.pop(broadcast_id, None))
        return task

    async def resume(self) -> list[int]:
        """At start-up: continue every broadcast that a stop interrupted."""
        async with self.db.read() as conn:
            unfinished = await BroadcastRepository(conn).running()
        for broadcast in unfinished:
            if broadcast.id not in self._tasks:
                async with self.db.write() as conn:
                    lost = await BroadcastRepository(conn).mark_in_flight_uncertain(
                        broadcast.id, self.clock.now())
                if lost:
                    log.warning("broadcast %s: %s message(s) were in flight when the bot "
                                "stopped; not sent again", broadcast.id, lost)
                self.start(broadcast.id)
        return [b.id for b in unfinished]

    async def idle(self) -> None:
        """Wait until every running broadcast has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def stop(self) -> None:
        """Finish the messages in flight, claim no more; the rest resumes at the next start."""
        self._stopping = True
        await self.idle()

    async def run(self, broadcast_id: int) -> BroadcastSummary | None:
        started = self.clock.now()
        async with self.db.read() as conn:
            broadcast = await BroadcastRepository(conn).get(broadcast_id)
            campaign = await CampaignRepository(conn).get(broadcast.campaign_id) if broadcast \
                else None
        if broadcast is None or campaign is None or broadcast.status != status.RUNNING:
            return None
        await asyncio.gather(*(self._work(broadcast, campaign) for _ in range(self.workers)))
        if self._stopping:
            return None
        async with self.db.write() as conn:
            repo = BroadcastRepository(conn)
            counts = await repo.counts(broadcast_id)
            finished_here = await repo.finish(broadcast_id, self.clock.now())
        if not finished_here:  # another runner (another process) finished it and reported
            return None
        summary = BroadcastSummary(
            broadcast_id, broadcast.campaign_id, broadcast.kind,
            sent=counts.get(status.SENT, 0), blocked=counts.get(status.BLOCKED, 0),
            failed=counts.get(status.FAILED, 0), uncertain=counts.get(status.UNCERTAIN, 0),
            seconds=(self.clock.now() - started).total_seconds(),
            requested_by=broadcast.payload.get("by"),
        )
        log.info("broadcast %s (%s) done: sent %s, blocked %s, failed %s, uncertain %s, %.1f s",
                 broadcast_id, broadcast.kind, summary.sent, summary.blocked, summary.failed,
                 summary.uncertain, summary.seconds)
        if not counts:  # nobody to tell: no summary to bother the admins with
            return summary
        for listener in self.listeners:
            try:
                await listener(summary)
            except Exception:
                log.exception("broadcast summary listener failed")
        return summary

    async def _wait_turn(self) -> None:
        if self._interval is None:
            return
        async with self._pace:
            now = time.monotonic()
            if self._next_turn > now:
                await asyncio.sleep(self._next_turn - now)  # real time: this is Telegram's pace
            self._next_turn = max(now, self._next_turn) + self._interval

    async def _work(self, broadcast: Broadcast, campaign: Campaign) -> None:
        while not self._stopping:
            await self._wait_turn()
            batch: list[Delivery] = []
            async with self.db.write() as conn:
                repo = BroadcastRepository(conn)
                now = self.clock.now()
                delivery = await repo.claim_next(broadcast.id, now)
                sender = self.senders.get(delivery.channel) if delivery else None
                if delivery is not None and isinstance(sender, BatchSender):
                    # the rest of the batch, claimed in the same transaction as the first
                    batch = [delivery, *await repo.claim_more(
                        broadcast.id, delivery.channel, delivery.language,
                        max(sender.batch_size, 1) - 1, now)]
            if delivery is None:
                return
            if batch:
                await self._deliver_batch(batch, sender, broadcast, campaign)
            else:
                await self._deliver(delivery, broadcast, campaign)

    async def _deliver(self, delivery: Delivery, broadcast: Broadcast, campaign: Campaign) -> None:
        sender = self.senders.get(delivery.channel)
        async with self._flood_pause:  # wait while another worker waits out flood control
            pass
        if sender is None:
            result = SendResult(SendStatus.REJECTED, error=f"no sender for {delivery.channel}")
        else:
            try:
                result = await sender.send(delivery, broadcast, campaign)
            except Exception as exc:  # a sender bug must not stop the broadcast
                log.exception("sender failed for delivery %s", delivery.id)
                result = SendResult(SendStatus.FAILED, error=repr(exc))
        await self._settle([self._outcome(delivery, result)])

    async def _deliver_batch(self, batch: list[Delivery], sender: BatchSender,
                             broadcast: Broadcast, campaign: Campaign) -> None:
        """Deliveries claimed together (one broadcast, channel and language), sent in one call
        and each recorded as `_deliver` records one."""
        async with self._flood_pause:  # wait while another worker waits out flood control
            pass
        try:
            results = list(await sender.send_batch(batch, broadcast, campaign))
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for {len(batch)} deliveries")
        except Exception as exc:  # a sender bug must not stop the broadcast
            log.exception("sender failed for deliveries %s..%s", batch[0].id, batch[-1].id)
            results = [SendResult(SendStatus.FAILED, error=repr(exc))] * len(batch)
        await self._settle([self._outcome(d, r) for d, r in zip(batch, results, strict=True)])

    def _outcome(self, delivery: Delivery, result: SendResult) -> _Outcome:
        """The rules for one result: flood control waits (bounded) and tries again without
        counting an attempt; a failure is tried again up to max_attempts; the rest is final."""
        attempts = delivery.attempts + 1
        if result.status is SendStatus.RETRY_AFTER:
            waits = self._flood_waits[delivery.id] = self._flood_waits.get(delivery.id, 0) + 1
            if waits <= MAX_FLOOD_WAITS:
                return _Outcome(delivery, status.PENDING, delivery.attempts, result.error,
                                wait=result.retry_after, flood=True)
            result = SendResult(SendStatus.FAILED, error=result.error)
            attempts = self.max_attempts  # told to wait too often: give up on this one
        self._flood_waits.pop(delivery.id, None)
        if result.status is SendStatus.FAILED and attempts < self.max_attempts:
            return _Outcome(delivery, status.PENDING, attempts, result.error,
                            wait=RETRY_PAUSE_SECONDS * attempts)
        final = {
            SendStatus.SENT: status.SENT,
            SendStatus.BLOCKED: status.BLOCKED,
            SendStatus.UNCERTAIN: status.UNCERTAIN,
        }.get(result.status, status.FAILED)
        return _Outcome(delivery, final, attempts, result.error)

    async def _settle(self, outcomes: list[_Outcome]) -> None:
        """Record final outcomes at once; put the others back to pending only after their wait
        (still "sending" meanwhile, so no worker takes them early). A batch waits once: the
        longest wait it was told, not once per recipient."""
        final = [o for o in outcomes if o.state != status.PENDING]
        if final:
            await self._record(final)
        flood = [o for o in outcomes if o.state == status.PENDING and o.flood]
        if flood:
            wait = max(o.wait for o in flood)
            log.info("flood control: waiting %.1f s as asked", wait)
            async with self._flood_pause:
                await self.sleep(wait)
            await self._record(flood)
        retry = [o for o in outcomes if o.state == status.PENDING and not o.flood]
        if retry:
            await self.sleep(max(o.wait for o in retry))
            await self._record(retry)

    async def _record(self, outcomes: list[_Outcome]) -> None:
        async with self.db.write() as conn:
            now = self.clock.now()
            repo = BroadcastRepository(conn)
            subscriptions = SubscriptionRepository(conn)
            for o in outcomes:
                await repo.record(o.delivery.id, o.state, o.attempts, now, o.error)
                if o.state == status.BLOCKED and o.delivery.citizen_id is not None:
                    await subscriptions.unsubscribe_everywhere(o.delivery.citizen_id, now)

"""The broadcaster: one message to many recipients, each in their language, losing nothing.

Recipients are written down before the first message goes out. Each delivery is claimed
(committed as "sending", with this worker's id and a lease) before it is sent and recorded
after, so a restart resumes where the broadcast stopped and never sends anyone the same
broadcast twice, and a worker that takes over never mistakes a live worker's messages in
flight for lost ones. Only the leading worker broadcasts (bot/scheduler.py). Channels plug in
a `Sender` (one message per call) or a `BatchSender` (up to `batch_size` recipients of one
language per call, claimed together); this module knows no chat app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Protocol, TypeVar, runtime_checkable

from sqlalchemy.exc import DBAPIError

from bot.clock import Clock
from bot.domain import CASE_NOTICE_KIND, Broadcast, Campaign, Delivery
from storage.coordination import WORKER_SILENT_AFTER, new_worker_id
from storage.database import Database
from storage.repositories import (
    BroadcastRepository,
    CampaignRepository,
    SubscriptionRepository,
)
from storage.repositories import broadcasts as status

log = logging.getLogger(__name__)
T = TypeVar("T")

# Sends in flight at most. The pace (see pace()) sets the rate; workers cover the round trip.
WORKERS = 16
MAX_ATTEMPTS = 3
MAX_FLOOD_WAITS = 10  # flood-control waits for one recipient before giving up on them
RETRY_PAUSE_SECONDS = 1.0  # times the attempt number, before a failed send is tried again
# How long a claim stays this worker's: longer than any send takes (PTB's timeouts add up to
# under 20 s). After it (or once the worker is silent), its claims count as abandoned.
CLAIM_LEASE = timedelta(seconds=30)
# When the database fails (locked for long, full, unreachable): tries before the broadcast's
# task gives up for now (the scheduler tick starts it again), and the first pause.
DATABASE_TRIES = 6
DATABASE_PAUSE_SECONDS = 0.5
# Deliveries of a channel no sender serves, recorded as failed in one claim (see _unserved).
UNSERVED_BATCH = 100


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


# Awaited by a sender right before its request leaves the process (after any wait for its
# turn): from then on a crash leaves the message "uncertain"; before, it goes out again.
Handover = Callable[[], Awaitable[None]]


class Sender(Protocol):
    async def send(
        self, delivery: Delivery, broadcast: Broadcast, campaign: Campaign, handover: Handover
    ) -> SendResult:
        """Send the broadcast's message to one recipient, in `delivery.language`, awaiting
        `handover()` right before the request goes out."""


@runtime_checkable
class BatchSender(Protocol):
    """A channel whose API takes many recipients in one request. The broadcaster claims up to
    `batch_size` pending deliveries of one broadcast, channel and language at a time."""

    batch_size: int

    async def send_batch(
        self, deliveries: list[Delivery], broadcast: Broadcast, campaign: Campaign,
        handover: Handover,
    ) -> list[SendResult]:
        """Send to every delivery (all in one language), awaiting `handover()` right before
        the request goes out; one result per delivery, in order."""


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
Room = Callable[[], Awaitable[None]]


class Broadcaster:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        sleep: Sleep = asyncio.sleep,
        workers: int = WORKERS,
        max_attempts: int = MAX_ATTEMPTS,
        worker_id: str | None = None,
        record_only: bool = False,
    ) -> None:
        """`record_only`: for a process that sends nothing (the `chamyeo cases` and `results`
        staff commands): broadcasts are written down by the services as always, and start() and
        resume() run nothing. Nothing is claimed, so nothing is recorded as failed for want of
        a sender here; the leader of the running bot sends them (its scheduler tick resumes
        every unfinished broadcast)."""
        self.db = db
        self.record_only = record_only
        self.clock = clock
        self.sleep = sleep
        self.workers = workers
        self.max_attempts = max_attempts
        self.worker_id = worker_id or new_worker_id()
        self.senders: dict[str, Sender | BatchSender] = {}
        self.listeners: list[Listener] = []
        # Waits until the outbound pace has room for one more broadcast message; set by the
        # wiring from the channel's shared pace (bot/services/outbound.py). None: no pacing.
        self.wait_for_room: Room | None = None
        self._tasks: dict[int, asyncio.Task] = {}
        self._stopping = False
        # Held while waiting out flood control: every worker pauses, not only the one told.
        self._flood_pause = asyncio.Lock()
        self._flood_waits: dict[int, int] = {}
        self._unserved_told: set[tuple[int, str]] = set()  # (broadcast, channel) logged

    def register(self, channel: str, sender: Sender | BatchSender) -> None:
        self.senders[channel] = sender

    def on_finished(self, listener: Listener) -> None:
        """`listener` gets the summary of every finished broadcast that reached someone,
        except a case notice (one submitter told of a decision: nothing for staff)."""
        self.listeners.append(listener)

    def start(self, broadcast_id: int) -> asyncio.Task | None:
        """Run the broadcast in the background; starting it twice runs it once. Record-only:
        nothing runs (None), the running bot's leader sends it."""
        if self.record_only:
            return None
        task = self._tasks.get(broadcast_id)
        if task is None or task.done():
            task = asyncio.create_task(self.run(broadcast_id), name=f"broadcast-{broadcast_id}")
            self._tasks[broadcast_id] = task
            task.add_done_callback(lambda t: self._ended(broadcast_id, t))
        return task

    def _ended(self, broadcast_id: int, task: asyncio.Task) -> None:
        self._tasks.pop(broadcast_id, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("broadcast %s stopped on an error; the scheduler tick starts it again",
                      broadcast_id, exc_info=task.exception())

    async def resume(self, exclusive: bool = False) -> list[int]:
        """Run every unfinished broadcast this process is not running: at start, when this
        worker takes the lead, and at every scheduler tick (so a broadcast whose task stopped,
        say on a database error, starts again). What another worker had in flight stays its
        own until its lease runs out; with `exclusive` (no other process can be alive, as on
        SQLite) it is abandoned at once. Record-only: nothing (another process sends)."""
        if self.record_only:
            return []
        async with self.db.read() as conn:
            unfinished = await BroadcastRepository(conn).running()
        resumed = []
        for broadcast in unfinished:
            if broadcast.id in self._tasks:
                continue
            async with self.db.write() as conn:
                now = self.clock.now()
                recovered = await BroadcastRepository(conn).recover_abandoned(
                    broadcast.id, now, now - WORKER_SILENT_AFTER, any_owner=exclusive)
            requeued, lost = recovered
            if requeued:
                log.info("broadcast %s: %s message(s) a stopped worker had not sent yet go out "
                         "now", broadcast.id, requeued)
            if lost:
                log.warning("broadcast %s: %s message(s) were on their way when their worker "
                            "stopped; not sent again", broadcast.id, lost)
            self.start(broadcast.id)
            resumed.append(broadcast.id)
        return resumed

    async def idle(self) -> None:
        """Wait until every running broadcast has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def stop(self) -> None:
        """Finish the messages in flight and claim no more: the rest resumes at the next start,
        or in the worker that leads next."""
        self._stopping = True
        await self.idle()

    def restart(self) -> None:
        """Claim again after stop(): this worker leads again."""
        self._stopping = False

    async def run(self, broadcast_id: int) -> BroadcastSummary | None:
        started = self.clock.now()
        async with self.db.read() as conn:
            broadcast = await BroadcastRepository(conn).get(broadcast_id)
            campaign = await CampaignRepository(conn).get(broadcast.campaign_id) if broadcast \
                else None
        if broadcast is None or campaign is None or broadcast.status != status.RUNNING:
            return None
        # A TaskGroup: if one worker fails for good (the database), the others stop with it,
        # so no worker outlives the task that idle() and stop() wait for.
        async with asyncio.TaskGroup() as workers:
            for _ in range(self.workers):
                workers.create_task(self._work(broadcast, campaign))
        if self._stopping:
            return None

        async def finish() -> tuple[dict[str, int], bool]:
            async with self.db.write() as conn:
                repo = BroadcastRepository(conn)
                # Finish first, count after: on PostgreSQL each statement sees what was
                # committed when it began, so counts read before the finish could miss the
                # last deliveries another worker recorded in between (57 of 60 "sent").
                if not await repo.finish(broadcast_id, self.clock.now()):
                    return {}, False
                return await repo.counts(broadcast_id), True

        counts, finished_here = await self._retrying("finishing the broadcast", finish)
        if not finished_here:
            # Another runner finished it and reported; or a delivery is still open (a retry
            # not yet due, another worker's claim): the scheduler tick comes back to it.
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
        if broadcast.kind == CASE_NOTICE_KIND:  # one submitter told of their case: no report
            return summary
        for listener in self.listeners:
            try:
                await listener(summary)
            except Exception:
                log.exception("broadcast summary listener failed")
        return summary

    async def _work(self, broadcast: Broadcast, campaign: Campaign) -> None:
        while not self._stopping:
            # Before claiming: a claimed message waits for nothing but its own sending, so a
            # crash leaves as few as possible "uncertain".
            if self.wait_for_room is not None:
                await self.wait_for_room()
            async with self._flood_pause:  # while another worker waits out flood control
                pass
            if self._stopping:
                return
            claimed = await self._retrying("claiming deliveries",
                                           lambda: self._claim(broadcast))
            if claimed is None:
                return
            batch, sender = claimed
            if not batch:  # another worker took them first: look again
                continue
            if sender is None:
                await self._unserved(batch, broadcast)
            elif isinstance(sender, BatchSender):
                await self._deliver_batch(batch, sender, broadcast, campaign)
            else:
                await self._deliver(batch[0], sender, broadcast, campaign)

    async def _claim(
        self, broadcast: Broadcast
    ) -> tuple[list[Delivery], Sender | BatchSender | None] | None:
        """The next due delivery, or for a channel that sends in batches, up to a batch of
        the same channel and language, claimed in one statement (so concurrent workers each
        take whole batches). None when nothing is due."""
        async with self.db.write() as conn:
            repo = BroadcastRepository(conn)
            now = self.clock.now()
            due = await repo.next_due(broadcast.id, now)
            if due is None:
                return None
            channel, language = due
            sender = self.senders.get(channel)
            if sender is None:
                size = UNSERVED_BATCH
            elif isinstance(sender, BatchSender):
                size = max(sender.batch_size, 1)
            else:
                size = 1
            batch = await repo.claim(broadcast.id, self.worker_id, now, now + CLAIM_LEASE,
                                     limit=size, channel=channel, language=language)
            return batch, sender

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """A database step, tried again with growing pauses while the database fails (locked
        for long, full, unreachable). After DATABASE_TRIES the error ends this broadcast's task
        for now; the scheduler tick starts it again."""
        pause = DATABASE_PAUSE_SECONDS
        for attempt in range(1, DATABASE_TRIES + 1):
            try:
                return await operation()
            except (DBAPIError, OSError) as exc:
                if attempt == DATABASE_TRIES:
                    log.error("broadcast: %s failed %s times; stopped until the next tick: %s",
                              what, attempt, exc)
                    raise
                log.warning("broadcast: %s failed (%s: %s); again in %.1f s", what,
                            type(exc).__name__, exc, pause)
                await self.sleep(pause)
                pause = min(pause * 2, 30.0)
        raise AssertionError("unreachable")

    async def _deliver(self, delivery: Delivery, sender: Sender, broadcast: Broadcast,
                       campaign: Campaign) -> None:
        try:
            result = await sender.send(delivery, broadcast, campaign, self._handover([delivery]))
        except Exception as exc:  # a sender bug must not stop the broadcast
            log.exception("sender failed for delivery %s", delivery.id)
            result = SendResult(SendStatus.FAILED, error=repr(exc))
        await self._settle([self._outcome(delivery, result)])

    async def _unserved(self, batch: list[Delivery], broadcast: Broadcast) -> None:
        """Deliveries to a channel no sender serves in this process (a KakaoTalk-only run
        finding Telegram subscribers from before, or a Telegram announce chat): recorded as
        failed with the reason, once, and never sent. Held back instead, they would keep the
        broadcast open for good and arrive stale whenever the channel came back."""
        channel = batch[0].channel
        if (broadcast.id, channel) not in self._unserved_told:
            self._unserved_told.add((broadcast.id, channel))
            log.warning("broadcast %s: %s is not served by this process: its recipients there "
                        "are recorded as failed, not sent", broadcast.id, channel)
        result = SendResult(SendStatus.REJECTED, error=f"{channel} is not served (no sender)")
        await self._settle([self._outcome(d, result) for d in batch])

    async def _deliver_batch(self, batch: list[Delivery], sender: BatchSender,
                             broadcast: Broadcast, campaign: Campaign) -> None:
        """Deliveries claimed together (one broadcast, channel and language), sent in one call
        and each recorded as `_deliver` records one."""
        try:
            results = list(await sender.send_batch(batch, broadcast, campaign,
                                                   self._handover(batch)))
            if len(results) != len(batch):
                raise ValueError(f"{len(results)} results for {len(batch)} deliveries")
        except Exception as exc:  # a sender bug must not stop the broadcast
            log.exception("sender failed for deliveries %s..%s", batch[0].id, batch[-1].id)
            results = [SendResult(SendStatus.FAILED, error=repr(exc))] * len(batch)
        await self._settle([self._outcome(d, r) for d, r in zip(batch, results, strict=True)])

    def _handover(self, deliveries: list[Delivery]) -> Handover:
        async def handover() -> None:
            async with self.db.write() as conn:
                await BroadcastRepository(conn).hand_over([d.id for d in deliveries],
                                                          self.clock.now())

        return handover

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
        """Record every outcome at once. One to be tried again goes back to pending BEFORE the
        wait, marked not to be sent before its time: a crash during the wait loses nothing (it
        is not left "sending"), and no worker takes it early. A batch waits once, the longest
        wait it was told."""
        await self._retrying("recording results", lambda: self._record(outcomes))
        flood = [o for o in outcomes if o.state == status.PENDING and o.flood]
        if flood:
            wait = max(o.wait for o in flood)
            log.info("flood control: waiting %.1f s as asked", wait)
            async with self._flood_pause:
                await self.sleep(wait)
        retry = [o for o in outcomes if o.state == status.PENDING and not o.flood]
        if retry:
            await self.sleep(max(o.wait for o in retry))

    async def _record(self, outcomes: list[_Outcome]) -> None:
        async with self.db.write() as conn:
            now = self.clock.now()
            repo = BroadcastRepository(conn)
            subscriptions = SubscriptionRepository(conn)
            for o in outcomes:
                again_at = now + timedelta(seconds=o.wait) if o.state == status.PENDING \
                    else None
                await repo.record(o.delivery.id, o.state, o.attempts, now, o.error, again_at)
                if o.state == status.BLOCKED and o.delivery.citizen_id is not None:
                    await subscriptions.unsubscribe_everywhere(o.delivery.citizen_id, now)

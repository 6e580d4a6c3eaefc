"""Benchmark: one announcement to N subscribers through the real Application, against a local
stub of the Bot API that enforces Telegram's flood limits (bench/telegram_stub.py).

    python -m bench.broadcast                          # 10000 subscribers, 1% blocked
    python -m bench.broadcast --subscribers 2000 --blocked 20
    python -m bench.broadcast --database postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
    python -m bench.broadcast --subscribers 2000 --votes 64  # votes beside it (issue 16)

A scratch database (a temporary SQLite file, or with --database a throwaway database on that
PostgreSQL server), migrated; the small test campaign (tests/conftest.small_campaign); N
citizens with active subscriptions; the stub in a subprocess; the real Application as the bot
builds it (`build_application(..., rate_limited=True)`: the PacedRateLimiter on the outbound
pace kept in the database, the TelegramSender, the Broadcaster waiting for room in the pace);
then `announce_now(campaign, VOTING_OPENS)` and `broadcaster.idle()`, timed.

Prints a table and writes bench/results/broadcast-<timestamp>.json. Targets: at least 90% of
the pace's own ceiling (bot/services/outbound.PER_SECOND, less the blocked chats' share, since
a 403 takes its turn too), no 429 (the pace exists to stay under Telegram's limit), nothing
lost, no duplicates, blocked chats unsubscribed. Exit status 0 if every target is met, 1 if not.

With --votes C: KakaoTalk citizens vote through the voting service (the one both channels
use; a KakaoTalk answer does not wait for Telegram's pace, so what is shared is the process,
its event loop and the database), C at a time, for --vote-seconds: once before the broadcast,
then again a few seconds into it. Targets: the votes recorded per second beside the broadcast
at least 80 % of the rate alone, and the broadcast's own rate while the votes run still at
least 90 % of the pace's ceiling.

Nothing here changes the bot: `--workers` sets the Broadcaster's `workers` on the instance,
`--sender null` replaces the Telegram sender with one that succeeds at once (no Application,
so no pace: the broadcaster's own ceiling, the database cost per delivery). The counters
shadow methods of instances or listen to the engine's events. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench.support import StatementCounter, count_transactions, per, scratch_database
from bot.app import build_application, create_services
from bot.campaign_file import parse_campaign
from bot.clock import SettableClock, SystemClock
from bot.domain import AnnouncementKind, Broadcast, Campaign, Delivery
from bot.services.broadcasts import Handover, SendResult, SendStatus
from bot.services.outbound import PER_SECOND
from bot.services.voting import VotingService
from bot.settings import Settings
from handlers.telegram.common import CHANNEL
from storage.migrate import upgrade
from storage.repositories.citizens import _citizen
from storage.tables import cases, citizens, deliveries, subscriptions

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
CHAT_ID_BASE = 700_000_000  # chat id of subscriber i is CHAT_ID_BASE + i
TARGET_SHARE = 0.9  # of the pace's ceiling
LIMIT = 30  # Telegram's (and the stub's) messages per rolling second

log = logging.getLogger("bench.broadcast")


def small_campaign() -> dict:
    try:
        from tests.conftest import small_campaign as make
    except ImportError:  # pytest not installed: tests/conftest imports it
        sys.exit("bench.broadcast needs the dev dependencies (pip install -e '.[dev]')")
    return make()


# -- instrumentation (wrappers around instances; nothing in the bot is edited) -------------


@dataclass
class SenderStats:
    calls: int = 0
    by_status: collections.Counter = field(default_factory=collections.Counter)
    seconds: list[float] = field(default_factory=list)  # per send() call, pace wait included
    to_turn: list[float] = field(default_factory=list)  # send() called -> handover starts
    handover: list[float] = field(default_factory=list)  # the handover's write, commit included
    after: list[float] = field(default_factory=list)  # handover done -> send() returns (HTTP)
    turn_times: list[float] = field(default_factory=list)  # instants handovers began
    request_times: list[float] = field(default_factory=list)  # instants handovers ended


class CountingSender:
    """Wraps the registered Sender: what reached the broadcaster, and where each send's time
    went: waiting for its turn in the pace, the handover (a database write between the turn
    and the request), the request itself."""

    def __init__(self, inner, stats: SenderStats) -> None:
        self.inner = inner
        self.stats = stats

    async def send(self, delivery: Delivery, broadcast: Broadcast,
                   campaign: Campaign, handover: Handover) -> SendResult:
        started = time.monotonic()
        handed: list[float] = []

        async def timed_handover() -> None:
            t0 = time.monotonic()
            await handover()
            handed.extend((t0, time.monotonic()))

        result = await self.inner.send(delivery, broadcast, campaign, timed_handover)
        done = time.monotonic()
        self.stats.calls += 1
        self.stats.by_status[result.status.value] += 1
        self.stats.seconds.append(done - started)
        if handed:
            self.stats.turn_times.append(handed[0])
            self.stats.request_times.append(handed[1])
            self.stats.to_turn.append(handed[0] - started)
            self.stats.handover.append(handed[1] - handed[0])
            self.stats.after.append(done - handed[1])
        return result

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


class NullSender:
    """Succeeds at once (blocked chats answer BLOCKED): the broadcaster's own ceiling."""

    def __init__(self, blocked: set[int]) -> None:
        self.blocked = blocked
        self.accepted: collections.Counter = collections.Counter()
        self.times: list[float] = []

    async def send(self, delivery: Delivery, broadcast: Broadcast,
                   campaign: Campaign, handover: Handover) -> SendResult:
        await handover()
        chat = int(delivery.address)
        if chat in self.blocked:
            return SendResult(SendStatus.BLOCKED, error="blocked (null sender)")
        self.accepted[chat] += 1
        self.times.append(time.monotonic())
        return SendResult(SendStatus.SENT)


@dataclass
class WriteStats:
    count: int = 0
    wait: float = 0.0  # waiting for the write lock (and BEGIN IMMEDIATE)
    hold: float = 0.0  # inside the transaction, commit (fsync) included
    holds: list[float] = field(default_factory=list)


def time_writes(db, stats: WriteStats) -> None:
    """Shadow `db.write` on this instance with a timed version."""
    original = db.write

    @asynccontextmanager
    async def write():
        t0 = time.monotonic()
        cm = original()
        conn = await cm.__aenter__()
        t1 = time.monotonic()
        try:
            yield conn
        except BaseException:
            if not await cm.__aexit__(*sys.exc_info()):
                raise
        else:
            await cm.__aexit__(None, None, None)
        t2 = time.monotonic()
        stats.count += 1
        stats.wait += t1 - t0
        stats.hold += t2 - t1
        stats.holds.append(t2 - t1)

    db.write = write


class LogCounter(logging.Handler):
    """Counts log records by (logger, first words of the message)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.counts: collections.Counter = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.msg if isinstance(record.msg, str) else str(record.msg)
        self.counts[f"{record.name}: {' '.join(msg.split()[:4])}"] += 1


# -- the stub -----------------------------------------------------------------------------


class StubProcess:
    def __init__(self, blocked_file: Path, latency_ms: float, max_seconds: float) -> None:
        self.args = ["--blocked-file", str(blocked_file), "--latency-ms", str(latency_ms),
                     "--max-seconds", str(max_seconds)]
        self.proc: asyncio.subprocess.Process | None = None
        self.port: int | None = None

    async def start(self) -> int:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.telegram_stub", *self.args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=str(ROOT),
        )
        line = await asyncio.wait_for(self.proc.stdout.readline(), 30)
        if not line.startswith(b"PORT "):
            raise RuntimeError(f"the stub did not start: {line!r}")
        self.port = int(line.split()[1])
        return self.port

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"http://127.0.0.1:{self.port}/_stub/stats")
            return response.json()

    async def stop(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                await client.post(f"http://127.0.0.1:{self.port}/_stub/shutdown")
        except httpx.HTTPError:
            pass
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except TimeoutError:
            self.proc.kill()  # our own child, by handle
            await self.proc.wait()


class StubInProcess:
    def __init__(self, blocked: set[int], latency_ms: float) -> None:
        from bench.telegram_stub import StubConfig, TelegramStub
        self.stub = TelegramStub(StubConfig(blocked=blocked, latency=latency_ms / 1000))
        self.port: int | None = None

    async def start(self) -> int:
        self.port = await self.stub.start()
        return self.port

    async def stats(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.stub.stats()))

    async def stop(self) -> None:
        await self.stub.stop()


# -- votes beside the broadcast (issue 16) -------------------------------------------------

VOTER_CHANNEL = "kakao"  # the citizens who vote: KakaoTalk's, whose answers Telegram's pace
# does not hold back, so what is measured is the process and the database both serve


@dataclass
class VoteLoad:
    """Votes cast through the voting service by `concurrency` citizens at a time, for
    `seconds`, once alone and once while the broadcast runs: recorded votes per second."""

    voting: Any  # a VotingService on a clock inside the campaign's voting window
    campaign: Campaign
    case_ids: list[int]
    voters: list[Any]  # Citizens, each voting once
    concurrency: int
    seconds: float
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)

    rate: float | None = None  # offered votes a second (open loop); None: as fast as served

    async def run(self, name: str) -> None:
        recorded: list[float] = []
        outcomes: collections.Counter[str] = collections.Counter()
        start = time.monotonic()
        stop = start + self.seconds

        async def vote(due: float) -> None:
            voter = self.voters.pop()
            result = await self.voting.cast_vote(
                self.campaign, voter, self.case_ids[voter.id % len(self.case_ids)])
            outcomes[result.outcome.value] += 1
            recorded.append(time.monotonic() - due)

        async def one_at_a_time() -> None:
            while self.voters and time.monotonic() < stop:
                await vote(time.monotonic())

        async def as_offered(rate: float) -> None:
            # Vote i is due at start + i / rate whatever became of the others; its latency
            # counts from then.
            pending = []
            for i in range(int(rate * self.seconds)):
                due = start + i / rate
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                if not self.voters:
                    break
                pending.append(asyncio.create_task(vote(due)))
            await asyncio.gather(*pending)

        if self.rate is None:
            await asyncio.gather(*(one_at_a_time() for _ in range(self.concurrency)))
        else:
            await as_offered(self.rate)
        seconds = time.monotonic() - start
        self.runs[name] = {"votes": outcomes.get("recorded", 0), "outcomes": dict(outcomes),
                           "seconds": seconds, "window": (start, start + seconds),
                           "votes_per_s": outcomes.get("recorded", 0) / seconds,
                           "latency": _summary(recorded)}


async def vote_load(services, campaign: Campaign, concurrency: int, seconds: float,
                    rate: float | None) -> VoteLoad:
    """KakaoTalk citizens enough for two runs at up to 5,000 votes a second."""
    from tests.conftest import DURING_VOTING  # imports pytest: only when asked for

    count = int(2 * 5_000 * seconds)
    now = datetime.now(UTC)
    async with services.db.write() as conn:
        await conn.execute(citizens.insert(), [
            {"channel": VOTER_CHANNEL, "external_id": f"voter-{i}", "language": "ko",
             "first_seen": now} for i in range(count)])
        rows = (await conn.execute(citizens.select().where(
            citizens.c.channel == VOTER_CHANNEL))).mappings().all()
        case_ids = list((await conn.execute(sa.select(cases.c.id).where(
            cases.c.campaign_id == campaign.id, cases.c.status == "approved"))).scalars())
    voting = VotingService(services.db, SettableClock(DURING_VOTING), services.identity)
    return VoteLoad(voting, campaign, case_ids, [_citizen(r) for r in rows], concurrency,
                    seconds, rate=rate)


# -- the run ------------------------------------------------------------------------------


async def seed(services, campaign_id: int, n: int, english_every: int = 10) -> list[int]:
    """N citizens with active subscriptions, in two bulk INSERTs. Returns their chat ids."""
    now = datetime.now(UTC)
    chats = [CHAT_ID_BASE + i for i in range(n)]
    async with services.db.write() as conn:
        await conn.execute(citizens.insert(), [
            {"channel": CHANNEL, "external_id": str(chat),
             "language": "en" if i % english_every == 0 else "ko", "first_seen": now}
            for i, chat in enumerate(chats)
        ])
        ids = (await conn.execute(
            sa.select(citizens.c.id).where(citizens.c.channel == CHANNEL))).scalars().all()
        await conn.execute(subscriptions.insert(), [
            {"campaign_id": campaign_id, "citizen_id": cid, "active": True, "updated_at": now}
            for cid in ids
        ])
    return chats


def pick_blocked(chats: list[int], count: int) -> set[int]:
    if count <= 0:
        return set()
    step = len(chats) / count
    return {chats[int(i * step + step / 2)] for i in range(count)}


def rate_report(times: list[float], t_start: float, duration: float) -> dict[str, Any]:
    rel = sorted(t - t_start for t in times)
    out: dict[str, Any] = {}
    if not rel or duration <= 0:
        return out
    lo, hi = 0.1 * duration, 0.9 * duration
    in_middle = bisect.bisect_left(rel, hi) - bisect.bisect_left(rel, lo)
    out["rate_middle_80pct_time"] = in_middle / (hi - lo)
    i10, i90 = int(0.1 * (len(rel) - 1)), int(0.9 * (len(rel) - 1))
    if rel[i90] > rel[i10]:
        out["rate_middle_80pct_messages"] = (i90 - i10) / (rel[i90] - rel[i10])
    if len(rel) > 1 and rel[-1] > rel[0]:
        out["rate_first_to_last"] = (len(rel) - 1) / (rel[-1] - rel[0])
    out["first_message_s"] = rel[0]
    out["last_message_s"] = rel[-1]
    per_second = collections.Counter(int(t) for t in rel)
    seconds = list(range(int(lo) + 1, int(hi)))  # whole seconds inside the middle 80%
    middle = [per_second.get(s, 0) for s in seconds]
    if middle:
        out["per_second_middle"] = {"min": min(middle), "median": statistics.median(middle),
                                    "max": max(middle)}
    out["per_second"] = [per_second.get(s, 0) for s in range(int(rel[-1]) + 1)]
    # The most accepted in any rolling 1 s window (the stub's limit keeps it <= 30).
    out["max_in_any_1s_window"] = most_in_a_second(rel)
    return out


def most_in_a_second(times: list[float]) -> int:
    """The most instants in any rolling one-second window."""
    ordered = sorted(times)
    j = best = 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - 1.0:
            j += 1
        best = max(best, i - j + 1)
    return best


async def run(args: argparse.Namespace) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.TemporaryDirectory(prefix="chamyeo-bench-")
    try:
        async with scratch_database(args.database, Path(tmp.name), "broadcast") as url:
            return await _run(args, url, Path(tmp.name))
    finally:
        tmp.cleanup()


async def _run(args: argparse.Namespace, url: str, tmpdir: Path) -> dict[str, Any]:
    n, n_blocked = args.subscribers, args.blocked
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "subscribers": n, "blocked": n_blocked, "sender": args.sender,
        "database": url.split(":")[0], "pace_per_second": PER_SECOND,
        "stub": args.stub, "latency_ms": args.latency_ms, "cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(), "python": sys.version.split()[0],
    }
    phases: dict[str, float] = {}

    t = time.monotonic()
    settings = Settings(
        _env_file=None,
        telegram_bot_token="123:bench",
        telegram_api_base_url="http://127.0.0.1:1/bot",  # replaced once the stub has a port
        chamyeo_database_url=url,
        chamyeo_admin_ids=(),
        chamyeo_announce_chat_id=None,
        chamyeo_default_language="ko",
    )
    services = create_services(settings, SystemClock())
    if args.workers:
        services.broadcaster.workers = args.workers
    report["workers"] = services.broadcaster.workers
    await upgrade(services.db)
    load = await services.campaigns.load(parse_campaign(small_campaign()), actor="bench")
    campaign = await services.campaigns.get(load.campaign_id)
    chats = await seed(services, campaign.id, n)
    blocked = pick_blocked(chats, n_blocked)
    (tmpdir / "blocked.txt").write_text("".join(f"{c}\n" for c in sorted(blocked)))
    votes = (await vote_load(services, campaign, args.votes, args.vote_seconds, args.vote_rate)
             if args.votes else None)
    phases["setup_s"] = time.monotonic() - t

    write_stats = WriteStats()
    time_writes(services.db, write_stats)
    statements = StatementCounter(services.db)
    count_transactions(services.db, statements.counts)
    sender_stats = SenderStats()
    logs = LogCounter()
    # The pace says at DEBUG when it books another turn for a message that woke up late.
    for name, level in (("telegram.ext", logging.INFO), ("bot.services.broadcasts", logging.INFO),
                        ("bot.services.outbound", logging.DEBUG),
                        ("handlers.telegram", logging.INFO)):
        logging.getLogger(name).addHandler(logs)
        logging.getLogger(name).setLevel(level)

    stub = None
    null_sender = None
    try:
        if args.sender == "null":
            null_sender = NullSender(blocked)
            services.broadcaster.register(CHANNEL, CountingSender(null_sender, sender_stats))
            before = statements.snapshot()
            t_start, t_end = await _broadcast(services, campaign, sender_stats, n)
        else:
            stub = (StubProcess(tmpdir / "blocked.txt", args.latency_ms, args.max_seconds)
                    if args.stub == "subprocess" else StubInProcess(blocked, args.latency_ms))
            port = await stub.start()
            settings = settings.model_copy(
                update={"telegram_api_base_url": f"http://127.0.0.1:{port}/bot"})
            application = build_application(settings, services, rate_limited=True)
            registered = services.broadcaster.senders[CHANNEL]
            services.broadcaster.register(CHANNEL, CountingSender(registered, sender_stats))
            async with application:
                if votes is not None:
                    await votes.run("alone")
                before = statements.snapshot()
                t_start, t_end = await _broadcast(services, campaign, sender_stats, n, votes)
        duration = t_end - t_start
        sql = statements.since(before)
        report["load_average_after"] = os.getloadavg()

        if stub is not None:
            s = await stub.stats()
            accepted_per_chat = {int(k): v for k, v in s["accepted_per_chat"].items()}
            times = s["accepted_times"]
            stub_report = {k: s[k] for k in ("requests", "rejected_429", "rejected_429_global",
                                              "rejected_429_chat", "rejected_403",
                                              "bad_requests", "connections", "max_in_flight",
                                              "max_accepted_in_window",
                                              "max_attempted_in_window")}
            stub_report["rejected_429_times_s"] = [
                round(x - t_start, 3) for x in s["rejected_429_times"]]
            rejected_429 = s["rejected_429"]
        else:
            accepted_per_chat = dict(null_sender.accepted)
            times = null_sender.times
            stub_report = {}
            rejected_429 = 0

        async with services.db.read() as conn:
            by_status = dict((await conn.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            )).all())
            rows = (await conn.execute(
                sa.select(citizens.c.external_id, subscriptions.c.active)
                .join(subscriptions, subscriptions.c.citizen_id == citizens.c.id)
            )).all()
        active = {int(ext): bool(a) for ext, a in rows}
    finally:
        if stub is not None:
            await stub.stop()
        await services.db.dispose()

    accepted = sum(accepted_per_chat.values())
    not_blocked = [c for c in chats if c not in blocked]
    lost = [c for c in not_blocked if accepted_per_chat.get(c, 0) == 0]
    duplicates = {c: k for c, k in accepted_per_chat.items() if k > 1}
    blocked_unsubscribed = sum(1 for c in blocked if not active.get(c, True))
    wrongly_unsubscribed = sum(1 for c in not_blocked if not active.get(c, True))
    rates = rate_report(times, t_start, duration)
    holds = sorted(write_stats.holds)
    # A 403 takes its turn in the pace (and in Telegram's 30/s) like a message that arrives.
    ceiling = PER_SECOND * (n - n_blocked) / n if args.sender != "null" else None

    report.update({
        "duration_s": duration,
        "phases": phases,
        "accepted": accepted,
        "rate_overall": accepted / duration if duration else 0.0,
        "pace_ceiling": ceiling,
        "telegram_ceiling": LIMIT * (n - n_blocked) / n if args.sender != "null" else None,
        **{k: v for k, v in rates.items() if k != "per_second"},
        "rejected_429": rejected_429,
        "stub": stub_report or args.stub,
        "sender_results": dict(sender_stats.by_status),
        "send_seconds": _summary(sender_stats.seconds),
        "send_to_turn_seconds": _summary(sender_stats.to_turn),
        "handover_seconds": _summary(sender_stats.handover),
        "request_seconds": _summary(sender_stats.after),
        # Turns come when the pace lets a message go; requests leave after the handover write.
        "most_in_a_second": {"turns": most_in_a_second(sender_stats.turn_times),
                             "requests_leaving": most_in_a_second(sender_stats.request_times)},
        "logs": dict(logs.counts),
        "lost": len(lost),
        "lost_chats": lost[:50],
        "duplicates": len(duplicates),
        "duplicate_chats": {str(c): k for c, k in list(duplicates.items())[:50]},
        "blocked_unsubscribed": blocked_unsubscribed,
        "wrongly_unsubscribed": wrongly_unsubscribed,
        "deliveries_by_status": by_status,
        "sql": sql,
        "sql_per_delivery": per(sql, n),
        "db_writes": {
            "count": write_stats.count,
            "per_delivery": write_stats.count / n if n else 0,
            "lock_wait_s_total": write_stats.wait,
            "hold_s_total": write_stats.hold,
            "hold_ms_mean": 1000 * write_stats.hold / write_stats.count
            if write_stats.count else 0,
            "hold_ms_p50": 1000 * holds[len(holds) // 2] if holds else 0,
            "hold_ms_p99": 1000 * holds[int(len(holds) * 0.99)] if holds else 0,
            "busy_fraction": write_stats.hold / duration if duration else 0,
        },
        "per_second": rates.get("per_second", []),
    })
    targets = {
        "zero_lost": not lost,
        "zero_duplicates": not duplicates,
        "blocked_unsubscribed": blocked_unsubscribed == len(blocked),
    }
    if ceiling is not None:
        least = TARGET_SHARE * ceiling
        targets = {
            "rate_ge_90pct_of_pace": (report.get("rate_middle_80pct_time", 0) >= least
                                      and report["rate_overall"] >= least),
            "no_429": rejected_429 == 0,
            **targets,
        }
    if votes is not None:
        report["votes"] = _votes_report(votes, times, ceiling)
        targets.update(report["votes"]["targets"])
    targets["all"] = all(targets.values())
    report["targets"] = targets
    return report


def _votes_report(votes: VoteLoad, times: list[float], ceiling: float | None) -> dict[str, Any]:
    """Votes per second alone and beside the broadcast, and the broadcast's own rate while
    the votes ran (messages the stub accepted inside the votes' window)."""
    alone, during = votes.runs["alone"], votes.runs["during the broadcast"]
    lo, hi = during["window"]
    meanwhile = sum(1 for x in times if lo <= x <= hi) / (hi - lo)
    ratio = during["votes_per_s"] / alone["votes_per_s"] if alone["votes_per_s"] else 0.0
    targets = {"votes_ge_80pct_beside_broadcast": ratio >= 0.8}
    if ceiling is not None:
        targets["broadcast_ge_90pct_of_pace_beside_votes"] = meanwhile >= TARGET_SHARE * ceiling
    return {"concurrency": votes.concurrency, "seconds": votes.seconds, "offered": votes.rate,
            "alone": {k: v for k, v in alone.items() if k != "window"},
            "during": {k: v for k, v in during.items() if k != "window"},
            "ratio": ratio, "broadcast_rate_meanwhile": meanwhile, "targets": targets}


async def _broadcast(services, campaign, sender_stats: SenderStats, n: int,
                     votes: VoteLoad | None = None) -> tuple[float, float]:
    t_start = time.monotonic()
    await services.announcements.announce_now(campaign, AnnouncementKind.VOTING_OPENS)
    if votes is not None:
        await asyncio.sleep(min(5.0, n / PER_SECOND / 4))  # into the broadcast's stride
        await votes.run("during the broadcast")

    async def progress() -> None:
        while True:
            await asyncio.sleep(10)
            elapsed = time.monotonic() - t_start
            sent = sender_stats.by_status.get("sent", 0)
            print(f"  {elapsed:6.1f} s: {sender_stats.calls}/{n} sends returned, "
                  f"{sent} sent ({sent / elapsed:.1f}/s), {dict(sender_stats.by_status)}",
                  file=sys.stderr, flush=True)

    ticker = asyncio.create_task(progress())
    try:
        await services.broadcaster.idle()
    finally:
        ticker.cancel()
    return t_start, time.monotonic()


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)
    return {"mean_ms": 1000 * statistics.fmean(v), "p50_ms": 1000 * v[len(v) // 2],
            "p99_ms": 1000 * v[int(len(v) * 0.99)], "max_ms": 1000 * v[-1]}


def print_table(r: dict[str, Any]) -> None:
    def yes(ok: bool) -> str:
        return "ok" if ok else "FAIL"

    def ms(summary: dict[str, float]) -> str:
        return ", ".join(f"{k.removesuffix('_ms')} {v:.0f}" for k, v in summary.items()) + " ms"

    t = r["targets"]
    stub = r["stub"] if isinstance(r["stub"], dict) else {}
    setup = f"{r['sender']} / {r['workers']} / {r['database']}"
    if r["latency_ms"]:
        setup += f" / stub latency {r['latency_ms']:g} ms"
    rows = [
        ("subscribers / blocked", f"{r['subscribers']} / {r['blocked']}"),
        ("sender / workers / database", setup),
        ("load average before / after", " / ".join(
            f"{x[0]:.1f}" for x in (r["load_average_before"], r["load_average_after"]))),
        ("duration", f"{r['duration_s']:.1f} s"),
        ("accepted by the stub", f"{r['accepted']}"),
        ("rate, accepted / duration", f"{r['rate_overall']:.2f} msg/s"),
        ("rate, middle 80% of the run", f"{r.get('rate_middle_80pct_time', 0):.2f} msg/s"),
    ]
    if r["pace_ceiling"] is not None:
        rows += [
            ("ceiling: pace / Telegram", f"{r['pace_ceiling']:.2f} / {r['telegram_ceiling']:.2f}"
                                         f" msg/s  [{yes(t['rate_ge_90pct_of_pace'])} >= "
                                         f"{TARGET_SHARE:.0%} of the pace's]"),
            ("per second (middle)", str(r.get("per_second_middle", {}))),
            ("most in any rolling second", f"turns {r['most_in_a_second']['turns']}, requests "
                                           f"leaving {r['most_in_a_second']['requests_leaving']}"
                                           f", attempted {stub.get('max_attempted_in_window')}, "
                                           f"accepted {stub.get('max_accepted_in_window')}"
                                           f" (limit {LIMIT})"),
            ("429s from the stub", f"{r['rejected_429']} (overall "
                                   f"{stub.get('rejected_429_global')}, per chat "
                                   f"{stub.get('rejected_429_chat')})  [{yes(t['no_429'])}]"),
        ]
    rows += [
        ("RETRY_AFTER reaching broadcaster", str(r["sender_results"].get("retry_after", 0))),
        ("lost", f"{r['lost']}  [{yes(t['zero_lost'])}]"),
        ("duplicates", f"{r['duplicates']}  [{yes(t['zero_duplicates'])}]"),
        ("blocked unsubscribed", f"{r['blocked_unsubscribed']} / {r['blocked']}  "
                                 f"[{yes(t['blocked_unsubscribed'])}]"),
        ("wrongly unsubscribed", str(r["wrongly_unsubscribed"])),
        ("deliveries by status", str(r["deliveries_by_status"])),
        ("db writes", f"{r['db_writes']['count']} ({r['db_writes']['per_delivery']:.2f}/delivery)"
                      f", hold mean {r['db_writes']['hold_ms_mean']:.2f} ms, "
                      f"p99 {r['db_writes']['hold_ms_p99']:.2f} ms, "
                      f"busy {100 * r['db_writes']['busy_fraction']:.0f}%"),
        ("statements per delivery", ", ".join(
            f"{k} {v:g}" for k, v in r["sql_per_delivery"].items() if v >= 0.05)),
        ("send() time", ms(r["send_seconds"])),
        ("  of it: to the turn", ms(r["send_to_turn_seconds"])),
        ("  the handover", ms(r["handover_seconds"])),
        ("  the request", ms(r["request_seconds"])),
        ("log lines", str(r["logs"])),
    ]
    if "votes" in r:
        v = r["votes"]
        alone, during = v["alone"], v["during"]
        rows += [
            ("votes alone", f"{alone['votes_per_s']:.0f}/s ({alone['votes']} in "
                            f"{alone['seconds']:.1f} s, " + (
                                f"{v['offered']:g}/s offered" if v.get("offered")
                                else f"{v['concurrency']} at a time") + f"), "
                            f"{ms(alone['latency'])}"),
            ("votes beside the broadcast", f"{during['votes_per_s']:.0f}/s ({during['votes']} in "
                                           f"{during['seconds']:.1f} s), {ms(during['latency'])}"),
            ("  ratio", f"{v['ratio']:.2f}  "
                        f"[{yes(t['votes_ge_80pct_beside_broadcast'])} >= 0.80]"),
            ("broadcast meanwhile", f"{v['broadcast_rate_meanwhile']:.2f} msg/s" + (
                f"  [{yes(t['broadcast_ge_90pct_of_pace_beside_votes'])} >= "
                f"{TARGET_SHARE:.0%} of the pace's]"
                if "broadcast_ge_90pct_of_pace_beside_votes" in t else "")),
        ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    print(f"{'all targets':<{width}}  {'met' if t['all'] else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--blocked", type=int, default=None,
                        help="how many subscribers blocked the bot (default 1%%)")
    parser.add_argument("--database", default=None, metavar="URL",
                        help="a PostgreSQL server (postgresql+asyncpg://.../postgres): the run "
                             "creates a throwaway database there (default: a temporary SQLite "
                             "file)")
    parser.add_argument("--workers", type=int, default=None,
                        help="Broadcaster.workers (default: the bot's own)")
    parser.add_argument("--sender", choices=("telegram", "null"), default="telegram",
                        help="null: no Telegram and no pace, the broadcaster's own ceiling")
    parser.add_argument("--stub", choices=("subprocess", "inprocess"), default="subprocess")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="the stub waits this long before each answer")
    parser.add_argument("--max-seconds", type=float, default=3600.0,
                        help="the stub stops by itself after this long")
    parser.add_argument("--votes", type=int, default=0, metavar="CONCURRENCY",
                        help="also cast votes (KakaoTalk citizens, through the voting service), "
                             "this many at a time: first alone, then beside the broadcast")
    parser.add_argument("--vote-rate", type=float, default=None,
                        help="offered votes a second (open loop), instead of as many as the "
                             "bot serves with --votes at a time")
    parser.add_argument("--vote-seconds", type=float, default=10.0,
                        help="how long each of the two vote runs lasts")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default: results/)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.blocked is None:
        args.blocked = args.subscribers // 100
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # the counters below lower some loggers' levels
        handler.setLevel(logging.INFO if args.verbose else logging.WARNING)
    report = asyncio.run(run(args))
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = args.out or RESULTS / f"broadcast-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    print_table(report)
    print(f"written to {out}")
    return 0 if report["targets"]["all"] else 1


if __name__ == "__main__":
    sys.exit(main())

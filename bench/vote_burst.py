"""Benchmark: the vote burst when voting opens, against two references measured in the same run.

    python -m bench.vote_burst                  # 10000 citizens, concurrency 64
    python -m bench.vote_burst --citizens 2000  # quicker

    python -m bench.vote_burst --database postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

Each citizen goes /start -> open a case -> "vote" -> "yes" (four updates) through the real
Application (`bot.app.build_application`) with the offline transport (no network): real Update
JSON, real handlers, real SQLite file in WAL mode with synchronous=FULL (or with --database,
throwaway databases created on that PostgreSQL server and dropped after). Updates go through
the bot's own update processor (`PerUserUpdateProcessor`), as in production.

References, on the same machine, in the same run:

* floor: a minimal PTB Application that answers every one of the same updates with one message
  and touches no database: what the framework itself costs;
* same-calls floor: a PTB Application that makes, for each update, exactly the Bot API calls
  our bot makes (recorded from one citizen's journey: /start's for a message, the confirm
  press's for a press; typically answerCallbackQuery + editMessageText), with no database. The
  targets are against this floor (issue 16): our flows answer a press with two calls;
* storage: plain single-row INSERT-and-commit into an SQLite file with the same settings
  (WAL, synchronous=FULL), one transaction per row (on PostgreSQL, the same through asyncpg on
  one connection): what the disk allows.

Measured: the whole journey (updates/s and citizens/s), the confirm step alone (all citizens
have sent /start first; then only the "yes" presses, timed), and the confirm step at a fixed
offered rate (default 200 votes/s, open loop: each press is due at its time whether or not the
bot kept up; latency = done - due), and, untimed, the SQL each of the four updates runs
(statements and transactions, by table, one citizen at a time). Targets (issue 7): journey
>= 50 % of the floor's rate; confirm step >= 50 % of the floor's rate; confirm p99 < 100 ms at
200 offered votes/s.

The rate limiter is off for both apps (`rate_limited=False`): it paces calls to Telegram, which
the offline transport does not have, and would make both sides equal and meaningless.
Prints a table, writes bench/results/vote_burst-<timestamp>.json, exits 0 if every target is
met, 1 if not.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy.engine import make_url
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, MessageHandler
from telegram.ext import filters as ptb_filters

from bench.support import (
    StatementCounter,
    count_transactions,
    per,
    scratch_database,
    write_result,
)
from bot.app import OFFLINE_TOKEN, build_application
from bot.campaign_file import parse_campaign
from bot.clock import SettableClock
from bot.domain import NO_VOTES
from bot.services import Services
from bot.settings import Settings
from handlers.telegram import callbacks as cb
from handlers.telegram.offline import OfflineRequest, OfflineTelegram, TelegramUser
from handlers.telegram.processor import PerUserUpdateProcessor
from storage.database import Database
from storage.migrate import upgrade

USER_BASE = 500_000_000
TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0

log = logging.getLogger("bench.vote_burst")


def _campaign_raw() -> dict:
    try:
        from tests.conftest import DURING_VOTING, small_campaign
    except ImportError:  # pytest not installed: tests/conftest imports it
        sys.exit("bench.vote_burst needs the dev dependencies (pip install -e '.[dev]')")
    return small_campaign(), DURING_VOTING


# -- the two applications ----------------------------------------------------------------------


class Bench:
    """One Application with its transport and a way to feed it updates as production does."""

    def __init__(self, application: Application, request: OfflineRequest,
                 driver: OfflineTelegram) -> None:
        self.application = application
        self.request = request
        self.driver = driver

    async def feed(self, data: dict[str, Any]) -> None:
        update = Update.de_json(data, self.application.bot)
        processor = self.application.update_processor
        await processor.process_update(update, self.application.process_update(update))
        # The offline transport records every call for tests; a bot in production keeps
        # nothing. Forget them as we go, or the harness's own heap slows the garbage collector.
        if len(self.request.calls) > 1000:
            self.request.calls.clear()


async def ours(url: str) -> tuple[Bench, Services, int]:
    raw, during_voting = _campaign_raw()
    db = Database(url)
    await upgrade(db)
    clock = SettableClock(during_voting)
    services = Services.create(db, clock)
    report = await services.campaigns.load(parse_campaign(raw))
    request = OfflineRequest(clock=clock)
    application = build_application(Settings(_env_file=None), services, request=request,
                                    rate_limited=False)
    return Bench(application, request, OfflineTelegram(application, request, clock)), services, \
        report.campaign_id


async def our_calls(url: str, offset: int) -> dict[str, list[str]]:
    """The Bot API methods our bot calls at each step of one citizen's journey (untimed)."""
    bench, services, campaign_id = await ours(url)
    calls: dict[str, list[str]] = {}
    async with bench.application:
        [user] = users(1, offset=offset)
        for name, data in zip(STEPS, journey(bench.driver, user, campaign_id, 1), strict=True):
            bench.request.calls.clear()
            await bench.feed(data)
            calls[name] = [c.method for c in bench.request.calls]
    await services.db.dispose()
    return calls


async def same_calls_floor(calls: dict[str, list[str]]) -> Bench:
    """The framework making our Bot API calls for each update (a message: /start's; a press:
    the confirm press's), with no database."""
    on_message, on_press = calls[STEPS[0]], calls[STEPS[-1]]

    async def answer(update: Update, context) -> None:
        query = update.callback_query
        for method in on_press if query is not None else on_message:
            if method == "answerCallbackQuery" and query is not None:
                await query.answer()
            elif method == "editMessageText" and query is not None:
                await query.edit_message_text("ok")
            elif method == "sendMessage":
                await update.effective_chat.send_message("ok")

    return _answering(answer)


def _answering(answer) -> Bench:
    """A bare Application whose only handler, for messages and presses alike, is `answer`."""
    request = OfflineRequest()
    application = (ApplicationBuilder().token(OFFLINE_TOKEN).request(request)
                   .get_updates_request(request)
                   .concurrent_updates(PerUserUpdateProcessor(256)).build())
    application.add_handler(MessageHandler(ptb_filters.ALL, answer))
    application.add_handler(CallbackQueryHandler(answer))
    return Bench(application, request, OfflineTelegram(application, request))


async def floor() -> Bench:
    """The framework alone: every update answered with one message, no database."""

    async def answer(update: Update, context) -> None:
        await update.effective_chat.send_message("ok")

    return _answering(answer)


# -- the updates -------------------------------------------------------------------------------


def journey(driver: OfflineTelegram, user: TelegramUser, campaign_id: int,
            case_id: int) -> list[dict[str, Any]]:
    state = cb.ListState()
    return [
        driver.message_update(user, "/start"),
        driver.callback_update(user, cb.encode(cb.ShowCase(campaign_id, case_id, state))),
        driver.callback_update(user, cb.encode(cb.AskVote(campaign_id, case_id, state))),
        driver.callback_update(user, cb.encode(cb.ConfirmVote(campaign_id, case_id, state,
                                                              NO_VOTES))),
    ]


def users(n: int, offset: int = 0) -> list[TelegramUser]:
    return [TelegramUser(USER_BASE + offset + i, f"시민{i}", "ko") for i in range(n)]


# -- drivers -----------------------------------------------------------------------------------


def _settle() -> None:
    """Before a timed run: what the harness built so far (update JSON for every citizen)
    stays out of the garbage collector's way, as a bot's steady heap would."""
    gc.collect()
    gc.freeze()


async def closed_loop(bench: Bench, scripts: list[list[dict[str, Any]]], concurrency: int,
                      timed_step: int | None = None) -> dict[str, Any]:
    """Each script (one citizen's updates, in order) runs as one worker's job, `concurrency`
    citizens at a time. Returns the rate and the latency of step `timed_step` (or of all)."""
    _settle()
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for script in scripts:
        queue.put_nowait(script)
    latencies: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            script = queue.get_nowait()
            for index, data in enumerate(script):
                started = time.perf_counter()
                await bench.feed(data)
                if timed_step is None or index == timed_step:
                    latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    updates = sum(len(s) for s in scripts)
    return {"updates": updates, "citizens": len(scripts), "seconds": seconds,
            "updates_per_s": updates / seconds, "citizens_per_s": len(scripts) / seconds,
            "latency_ms": _percentiles(latencies)}


async def open_loop(bench: Bench, updates: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    """Update i is due at start + i / rate, whatever happened to the others."""
    _settle()
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05

    async def one(index: int, data: dict[str, Any]) -> None:
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await bench.feed(data)
        latencies.append(loop.time() - due)

    began = time.perf_counter()
    await asyncio.gather(*(one(i, d) for i, d in enumerate(updates)))
    seconds = time.perf_counter() - began
    return {"updates": len(updates), "offered_per_s": rate, "seconds": seconds,
            "latency_ms": _percentiles(latencies)}


async def storage_limit(folder: Path, rows: int) -> dict[str, Any]:
    """Single-row INSERT and COMMIT, one transaction per row, with the bot's SQLite settings."""
    async with aiosqlite.connect(folder / "storage.db", isolation_level=None) as conn:
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
            await conn.execute(f"PRAGMA {pragma}")
        await conn.execute("CREATE TABLE rows (id INTEGER PRIMARY KEY, a INT, b INT, c TEXT)")
        started = time.perf_counter()
        for i in range(rows):
            await conn.execute("BEGIN IMMEDIATE")
            await conn.execute("INSERT INTO rows (a, b, c) VALUES (?, ?, ?)",
                               (i, i % 10, "ABCD-EFGH"))
            await conn.execute("COMMIT")
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


async def storage_limit_postgres(url: str, rows: int) -> dict[str, Any]:
    """The same on PostgreSQL: single-row INSERT and COMMIT through asyncpg, one connection."""
    import asyncpg

    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql")
                                 .render_as_string(hide_password=False))
    try:
        await conn.execute("CREATE TABLE storage_rows (id serial PRIMARY KEY, a int, b int, "
                           "c text)")
        started = time.perf_counter()
        for i in range(rows):
            async with conn.transaction():
                await conn.execute("INSERT INTO storage_rows (a, b, c) VALUES ($1, $2, $3)",
                                   i, i % 10, "ABCD-EFGH")
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds}


STEPS = ("/start", "open case", "vote", "yes")


async def statements_per_update(url: str, k: int, offset: int) -> dict[str, Any]:
    """The SQL each step of the journey runs, one citizen at a time (so every statement is
    the step's own): statements by verb and table, and transactions, per update."""
    bench, services, campaign_id = await ours(url)
    counter = StatementCounter(services.db)
    count_transactions(services.db, counter.counts)
    steps: list[collections.Counter[str]] = [collections.Counter() for _ in STEPS]
    async with bench.application:
        for i, user in enumerate(users(k, offset=offset)):
            for index, data in enumerate(journey(bench.driver, user, campaign_id, 1 + i % 10)):
                before = counter.snapshot()
                await bench.feed(data)
                steps[index].update(counter.since(before))
    await services.db.dispose()
    return {name: per(dict(c), k) for name, c in zip(STEPS, steps, strict=True)}


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(v * 1000 for v in values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1],
            "mean": statistics.fmean(ordered)}


# -- the run -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> dict[str, Any]:
    n, concurrency = args.citizens, args.concurrency
    result: dict[str, Any] = {"citizens": n, "concurrency": concurrency,
                              "offered_rate": args.rate, "python": sys.version.split()[0],
                              "database": "postgresql" if args.database else "sqlite",
                              "load_average_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="chamyeo-burst-") as tmp:
        folder = Path(tmp)

        def scratch(name: str):
            return scratch_database(args.database, folder, name)

        # 1. The whole journey, ours and the floor's, on the same update JSON.
        async with scratch("a") as url:
            bench, services, campaign_id = await ours(url)
            people = users(n)
            await _journey(result, bench, services, campaign_id, people, concurrency)
        base = await floor()
        async with base.application:
            scripts = [journey(base.driver, u, campaign_id, 1 + i % 10)
                       for i, u in enumerate(people)]
            result["floor_journey"] = await closed_loop(base, scripts, concurrency, timed_step=3)
        async with scratch("calls") as url:
            result["our_calls"] = await our_calls(url, offset=3 * n)
        same = await same_calls_floor(result["our_calls"])
        async with same.application:
            scripts = [journey(same.driver, u, campaign_id, 1 + i % 10)
                       for i, u in enumerate(people)]
            result["same_calls_journey"] = await closed_loop(same, scripts, concurrency,
                                                             timed_step=3)

        # 2. The confirm step alone: everyone has sent /start (untimed), then only "yes".
        async with scratch("b") as url:
            bench, services, campaign_id = await ours(url)
            async with bench.application:
                for chunk in _chunks(people, concurrency * 4):
                    await asyncio.gather(*(bench.feed(bench.driver.message_update(u, "/start"))
                                           for u in chunk))
                confirms = [[journey(bench.driver, u, campaign_id, 1 + i % 10)[3]]
                            for i, u in enumerate(people)]
                result["ours_confirm"] = await closed_loop(bench, confirms, concurrency)
            result["ours_confirm_votes_stored"] = await _votes(services)
            await services.db.dispose()
        base = await floor()
        async with base.application:
            confirms = [[journey(base.driver, u, campaign_id, 1 + i % 10)[3]]
                        for i, u in enumerate(people)]
            result["floor_confirm"] = await closed_loop(base, confirms, concurrency)
        same = await same_calls_floor(result["our_calls"])
        async with same.application:
            confirms = [[journey(same.driver, u, campaign_id, 1 + i % 10)[3]]
                        for i, u in enumerate(people)]
            result["same_calls_confirm"] = await closed_loop(same, confirms, concurrency)

        # 3. The confirm step at a fixed offered rate (open loop).
        m = min(n, int(args.rate * args.open_seconds))
        async with scratch("c") as url:
            bench, services, campaign_id = await ours(url)
            async with bench.application:
                offered = users(m, offset=n)
                for chunk in _chunks(offered, concurrency * 4):
                    await asyncio.gather(*(bench.feed(bench.driver.message_update(u, "/start"))
                                           for u in chunk))
                updates = [journey(bench.driver, u, campaign_id, 1 + i % 10)[3]
                           for i, u in enumerate(offered)]
                result["ours_open_loop"] = await open_loop(bench, updates, args.rate)
            await services.db.dispose()
        base = await floor()
        async with base.application:
            updates = [journey(base.driver, u, campaign_id, 1 + i % 10)[3]
                       for i, u in enumerate(offered)]
            result["floor_open_loop"] = await open_loop(base, updates, args.rate)

        # 4. What the disk allows.
        if args.database:
            async with scratch("storage") as url:
                result["storage"] = await storage_limit_postgres(url, args.storage_rows)
        else:
            result["storage"] = await storage_limit(folder, args.storage_rows)

        # 5. The SQL of each update, one citizen at a time (untimed).
        if args.statements:
            async with scratch("d") as url:
                result["statements_per_update"] = await statements_per_update(
                    url, args.statements, offset=2 * n)
    result["load_average_after"] = os.getloadavg()

    j, f = result["ours_journey"], result["floor_journey"]
    c, fc = result["ours_confirm"], result["floor_confirm"]
    sj, sc = result["same_calls_journey"], result["same_calls_confirm"]
    result["ratios"] = {
        "journey_vs_same_calls": j["updates_per_s"] / sj["updates_per_s"],
        "confirm_vs_same_calls": c["updates_per_s"] / sc["updates_per_s"],
        "same_calls_vs_floor": sc["updates_per_s"] / fc["updates_per_s"],
        "journey_vs_floor": j["updates_per_s"] / f["updates_per_s"],
        "confirm_vs_floor": c["updates_per_s"] / fc["updates_per_s"],
        "journey_votes_vs_storage": j["citizens_per_s"] / result["storage"]["rows_per_s"],
        "confirm_vs_storage": c["updates_per_s"] / result["storage"]["rows_per_s"],
    }
    p99 = result["ours_open_loop"]["latency_ms"]["p99"]
    result["targets"] = {
        "journey >= 50% of the same-calls floor": (
            result["ratios"]["journey_vs_same_calls"] >= TARGET_RATIO),
        "confirm >= 50% of the same-calls floor": (
            result["ratios"]["confirm_vs_same_calls"] >= TARGET_RATIO),
        f"confirm p99 < {TARGET_P99_MS:.0f} ms at {args.rate:.0f}/s": p99 < TARGET_P99_MS,
        "every citizen's vote stored": result["ours_votes_stored"] == n
        and result["ours_confirm_votes_stored"] == n,
    }
    return result


async def _journey(result: dict[str, Any], bench: Bench, services: Services, campaign_id: int,
                   people: list[TelegramUser], concurrency: int) -> None:
    async with bench.application:
        scripts = [journey(bench.driver, u, campaign_id, 1 + i % 10)
                   for i, u in enumerate(people)]
        result["ours_journey"] = await closed_loop(bench, scripts, concurrency, timed_step=3)
    result["ours_votes_stored"] = await _votes(services)
    await services.db.dispose()


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def _votes(services: Services) -> int:
    import sqlalchemy as sa

    from storage.tables import votes

    async with services.db.read() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(votes)) or 0


def print_table(r: dict[str, Any]) -> None:
    def row(name: str, x: dict[str, Any]) -> str:
        lat = x.get("latency_ms", {})
        rate = x.get("updates_per_s", x.get("offered_per_s", 0.0))
        return (f"  {name:<26} {rate:>9.0f}/s   p50 {lat.get('p50', 0):6.1f}  p95 "
                f"{lat.get('p95', 0):6.1f}  p99 {lat.get('p99', 0):6.1f} ms")

    print(f"vote burst: {r['citizens']} citizens, concurrency {r['concurrency']}, "
          f"{r['database']}, Python {r['python']}, load average "
          f"{r['load_average_before'][0]:.1f} before, {r['load_average_after'][0]:.1f} after")
    print(row("ours, whole journey", r["ours_journey"]) + "   (latency: confirm step)")
    print(row("floor, whole journey", r["floor_journey"]))
    print(row("ours, confirm alone", r["ours_confirm"]))
    print(row("floor, confirm alone", r["floor_confirm"]))
    print(row("same calls, journey", r["same_calls_journey"]))
    print(row("same calls, confirm alone", r["same_calls_confirm"]))
    print("  our Bot API calls: " + "; ".join(
        f"{step} {'+'.join(methods) or '-'}" for step, methods in r["our_calls"].items()))
    print(row(f"ours, {r['offered_rate']:.0f}/s offered", r["ours_open_loop"]))
    print(row(f"floor, {r['offered_rate']:.0f}/s offered", r["floor_open_loop"]))
    print(f"  storage: single-row INSERT+COMMIT  {r['storage']['rows_per_s']:>9.0f}/s")
    for step, counts in r.get("statements_per_update", {}).items():
        print(f"  SQL per update, {step:<9} " + ", ".join(
            f"{k} {v:g}" for k, v in counts.items() if k != "BEGIN"))
    for name, value in r["ratios"].items():
        print(f"  ratio {name:<28} {value:6.2f}")
    for name, met in r["targets"].items():
        print(f"  [{'x' if met else ' '}] {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vote_burst", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200.0, help="offered votes/s, open loop")
    parser.add_argument("--open-seconds", type=float, default=10.0,
                        help="how long the open-loop run offers votes")
    parser.add_argument("--storage-rows", type=int, default=20_000)
    parser.add_argument("--database", default=None, metavar="URL",
                        help="a PostgreSQL server (postgresql+asyncpg://.../postgres): each "
                             "part runs on a throwaway database created there (default: "
                             "temporary SQLite files)")
    parser.add_argument("--statements", type=int, default=50, metavar="K",
                        help="citizens whose updates' SQL is counted, one at a time (0: skip)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result = asyncio.run(run(args))
    print_table(result)
    return write_result("vote_burst", result)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: every web page on the sample campaign (campaigns/daejeon-2024.toml), served by the
real HTTP server (handlers/server.py) on 127.0.0.1, over a real SQLite file (or a PostgreSQL
database with --database).

    python -m bench.web_pages                       # 20,000 voters (about a minute)
    python -m bench.web_pages --voters 100000

The campaign is seeded as after its awards: one vote per voter (each with its receipt), every
case scored by a judge, results published. Then each page is fetched `--repeat` times one
after the other (after three warm-up fetches) by a signed-in admin who is also a judge (the
console) or by an anonymous visitor (the public pages), and reported as the median, the 95th
percentile and the size of the answer. The floor, in the same run and server: a handler that
answers a small fixed page with no database. Targets (the issue's): no page over 200 ms and
no page over 300 KB. Writes bench/results/web_pages-<time>.json; exits 0 only if both hold.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bench.support import scratch_database, write_result
from bot.clock import SettableClock
from bot.domain import Role
from bot.services import Services
from bot.services.receipts import RECEIPT_LENGTH
from bot.services.voting import RECEIPT_ALPHABET
from bot.settings import Settings
from handlers.server import build_http_app
from storage.database import Database
from storage.migrate import upgrade
from storage.repositories.vote_counts import VoteCountRepository
from storage.tables import cases, citizens, votes

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "campaigns" / "daejeon-2024.toml"
TARGET_MS = 200.0
TARGET_BYTES = 300 * 1024
SEOUL = ZoneInfo("Asia/Seoul")
JUDGE = "bench-admin"  # a web-only account, admin and judge


async def seed(services: Services, campaign_id: int, voters: int, when: datetime) -> list[int]:
    """`voters` citizens with one vote each (setup, not measured); the approved case ids."""
    db = services.db
    async with db.read() as conn:
        case_ids = list((await conn.execute(
            sa.select(cases.c.id).where(cases.c.campaign_id == campaign_id,
                                        cases.c.status == "approved"))).scalars())
    async with db.write() as conn:
        for first in range(0, voters, 20_000):
            await conn.execute(citizens.insert(), [
                {"channel": "kakao", "external_id": f"bench-{i}", "language": "ko",
                 "first_seen": when} for i in range(first, min(first + 20_000, voters))])
    async with db.read() as conn:
        citizen_ids = list((await conn.execute(
            sa.select(citizens.c.id).where(citizens.c.external_id.like("bench-%")))).scalars())
    rows = [{"campaign_id": campaign_id, "citizen_id": c, "case_id": case_ids[i % len(case_ids)
                                                                             if i % 3 else 0],
             "slot": 1, "cast_at": when + timedelta(seconds=i % 200_000),
             "receipt": receipt_code(i), "voter": f"a:{c}"} for i, c in enumerate(citizen_ids)]
    for first in range(0, len(rows), 50_000):
        async with db.write() as conn:
            await conn.execute(votes.insert(), rows[first:first + 50_000])
    async with db.write() as conn:  # the counts casting a vote keeps, for the bulk-loaded votes
        await VoteCountRepository(conn).recount(campaign_id)
    return case_ids


def receipt_code(n: int) -> str:
    """The n-th receipt in the receipts' own alphabet, so the checker accepts it."""
    digits = []
    for _ in range(RECEIPT_LENGTH):
        n, digit = divmod(n, len(RECEIPT_ALPHABET))
        digits.append(RECEIPT_ALPHABET[digit])
    return "".join(reversed(digits))


async def prepare(services: Services, clock: SettableClock, voters: int) -> dict[str, Any]:
    report = await services.campaigns.load_file(SAMPLE)
    campaign = await services.campaigns.get(report.campaign_id)
    assert campaign is not None
    clock.set(datetime(2024, 11, 29, 12, tzinfo=SEOUL))
    case_ids = await seed(services, campaign.id, voters, clock.now())
    await services.staff.grant("bench", "web", JUDGE, Role.ADMIN)
    await services.staff.grant("bench", "web", JUDGE, Role.JUDGE)
    judge = await services.citizens.identify("web", JUDGE, "ko")
    clock.set(datetime(2024, 12, 3, 12, tzinfo=SEOUL))  # review
    for i, case_id in enumerate(case_ids):
        await services.judging.score(campaign, judge, case_id, 0, 50 + i)
    clock.set(datetime(2024, 12, 9, 15, tzinfo=SEOUL))  # after the awards
    published = await services.results.publish(campaign, "bench")
    async with services.db.read() as conn:
        receipt = await conn.scalar(sa.select(votes.c.receipt).limit(1))
    return {"slug": campaign.slug, "case": case_ids[0], "receipt": receipt,
            "published": published.outcome.value}


def pages(ids: dict[str, Any]) -> dict[str, list[str]]:
    slug, case = ids["slug"], ids["case"]
    return {
        "public": ["/", f"/c/{slug}", f"/c/{slug}?district=daedeok", f"/c/{slug}?q=돌봄",
                   f"/c/{slug}/cases/{case}", f"/c/{slug}/results", f"/c/{slug}/receipts",
                   f"/c/{slug}/receipts?receipt={ids['receipt']}"],
        "console": ["/staff", "/staff/live", "/staff/moderation", "/staff/judging",
                    f"/staff/judging/{case}", "/staff/calendar", "/staff/results",
                    "/staff/broadcast", "/staff/exports", "/staff/audit", "/staff/roles"],
    }


async def fetch(http: aiohttp.ClientSession, url: str, repeat: int) -> dict[str, Any]:
    seconds, size, status = [], 0, 0
    for i in range(repeat + 3):
        started = time.perf_counter()
        async with http.get(url, allow_redirects=False) as response:
            body = await response.read()
            status = response.status
        if i >= 3:  # the first three warm caches up
            seconds.append(time.perf_counter() - started)
        size = len(body)
    seconds.sort()
    return {"status": status, "bytes": size, "median_ms": statistics.median(seconds) * 1000,
            "p95_ms": seconds[int(0.95 * (len(seconds) - 1))] * 1000}


async def floor(request: web.Request) -> web.Response:
    return web.Response(text="<!doctype html><title>floor</title><p>floor",
                        content_type="text/html")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"voters": args.voters, "repeat": args.repeat,
                              "python": sys.version.split()[0],
                              "backend": "postgresql" if args.database else "sqlite"}
    with tempfile.TemporaryDirectory(prefix="chamyeo-web-") as tmp:
        async with scratch_database(args.database, Path(tmp), "web") as url:
            db = Database(url)
            await upgrade(db)
            clock = SettableClock(datetime.now(UTC))
            services = Services.create(db, clock, public_url="http://127.0.0.1")
            started = time.perf_counter()
            ids = await prepare(services, clock, args.voters)
            result["seed_seconds"] = time.perf_counter() - started
            result["published"] = ids["published"]
            settings = Settings(_env_file=None, chamyeo_web=True)
            app = build_http_app(services, settings)
            app.router.add_get("/bench-floor", floor)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            base = f"http://{host}:{port}"
            measured: dict[str, Any] = {}
            try:
                # unsafe: the cookie of a server named by its IP address is kept too.
                async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                    measured["floor"] = await fetch(http, base + "/bench-floor", args.repeat)
                    for path in pages(ids)["public"]:
                        measured[path] = await fetch(http, base + path, args.repeat)
                    token = await services.web_access.issue_link("web", JUDGE, by="bench")
                    async with http.post(f"{base}/staff/signin/{token}",
                                         allow_redirects=False) as signed:
                        assert signed.status == 303, signed.status
                    for path in pages(ids)["console"]:
                        measured[path] = await fetch(http, base + path, args.repeat)
            finally:
                await runner.cleanup()
                await services.broadcaster.stop()
                await db.dispose()
    result["pages"] = measured
    floor_ms = measured["floor"]["median_ms"]
    for row in measured.values():
        row["floor_ratio"] = floor_ms / row["median_ms"] if row["median_ms"] else 0.0
    shown = {k: v for k, v in measured.items() if k != "floor"}
    result["targets"] = {
        f"every page p95 < {TARGET_MS:.0f} ms": all(v["p95_ms"] < TARGET_MS
                                                    for v in shown.values()),
        f"every page < {TARGET_BYTES // 1024} KB": all(v["bytes"] < TARGET_BYTES
                                                       for v in shown.values()),
        # The root sends a visitor on to the current campaign.
        "every page answered 200 (the root 302)": all(
            v["status"] == (302 if path == "/" else 200) for path, v in shown.items()),
    }
    return result


def print_table(r: dict[str, Any]) -> None:
    print(f"web pages: sample campaign, {r['voters']:,} voters ({r['backend']}, seeded in "
          f"{r['seed_seconds']:.0f} s, results {r['published']}), {r['repeat']} fetches each")
    print(f"  {'page':<44} {'status':>6} {'median':>9} {'p95':>9} {'KB':>7} {'floor/page':>10}")
    for path, x in r["pages"].items():
        print(f"  {path[:44]:<44} {x['status']:>6} {x['median_ms']:7.1f}ms {x['p95_ms']:7.1f}ms"
              f" {x['bytes'] / 1024:7.1f} {x['floor_ratio']:10.3f}")
    for name, met in r["targets"].items():
        print(f"  [{'x' if met else ' '}] {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_pages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voters", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database", default=None, metavar="URL",
                        help="a PostgreSQL server's maintenance database URL (default: SQLite)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print_table(result)
    return write_result("web_pages", result)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: KakaoTalk at the opening minute. N citizens (default 200) have each opened a case
and pressed "투표하기" on KakaoTalk; then all N press "네, 투표합니다" at the same moment. Every
request is real skill-request JSON (Kakao's documented format) posted over HTTP to the real
server (handlers/server.py: the secret header, the time budget, the skill, the services) on
127.0.0.1, over a real SQLite file (WAL, synchronous=FULL) or a PostgreSQL database
(--database).

    python -m bench.kakao_burst                    # 200 citizens, 3 rounds
    python -m bench.kakao_burst --citizens 400 --rounds 1

Each round has its own citizens. Reported per round: how many confirms were answered
"recorded", "busy, tap again" (kakao.busy) or otherwise; the answer times (p50, p95, p99,
worst); and, read back from the database afterwards, whether every citizen told "recorded"
holds exactly one vote (and how many told "busy" have one anyway: their vote finished after
the answer ran out). The floor, in the same run and server: the same N requests at once to a
route that parses the JSON and answers a fixed skill response, with no database.

Targets (issue 16): no busy answer, p99 under 2.5 s, every "recorded" vote stored once.
Writes bench/results/kakao_burst-<time>.json; exits 0 only if every target holds.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp import web

from bench.support import scratch_database, write_result
from bot.campaign_file import parse_campaign
from bot.clock import SettableClock
from bot.i18n import plain
from bot.services import Services
from bot.settings import Settings
from handlers.kakao.admission import VOTE_LANE, Admission
from handlers.kakao.server import ADMISSION, SECRET_HEADER, SKILL_PATH
from handlers.server import build_http_app
from storage.database import Database
from storage.migrate import upgrade
from storage.tables import citizens, votes

TARGET_P99_S = 2.5
BOT_ID = "5f1a2b3c4d5e6f7a8b9c0d1e"
BLOCK_ID = "65a1b2c3d4e5f60718293a4b"
SECRET = "bench-skill-secret"
FLOOR_PATH = "/bench-floor"
REQUEST: dict[str, Any] = {
    "userRequest": {"timezone": "Asia/Seoul", "params": {}, "utterance": "시작", "lang": "ko",
                    "block": {"id": BLOCK_ID, "name": "참여 동작"},
                    "user": {"id": "", "type": "botUserKey",
                             "properties": {"plusfriendUserKey": "", "isFriend": True}}},
    "contexts": [], "bot": {"id": BOT_ID, "name": "참여봇"},
    "action": {"name": "chamyeo", "clientExtra": None, "params": {}, "id": "skill",
               "detailParams": {}},
}


def skill_request(user: str, utterance: str, extra: dict | None = None) -> dict:
    body = copy.deepcopy(REQUEST)
    body["userRequest"]["utterance"] = utterance
    body["userRequest"]["user"]["id"] = user
    body["userRequest"]["user"]["properties"]["plusfriendUserKey"] = f"pf-{user}"
    body["action"]["clientExtra"] = extra
    return body


def buttons(answer: dict) -> list[dict]:
    found = list(answer["template"].get("quickReplies", []))
    for output in answer["template"]["outputs"]:
        for kind, component in output.items():
            for item in component["items"] if kind == "carousel" else [component]:
                found += item.get("buttons", [])
    return found


def button(answer: dict, label: str) -> dict:
    for candidate in buttons(answer):
        if label in candidate["label"]:
            return candidate
    raise LookupError(f"no {label!r} in {[b['label'] for b in buttons(answer)]}")


def texts(answer: dict) -> str:
    return json.dumps(answer["template"]["outputs"], ensure_ascii=False)


class Skill:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base

    async def ask(self, body: dict, path: str = SKILL_PATH) -> tuple[float, dict]:
        started = time.perf_counter()
        async with self.http.post(self.base + path, json=body,
                                  headers={SECRET_HEADER: SECRET}) as response:
            answer = await response.json()
        return time.perf_counter() - started, answer

    async def press(self, user: str, target: dict) -> dict:
        return (await self.ask(skill_request(user, target["messageText"], target.get("extra"))))[1]

    async def ready_to_confirm(self, user: str) -> dict:
        """Welcome, the case list, a case, "투표하기": the "네, 투표합니다" button to press."""
        _, answer = await self.ask(skill_request(user, "시작"))
        answer = await self.press(user, button(answer, "사례 보기"))
        answer = await self.press(user, button(answer, "자세히"))
        answer = await self.press(user, button(answer, "투표하기"))
        return button(answer, "네, 투표합니다")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def timing(seconds: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(seconds) * 1000,
            "p95_ms": percentile(seconds, 0.95) * 1000,
            "p99_ms": percentile(seconds, 0.99) * 1000, "worst_ms": max(seconds) * 1000}


async def votes_by_user(db: Database, users: list[str]) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(citizens.c.external_id, sa.func.count(votes.c.id))
            .join(votes, votes.c.citizen_id == citizens.c.id)
            .where(citizens.c.channel == "kakao", citizens.c.external_id.in_(users))
            .group_by(citizens.c.external_id))
        return {user: n for user, n in rows}


async def one_round(skill: Skill, db: Database, n: int, round_no: int,
                    busy_text: str, recorded_text: str) -> dict[str, Any]:
    users = [f"bench-{round_no}-{i:05d}" for i in range(n)]
    confirms: list[dict] = []
    for first in range(0, n, 25):  # made ready a few at a time (not measured)
        confirms += await asyncio.gather(*(skill.ready_to_confirm(u)
                                           for u in users[first:first + 25]))
    answers = await asyncio.gather(*(
        skill.ask(skill_request(u, c["messageText"], c.get("extra")))
        for u, c in zip(users, confirms, strict=True)))
    await asyncio.sleep(1.0)  # a vote that outlived its answer's budget finishes meanwhile
    held = await votes_by_user(db, users)
    recorded = [u for u, (_, a) in zip(users, answers, strict=True) if recorded_text in texts(a)]
    busy = [u for u, (_, a) in zip(users, answers, strict=True) if busy_text in texts(a)]
    return {
        "confirms": n, "recorded": len(recorded), "busy": len(busy),
        "other": n - len(recorded) - len(busy),
        **timing([s for s, _ in answers]),
        "recorded_stored_once": all(held.get(u) == 1 for u in recorded),
        "busy_with_a_vote": sum(1 for u in busy if held.get(u)),
        "without_a_vote": sum(1 for u in users if not held.get(u)),
        "votes_per_s": len(recorded) / max(s for s, _ in answers),
    }


async def floor_round(skill: Skill, n: int) -> dict[str, Any]:
    answers = await asyncio.gather(*(skill.ask(skill_request(f"floor-{i}", "네, 투표합니다"),
                                               FLOOR_PATH) for i in range(n)))
    return timing([s for s, _ in answers])


def floor_route(answer: dict):
    async def handle(request: web.Request) -> web.Response:
        json.loads(await request.read())
        return web.json_response(answer)
    return handle


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.conftest import DURING_VOTING, small_campaign

    result: dict[str, Any] = {"citizens": args.citizens, "rounds": args.rounds,
                              "vote_lane": args.vote_lane or VOTE_LANE,
                              "python": sys.version.split()[0],
                              "backend": "postgresql" if args.database else "sqlite"}
    with tempfile.TemporaryDirectory(prefix="chamyeo-kakao-") as tmp:
        async with scratch_database(args.database, Path(tmp), "kakao") as url:
            db = Database(url)
            await upgrade(db)
            services = Services.create(db, SettableClock(DURING_VOTING))
            await services.campaigns.load(parse_campaign(small_campaign()))
            settings = Settings(_env_file=None, chamyeo_kakao_bot_id=BOT_ID,
                                chamyeo_kakao_skill_secret=SECRET,
                                chamyeo_kakao_block_id=BLOCK_ID)
            app = build_http_app(services, settings, web_pages=False)
            if args.vote_lane:  # to compare admission control's lane sizes
                app[ADMISSION] = Admission(vote_lane=args.vote_lane)
            busy_text = plain("ko", "kakao.busy").splitlines()[0]
            recorded_text = "투표가 기록되었습니다"
            app.router.add_post(FLOOR_PATH, floor_route(
                {"version": "2.0", "template": {"outputs": [{"simpleText": {
                    "text": f"{recorded_text} 영수증 ABCD1234"}}]}}))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            rounds, floors = [], []
            try:
                connector = aiohttp.TCPConnector(limit=0)
                async with aiohttp.ClientSession(connector=connector) as http:
                    skill = Skill(http, f"http://{host}:{port}")
                    for round_no in range(args.rounds):
                        floors.append(await floor_round(skill, args.citizens))
                        rounds.append(await one_round(skill, db, args.citizens, round_no,
                                                      busy_text, recorded_text))
            finally:
                await runner.cleanup()
                await services.broadcaster.stop()
                await db.dispose()
    result["rounds_measured"] = rounds
    result["floor"] = floors
    result["targets"] = {
        "no busy answer": all(r["busy"] == 0 for r in rounds),
        f"p99 < {TARGET_P99_S} s": all(r["p99_ms"] < TARGET_P99_S * 1000 for r in rounds),
        'every "recorded" vote stored once': all(r["recorded_stored_once"] for r in rounds),
    }
    return result


def print_table(r: dict[str, Any]) -> None:
    print(f"KakaoTalk burst: {r['citizens']} citizens confirm at once, {r['rounds']} rounds "
          f"({r['backend']})")
    print(f"  {'round':<6} {'recorded':>8} {'busy':>5} {'other':>5} {'p50':>8} {'p95':>8} "
          f"{'p99':>8} {'worst':>8} {'votes/s':>8} {'no vote':>7}  floor p99")
    for i, (x, f) in enumerate(zip(r["rounds_measured"], r["floor"], strict=True)):
        print(f"  {i + 1:<6} {x['recorded']:>8} {x['busy']:>5} {x['other']:>5} "
              f"{x['p50_ms']:6.0f}ms {x['p95_ms']:6.0f}ms {x['p99_ms']:6.0f}ms "
              f"{x['worst_ms']:6.0f}ms {x['votes_per_s']:8.0f} {x['without_a_vote']:>7}  "
              f"{f['p99_ms']:.0f}ms")
    for name, met in r["targets"].items():
        print(f"  [{'x' if met else ' '}] {name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kakao_burst", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--citizens", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vote-lane", type=int, default=0, metavar="N",
                        help="confirms worked on at once (default: the server's VOTE_LANE)")
    parser.add_argument("--database", default=None, metavar="URL",
                        help="a PostgreSQL server's maintenance database URL (default: SQLite)")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args))
    print_table(result)
    return write_result("kakao_burst", result)


if __name__ == "__main__":
    sys.exit(main())

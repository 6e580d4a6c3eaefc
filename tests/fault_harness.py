"""The machinery of the fault tests (tests/test_faults.py): the Bot API stub
(bench/telegram_stub.py) and the real bot (`python -m bot run`) as subprocesses, the database
(the test run's backend: a SQLite file, or a PostgreSQL database) prepared before the bot
starts, and read with the backend's own driver (tests.databases.query) while and after it runs.

Nothing here waits on a fixed sleep: `poll` checks a condition every `interval` (<= 0.2 s)
until it holds or a deadline passes. Every subprocess started here is ended by its own
handle (`stop`, `kill`), and the tests do so in a `finally`/fixture teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.clock import SystemClock
from bot.services import Services
from handlers.telegram.common import CHANNEL
from storage.database import Database
from storage.migrate import upgrade
from storage.tables import cases, citizens, subscriptions
from tests.conftest import small_campaign

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123:abc"
RECEIPT = re.compile(r"<code>([A-Z2-9]{4}-[A-Z2-9]{4})</code>")
STUB_BOT = {"id": 7000000123, "is_bot": True, "first_name": "참여봇",
            "username": "chamyeo_bench_bot"}

T = TypeVar("T")


def poll(check: Callable[[], T], timeout: float, what: str, interval: float = 0.1,
         on_timeout: Callable[[], str] | None = None) -> T:
    """`check()` until it returns something truthy (returned), or fail after `timeout` s."""
    assert interval <= 0.2
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail}")
        time.sleep(interval)


# -- the Bot API stub ---------------------------------------------------------------------


class Stub:
    """bench/telegram_stub.py in a subprocess, and its HTTP endpoints."""

    def __init__(self, workdir: Path, max_seconds: float = 300, latency_ms: float = 0) -> None:
        """`latency_ms`: a round trip to Telegram, half on the way there (before the stub
        handles a request), half on the way back."""
        self.log_path = workdir / "stub.log"
        self.args = ["--max-seconds", str(max_seconds), "--max-poll-seconds", "0.5",
                     "--latency-in-ms", str(latency_ms / 2), "--latency-ms", str(latency_ms / 2)]
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def start(self, timeout: float = 30) -> Stub:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bench.telegram_stub", *self.args],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, cwd=ROOT,
            )
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else b""
        if not line.startswith(b"PORT "):
            self.stop()
            raise RuntimeError(f"the stub did not start: {line!r}\n{self.log()}")
        self.port = int(line.split()[1])
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    def _call(self, verb: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=data, method=verb,
            headers={"Content-Type": "application/json"} if data is not None else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/_stub/stats")

    def sent(self) -> dict[int, list[dict[str, Any]]]:
        """chat id -> what the bot sent or edited there, in order."""
        chats = self._call("GET", "/_stub/sent")["chats"]
        return {int(chat): items for chat, items in chats.items()}

    def enqueue(self, updates: list[dict[str, Any]]) -> list[int]:
        return self._call("POST", "/_stub/updates", updates)["update_ids"]

    def get_updates_calls(self) -> int:
        return self.stats()["requests"].get("getupdates", 0)

    def log(self) -> str:
        return _tail(self.log_path)

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            self._call("POST", "/_stub/shutdown")
        if proc.stdin is not None:
            proc.stdin.close()  # the stub stops when its stdin closes
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its handle
            proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


# -- the bot ------------------------------------------------------------------------------


def bot_environment(stub: Stub, database_url: str) -> dict[str, str]:
    """The process environment without any CHAMYEO_* or TELEGRAM_* variable, plus ours."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAMYEO_", "TELEGRAM_"))}
    env.update({
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": stub.base_url,
        "CHAMYEO_DATABASE_URL": database_url,
        "PYTHONUNBUFFERED": "1",
    })
    return env


class BotProcess:
    """`python -m bot run` (`chamyeo run`), with its working directory in the test's tmp
    directory (no .env is read) and its output in a log file there."""

    def __init__(self, workdir: Path, env: dict[str, str], stub: Stub) -> None:
        self.workdir = workdir
        self.env = env
        self.stub = stub
        self.runs = 0
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self, timeout: float = 40) -> float:
        """Start the bot and wait until it polls the stub. Returns the start-up seconds."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        self.log_path = self.workdir / f"bot-{self.runs}.log"
        polled = self.stub.get_updates_calls()
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=self.workdir, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

        def polling() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{self.log()}")
            return self.stub.get_updates_calls() > polled

        poll(polling, timeout, "the bot to poll the stub", on_timeout=self.log)
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut of the process."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM (PTB stops polling, finishes, shuts down), SIGKILL if it takes too long."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def log(self) -> str:
        return _tail(self.log_path) if self.log_path else ""


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


# -- the database -------------------------------------------------------------------------


def campaign_around(now: datetime, voting_starts_in: timedelta) -> dict:
    """tests.conftest.small_campaign with its phases moved around `now` (aware, whole
    seconds): submission long closed, voting opening `voting_starts_in` from now (negative:
    already open) for two days, review and awards after. Reminders fall in the future."""
    now = now.astimezone(UTC).replace(microsecond=0)
    voting = now + voting_starts_in
    return small_campaign(phases={
        "submission": {"start": now - timedelta(days=10), "end": now - timedelta(days=3)},
        "voting": {"start": voting, "end": voting + timedelta(days=2)},
        "review": {"start": voting + timedelta(days=2, hours=1),
                   "end": voting + timedelta(days=4)},
        "awards": {"at": voting + timedelta(days=5)},
    })


@dataclass(frozen=True)
class Prepared:
    campaign_id: int
    case_ids: list[int]
    subscriber_chats: list[int]


def prepare_database(database_url: str, raw_campaign: dict,
                     subscriber_chats: list[int] = ()) -> Prepared:
    """Migrate the database, load the campaign, and give each chat a citizen with an active
    subscription (bulk INSERTs, as bench/broadcast.py seeds them). Done before the bot runs."""

    async def go() -> Prepared:
        db = Database(database_url)
        try:
            await upgrade(db)
            services = Services.create(db, SystemClock())
            report = await services.campaigns.load(parse_campaign(raw_campaign), actor="test")
            now = datetime.now(UTC)
            async with db.write() as conn:
                case_ids = list((await conn.execute(
                    sa.select(cases.c.id).where(cases.c.campaign_id == report.campaign_id)
                    .order_by(cases.c.id))).scalars())
                if subscriber_chats:
                    await conn.execute(citizens.insert(), [
                        {"channel": CHANNEL, "external_id": str(chat), "language": "ko",
                         "first_seen": now} for chat in subscriber_chats])
                    ids = (await conn.execute(sa.select(citizens.c.id).where(
                        citizens.c.external_id.in_([str(c) for c in subscriber_chats])
                    ))).scalars().all()
                    await conn.execute(subscriptions.insert(), [
                        {"campaign_id": report.campaign_id, "citizen_id": cid, "active": True,
                         "updated_at": now} for cid in ids])
            return Prepared(report.campaign_id, case_ids, list(subscriber_chats))
        finally:
            await db.dispose()

    return asyncio.run(go())


# -- Telegram updates ---------------------------------------------------------------------


def callback_update(user_id: int, data: str, press: int = 0) -> dict[str, Any]:
    """A button press in a private chat, on a bot message (no update_id: the stub numbers
    it). `press` tells repeated presses of one user apart (their query ids differ)."""
    user = {"id": user_id, "is_bot": False, "first_name": f"시민 {user_id}",
            "language_code": "ko"}
    return {"callback_query": {
        "id": f"{user_id}-{press}",
        "from": user,
        "chat_instance": str(user_id),
        "message": {"message_id": 1, "date": int(time.time()) - 60,
                    "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
                    "from": STUB_BOT, "text": "…"},
        "data": data,
    }}


def receipts_by_chat(sent: dict[int, list[dict[str, Any]]],
                     chats: set[int]) -> dict[int, list[str]]:
    """The vote receipts (`<code>XXXX-XXXX</code>`) each of these chats was shown, in order."""
    found: dict[int, list[str]] = {}
    for chat in chats:
        codes = [m.group(1) for item in sent.get(chat, ()) for m in RECEIPT.finditer(item["text"])]
        if codes:
            found[chat] = codes
    return found

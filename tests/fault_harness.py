"""The machinery of the fault tests (tests/test_faults.py, test_workers.py, test_flood.py): the
Bot API stub (bench/telegram_stub.py) and the real bot (`python -m bot run`, polling, or
`python -m bot run --webhook`, a worker) as subprocesses, the database (a SQLite file or a
PostgreSQL database, by URL) prepared before the bot starts and read from outside while and
after it runs, and the bot's log read for errors.

Nothing here waits on a fixed sleep: `poll` checks a condition every `interval` (<= 0.2 s)
until it holds or a deadline passes. Every subprocess started here is ended by its own
handle (`stop`, `kill`), and the tests do so in a `finally`/fixture teardown.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
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
from tests.databases import query as query_url

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

    def __init__(self, workdir: Path, max_seconds: float = 300, latency_ms: float = 0,
                 limit: int = 30, per_chat_interval: float = 1.0,
                 limit_edits: bool = False) -> None:
        """`latency_ms`: a round trip to Telegram, half on the way there (before the stub
        handles a request), half on the way back. `limit` messages per rolling second overall,
        one per chat every `per_chat_interval` s (Telegram's); `limit_edits`: editMessageText
        counts toward both too."""
        self.log_path = workdir / "stub.log"
        self.args = ["--max-seconds", str(max_seconds), "--max-poll-seconds", "0.5",
                     "--latency-in-ms", str(latency_ms / 2), "--latency-ms", str(latency_ms / 2),
                     "--limit", str(limit), "--per-chat-interval", str(per_chat_interval)]
        if limit_edits:
            self.args.append("--limit-edits")
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

    def sent(self, after: int = 0,
             chats: list[int] | None = None) -> dict[int, list[dict[str, Any]]]:
        """chat id -> what the bot sent or edited there, in order (`after`: only the records
        with a higher sequence number, `seq`; `chats`: only these chats)."""
        path = f"/_stub/sent?after={after}"
        if chats is not None:
            path += "&chat=" + ",".join(str(c) for c in chats)
        found = self._call("GET", path)["chats"]
        return {int(chat): items for chat, items in found.items()}

    def stall(self, seconds: float) -> None:
        """A network hiccup: Bot API requests arriving in the next `seconds` are held."""
        self._call("POST", "/_stub/stall", {"seconds": seconds})

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


def database_url(database: Path | str) -> str:
    """A SQLite file's path, or a database URL as it is."""
    return f"sqlite+aiosqlite:///{database}" if isinstance(database, Path) else database


def bot_environment(stub: Stub, database: Path | str) -> dict[str, str]:
    """The process environment without any CHAMYEO_* or TELEGRAM_* variable, plus ours.
    `database`: a SQLite file, or a URL (PostgreSQL)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CHAMYEO_", "TELEGRAM_"))}
    env.update({
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": stub.base_url,
        "CHAMYEO_DATABASE_URL": database_url(database),
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

    def log_text(self) -> str:
        """The whole log of the current (or last) run."""
        return self.log_path.read_text(errors="replace") if self.log_path else ""


# -- webhook workers ----------------------------------------------------------------------

WEBHOOK_URL = "https://bot.example.org/tg/hook"
WEBHOOK_PATH = "/tg/hook"  # the URL's path: what the worker's server answers on
WEBHOOK_SECRET = "worker-Secret_for-tests"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _accepts(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class WorkerProcess(BotProcess):
    """`python -m bot run --webhook` (`chamyeo run --webhook`): one worker, serving Telegram's
    webhook on 127.0.0.1:`port` (plain HTTP, as behind a TLS-terminating proxy), named
    `name` in its log file (`<name>.log` in the test's tmp directory)."""

    def __init__(self, workdir: Path, env: dict[str, str], stub: Stub, name: str) -> None:
        workdir = workdir / name
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = dict(env, TELEGRAM_WEBHOOK_URL=WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
                   TELEGRAM_WEBHOOK_LISTEN="127.0.0.1", TELEGRAM_WEBHOOK_PORT=str(self.port))
        super().__init__(workdir, env, stub)
        self.name = name

    def launch(self) -> None:
        """Start the process, without waiting for it (several start together)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.runs += 1
        self.log_path = self.workdir / f"{self.name}-{self.runs}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run", "--webhook"], cwd=self.workdir,
                env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

    def serving(self) -> bool:
        """Its webhook server accepts connections (updates posted now are queued until the
        Application has started, then handled). Fails if the process has exited, unless
        another process took its port meanwhile: then it starts again on another."""
        # (Today's bot does not exit when its port is taken: it logs the OSError and hangs.)
        if "address already in use" in self.log_text().lower() and self.runs < 3:
            self.kill()
            self.port = free_port()
            self.env = dict(self.env, TELEGRAM_WEBHOOK_PORT=str(self.port))
            self.launch()
            return False
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n"
                                 f"{self.log()}")
        return _accepts(self.port)

    def start(self, timeout: float = 40) -> float:
        started = time.monotonic()
        self.launch()
        poll(self.serving, timeout, f"{self.name} to serve its webhook", on_timeout=self.log)
        return time.monotonic() - started

    def post_update(self, update: dict[str, Any], secret: str | None = WEBHOOK_SECRET) -> int:
        """POST an Update to the worker as Telegram would: the HTTP status it answers."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}", data=json.dumps(update).encode(),
            method="POST", headers={"Content-Type": "application/json",
                                    **({SECRET_HEADER: secret} if secret else {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def lines_matching(self, pattern: re.Pattern[str]) -> list[str]:
        return [line for line in self.log_text().splitlines() if pattern.search(line)]


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


def prepare_database(database: Path | str, raw_campaign: dict,
                     subscriber_chats: list[int] = ()) -> Prepared:
    """Migrate the database (a SQLite file, or a URL), load the campaign, and give each chat a
    citizen with an active subscription (bulk INSERTs, as bench/broadcast.py seeds them). Done
    before the bot runs."""

    async def go() -> Prepared:
        db = Database(database_url(database))
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


def query(database: Path | str, sql: str, *params: Any) -> list[tuple]:
    """Read the bot's database from outside: a SQLite file with plain sqlite3 (WAL: readers do
    not block the bot), a URL with its backend's driver (tests.databases.query). `sql` uses
    `?` placeholders."""
    if not isinstance(database, Path):
        return query_url(database, sql, *params)
    conn = sqlite3.connect(database, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# -- the bot's log ------------------------------------------------------------------------

_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ")
FLOOD_WORDS = re.compile(r"RetryAfter|\b429\b|Rate limit|Too Many Requests|Flood control",
                         re.IGNORECASE)


def log_records(text: str) -> list[tuple[str, str]]:
    """The log (bot.cli's format: "<asctime> <LEVEL> <logger>: <message>") as (level, record)
    pairs; a traceback or other continuation line belongs to the record before it. Lines
    before the first record (or printed outside logging) are a record of level ""."""
    records: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        match = _RECORD_START.match(line)
        if match or not records:
            records.append((match.group(1) if match else "", [line]))
        else:
            records[-1][1].append(line)
    return [(level, "\n".join(lines)) for level, lines in records]


def log_problems(text: str) -> list[str]:
    """What a bot's log must not hold: ERROR or CRITICAL records, and tracebacks (at any
    level, or outside logging) that mention flood control (RetryAfter, 429, "Rate limit")."""
    records = log_records(text)
    if text.strip() and not any(level for level, _ in records):
        # Fail closed: a changed log format must not hide the errors from this check.
        return ["no line of the log is in bot.cli's format ('<asctime> <LEVEL> <logger>: "
                "<message>'): update tests/fault_harness.py's _RECORD_START"]
    return [record for level, record in records
            if level in ("ERROR", "CRITICAL")
            or ("Traceback" in record and FLOOD_WORDS.search(record))]


# -- Telegram updates ---------------------------------------------------------------------


def _user(user_id: int, language: str = "ko") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"시민 {user_id}",
            "language_code": language}


def callback_update(user_id: int, data: str, press: int = 0, message_id: int = 1,
                    text: str = "…") -> dict[str, Any]:
    """A button press in a private chat, on a bot message (`message_id`, `text`; no
    update_id: the stub numbers it). `press` tells repeated presses of one user apart (their
    query ids differ)."""
    user = _user(user_id)
    return {"callback_query": {
        "id": f"{user_id}-{press}",
        "from": user,
        "chat_instance": str(user_id),
        "message": {"message_id": message_id, "date": int(time.time()) - 1,
                    "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
                    "from": STUB_BOT, "text": text},
        "data": data,
    }}


_incoming_ids = itertools.count(1)


def message_update(user_id: int, text: str, update_id: int | None = None,
                   language: str = "ko") -> dict[str, Any]:
    """A citizen's text message in their private chat with the bot, as Telegram sends it (a
    command gets its bot_command entity). Without `update_id` the stub numbers it (polling);
    a webhook needs one."""
    user = _user(user_id, language)
    message: dict[str, Any] = {
        "message_id": next(_incoming_ids), "date": int(time.time()),
        "chat": {"id": user_id, "type": "private", "first_name": user["first_name"]},
        "from": user, "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
    update: dict[str, Any] = {"message": message}
    if update_id is not None:
        update["update_id"] = update_id
    return update


def receipts_by_chat(sent: dict[int, list[dict[str, Any]]],
                     chats: set[int]) -> dict[int, list[str]]:
    """The vote receipts (`<code>XXXX-XXXX</code>`) each of these chats was shown, in order."""
    found: dict[int, list[str]] = {}
    for chat in chats:
        codes = [m.group(1) for item in sent.get(chat, ()) for m in RECEIPT.finditer(item["text"])]
        if codes:
            found[chat] = codes
    return found

"""`chamyeo run` for a city with only a KakaoTalk channel: no TELEGRAM_BOT_TOKEN, the skill
server and the scheduler (bot/runtime.py). A real `python -m bot run` answers a skill request
and sends an announcement through a local Event API stub, and stops on SIGTERM; `run` with no
channel at all is one line and exit status 2; in process, with the test's clock, a reminder
reaches the stub and Telegram subscribers left in the database are recorded as failed, never
sent. On the test run's backend (SQLite, or PostgreSQL with CHAMYEO_TEST_DATABASE_URL)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from bot.app import create_services
from bot.clock import SettableClock
from bot.domain import AnnouncementKind
from bot.phrases import announcement_text
from bot.runtime import WithoutTelegram
from bot.services import Services
from bot.settings import Settings
from bot.text import plain_text
from handlers.kakao.server import HEALTH_PATH, SECRET_HEADER, SKILL_PATH
from storage.coordination import AdvisoryLeadership, claim_sqlite
from storage.database import Database
from storage.tables import broadcasts, deliveries
from tests.conftest import DAEJEON_FILE, ROOT, VOTING_CLOSES
from tests.fault_harness import BotProcess, _accepts, free_port, poll
from tests.test_cli_settings import Cli, assert_one_clear_line
from tests.test_kakao_events import EventApiStub, event_api_server
from tests.test_kakao_skill import BLOCK_ID, BOT_ID, SECRET, quick_reply, skill_request

REST_API_KEY = "rest-key-0123456789"
EVENT = "chamyeo_announce"
USER = "kakao-user-7f3a"


def kakao_settings(database_url: str, port: int, event_api_url: str) -> dict[str, str]:
    """Only KakaoTalk: what a city without a Telegram bot puts in its .env."""
    return {
        "CHAMYEO_DATABASE_URL": database_url,
        "CHAMYEO_KAKAO_BOT_ID": BOT_ID,
        "CHAMYEO_KAKAO_SKILL_SECRET": SECRET,
        "CHAMYEO_KAKAO_BLOCK_ID": BLOCK_ID,
        "CHAMYEO_KAKAO_LISTEN": "127.0.0.1",
        "CHAMYEO_KAKAO_PORT": str(port),
        "CHAMYEO_KAKAO_EVENT_API_URL": event_api_url,
        "CHAMYEO_KAKAO_REST_API_KEY": REST_API_KEY,
        "CHAMYEO_KAKAO_EVENT_NAME": EVENT,
    }


@pytest.fixture
async def event_api():
    """The Kakao Event API stub (tests/test_kakao_events.py) on a port of its own."""
    async with event_api_server() as api:
        yield api


async def ask(base_url: str, body: dict) -> dict:
    async with aiohttp.ClientSession() as session, session.post(
        base_url + SKILL_PATH, json=body, headers={SECRET_HEADER: SECRET}
    ) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def turn_news_on(base_url: str, user: str = USER) -> None:
    """The citizen opens the chat and presses 🔔 알림 받기 (the NOTIFY action)."""
    welcome = await ask(base_url, skill_request("처음", user=user))
    press = quick_reply(welcome, "알림 받기")
    answer = await ask(base_url, skill_request(press["messageText"], press["extra"], user))
    assert "알림 끄기" in [r["label"].split(" ", 1)[-1] for r in answer["template"]["quickReplies"]]


def hangul(text: str) -> bool:
    return any("가" <= ch <= "힣" for ch in text)


# ------------------------------------------------------------------------------------------
# `chamyeo run` with only the Kakao settings: a real process
# ------------------------------------------------------------------------------------------


def campaign_file(path: Path, voting_start: datetime, voting_end: datetime) -> Path:
    """The Daejeon sample with only a voting phase, at these instants (UTC)."""
    text = DAEJEON_FILE.read_text(encoding="utf-8")
    head, rest = text.split("[phases.submission]", 1)
    _, tail = rest.split("[voting]", 1)
    phases = (f'[phases.voting]\nstart = "{voting_start.isoformat()}"\n'
              f'end = "{voting_end.isoformat()}"\n\n')
    path.write_text(head + phases + "[voting]" + tail, encoding="utf-8")
    return path


class KakaoProcess(BotProcess):
    """`python -m bot run` with no Telegram: ready once its skill server accepts connections."""

    def __init__(self, workdir: Path, env: dict[str, str], port: int) -> None:
        super().__init__(workdir, env, stub=None)  # type: ignore[arg-type]  # no Bot API stub
        self.port = port

    def launch(self) -> None:
        self.runs += 1
        self.log_path = self.workdir / f"kakao-{self.runs}.log"
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=self.workdir, env=self.env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

    def serving(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the bot exited with {self.proc.returncode}:\n{self.log()}")
        return _accepts(self.port)


@pytest.fixture
def kakao_process(database_url, tmp_path):
    """Makes the Kakao-only bot process (`make(port, event_api_url)`); killed at teardown whatever
    happened (asked for after `database_url`, so torn down before the database is dropped)."""
    made: list[KakaoProcess] = []

    def make(port: int, event_api_url: str) -> KakaoProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CHAMYEO_", "TELEGRAM_"))}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["PYTHONUNBUFFERED"] = "1"
        env.update(kakao_settings(database_url, port, event_api_url))
        made.append(KakaoProcess(tmp_path, env, port))
        return made[-1]

    try:
        yield make
    finally:
        for process in made:
            process.kill()


async def test_a_kakao_only_run_answers_the_skill_announces_and_stops_on_sigterm(
    database_url, kakao_process, event_api, tmp_path
):
    now = datetime.now(UTC).replace(microsecond=0)
    cli = Cli(tmp_path, database_url)
    later = campaign_file(tmp_path / "later.toml", now + timedelta(days=1), now + timedelta(days=3))
    loaded = await asyncio.to_thread(cli, "campaign", "load", str(later))
    assert loaded.returncode == 0, loaded.stderr

    port = free_port()
    bot = kakao_process(port, event_api.url)
    bot.launch()
    await asyncio.to_thread(poll, bot.serving, 60, "the skill server to listen",
                            on_timeout=bot.log)
    base_url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session, session.get(base_url + HEALTH_PATH) as health:
        assert health.status == 200

    await turn_news_on(base_url)
    assert event_api.calls == []  # voting opens tomorrow: nothing to announce yet

    # Staff move the opening of the vote to now: the running bot announces it at its next tick.
    now_file = campaign_file(tmp_path / "now.toml", now, now + timedelta(days=2))
    reloaded = await asyncio.to_thread(cli, "campaign", "load", str(now_file))
    assert reloaded.returncode == 0, reloaded.stderr
    await asyncio.to_thread(poll, lambda: event_api.calls, 30,
                            "the Event API stub to be called", on_timeout=bot.log)
    [call] = event_api.calls
    assert call.path == f"/v2/bots/{BOT_ID}/talk"
    assert call.headers["Authorization"] == f"KakaoAK {REST_API_KEY}"
    assert call.body["event"]["name"] == EVENT
    assert call.body["user"] == [{"type": "botUserKey", "id": USER}]
    assert hangul(call.text) and "투표" in call.text, call.text
    # The summary of the broadcast goes to the log (no Telegram admins to tell).
    await asyncio.to_thread(poll, lambda: "done: sent 1," in bot.log_text(), 30,
                            "the broadcast summary in the log", on_timeout=bot.log)

    started = asyncio.get_running_loop().time()
    assert await asyncio.to_thread(bot.stop, 20) == 0, bot.log()
    assert asyncio.get_running_loop().time() - started < 20
    log = bot.log_text()
    assert "serving: KakaoTalk" in log
    assert "Telegram" not in log.split("serving: ", 1)[1].splitlines()[0]
    assert "Traceback" not in log and " ERROR " not in log, log
    assert "Chamyeo stopped" in log
    assert len(event_api.calls) == 1  # nothing sent twice, nothing sent at shutdown


# ------------------------------------------------------------------------------------------
# `chamyeo run` with no channel, or --webhook without Telegram: one line, exit status 2
# ------------------------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path, empty_database_url) -> Cli:
    return Cli(tmp_path, empty_database_url)


def test_run_with_no_channel_configured_is_one_line_and_exit_2(cli):
    result = cli("run")
    line = assert_one_clear_line(result, "nothing to serve", "TELEGRAM_BOT_TOKEN",
                                 "CHAMYEO_KAKAO_BOT_ID", "CHAMYEO_KAKAO_SKILL_SECRET",
                                 "CHAMYEO_KAKAO_BLOCK_ID")
    assert line.startswith("chamyeo: ")
    assert result.stdout == ""
    assert cli.tables() == set()  # refused before touching the database


def test_a_half_configured_kakao_names_what_it_still_needs(cli):
    result = cli("run", CHAMYEO_KAKAO_BOT_ID=BOT_ID, CHAMYEO_KAKAO_SKILL_SECRET=SECRET)
    line = assert_one_clear_line(result, "TELEGRAM_BOT_TOKEN", "CHAMYEO_KAKAO_BLOCK_ID as well")
    assert "CHAMYEO_KAKAO_BOT_ID" not in line
    assert cli.tables() == set()


def test_webhook_without_telegram_is_one_line_and_exit_2(cli):
    result = cli("run", "--webhook", CHAMYEO_KAKAO_BOT_ID=BOT_ID,
                 CHAMYEO_KAKAO_SKILL_SECRET=SECRET, CHAMYEO_KAKAO_BLOCK_ID=BLOCK_ID,
                 TELEGRAM_WEBHOOK_URL="https://bot.example.org/tg/hook",
                 TELEGRAM_WEBHOOK_SECRET="s3cret")
    assert_one_clear_line(result, "--webhook", "TELEGRAM_BOT_TOKEN", "without --webhook")
    assert cli.tables() == set()


# ------------------------------------------------------------------------------------------
# The Kakao-only runtime in process, on the test's clock
# ------------------------------------------------------------------------------------------


def settings_for(db: Database, event_api: EventApiStub) -> Settings:
    return Settings(_env_file=None, **{name.lower(): value for name, value in kakao_settings(
        db.url, free_port(), event_api.url).items()})


def base_url(runtime: WithoutTelegram) -> str:
    return f"http://127.0.0.1:{runtime.server.settings.chamyeo_kakao_port}"


@pytest.fixture
async def kakao_only(db, services, campaign, event_api):
    """WithoutTelegram as `chamyeo run` builds it (with the leadership of the backend), serving on a
    free port. Its scheduler ticks when the test says (and once at start)."""
    leadership = claim_sqlite(db.url) or AdvisoryLeadership(db)
    runtime = WithoutTelegram(settings_for(db, event_api), services, leadership=leadership,
                        tick_seconds=3600)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def delivery_rows(db: Database) -> list[dict]:
    async with db.read() as conn:
        rows = await conn.execute(deliveries.select().order_by(deliveries.c.id))
        return [dict(row) for row in rows.mappings()]


async def test_a_reminder_reaches_kakao_and_telegram_subscribers_are_recorded_not_sent(
    db, services: Services, clock: SettableClock, campaign, kakao_only, event_api, caplog
):
    # A Telegram subscriber from a time the city ran Telegram too.
    old = await services.citizens.identify("telegram", "1001", "ko")
    await services.subscriptions.set(campaign, old, True)
    await turn_news_on(base_url(kakao_only))
    assert event_api.calls == []  # "voting is open" went out at start, before anyone subscribed

    clock.set(VOTING_CLOSES - timedelta(hours=23, minutes=59))  # the 24-hour reminder is due
    caplog.set_level(logging.INFO)
    await kakao_only.scheduler.tick()
    await services.broadcaster.idle()

    [call] = event_api.calls
    assert call.users == [USER]
    assert call.text == plain_text(announcement_text("ko", campaign,
                                                     AnnouncementKind.VOTING_REMINDER))
    rows = {row["channel"]: row for row in await delivery_rows(db)}
    assert rows["kakao"]["status"] == "sent"
    assert rows["telegram"]["status"] == "failed"
    assert rows["telegram"]["error"] == "telegram is not served (no sender)"
    assert rows["telegram"]["attempts"] == 1
    warnings = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and "not served" in r.getMessage()]
    assert len(warnings) == 1 and "telegram" in warnings[0], warnings
    async with db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(broadcasts)
                                 .where(broadcasts.c.status != "done")) == 0
    assert any("done: sent 1, blocked 0, failed 1" in r.getMessage() for r in caplog.records)

    # Later ticks send nothing again, to either.
    clock.advance(timedelta(minutes=1))
    await kakao_only.scheduler.tick()
    await services.broadcaster.idle()
    assert len(event_api.calls) == 1
    assert sorted(row["status"] for row in await delivery_rows(db)) == ["failed", "sent"]


async def test_stop_goes_in_order_requests_scheduler_event_api_database(
    db, services, campaign, event_api, monkeypatch
):
    runtime = WithoutTelegram(settings_for(db, event_api), services, tick_seconds=3600)
    await runtime.start()
    port = runtime.server.settings.chamyeo_kakao_port
    assert _accepts(port)
    assert runtime.scheduler.leading
    stopped: list[str] = []

    def record(name: str, stop):
        async def recorded(*args, **kwargs):
            await stop(*args, **kwargs)
            stopped.append(name)

        return recorded

    for name, owner, method in [("requests", runtime.server, "stop"),
                                ("scheduler", runtime.scheduler, "stop"),
                                ("event api", runtime.runtime.kakao_events, "close"),
                                ("database", services.db, "dispose")]:
        monkeypatch.setattr(owner, method, record(name, getattr(owner, method)))
    await runtime.stop()
    assert stopped == ["requests", "scheduler", "event api", "database"]
    assert not _accepts(port)


async def test_without_telegram_the_announce_chat_is_left_out(database_url):
    settings = Settings(_env_file=None, chamyeo_database_url=database_url,
                        chamyeo_announce_chat_id=-1001234567890)
    for telegram, announce_chat in [(True, True), (False, False)]:
        services = create_services(settings, telegram=telegram)
        assert (services.announcements.announce_chat is not None) is announce_chat
        await services.db.dispose()


def test_a_started_worker_keeps_what_it_loaded_out_of_full_collections():
    """settle_memory (called by `chamyeo run` once started): the objects loaded so far are
    frozen, so a full garbage collection does not walk them while citizens wait."""
    import gc

    from bot.runtime import settle_memory

    try:
        settle_memory()
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()

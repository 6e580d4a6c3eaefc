"""Shared fixtures: a real database per test, migrated (a SQLite file, or a PostgreSQL database
when CHAMYEO_TEST_DATABASE_URL names a server: see tests/databases.py); a small campaign; a
real python-telegram-bot Application driven offline."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import build_application
from bot.campaign_file import parse_campaign
from bot.clock import SettableClock
from bot.services import Services
from bot.settings import Settings
from handlers.telegram.menus import set_commands
from handlers.telegram.offline import OfflineRequest, OfflineTelegram, TelegramUser
from storage.database import Database
from storage.migrate import upgrade
from tests import databases

SEOUL = ZoneInfo("Asia/Seoul")
ROOT = Path(__file__).resolve().parent.parent
DAEJEON_FILE = ROOT / "campaigns" / "daejeon-2024.toml"

# Voting: 2024-11-28 09:00 to 2024-12-01 18:00, Seoul time.
VOTING_OPENS = datetime(2024, 11, 28, 9, 0, tzinfo=SEOUL)
VOTING_CLOSES = datetime(2024, 12, 1, 18, 0, tzinfo=SEOUL)
DURING_VOTING = VOTING_OPENS + timedelta(hours=5)


def _case(key: str, district: str, hood: str, category: str, title: str, en_title: str | None):
    case = {
        "key": key, "district": district, "neighbourhood": hood, "category": category,
        "ko": {"title": title, "summary": f"{title} 요약입니다.",
               "body": f"{title} 본문입니다. " * 6, "organization": f"{hood} 지역사회보장협의체"},
    }
    if en_title:
        case["en"] = {"title": en_title, "summary": f"Summary of {en_title}.",
                      "body": f"Body of {en_title}. " * 6, "organization": f"{hood} council"}
    return case


def small_campaign(**changes) -> dict:
    """A campaign as parsed TOML: 10 cases in two districts and two categories."""
    raw = {
        "slug": "test-2024",
        "timezone": "Asia/Seoul",
        "title": {"ko": "시험 공모 2024", "en": "Test competition 2024"},
        "description": {"ko": "시험용 공모입니다.", "en": "A competition for tests."},
        "phases": {
            "submission": {"start": "2024-10-07T09:00", "end": "2024-11-24T18:00"},
            "voting": {"start": "2024-11-28T09:00", "end": "2024-12-01T18:00"},
            "review": {"start": "2024-12-02T09:00", "end": "2024-12-06T18:00"},
            "awards": {"at": "2024-12-09T14:00"},
        },
        # The file's order, so tests can name the cases on a page (tests/test_case_order.py
        # covers the default, random order).
        "voting": {"votes_per_citizen": 1, "allow_change": True, "show_running_tally": False,
                   "order": "file"},
        "districts": [
            {"key": "dong", "ko": "동구", "en": "Dong-gu",
             "neighbourhoods": [{"ko": "효동", "en": "Hyo-dong"}, {"ko": "판암1동"}]},
            {"key": "daedeok", "ko": "대덕구", "en": "Daedeok-gu",
             "neighbourhoods": [{"ko": "송촌동", "en": "Songchon-dong"}]},
        ],
        "categories": [
            {"key": "care", "ko": "돌봄", "en": "Care"},
            {"key": "seniors", "ko": "어르신", "en": "Seniors"},
        ],
        "cases": [
            _case(f"case-{i}", "dong" if i % 2 else "daedeok", "효동" if i % 2 else "송촌동",
                  "care" if i < 6 else "seniors", f"사례 제목 {i:02d}번",
                  f"Case title {i:02d}" if i != 3 else None)
            for i in range(1, 11)
        ],
    }
    raw.update(copy.deepcopy(changes))
    return raw


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(DURING_VOTING)


@pytest.fixture(scope="session", autouse=True)
def _postgres_template():
    yield
    databases.drop_template()


@pytest.fixture
def database_url(tmp_path):
    """A migrated database of this test's own, by URL (for a subprocess, say)."""
    url = databases.new_database_url(tmp_path)
    yield url
    databases.drop_database_url(url)


@pytest.fixture
def empty_database_url(tmp_path):
    """A database of this test's own with no tables yet (for migration tests)."""
    url = databases.new_database_url(tmp_path, migrated=False)
    yield url
    databases.drop_database_url(url)


@pytest.fixture
async def db(database_url):
    database = Database(database_url)
    await upgrade(database)  # already at head: checks that, and costs one query
    yield database
    await database.dispose()


# CHAMYEO_IDENTITY_KEY in the tests: the secret behind phone and code hashes.
IDENTITY_KEY = "test-identity-key-" + "0123456789abcdef" * 2


@pytest.fixture
async def services(db, clock):
    services = Services.create(db, clock, identity_key=IDENTITY_KEY)
    yield services
    # A broadcast a test started and did not wait for (a case notice, say) ends before the
    # database goes: what is in flight finishes, nothing more is claimed.
    await services.broadcaster.stop()


@pytest.fixture
async def campaign(services):
    report = await services.campaigns.load(parse_campaign(small_campaign()))
    return await services.campaigns.get(report.campaign_id)


@pytest.fixture
async def telegram(services, clock, campaign):
    """The real Application, offline: feed Update JSON, read the Bot API calls it made."""
    request = OfflineRequest(clock=clock)
    application = build_application(Settings(), services, request=request, rate_limited=False)
    async with application:
        await set_commands(application.bot)
        yield OfflineTelegram(application, request, clock)


@pytest.fixture
async def staffbot(services, clock, campaign):
    """The same Application with ADMIN as a bootstrap admin (CHAMYEO_ADMIN_IDS)."""
    request = OfflineRequest(clock=clock)
    settings = Settings(_env_file=None, chamyeo_admin_ids=(ADMIN.id,))
    application = build_application(settings, services, request=request, rate_limited=False)
    async with application:
        await set_commands(application.bot)
        yield OfflineTelegram(application, request, clock)


@pytest.fixture
async def kakao(services, campaign):
    """The KakaoTalk skill server over aiohttp's test client, with the settings of
    tests/test_kakao_skill.py (imported here, when used: that module imports this one)."""
    from aiohttp.test_utils import TestClient, TestServer

    from handlers.kakao.server import build_kakao_app
    from tests.test_kakao_skill import SETTINGS

    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
async def web(services, campaign):
    """The HTTP server with the web pages (and no KakaoTalk) over aiohttp's test client; the
    Telegram account 9001 (ADMIN) is a bootstrap admin, as CHAMYEO_ADMIN_IDS makes it."""
    from aiohttp.test_utils import TestClient, TestServer

    from handlers.server import build_http_app
    from tests.web_support import ADMIN_ID, WEB_SETTINGS

    services.staff.add_bootstrap_admins("telegram", {ADMIN_ID})
    client = TestClient(TestServer(build_http_app(services, WEB_SETTINGS)))
    await client.start_server()
    yield client
    await client.close()


ADMIN = TelegramUser(9001, "관리자", "ko", username="boss")
KIM = TelegramUser(1001, "김순자", "ko")
SMITH = TelegramUser(1002, "Jane", "en")


@pytest.fixture
def processes(tmp_path):
    """For the tests that run real processes (tests/fault_harness.py): starts the Bot API
    stub (`stub(**options)`, see fault_harness.Stub) and makes the bot process on a database
    (`bot(stub, database_url)`), or `n` webhook workers (`workers(stub, database_url, n)`).
    Whatever was started is ended at teardown, by its own handle: the bots killed, then the
    stubs stopped. (The database is dropped by the `database_url` fixture afterwards, whoever
    is still connected: tests ask for it before this fixture, so it is torn down after.)"""
    from tests.fault_harness import BotProcess, Stub, WorkerProcess, bot_environment

    stubs: list[Stub] = []
    bots: list[BotProcess | WorkerProcess] = []

    class Processes:
        @staticmethod
        def stub(**options) -> Stub:
            stubs.append(Stub(tmp_path, **options))
            return stubs[-1].start()

        @staticmethod
        def bot(stub: Stub, database_url: str) -> BotProcess:
            bots.append(BotProcess(tmp_path, bot_environment(stub, database_url), stub))
            return bots[-1]

        @staticmethod
        def workers(stub: Stub, database_url: str, n: int) -> list[WorkerProcess]:
            env = bot_environment(stub, database_url)
            made = [WorkerProcess(tmp_path, env, stub, f"worker-{i + 1}") for i in range(n)]
            bots.extend(made)
            return made

    try:
        yield Processes
    finally:
        for bot in bots:
            bot.kill()
        for stub in stubs:
            stub.stop()


@pytest.fixture
def cloud(clock):
    """For several workers in one test (tests/worker_pair.py): the one Telegram they share."""
    from tests.worker_pair import Telegram

    return Telegram(clock)


@pytest.fixture
async def pair(database_url, clock, cloud, campaign):
    """Workers A and B on the test's database, ADMIN a bootstrap admin on both."""
    from tests.worker_pair import worker

    async with worker(database_url, clock, cloud, "worker-a", admins=(ADMIN.id,)) as a, \
            worker(database_url, clock, cloud, "worker-b", admins=(ADMIN.id,)) as b:
        yield a, b

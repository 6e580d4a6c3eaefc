"""The `chamyeo` command as a user runs it (a real process, its own working directory and
environment), on the test run's backend (SQLite, or PostgreSQL with CHAMYEO_TEST_DATABASE_URL),
and the settings it reads: a bad setting is one clear line and exit status 2, and touches no
database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from bot.settings import DEFAULT_API_BASE_URL, SettingsError, load_settings
from storage.migrate import alembic_config
from tests.conftest import DAEJEON_FILE, ROOT
from tests.databases import drop_database_url, new_database_url, query

SETTING_PREFIXES = ("CHAMYEO_", "TELEGRAM_")


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


class Cli:
    """Runs `python -m bot ...` in `cwd` with a clean, explicit environment, on `database_url`
    (default: the SQLite file x.db in `cwd`)."""

    def __init__(self, cwd: Path, database_url: str | None = None) -> None:
        self.cwd = cwd
        self.database_url = database_url or f"sqlite+aiosqlite:///{cwd / 'x.db'}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        env["CHAMYEO_DATABASE_URL"] = self.database_url
        self.env = env

    def __call__(self, *args: str, input: str | None = None,
                 **env: str | None) -> subprocess.CompletedProcess:
        run_env = dict(self.env)
        for name, value in env.items():
            if value is None:
                run_env.pop(name, None)
            else:
                run_env[name] = value
        return subprocess.run(
            [sys.executable, "-m", "bot", *args], cwd=self.cwd, env=run_env,
            capture_output=True, text=True, timeout=120, input=input,
        )

    def tables(self) -> set[str]:
        """The tables in the database: none if it was never created (SQLite: no file)."""
        return tables_in(self.database_url)


def tables_in(url: str) -> set[str]:
    if url.startswith("sqlite"):
        if not Path(make_url(url).database).exists():
            return set()
        rows = query(url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = query(url, "SELECT table_name FROM information_schema.tables "
                          "WHERE table_schema = 'public'")
    return {name for (name,) in rows}


@pytest.fixture
def cli(tmp_path, empty_database_url) -> Cli:
    """The command on a database of the test run's backend that has no tables yet (SQLite: a
    file that does not exist yet)."""
    return Cli(tmp_path, empty_database_url)


def assert_one_clear_line(result: subprocess.CompletedProcess, *parts: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------------
# Missing or malformed settings: one line, exit status 2
# ------------------------------------------------------------------------------------------


def test_run_without_a_token(cli):
    result = cli("run")
    line = assert_one_clear_line(result, "TELEGRAM_BOT_TOKEN")
    assert line.startswith("chamyeo: ")
    assert result.stdout == ""
    assert cli.tables() == set()


def test_run_with_an_empty_token(cli):
    assert_one_clear_line(cli("run", TELEGRAM_BOT_TOKEN=""), "TELEGRAM_BOT_TOKEN")


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("CHAMYEO_ADMIN_IDS", "abc", "'abc'"),
        ("CHAMYEO_ADMIN_IDS", "123,@kim", "'@kim'"),
        ("CHAMYEO_TIMEZONE", "Nowhere/City", "'Nowhere/City'"),
        ("CHAMYEO_DEFAULT_LANGUAGE", "fr", "ko"),
        ("CHAMYEO_DATABASE_URL", "mysql://x", "sqlite+aiosqlite"),
        ("CHAMYEO_DATABASE_URL", "sqlite:///chamyeo.db", "sqlite+aiosqlite"),
    ],
)
def test_malformed_setting(cli, name, value, hint):
    # With a token: the bad setting, not the missing token, is what stops `run`.
    result = cli("run", **{name: value}, TELEGRAM_BOT_TOKEN="123:abc")
    assert_one_clear_line(result, name, hint)
    assert result.stdout == ""
    assert cli.tables() == set()


def test_a_database_url_that_cannot_be_read_never_shows_its_password(cli):
    url = "postgresql+asyncpg://chamyeo:S3cret-pw@db.example.org:fivefour/chamyeo"
    result = cli("campaign", "list", CHAMYEO_DATABASE_URL=url)
    line = assert_one_clear_line(result, "CHAMYEO_DATABASE_URL", "port")
    assert "S3cret-pw" not in line + result.stdout


def test_malformed_setting_stops_every_command(cli):
    result = cli("db", "upgrade", CHAMYEO_DEFAULT_LANGUAGE="fr")
    assert_one_clear_line(result, "CHAMYEO_DEFAULT_LANGUAGE")
    assert cli.tables() == set()


def test_a_dotenv_file_in_the_working_directory_is_read(cli):
    (cli.cwd / ".env").write_text("CHAMYEO_TIMEZONE=Nowhere/City\n", encoding="utf-8")
    assert_one_clear_line(cli("campaign", "list"), "CHAMYEO_TIMEZONE", "Nowhere/City")


def test_a_dotenv_file_supplies_good_settings_too(cli, tmp_path):
    elsewhere = new_database_url(tmp_path, migrated=False)
    try:
        (cli.cwd / ".env").write_text(f"CHAMYEO_DATABASE_URL={elsewhere}\n", encoding="utf-8")
        result = cli("db", "upgrade", CHAMYEO_DATABASE_URL=None)
        assert result.returncode == 0, result.stderr
        assert "alembic_version" in tables_in(elsewhere)
        assert cli.tables() == set()
    finally:
        drop_database_url(elsewhere)


def test_the_environment_wins_over_dotenv(cli):
    (cli.cwd / ".env").write_text("CHAMYEO_TIMEZONE=Nowhere/City\n", encoding="utf-8")
    result = cli("campaign", "list", CHAMYEO_TIMEZONE="Asia/Seoul")
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------------------------------
# db upgrade, campaign load, campaign list
# ------------------------------------------------------------------------------------------


def test_db_upgrade_creates_the_database(cli):
    assert cli.tables() == set()
    result = cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert {"alembic_version", "campaigns", "votes"} <= cli.tables()
    assert head_revision() in result.stdout
    assert result.stdout.strip() == f"database is at revision {head_revision()}"
    # Again: nothing to do, same answer.
    again = cli("db", "upgrade")
    assert again.returncode == 0, again.stderr
    assert again.stdout == result.stdout


def test_campaign_list_when_empty(cli):
    result = cli("campaign", "list")
    assert result.returncode == 0, result.stderr
    assert "no campaigns yet" in result.stdout


def test_campaign_load_and_list(cli):
    created = cli("campaign", "load", str(DAEJEON_FILE))
    assert created.returncode == 0, created.stderr
    assert "daejeon-2024" in created.stdout
    assert "created" in created.stdout
    assert "Traceback" not in created.stderr

    again = cli("campaign", "load", str(DAEJEON_FILE))
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    assert "created" not in again.stdout

    listed = cli("campaign", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    slug, title, state = line.split("\t")
    assert (slug, title) == ("daejeon-2024", "Time to Change Daejeon 2024")
    assert state  # the real clock decides which phase: only that there is an answer


def test_loading_an_invalid_file_lists_problems_and_changes_nothing(cli, tmp_path):
    assert cli("campaign", "load", str(DAEJEON_FILE)).returncode == 0
    listed_before = cli("campaign", "list")
    assert listed_before.returncode == 0

    text = DAEJEON_FILE.read_text(encoding="utf-8")
    for old, new in [
        ('en = "Time to Change Daejeon 2024"', 'en = "Renamed Campaign"'),  # valid, not loaded
        ("votes_per_citizen = 1", "votes_per_citizen = 0"),
        ('district = "daedeok"', 'district = "daedeok-gu"'),
        ('timezone = "Asia/Seoul"', 'timezone = "Asia/Daejeon"'),
    ]:
        assert old in text
        text = text.replace(old, new, 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(text, encoding="utf-8")

    result = cli("campaign", "load", str(bad))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert str(bad) in result.stderr
    assert "3 problem(s)" in result.stderr
    assert "timezone: unknown timezone 'Asia/Daejeon'" in result.stderr
    assert "voting.votes_per_citizen:" in result.stderr
    assert "cases[0] (daedeok-equal-everyday).district: unknown district 'daedeok-gu'" in (
        result.stderr)

    listed_after = cli("campaign", "list")
    assert listed_after.stdout == listed_before.stdout
    assert "Renamed Campaign" not in listed_after.stdout


def test_loading_a_missing_file(cli, tmp_path):
    result = cli("campaign", "load", str(tmp_path / "nowhere.toml"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "file: not found" in result.stderr


def test_loading_a_deeply_nested_file_is_one_problem_not_a_traceback(cli, tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    result = cli("campaign", "load", str(deep))
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"{deep}: not loaded, 1 problem(s):",
        "  - file: too deeply nested (arrays or inline tables inside each other)",
    ]


def test_relative_paths_are_resolved_from_the_working_directory(cli):
    (cli.cwd / "campaigns").mkdir()
    (cli.cwd / "campaigns" / "mine.toml").write_text(
        DAEJEON_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    result = cli("campaign", "load", "campaigns/mine.toml")
    assert result.returncode == 0, result.stderr
    assert "created" in result.stdout


def test_unknown_command_is_a_usage_error(cli):
    result = cli("vote")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage: chamyeo" in result.stderr


# ------------------------------------------------------------------------------------------
# load_settings()
# ------------------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No setting from the developer's environment or .env."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults(clean_env):
    settings = load_settings()
    assert settings.telegram_bot_token is None
    assert settings.telegram_api_base_url == DEFAULT_API_BASE_URL == "https://api.telegram.org/bot"
    assert settings.chamyeo_database_url == "sqlite+aiosqlite:///chamyeo.db"
    assert settings.chamyeo_admin_ids == ()
    assert settings.chamyeo_timezone == "Asia/Seoul"
    assert settings.chamyeo_default_language == "ko"
    assert settings.chamyeo_public_url is None


@pytest.mark.parametrize(
    ("raw", "ids"),
    [("1, 2,3", (1, 2, 3)), ("", ()), ("  ", ()), ("12345678", (12345678,)),
     ("12345678,87654321", (12345678, 87654321)), ("1,,2,", (1, 2))],
)
def test_admin_ids(clean_env, raw, ids):
    clean_env.setenv("CHAMYEO_ADMIN_IDS", raw)
    assert load_settings().chamyeo_admin_ids == ids


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CHAMYEO_ADMIN_IDS", "abc", "setting CHAMYEO_ADMIN_IDS is invalid: "
                                     "not a Telegram user id: 'abc'"),
        ("CHAMYEO_ADMIN_IDS", "1;2", "CHAMYEO_ADMIN_IDS"),
        ("CHAMYEO_ADMIN_IDS", "1.5", "CHAMYEO_ADMIN_IDS"),
        ("CHAMYEO_TIMEZONE", "Nowhere/City", "setting CHAMYEO_TIMEZONE is invalid: "
                                             "unknown timezone 'Nowhere/City'"),
        ("CHAMYEO_DEFAULT_LANGUAGE", "fr", "setting CHAMYEO_DEFAULT_LANGUAGE is invalid: "
                                           "must be one of ko, en"),
        ("CHAMYEO_DATABASE_URL", "mysql://x", "setting CHAMYEO_DATABASE_URL is invalid"),
        ("CHAMYEO_PUBLIC_URL", "chamyeo.example.org", "setting CHAMYEO_PUBLIC_URL is invalid: "
                                                      "must be an http(s):// URL"),
        ("CHAMYEO_PUBLIC_URL", "https://", "CHAMYEO_PUBLIC_URL"),
        ("CHAMYEO_PUBLIC_URL", "https://x.org/?a=1", "without ?query"),
    ],
)
def test_malformed_settings(clean_env, name, value, message):
    clean_env.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize(("raw", "url"), [
    ("", None), ("  ", None), ("https://chamyeo.example.org", "https://chamyeo.example.org"),
    ("https://chamyeo.example.org/", "https://chamyeo.example.org"),
    ("https://example.org/chamyeo/", "https://example.org/chamyeo"),
    ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
])
def test_the_public_url(clean_env, raw, url):
    clean_env.setenv("CHAMYEO_PUBLIC_URL", raw)
    assert load_settings().chamyeo_public_url == url


def test_settings_from_the_environment(clean_env):
    clean_env.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    clean_env.setenv("TELEGRAM_API_BASE_URL", "http://localhost:8081/bot")
    clean_env.setenv("CHAMYEO_DATABASE_URL", "postgresql+asyncpg://u:p@localhost/chamyeo")
    clean_env.setenv("CHAMYEO_TIMEZONE", "Europe/Berlin")
    clean_env.setenv("CHAMYEO_DEFAULT_LANGUAGE", "en")
    settings = load_settings()
    assert settings.telegram_bot_token == "123:abc"
    assert settings.telegram_api_base_url == "http://localhost:8081/bot"
    assert settings.chamyeo_database_url == "postgresql+asyncpg://u:p@localhost/chamyeo"
    assert settings.chamyeo_timezone == "Europe/Berlin"
    assert settings.chamyeo_default_language == "en"


def test_settings_from_dotenv(clean_env, tmp_path):
    (tmp_path / ".env").write_text(
        "# comment\nCHAMYEO_ADMIN_IDS=5, 6\nCHAMYEO_DEFAULT_LANGUAGE=en\nUNRELATED=1\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.chamyeo_admin_ids == (5, 6)
    assert settings.chamyeo_default_language == "en"


def test_malformed_dotenv_setting(clean_env, tmp_path):
    (tmp_path / ".env").write_text("CHAMYEO_DEFAULT_LANGUAGE=jp\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="CHAMYEO_DEFAULT_LANGUAGE"):
        load_settings()


def test_the_example_env_file_is_valid(clean_env, tmp_path):
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text(encoding="utf-8"),
                                   encoding="utf-8")
    settings = load_settings()
    assert settings.chamyeo_admin_ids == ()
    assert settings.chamyeo_timezone == "Asia/Seoul"
    assert not settings.telegram_bot_token


# ------------------------------------------------------------------------------------------
# `run` asks Telegram who it is first: a refused token or no Telegram is one line, exit 2
# ------------------------------------------------------------------------------------------


def test_run_with_telegram_unreachable_is_one_line(cli):
    from tests.fault_harness import free_port

    base = f"http://127.0.0.1:{free_port()}/bot"
    result = cli("run", TELEGRAM_BOT_TOKEN="123:abc", TELEGRAM_API_BASE_URL=base)
    line = assert_one_clear_line(result, "cannot reach Telegram", base)
    assert "123:abc" not in line  # the token is never shown
    assert tables_in(cli.database_url) == set()  # refused before migrating


async def test_run_with_a_refused_token_is_one_line(cli):
    from bench.telegram_stub import StubConfig, TelegramStub

    stub = TelegramStub(StubConfig(token="123:right"))
    await stub.start()
    try:
        result = await asyncio.to_thread(
            cli, "run", TELEGRAM_BOT_TOKEN="123:wrong", TELEGRAM_API_BASE_URL=stub.base_url)
    finally:
        await stub.stop()
    line = assert_one_clear_line(result, "Telegram refused TELEGRAM_BOT_TOKEN")
    assert "wrong" not in line


def test_a_phone_or_code_campaign_needs_the_identity_key(cli, tmp_path):
    text = DAEJEON_FILE.read_text(encoding="utf-8")
    assert "votes_per_citizen = 1" in text
    phone = tmp_path / "phone.toml"
    phone.write_text(text.replace("votes_per_citizen = 1",
                                  'votes_per_citizen = 1\nidentity = "phone"', 1),
                     encoding="utf-8")
    refused = cli("campaign", "load", str(phone))
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"{phone}: not loaded: it counts one vote per phone ([voting] identity), which needs "
        "CHAMYEO_IDENTITY_KEY: set it in .env or the environment (see .env.example)")
    assert "no campaigns yet" in cli("campaign", "list").stdout
    loaded = cli("campaign", "load", str(phone), CHAMYEO_IDENTITY_KEY="k" * 32)
    assert loaded.returncode == 0, loaded.stderr
    short = cli("campaign", "list", CHAMYEO_IDENTITY_KEY="short")
    assert short.returncode == 2 and "CHAMYEO_IDENTITY_KEY" in short.stderr
    assert "at least 32 characters" in short.stderr

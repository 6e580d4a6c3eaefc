"""`chamyeo run` says which database it serves (a SQLite file by its absolute path, a URL
without its password), and warns in one line when no campaign was ever loaded into it, above
all when the database is new, created empty by this start: run from another directory, it would
otherwise serve a new, empty chamyeo.db in silence (Chamyeo issue 14)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys

from sqlalchemy.engine import make_url

import bot.app
import bot.cli
from tests.conftest import DAEJEON_FILE
from tests.databases import ON_POSTGRES
from tests.test_cli_settings import ROOT, SETTING_PREFIXES, Cli


def logged(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "bot.app"]


async def test_a_database_without_a_campaign_is_named_and_warned_of(caplog, monkeypatch,
                                                                    tmp_path,
                                                                    empty_database_url):
    url = empty_database_url
    if ON_POSTGRES:  # the password never shows (trust authentication ignores it here)
        url = make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)
    where = str(make_url(url).database) if not ON_POSTGRES else \
        make_url(url).render_as_string(hide_password=True)
    caplog.set_level(logging.INFO, logger="bot.app")

    await bot.app.log_database(url)  # no tables at all: new
    [info, warning] = logged(caplog)
    assert info.levelno == logging.INFO and info.getMessage() == f"database: {where}"
    assert warning.levelno == logging.WARNING and "\n" not in warning.getMessage()
    assert warning.getMessage().startswith(f"the database {where} is new and empty")
    assert "chamyeo campaign load FILE" in warning.getMessage()

    await bot.app.migrate(url)  # migrated, still no campaign: a warning, not "new"
    caplog.clear()
    await bot.app.log_database(url)
    [_, warning] = logged(caplog)
    assert warning.getMessage().startswith(f"no campaign has been loaded into the database "
                                           f"{where}: run `chamyeo campaign load FILE`")

    monkeypatch.chdir(tmp_path)  # no .env read: only the URL below
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CHAMYEO_DATABASE_URL", url)
    assert await asyncio.to_thread(bot.cli.main, ["campaign", "load", str(DAEJEON_FILE)]) == 0
    caplog.clear()
    await bot.app.log_database(url)
    assert [r.getMessage() for r in logged(caplog)] == [f"database: {where}"]
    assert "s3cret-pw" not in caplog.text


async def test_run_from_another_directory_says_where_and_warns(tmp_path):
    """The real `chamyeo run`, with the default (relative) database URL, in a directory with
    no database: the file it creates is named by its absolute path, with the warning."""
    from bench.telegram_stub import StubConfig, TelegramStub

    stub = TelegramStub(StubConfig(token="123:right"))
    await stub.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(PYTHONPATH=str(ROOT), TELEGRAM_BOT_TOKEN="123:right",
               TELEGRAM_API_BASE_URL=stub.base_url)
    bot_process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL)
    assert bot_process.stderr is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("serving:" in x for x in lines):
                line = (await bot_process.stderr.readline()).decode()
                if not line:
                    break
                lines.append(line)
    finally:
        bot_process.terminate()
        await bot_process.wait()
        await stub.stop()
    path = await asyncio.to_thread(os.path.realpath, tmp_path / "chamyeo.db")
    text = "".join(lines)
    assert f"INFO bot.app: database: {path}\n" in text, text
    [warning] = [x for x in lines if "WARNING bot.app: the database" in x]
    assert f"the database {path} is new and empty (created by this start)" in warning
    assert "run `chamyeo campaign load FILE`" in warning and "another directory" in warning


def test_campaign_list_says_which_database_has_none(tmp_path):
    """Run from another directory, the default URL names a new file there: say which."""
    result = Cli(tmp_path)("campaign", "list", CHAMYEO_DATABASE_URL=None)
    assert result.returncode == 0, result.stderr
    where = os.path.realpath(tmp_path / "chamyeo.db")
    assert result.stdout.strip() == (f"no campaigns yet in {where}: load one with "
                                     "`chamyeo campaign load FILE`")

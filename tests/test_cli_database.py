"""`chamyeo` and its database: every command on the test run's backend (SQLite, or PostgreSQL
with CHAMYEO_TEST_DATABASE_URL), and every command when the database cannot be reached (a
server that is down, a wrong password, an unknown database, a SQLite file in a folder that does
not exist): one clear line on stderr, exit status 2, no traceback, never the password."""

from __future__ import annotations

import contextlib
import csv
from collections.abc import Iterator

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import bot.cli
import storage.reachable
from storage.reachable import (
    DatabaseUnreachable,
    check_reachable,
    database_location,
    safe_url,
    unreachable_line,
    unreachable_reason,
)
from tests.conftest import DAEJEON_FILE
from tests.databases import ON_POSTGRES, query, url_of
from tests.fault_harness import free_port
from tests.standin_postgres import StandInPostgres
from tests.test_cli_settings import Cli, assert_one_clear_line, head_revision, tables_in

PASSWORD = "S3cret-pw"
URL = object()  # stands for the database URL in a command's arguments

COMMANDS = {
    "run": ("run",),
    "db upgrade": ("db", "upgrade"),
    "campaign load": ("campaign", "load", str(DAEJEON_FILE)),
    "campaign list": ("campaign", "list"),
    "export": ("export", "--campaign", "daejeon-2024", "--out", "out"),
    "demo --database": ("demo", "--database", URL),
    "backup": ("backup", "--out", "copy.db"),
    "cases approve": ("cases", "approve", "--campaign", "daejeon-2024", "1"),
    "results publish": ("results", "publish", "--campaign", "daejeon-2024"),
    "purge": ("purge", "--campaign", "daejeon-2024", "--dry-run"),
}
NOT_BACKUP = [name for name in COMMANDS if name != "backup"]


def invoke(cli: Cli, command: str, url: str):
    """`command` on the database `url`: given by CHAMYEO_DATABASE_URL, or by --database for
    the demo (whose environment then names a database that works)."""
    args = [url if a is URL else a for a in COMMANDS[command]]
    env = {"TELEGRAM_BOT_TOKEN": "123:abc"}
    if URL not in COMMANDS[command]:
        env["CHAMYEO_DATABASE_URL"] = url
    return cli(*args, input="", **env)


@contextlib.contextmanager
def unreachable(mode: str, tmp_path, connects: bool = True) -> Iterator[tuple[str, str]]:
    """A database URL that cannot be reached, and what the line must say about it. `connects`:
    the command tries to connect (a stand-in server then checks it was sent the password)."""
    if mode == "server down":
        yield (f"postgresql+asyncpg://chamyeo:{PASSWORD}@127.0.0.1:{free_port()}/chamyeo",
               "connection refused")
    elif mode == "wrong password":
        with StandInPostgres("28P01", 'password authentication failed for user "chamyeo"') as pg:
            yield pg.url(password=PASSWORD), 'password authentication failed for user "chamyeo"'
            assert (PASSWORD in pg.passwords) == connects  # sent to the server, and only there
    elif mode == "unknown database" and ON_POSTGRES:
        url = make_url(url_of("chamyeo_no_such_database")).set(password=PASSWORD)
        yield (url.render_as_string(hide_password=False),
               'database "chamyeo_no_such_database" does not exist')
    elif mode == "unknown database":
        with StandInPostgres("3D000", 'database "chamyeo" does not exist') as pg:
            yield pg.url(password=PASSWORD), 'database "chamyeo" does not exist'
    elif mode == "sqlite folder missing":
        missing = tmp_path / "no" / "such" / "folder"
        yield f"sqlite+aiosqlite:///{missing / 'chamyeo.db'}", f"the folder {missing} does not"
    else:
        raise AssertionError(mode)


def assert_unreachable(result, url: str, says: str) -> str:
    line = assert_one_clear_line(result, "cannot reach the database", says)
    assert line.startswith("chamyeo: ")
    assert safe_url(url) in line
    assert PASSWORD not in result.stderr + result.stdout
    return line


@pytest.fixture
def cli(tmp_path, database_url) -> Cli:
    """The command on a migrated database of the test run's backend."""
    return Cli(tmp_path, database_url)


# ------------------------------------------------------------------------------------------
# An unreachable database: one line, exit status 2
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["server down", "sqlite folder missing"])
@pytest.mark.parametrize("command", NOT_BACKUP)
def test_every_command_says_in_one_line_that_the_database_cannot_be_reached(
    cli, tmp_path, command, mode
):
    with unreachable(mode, tmp_path) as (url, says):
        result = invoke(cli, command, url)
    assert_unreachable(result, url, says)
    assert result.stdout == ""
    assert not (tmp_path / "no").exists()  # no folder made for a SQLite file
    assert not (tmp_path / "out").exists()  # export wrote nothing


@pytest.mark.parametrize("mode", ["wrong password", "unknown database"])
@pytest.mark.parametrize("command", ["campaign list", "run", "demo --database"])
def test_a_wrong_password_or_an_unknown_database(cli, tmp_path, command, mode):
    with unreachable(mode, tmp_path) as (url, says):
        result = invoke(cli, command, url)
    assert_unreachable(result, url, says)


def test_backup_when_the_sqlite_folder_does_not_exist(cli, tmp_path):
    with unreachable("sqlite folder missing", tmp_path) as (url, says):
        result = invoke(cli, "backup", url)
    assert_unreachable(result, url, says)
    assert not (tmp_path / "copy.db").exists()


def test_a_file_that_is_not_a_database(cli, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database, " * 100, encoding="utf-8")
    url = f"sqlite+aiosqlite:///{notes}"
    assert_unreachable(invoke(cli, "db upgrade", url), url, "file is not a database")
    assert notes.read_text(encoding="utf-8").startswith("not a database")


@pytest.mark.parametrize("mode", ["server down", "wrong password", "unknown database"])
def test_backup_of_a_postgresql_database_points_to_pg_dump(cli, tmp_path, mode):
    with unreachable(mode, tmp_path, connects=False) as (url, _):
        result = invoke(cli, "backup", url)
    line = assert_one_clear_line(result, "pg_dump --format=custom --file=copy.db", "README")
    assert "+asyncpg" not in line.split("pg_dump", 1)[1]  # pg_dump's own URL form
    assert PASSWORD not in result.stderr + result.stdout


def test_demo_database_must_be_a_url_we_can_use(cli):
    result = cli("demo", "--database", "mysql://chamyeo@localhost/chamyeo", input="")
    assert_one_clear_line(result, "--database", "sqlite+aiosqlite")


# In-process: the pieces behind that line.


async def test_no_answer_in_time(monkeypatch):
    monkeypatch.setattr(storage.reachable, "CHECK_TIMEOUT_SECONDS", 0.3)
    with StandInPostgres(silent=True) as pg, pytest.raises(DatabaseUnreachable) as caught:
        await check_reachable(pg.url(password=PASSWORD))
    assert "no answer in time" in str(caught.value)
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(("sqlstate", "message"), [
    ("28P01", 'password authentication failed for user "chamyeo"'),
    ("28000", 'role "chamyeo" does not exist'),
    ("3D000", 'database "chamyeo" does not exist'),
    ("57P03", "the database system is starting up"),
    ("53300", "sorry, too many clients already"),
])
async def test_errors_of_a_connection_as_sqlalchemy_raises_them(sqlstate, message):
    """What the engine raises (asyncpg's error, adapted and wrapped by SQLAlchemy) is read as
    "cannot be reached", wherever a command meets it."""
    with StandInPostgres(sqlstate, message) as pg:
        engine = create_async_engine(pg.url(password=PASSWORD), poolclass=NullPool)
        try:
            with pytest.raises(Exception) as caught:
                async with engine.connect():
                    pass
        finally:
            await engine.dispose()
    assert unreachable_reason(caught.value) == message


def test_other_errors_are_not_taken_for_an_unreachable_database(capsys):
    assert unreachable_reason(ValueError("a bug")) is None
    assert unreachable_reason(KeyError("votes")) is None

    def bug() -> int:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        bot.cli._unless_unreachable("sqlite+aiosqlite:///x.db", bug)


def test_a_database_lost_during_a_command_is_one_line_too(capsys):
    url = f"postgresql+asyncpg://chamyeo:{PASSWORD}@127.0.0.1:5432/chamyeo"

    def lost() -> int:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)")

    assert bot.cli._unless_unreachable(url, lost) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line == ("chamyeo: cannot reach the database postgresql+asyncpg://chamyeo:***@"
                    "127.0.0.1:5432/chamyeo: connection refused: is the PostgreSQL server "
                    "running, on that host and port?")


def test_the_password_is_never_in_the_line_even_if_a_driver_repeats_it():
    url = f"postgresql+asyncpg://chamyeo:{PASSWORD}@db.example.org/chamyeo"
    line = unreachable_line(url, f"authentication with {PASSWORD!r} failed\nsecond line")
    assert PASSWORD not in line
    assert "\n" not in line


# ------------------------------------------------------------------------------------------
# Every command on the test run's backend
# ------------------------------------------------------------------------------------------


def test_export_writes_the_files(cli, tmp_path):
    assert cli("campaign", "load", str(DAEJEON_FILE)).returncode == 0
    out = tmp_path / "out"
    result = cli("export", "--campaign", "daejeon-2024", "--out", str(out))
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert "chamyeo-daejeon-2024.xlsx" in written and "cases.csv" in written
    assert sorted(line.rsplit("/", 1)[-1] for line in result.stdout.splitlines()) == written
    with open(out / "cases.csv", encoding="utf-8-sig", newline="") as file:
        rows = list(csv.DictReader(file))
    [(cases,)] = query(cli.database_url, "SELECT count(*) FROM cases")
    assert len(rows) == cases == 18


DEMO_VOTE = "1\n1\n1\n1\n1\n/myvote\n"  # yes to news, the list, a case, vote, confirm


def test_demo_on_a_fresh_database_migrates_it_and_leaves_it_there(tmp_path,
                                                                 empty_database_url):
    """As the README shows it (`printf ... | chamyeo demo --database URL`), on a database with
    no tables yet: the demo migrates it, loads the campaign, and what happened stays."""
    cli = Cli(tmp_path)  # the environment names another database, which the demo leaves alone
    assert tables_in(empty_database_url) == set()

    first = cli("demo", "--database", empty_database_url, input=DEMO_VOTE)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    assert f"database {database_location(empty_database_url)}" in first.stdout
    assert "투표가 기록되었습니다" in first.stdout

    [(revision,)] = query(empty_database_url, "SELECT version_num FROM alembic_version")
    assert revision == head_revision()
    assert query(empty_database_url, "SELECT slug FROM campaigns") == [("daejeon-2024",)]
    [(receipt,)] = query(empty_database_url, "SELECT receipt FROM votes")
    assert receipt in first.stdout
    assert tables_in(cli.database_url) == set()

    # Again on the same database: the campaign is there already, and so is the vote.
    again = cli("demo", "--database", empty_database_url, input="/myvote\n")
    assert again.returncode == 0, again.stderr
    assert receipt in again.stdout
    assert query(empty_database_url, "SELECT count(*) FROM votes") == [(1,)]

"""Who leads (storage/coordination.py): on SQLite the process holding the lock file next to the
database, for its whole life, and a second `chamyeo run` is refused; on PostgreSQL the worker
whose own connection holds the advisory lock, and when that session dies another takes over.

The lock-file tests use SQLite files of their own, so they run on every backend; the advisory
lock needs the PostgreSQL server of a PostgreSQL run."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage.coordination import (
    AdvisoryLeadership,
    AlreadyServed,
    FileLeadership,
    claim_sqlite,
)
from storage.database import Database
from storage.migrate import upgrade
from tests.conftest import ROOT
from tests.databases import ON_POSTGRES, drop_database_url, new_database_url
from tests.fault_harness import free_port
from tests.test_cli_settings import Cli, assert_one_clear_line, tables_in

needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="the advisory lock is PostgreSQL's: needs the server of a "
                            "PostgreSQL run (CHAMYEO_TEST_DATABASE_URL)")


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def lock_of(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


# --- SQLite: the lock file --------------------------------------------------------------------


async def test_a_second_lock_on_the_same_file_is_refused_until_the_first_is_released(tmp_path):
    first, second = FileLeadership(tmp_path / "x.db.lock"), FileLeadership(tmp_path / "x.db.lock")
    first.acquire()
    try:
        assert await first.lead()
        assert first.exclusive
        with pytest.raises(AlreadyServed):
            second.acquire()
        assert not await second.lead()
    finally:
        await first.release()
    assert not await first.lead()
    second.acquire()
    assert await second.lead()
    await second.release()


async def test_the_lock_is_per_database_file(tmp_path):
    databases = [Database(sqlite_url(tmp_path / name)) for name in ("a.db", "b.db", "a.db")]
    a, b = claim_sqlite(databases[0].url), claim_sqlite(databases[1].url)
    try:
        assert isinstance(a, FileLeadership) and isinstance(b, FileLeadership)
        assert a.path == lock_of(tmp_path / "a.db")
        assert a.path != b.path
        with pytest.raises(AlreadyServed):
            claim_sqlite(databases[2].url)
    finally:
        await a.release()
        await b.release()
        for database in databases:
            await database.dispose()


async def test_a_relative_and_an_absolute_url_of_one_file_share_its_lock(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    relative, absolute = (Database("sqlite+aiosqlite:///x.db"),
                          Database(sqlite_url(tmp_path / "x.db")))
    held = claim_sqlite(relative.url)
    try:
        with pytest.raises(AlreadyServed):
            claim_sqlite(absolute.url)
    finally:
        await held.release()
        await relative.dispose()
        await absolute.dispose()


async def test_a_database_reached_through_a_symlink_shares_its_lock(tmp_path):
    """One file, two names (a symlink, as a deployment directory often has): still one
    database, so still one process."""
    (tmp_path / "data").mkdir()
    real = tmp_path / "data" / "chamyeo.db"
    real.touch()
    link = tmp_path / "current.db"
    link.symlink_to(real)
    by_link, by_real = Database(sqlite_url(link)), Database(sqlite_url(real))
    held = claim_sqlite(by_link.url)
    try:
        with pytest.raises(AlreadyServed):
            second = claim_sqlite(by_real.url)
            await second.release()
    finally:
        await held.release()
        await by_link.dispose()
        await by_real.dispose()


def test_the_lock_of_a_process_killed_outright_is_free_again(tmp_path):
    lock = tmp_path / "x.db.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, pathlib\n"
         "from storage.coordination import FileLeadership\n"
         f"held = FileLeadership(pathlib.Path({str(lock)!r}))\n"
         "held.acquire()\n"
         "print('held', flush=True)\n"
         "sys.stdin.read()\n"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyServed):
            FileLeadership(lock).acquire()
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        mine = FileLeadership(lock)
        mine.acquire()
        assert lock.read_text().strip() == str(os.getpid())
        asyncio.run(mine.release())
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


# --- SQLite: a second `chamyeo run` -------------------------------------------------------------



def run_while_locked(tmp_path: Path, database: Path) -> subprocess.CompletedProcess:
    """`chamyeo run` on `database` while this process holds its lock (another `chamyeo run`)."""
    held = FileLeadership(lock_of(database))
    held.acquire()
    try:
        cli = Cli(tmp_path, sqlite_url(database))
        return cli("run", TELEGRAM_BOT_TOKEN="123:abc",
                   TELEGRAM_API_BASE_URL=f"http://127.0.0.1:{free_port()}/bot")
    finally:
        asyncio.run(held.release())


def migrated_sqlite(path: Path) -> Path:
    async def migrate() -> None:
        database = Database(sqlite_url(path))
        try:
            await upgrade(database)
        finally:
            await database.dispose()

    asyncio.run(migrate())
    return path


def test_a_second_run_on_one_sqlite_database_is_one_line_and_status_2(tmp_path):
    database = migrated_sqlite(tmp_path / "x.db")
    result = run_while_locked(tmp_path, database)
    line = assert_one_clear_line(result, "PostgreSQL")
    assert line.startswith("chamyeo: ")
    assert result.stdout == ""


def test_a_refused_run_leaves_the_database_as_it_found_it(tmp_path):
    """The process that serves the database may be an older release: a second `chamyeo run`
    must not migrate the database under it before finding out it is refused."""
    database = tmp_path / "x.db"
    result = run_while_locked(tmp_path, database)
    assert result.returncode == 2, result.stderr
    assert tables_in(sqlite_url(database)) == set()


def test_the_refusal_points_to_a_readme_section_that_exists(tmp_path):
    database = migrated_sqlite(tmp_path / "x.db")
    result = run_while_locked(tmp_path, database)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert "README: " in line, line
    section = line.split("README: ", 1)[1].split(")", 1)[0]
    headings = [row.lstrip("#").strip()
                for row in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                if row.startswith("#")]
    assert section in headings, f"README has no section {section!r}"


# --- PostgreSQL: the advisory lock ---------------------------------------------------------------


async def advisory_holders(db: Database) -> list[int]:
    """Backend pids holding an advisory lock on this database."""
    async with db.read() as conn:
        rows = await conn.execute(sa.text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"))
        return [pid for (pid,) in rows]


async def terminate(db: Database, pid: int) -> None:
    async with db.read() as conn:
        # Waits (up to 5 s) until the backend has gone, and its locks with it.
        assert await conn.scalar(sa.text("SELECT pg_terminate_backend(:pid, 5000)"),
                                 {"pid": pid})


@pytest.fixture
async def workers(db, database_url):
    """Two workers' leaderships, each on a Database of its own over the test's database."""
    first_db, second_db = Database(database_url), Database(database_url)
    first, second = AdvisoryLeadership(first_db), AdvisoryLeadership(second_db)
    yield first, second
    for leadership in (first, second):
        await leadership.release()
    await first_db.dispose()
    await second_db.dispose()


@needs_postgres
async def test_of_two_workers_on_one_database_only_one_leads(db, workers):
    first, second = workers
    assert await first.lead()
    assert not await second.lead()
    assert await first.lead()  # and it keeps the lead, tick after tick
    assert not await second.lead()
    assert not first.exclusive
    assert len(await advisory_holders(db)) == 1


@needs_postgres
async def test_when_the_leaders_session_dies_the_other_leads_and_the_old_one_notices(
    db, workers, caplog
):
    first, second = workers
    assert await first.lead()
    assert not await second.lead()
    [pid] = await advisory_holders(db)
    await terminate(db, pid)
    assert await second.lead()  # at its next try
    assert not await first.lead()  # it notices its session is gone...
    assert any("not leading" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)
    assert not await first.lead()  # ...and the lock is the other's now
    assert await second.lead()


@needs_postgres
async def test_a_released_lead_goes_to_the_other_worker(db, workers):
    first, second = workers
    assert await first.lead()
    await first.release()
    assert await advisory_holders(db) == []
    assert await second.lead()
    assert not await first.lead()


@needs_postgres
async def test_workers_of_different_databases_lead_each_their_own(db, workers, tmp_path):
    first, _ = workers
    other_url = new_database_url(tmp_path)
    elsewhere = Database(other_url)
    leadership = AdvisoryLeadership(elsewhere)
    try:
        assert await first.lead()
        assert await leadership.lead()
    finally:
        await leadership.release()
        await elsewhere.dispose()
        drop_database_url(other_url)


@needs_postgres
async def test_postgresql_is_led_by_the_advisory_lock_taken_at_the_first_tick(db):
    assert claim_sqlite(db.url) is None  # no lock file: the leader is chosen as it runs
    leadership = AdvisoryLeadership(db)
    assert await advisory_holders(db) == []  # taken at the first tick, not before
    await leadership.release()

"""SQLite's writers share one transaction and one COMMIT (storage/sqlite_inline.py): each
writer's changes are undone alone when its block fails, a block returns only once its changes
are on disk, a failed COMMIT is heard by every writer in it, and the loop goes on while a
BEGIN waits for another process."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from storage.database import Database
from tests.databases import ON_POSTGRES

pytestmark = pytest.mark.skipif(ON_POSTGRES, reason="SQLite's own writer")

notes = sa.table("notes", sa.column("id", sa.Integer), sa.column("text", sa.String),
                 sa.column("parent", sa.Integer))


@pytest.fixture
async def sqlite_db(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}")
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE, "
            "parent INTEGER REFERENCES notes(id))")
    yield db, tmp_path / "notes.db"
    await db.dispose()


def on_disk(path) -> list[str]:
    """What another process would read."""
    with sqlite3.connect(path) as raw:
        return sorted(text for (text,) in raw.execute("SELECT text FROM notes"))


def commits(db: Database) -> list[int]:
    counted = [0]
    for engine in db.sync_engines():
        event.listen(engine, "commit", lambda conn: counted.__setitem__(0, counted[0] + 1))
    return counted


async def write_note(db: Database, text: str, fail: bool = False) -> None:
    async with db.write() as conn:
        await conn.execute(notes.insert().values(text=text))
        if fail:
            raise ValueError(text)


async def test_writers_arriving_together_share_one_commit(sqlite_db):
    db, path = sqlite_db
    counted = commits(db)
    await asyncio.gather(*(write_note(db, f"note {i}") for i in range(20)))
    assert on_disk(path) == sorted(f"note {i}" for i in range(20))
    # The other 19 queue while the first writer's BEGIN is under way: all go in its COMMIT.
    assert counted[0] == 1


async def test_a_failing_writer_undoes_only_its_own_changes(sqlite_db):
    db, path = sqlite_db
    results = await asyncio.gather(
        write_note(db, "kept 1"), write_note(db, "undone", fail=True), write_note(db, "kept 2"),
        write_note(db, "kept 1"),  # the UNIQUE text: refused by the database, alone
        return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], ValueError)
    assert isinstance(results[3], sa.exc.IntegrityError)
    assert on_disk(path) == ["kept 1", "kept 2"]


async def test_a_block_returns_once_its_changes_are_on_disk(sqlite_db):
    db, path = sqlite_db
    await write_note(db, "first")
    assert on_disk(path) == ["first"]
    async with db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(notes)) == 1


async def test_a_failed_commit_is_heard_by_every_writer_in_it(sqlite_db):
    db, path = sqlite_db
    await write_note(db, "before")

    async def dangling() -> None:
        # A foreign key checked only at COMMIT: the whole transaction is refused there.
        async with db.write() as conn:
            await conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            await conn.execute(notes.insert().values(text="orphan", parent=999))

    results = await asyncio.gather(write_note(db, "ahead"), dangling(),
                                   write_note(db, "beside it"), return_exceptions=True)
    assert all(isinstance(r, sa.exc.IntegrityError) for r in results), results
    assert on_disk(path) == ["before"]
    await write_note(db, "after")  # a new connection serves the next writers
    assert on_disk(path) == ["after", "before"]


async def test_the_loop_goes_on_while_begin_waits_for_another_process(sqlite_db):
    db, path = sqlite_db
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process writing
    writer = asyncio.create_task(write_note(db, "waited"))
    for _ in range(50):
        await asyncio.sleep(0)  # the loop turns: BEGIN IMMEDIATE waits in a thread
    assert not writer.done()
    async with db.read() as conn:  # and readers are served meanwhile
        assert await conn.scalar(sa.select(sa.func.count()).select_from(notes)) == 0
    other.execute("COMMIT")
    other.close()
    await writer
    assert on_disk(path) == ["waited"]


async def test_a_begin_that_times_out_leaves_the_writer_usable(sqlite_db, monkeypatch):
    db, path = sqlite_db
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    for engine in db.sync_engines():  # give up at once instead of after the busy timeout
        event.listen(engine, "connect", lambda raw, record: raw.execute("PRAGMA busy_timeout=0"))
    with pytest.raises(sa.exc.OperationalError, match="locked"):
        await write_note(db, "refused")
    other.execute("COMMIT")
    other.close()
    await write_note(db, "next")
    assert on_disk(path) == ["next"]



async def test_a_read_that_scans_runs_off_the_loop(sqlite_db):
    db, _ = sqlite_db
    threads: list[int] = []
    for engine in db.sync_engines():
        event.listen(engine, "before_cursor_execute",
                     lambda *args: threads.append(threading.get_ident()))
    count = sa.select(sa.func.count()).select_from(notes)
    async with db.read() as conn:  # a citizen's: microseconds, on the loop
        assert await conn.scalar(count) == 0
    async with db.read(scans=True) as conn:  # the staff's reports over every vote
        assert await conn.scalar(count) == 0
    loop_thread = threading.get_ident()
    assert threads[0] == loop_thread  # the first read's SELECT (or its BEGIN)
    assert threads[-1] != loop_thread  # the scanning read's SELECT


async def test_a_writer_given_up_on_while_begin_waits_leaves_the_next_one_served(sqlite_db):
    db, path = sqlite_db
    begins: list[str] = []
    for engine in db.sync_engines():
        event.listen(engine, "before_cursor_execute",
                     lambda conn, cursor, sql, *rest: begins.append(sql) if "BEGIN" in sql
                     else None)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another process writing: our BEGIN waits in a thread
    given_up = asyncio.create_task(write_note(db, "given up"))  # e.g. KakaoTalk's deadline
    for _ in range(50):
        await asyncio.sleep(0)
    given_up.cancel()
    with pytest.raises(asyncio.CancelledError):
        await given_up
    served = asyncio.create_task(write_note(db, "served"))  # the BEGIN, still going, is its
    for _ in range(50):
        await asyncio.sleep(0)
    other.execute("COMMIT")
    other.close()
    await served
    assert on_disk(path) == ["served"]
    # One BEGIN, left to finish on its connection (not closed under the thread running it).
    assert begins == ["BEGIN IMMEDIATE"]


async def test_a_scanning_read_given_up_on_returns_its_connection_only_when_done(sqlite_db):
    db, _ = sqlite_db
    release = threading.Event()
    for engine in db.sync_engines():  # a statement that runs until the test says
        event.listen(engine, "connect", lambda raw, record: raw.create_function(
            "slow", 0, lambda: int(release.wait())))

    async def scan() -> int:
        async with db.read(scans=True) as conn:
            return await conn.scalar(sa.select(sa.func.slow()))

    reading = asyncio.create_task(scan())
    for _ in range(50):
        await asyncio.sleep(0)
    reading.cancel()
    for _ in range(50):
        await asyncio.sleep(0)
    assert not reading.done()  # the statement is still running on its connection
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await reading
    async with db.read() as conn:  # the pool serves the next reader as usual
        assert await conn.scalar(sa.select(sa.func.count()).select_from(notes)) == 0

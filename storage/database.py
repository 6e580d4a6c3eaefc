"""The connection to the database: SQLite in WAL mode with foreign keys and a busy timeout,
or PostgreSQL. Services open a transaction with `read()` or `write()`.

On SQLite the services' transactions run on the synchronous driver, statement by statement on
the loop, with group commit (storage/sqlite_inline.py); the async engine serves the rest
(migrations, tools)."""

from __future__ import annotations

import collections
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from storage.sqlite_inline import SqliteReader, SqliteWriter

BUSY_TIMEOUT_MS = 10_000


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Several processes may serve a PostgreSQL database at once; SQLite serves one (the
        # `chamyeo run` holding its lock file, storage/coordination.py), so state that only
        # that process knows cannot go stale behind its back.
        self.shared = not self.is_sqlite
        # Every transaction begins and ends explicitly (read()/write()), so a connection goes
        # back to the pool clean: no extra ROLLBACK round trip on the way.
        self.engine: AsyncEngine = create_async_engine(url, pool_reset_on_return=None)
        # How many committed transactions of this process changed each table: caches of
        # rarely written tables (the campaigns) compare it to know they are still good.
        self.changes: collections.Counter[str] = collections.Counter()
        self._reader: SqliteReader | None = None
        self._writer: SqliteWriter | None = None
        if self.is_sqlite:
            inline = sa.create_engine(
                sa.engine.make_url(url).set(drivername="sqlite+pysqlite"),
                pool_reset_on_return=None,
                # Never wait for a free connection: on the loop a wait would be a freeze.
                pool_size=8, max_overflow=-1,
                # The writer's BEGIN and COMMIT run in a thread.
                connect_args={"check_same_thread": False},
            )
            self._reader = SqliteReader(inline, self.engine)
            self._writer = SqliteWriter(inline, self.engine)
        for engine in self.sync_engines():
            if self.is_sqlite:
                _configure_sqlite(engine)
            _count_changes(engine, self.changes)

    def sync_engines(self) -> list[sa.Engine]:
        """Every engine whose connections this Database uses (for event listeners)."""
        if self._reader is None:
            return [self.engine.sync_engine]
        return [self.engine.sync_engine, self._reader.engine]

    @asynccontextmanager
    async def read(self, scans: bool = False) -> AsyncIterator[AsyncConnection]:
        """One read transaction. `scans`: it reads through many rows (the staff's reports
        over every vote): on SQLite its statements run in a thread, not on the loop."""
        if self._reader is not None:
            async with self._reader.transaction(offload=scans) as conn:
                yield conn
            return
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed (to disk) when the block ends without an exception."""
        if self._writer is not None:
            async with self._writer.transaction() as conn:
                yield conn
            return
        async with self.engine.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer.engine.dispose()
        await self.engine.dispose()


def _configure_sqlite(sync_engine: sa.Engine) -> None:

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # FULL: a vote we confirm to a citizen survives a power cut, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:
        # IMMEDIATE takes the write lock up front, so two writers never deadlock on upgrade.
        immediate = conn.get_execution_options().get("sqlite_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_WRITE = re.compile(r"^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)",
                    re.IGNORECASE)


def _count_changes(sync_engine: sa.Engine, changes: collections.Counter[str]) -> None:
    """Note the tables a transaction writes; count them when it commits (not before: a
    reader between the write and the commit still sees the old rows, and must not take
    them for new)."""

    @event.listens_for(sync_engine, "before_cursor_execute")
    def _on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        match = _WRITE.match(statement)
        if match:
            conn.info.setdefault("written_tables", set()).add(match.group(1).lower())

    @event.listens_for(sync_engine, "commit")
    def _on_commit(conn) -> None:
        for table in conn.info.pop("written_tables", ()):
            changes[table] += 1

    @event.listens_for(sync_engine, "rollback")
    def _on_rollback(conn) -> None:
        conn.info.pop("written_tables", None)

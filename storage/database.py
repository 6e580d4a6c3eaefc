"""The connection to the database: SQLite in WAL mode with foreign keys and a busy timeout,
or PostgreSQL. Services open a transaction with `read()` or `write()`."""

from __future__ import annotations

import asyncio
import collections
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

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
        # SQLite has one writer at a time: queue writers here rather than in busy waits.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None
        # How many committed transactions of this process changed each table: caches of
        # rarely written tables (the campaigns) compare it to know they are still good.
        self.changes: collections.Counter[str] = collections.Counter()
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        _count_changes(self.engine, self.changes)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction, committed (to disk) when the block ends without an exception."""
        if self._write_lock is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._write_lock, self.engine.connect() as conn:
            conn = await conn.execution_options(sqlite_write=True)
            async with conn.begin():
                yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

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


def _count_changes(engine: AsyncEngine, changes: collections.Counter[str]) -> None:
    """Note the tables a transaction writes; count them when it commits (not before: a
    reader between the write and the commit still sees the old rows, and must not take
    them for new)."""
    sync_engine = engine.sync_engine

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

"""SQLite without a thread hop per statement, and with group commit.

Through aiosqlite every statement is a trip to a thread and back through the event loop; a
vote's transaction made eight, and the write lock stayed held while the loop served everyone
else between them (about 5 ms a vote where SQLite needs 0.4). Here a statement runs on the
calling thread, as SQLite meant (microseconds for the short statements a chat bot makes), and
only what can wait on the disk or on another process leaves the loop: BEGIN IMMEDIATE and
COMMIT, in a thread.

Writers share one connection and one transaction, each inside its own SAVEPOINT (an error in
one undoes only its own changes): writers that arrive while a COMMIT is on its way to the disk
are committed together by the next one, with one fsync. A writer's block returns only after the
COMMIT holding its changes is on disk, so a receipt still means a durable vote.

The connections are the synchronous driver's (pysqlite), with the same settings as the async
engine's; `InlineConnection` gives them the async interface the repositories use."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.engine.cursor import FullyBufferedCursorFetchStrategy
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

T = TypeVar("T")


class InlineConnection(AsyncConnection):
    """An open synchronous connection behind AsyncConnection's methods, each run at once on
    the calling thread, or with `offload` in a thread (a read that scans a million votes
    would hold the loop for a quarter of a second). Results are read whole, as the async
    driver reads them."""

    offload = False

    async def execute(self, statement: Any, parameters: Any = None, *,
                      execution_options: Any = None) -> Any:
        run = functools.partial(self._run, statement, parameters, execution_options)
        return await _to_the_end(run) if self.offload else run()

    def _run(self, statement: Any, parameters: Any, execution_options: Any) -> Any:
        return _buffered(self._proxied.execute(statement, parameters,
                                               execution_options=execution_options))

    async def scalar(self, statement: Any, parameters: Any = None, *,
                     execution_options: Any = None) -> Any:
        result = await self.execute(statement, parameters, execution_options=execution_options)
        return result.scalar()

    async def scalars(self, statement: Any, parameters: Any = None, *,
                      execution_options: Any = None) -> Any:
        result = await self.execute(statement, parameters, execution_options=execution_options)
        return result.scalars()

    async def exec_driver_sql(self, statement: str, parameters: Any = None,
                              execution_options: Any = None) -> Any:
        return _buffered(self._proxied.exec_driver_sql(statement, parameters,
                                                       execution_options))

    async def run_sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return fn(self._proxied, *args, **kwargs)

    def begin_nested(self) -> Any:
        return _Savepoint(self._proxied)


async def _to_the_end(fn: Callable[[], T]) -> T:
    """`fn` in a thread. A caller cancelled meanwhile (a deadline, a closed page) is cancelled
    only once `fn` has returned: the connection it runs on must not go back to the pool, to
    the next caller, while the thread still uses it."""
    running = asyncio.ensure_future(asyncio.to_thread(fn))
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait({running})
        raise


def _buffered(result: CursorResult) -> CursorResult:
    """Every row read now, so the result outlives the connection's turn (as aiosqlite's)."""
    if result.returns_rows:
        result.cursor_strategy = FullyBufferedCursorFetchStrategy(result.cursor)
    return result


class _Savepoint:
    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._savepoint: sa.NestedTransaction | None = None

    async def __aenter__(self) -> _Savepoint:
        self._savepoint = self._conn.begin_nested()
        return self

    async def __aexit__(self, kind: Any, error: Any, traceback: Any) -> None:
        assert self._savepoint is not None
        if kind is None:
            self._savepoint.commit()
        else:
            self._savepoint.rollback()


class SqliteReader:
    """Read transactions on pooled synchronous connections, run on the loop."""

    def __init__(self, engine: sa.Engine, async_engine: AsyncEngine) -> None:
        self.engine = engine
        self._async_engine = async_engine

    @asynccontextmanager
    async def transaction(self, offload: bool = False) -> AsyncIterator[AsyncConnection]:
        with self.engine.connect() as conn, conn.begin():
            inline = InlineConnection(self._async_engine, conn)
            inline.offload = offload
            yield inline


class SqliteWriter:
    """The one connection this process writes through, and its group commit."""

    def __init__(self, engine: sa.Engine, async_engine: AsyncEngine) -> None:
        self.engine = engine
        self._async_engine = async_engine
        self._lock = asyncio.Lock()
        self._conn: sa.Connection | None = None
        self._transaction: sa.RootTransaction | None = None
        self._committed: asyncio.Future[None] | None = None
        self._committing: asyncio.Task[None] | None = None
        self._opening: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        async with self._lock:
            conn, committed = await self._joined()
            # The writer's SAVEPOINT straight on the driver: through SQLAlchemy's nested
            # transactions it cost more than the vote's own statements.
            driver = conn.connection.driver_connection
            assert driver is not None
            driver.execute("SAVEPOINT writer")
            try:
                yield InlineConnection(self._async_engine, conn)
            except BaseException:
                driver.execute("ROLLBACK TO writer")
                driver.execute("RELEASE writer")
                raise
            driver.execute("RELEASE writer")
        # Shielded: a writer given up on (a timeout) must not take the others' commit with it.
        await asyncio.shield(committed)

    async def _joined(self) -> tuple[sa.Connection, asyncio.Future[None]]:
        """The open transaction (begun if none), and the future of its commit."""
        if self._transaction is None:
            if self._opening is None:
                self._opening = asyncio.get_running_loop().create_task(self._open())
            # Shielded: a writer given up on (a timeout) leaves the BEGIN, running in its
            # thread on the connection, to finish for the writers after it.
            await asyncio.shield(self._opening)
        assert self._conn is not None and self._committed is not None
        return self._conn, self._committed

    async def _open(self) -> None:
        try:
            if self._conn is None:
                # sqlite_write: begun with BEGIN IMMEDIATE (storage.database._on_begin).
                self._conn = self.engine.connect().execution_options(sqlite_write=True)
            conn = self._conn
            try:
                # BEGIN IMMEDIATE waits for another process's write (up to the busy timeout).
                self._transaction = await asyncio.to_thread(conn.begin)
            except Exception:
                self._discard()  # its thread is done with it: a fresh connection next
                raise
            loop = asyncio.get_running_loop()
            self._committed = loop.create_future()
            # Queued behind the writers waiting now: they join this transaction first.
            self._committing = loop.create_task(self._commit())
        finally:
            self._opening = None

    async def _commit(self) -> None:
        async with self._lock:
            transaction, committed = self._transaction, self._committed
            self._transaction = self._committed = None
            assert transaction is not None and committed is not None
            try:
                await asyncio.to_thread(transaction.commit)
            except Exception as error:
                # Nothing of this transaction is on disk: every writer in it hears so. The
                # connection may be in any state; a new one serves the next transaction.
                self._discard()
                committed.set_exception(error)
            except asyncio.CancelledError:
                # The loop is closing: the COMMIT goes on in its thread (so the connection
                # is left alone); its writers cannot be told how it went.
                committed.cancel()
                raise
            else:
                committed.set_result(None)

    def _discard(self) -> None:
        if self._conn is not None:
            self._conn.invalidate()
            self._conn = None

    async def close(self) -> None:
        """After the transaction under way (if any) is committed."""
        if self._committing is not None:
            await asyncio.gather(self._committing, return_exceptions=True)
        async with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

"""Who does what when several processes serve one database.

Every process has a worker id (in the claims and leases it writes). One of them, the leader,
runs the scheduler tick and the broadcasts, so that all of them together keep one pace:

* on PostgreSQL the leader holds a session-level advisory lock on a connection of its own. The
  server drops the lock the moment that connection ends (the process died, or the network
  did), and another worker takes it at its next try, within a second or two;
* SQLite serves one `chamyeo run` process at a time: it holds an exclusive lock on a file next
  to the database for as long as it runs, and a second one is refused at start. The operating
  system releases the lock when the process ends, however it ends.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
from datetime import timedelta
from pathlib import Path
from typing import IO, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.database import Database

log = logging.getLogger(__name__)

# The leader's pg_advisory_lock key: any fixed number, the same in every worker, other than
# storage.migrate.MIGRATION_LOCK_KEY ("Chamyeo" and 1 in ASCII).
LEADER_LOCK_KEY = 0x43_68_61_6D_79_65_6F_01
# Every worker says it is alive at each scheduler tick (a second); one silent this long (a
# busy machine can delay a tick by seconds) is dead: the turns and claims it held are taken
# over then, not only when their leases run out.
WORKER_SILENT_AFTER = timedelta(seconds=10)


def new_worker_id() -> str:
    """Unique per process start: the host, the process and a random part (a pid is reused)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{secrets.token_hex(3)}"


class Leadership(Protocol):
    @property
    def exclusive(self) -> bool:
        """True when no other process can serve this database (SQLite): whatever a previous
        process left in flight is certainly abandoned."""

    async def lead(self) -> bool:
        """Whether this process leads now: takes the lead if it is free, and notices when it
        has been lost. Cheap enough to call every tick."""

    async def release(self) -> None:
        """Give up the lead (at shutdown)."""


class AlreadyServed(Exception):
    """Another process already serves this SQLite database."""


class FileLeadership:
    """SQLite: the process that holds the lock file leads, for its whole life."""

    exclusive = True

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyServed; at start, before anything else runs."""
        handle = open(self.path, "a+b")  # noqa: SIM115 - held open for the process's life
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyServed(str(self.path)) from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._file = handle

    async def lead(self) -> bool:
        return self._file is not None

    async def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLeadership:
    """PostgreSQL: the process whose own connection holds the advisory lock leads."""

    exclusive = False

    def __init__(self, db: Database, key: int = LEADER_LOCK_KEY) -> None:
        self.db = db
        self.key = key
        self._conn: AsyncConnection | None = None
        self._held = False

    async def lead(self) -> bool:
        try:
            if self._conn is None:
                self._conn = await self.db.engine.connect()
                await self._conn.execution_options(isolation_level="AUTOCOMMIT")
            if self._held:
                # The session lives, so the lock does: the server drops it only with the session.
                await self._conn.scalar(sa.text("SELECT 1"))
                return True
            self._held = bool(await self._conn.scalar(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}))
            return self._held
        except Exception:
            # The connection broke: the server has dropped our lock with it. Try afresh later.
            log.warning("the leader lock's connection failed; not leading until it is back",
                        exc_info=True)
            await self._drop()
            return False

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            except Exception:
                log.info("could not unlock the leader lock; it goes with the connection")
            await self._drop()

    async def _drop(self) -> None:
        conn, self._conn, self._held = self._conn, None, False
        if conn is not None:
            try:
                await conn.invalidate()  # never back to the pool: its session held the lock
                await conn.close()
            except Exception:
                log.debug("closing the leader lock's connection failed", exc_info=True)


def claim_sqlite(url: str) -> FileLeadership | None:
    """For a SQLite database: take the lock that makes this process the one serving it, before
    anything touches the database (a refused second run changes nothing). Raises
    AlreadyServed. None for another database: there the leader is chosen as it runs."""
    if not url.startswith("sqlite"):
        return None
    database = make_url(url).database
    if not database or database == ":memory:":
        path = Path(f"/tmp/chamyeo-memory-{os.getpid()}.lock")
    else:  # named after the file itself, so every path to it (a symlink) shares one lock
        resolved = Path(database).resolve()
        path = resolved.with_name(resolved.name + ".lock")
    leadership = FileLeadership(path)
    leadership.acquire()
    return leadership

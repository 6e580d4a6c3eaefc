"""Apply the Alembic migrations to the database: `chamyeo db upgrade`, and at `chamyeo run`.

Migrations run alone and keep every row:
- Alone: several workers may start together on one database. The first to migrate holds a
  lock until it commits (PostgreSQL: a transaction-scoped advisory lock; SQLite: the write
  lock, taken at BEGIN IMMEDIATE); the others wait, then find the schema at head.
- Every row: on SQLite, Alembic's batch mode rebuilds a table (create a new one, copy, DROP
  the old, rename). With foreign keys on, that DROP deletes the rows of tables referring to it
  by ON DELETE CASCADE, or fails on the others. So SQLite migrates with foreign keys off, and
  `PRAGMA foreign_key_check` must find nothing dangling before the transaction commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from storage.database import BUSY_TIMEOUT_MS, Database

MIGRATIONS = Path(__file__).parent / "migrations"

# The advisory lock migrations take on PostgreSQL ("chamyeo" and 1): any fixed 64-bit key
# that no other lock of the application uses.
MIGRATION_LOCK_KEY = 0x63_68_61_6D_79_65_6F_01

# How long a SQLite worker waits for another one's migration (a table rebuild of a large
# database takes a while); PostgreSQL's advisory lock waits without a limit.
MIGRATION_BUSY_TIMEOUT_MS = 15 * 60 * 1000


class MigrationError(RuntimeError):
    """A migration would have left rows referring to rows that are gone: nothing was changed."""


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    config = alembic_config(db.url)

    def _upgrade(connection: Connection) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    await run_migration(db, _upgrade)


async def run_migration(db: Database, step: Callable[[Connection], None]) -> None:
    """Run `step(connection)` in one transaction, alone, as every migration runs (see the
    module's docstring); on SQLite with foreign keys off and checked before commit."""
    async with db.engine.connect() as conn:
        await conn.run_sync(_run_sqlite if db.is_sqlite else _run_postgresql, step)


def _run_postgresql(connection: Connection, step: Callable[[Connection], None]) -> None:
    # PostgreSQL's DDL is transactional: a second worker waits here for the first to commit,
    # then sees its tables and its alembic_version.
    with connection.begin():
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        step(connection)


def _run_sqlite(connection: Connection, step: Callable[[Connection], None]) -> None:
    # Pragmas are set before BEGIN (foreign_keys is a no-op inside a transaction) and restored
    # after. A worker that finds another migrating waits as long as that takes, not 10 s.
    _set_pragmas(connection, foreign_keys=False, busy_timeout_ms=MIGRATION_BUSY_TIMEOUT_MS)
    try:
        # sqlite_write: BEGIN IMMEDIATE (storage/database.py) takes the write lock up front, so
        # a second worker waits here, then reads the alembic_version the first committed.
        with connection.execution_options(sqlite_write=True).begin():
            before = _sqlite_changes(connection)
            step(connection)
            # Nothing changed (already at head, the usual start): skip the full check.
            if _sqlite_changes(connection) != before:
                _check_foreign_keys(connection)
    finally:
        _set_pragmas(connection, foreign_keys=True, busy_timeout_ms=BUSY_TIMEOUT_MS)


def _set_pragmas(connection: Connection, *, foreign_keys: bool, busy_timeout_ms: int) -> None:
    # On the driver's connection: through SQLAlchemy the pragmas would come after its BEGIN.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA foreign_keys")
        row = cursor.fetchone()
        if row is None or bool(row[0]) != foreign_keys:
            raise RuntimeError("could not switch SQLite's foreign keys: inside a transaction?")
    finally:
        cursor.close()


def _sqlite_changes(connection: Connection) -> tuple[int, int]:
    """Rows this connection has written, and the version of the schema."""
    (changes,) = connection.exec_driver_sql("SELECT total_changes()").one()
    (schema,) = connection.exec_driver_sql("PRAGMA schema_version").one()
    return changes, schema


def _check_foreign_keys(connection: Connection) -> None:
    dangling = Counter(
        (table, parent)
        for table, _rowid, parent, _fk in connection.exec_driver_sql("PRAGMA foreign_key_check")
    )
    if dangling:
        found = ", ".join(f"{count} in {table} (to {parent})"
                          for (table, parent), count in sorted(dangling.items()))
        raise MigrationError(
            f"migration rolled back: it would leave rows referring to missing rows: {found}"
        )


async def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )

"""Apply the Alembic migrations to the database: `chamyeo db upgrade`, and at `chamyeo run`.

Migrations keep every row. On SQLite, Alembic's batch mode rebuilds a table (create a new
one, copy, DROP the old, rename). With foreign keys on, that DROP deletes the rows of tables
referring to it by ON DELETE CASCADE, or fails on the others. So SQLite migrates with foreign
keys off, and `PRAGMA foreign_key_check` must find nothing dangling before the transaction
commits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

from storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


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
    """Run `step(connection)` in one transaction, as every migration runs (see the module's
    docstring); on SQLite with foreign keys off and checked before commit."""
    async with db.engine.connect() as conn:
        await conn.run_sync(_run_sqlite if db.is_sqlite else _run_postgresql, step)


def _run_postgresql(connection: Connection, step: Callable[[Connection], None]) -> None:
    with connection.begin():
        step(connection)


def _run_sqlite(connection: Connection, step: Callable[[Connection], None]) -> None:
    # The pragma is a no-op inside a transaction: set it before BEGIN, restore it after.
    _set_foreign_keys(connection, on=False)
    try:
        with connection.begin():
            before = _sqlite_changes(connection)
            step(connection)
            # Nothing changed (already at head, the usual start): skip the full check.
            if _sqlite_changes(connection) != before:
                _check_foreign_keys(connection)
    finally:
        _set_foreign_keys(connection, on=True)


def _set_foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's connection: through SQLAlchemy the pragma would come after its BEGIN.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
        cursor.execute("PRAGMA foreign_keys")
        row = cursor.fetchone()
        if row is None or bool(row[0]) != on:
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

"""Alembic environment. Chamyeo runs migrations through `storage.migrate.upgrade`, which
hands over a connection already in its transaction (locked; on SQLite with foreign keys off);
the `alembic` command line works too (`-x url=...`) and goes through the same."""

from __future__ import annotations

import asyncio

from alembic import context

from storage.database import Database
from storage.migrate import run_migration
from storage.tables import metadata

config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    db = Database(url)
    try:
        await run_migration(db, _run)
    finally:
        await db.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url"
    )
    if not url:
        raise SystemExit("alembic: give the database as -x url=... (a SQLAlchemy URL)")
    asyncio.run(_run_with_own_engine(url))

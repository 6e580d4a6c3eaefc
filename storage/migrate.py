"""Apply the Alembic migrations to the database: `chamyeo db upgrade`, and at `chamyeo run`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from storage.database import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


async def upgrade(db: Database, revision: str = "head") -> None:
    config = alembic_config(db.url)

    def _upgrade(sync_connection) -> None:
        config.attributes["connection"] = sync_connection
        command.upgrade(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(_upgrade)


async def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with db.engine.connect() as conn:
        return await conn.run_sync(
            lambda c: MigrationContext.configure(c).get_current_revision()
        )

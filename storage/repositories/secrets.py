"""The instance's own secrets (e.g. the key behind export pseudonyms): made once, on first
use, and the same for every worker sharing the database. Never exported, never logged."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import instance_secrets
from storage.upsert import insert as upsert


class SecretRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, name: str) -> str | None:
        return await self.conn.scalar(
            sa.select(instance_secrets.c.value).where(instance_secrets.c.name == name))

    async def get_or_create(self, name: str, make: Callable[[], str], at: datetime) -> str:
        """The secret `name`, stored as `make()` if there is none yet. Insert-if-absent and
        then read, so two workers making it at once both get the one that was stored first."""
        await self.conn.execute(
            upsert(self.conn, instance_secrets)
            .values(name=name, value=make(), created_at=at)
            .on_conflict_do_nothing(index_elements=[instance_secrets.c.name])
        )
        value = await self.get(name)
        assert value is not None  # inserted just now, or by whoever was first
        return value

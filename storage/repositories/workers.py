from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import workers
from storage.upsert import insert


def worker_gone(owner: sa.ColumnElement[str], silent_since: datetime) -> sa.ColumnElement[bool]:
    """The worker named in `owner` has said nothing since `silent_since`: it died (or lost the
    database), so what it claimed or holds may be taken over. A worker with no heartbeat row
    at all (one that never ticks, as in tests) counts as alive: its lease decides."""
    return sa.exists().where(workers.c.id == owner, workers.c.seen_at < silent_since)


class WorkerRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def beat(self, worker_id: str, now: datetime) -> None:
        await self.conn.execute(
            insert(self.conn, workers).values(id=worker_id, seen_at=now).on_conflict_do_update(
                index_elements=[workers.c.id], set_={"seen_at": now})
        )

    async def leave(self, worker_id: str) -> None:
        await self.conn.execute(workers.delete().where(workers.c.id == worker_id))

    async def prune(self, before: datetime) -> int:
        """Forget workers silent since `before` (long dead): their claims were taken over."""
        result = await self.conn.execute(workers.delete().where(workers.c.seen_at < before))
        return result.rowcount

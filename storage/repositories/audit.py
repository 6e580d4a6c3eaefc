from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import audit_log
from storage.upsert import insert as upsert


def repeat_key(at: datetime, actor: str, action: str) -> str:
    """What makes two entries one: the same action by the same actor in the same UTC minute."""
    minute = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
    return f"{action}|{actor}|{minute}"


class AuditRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def record(
        self,
        at: datetime,
        actor: str,
        action: str,
        campaign_id: int | None = None,
        **detail: Any,
    ) -> None:
        await self.conn.execute(
            audit_log.insert().values(
                at=at, actor=actor, action=action, campaign_id=campaign_id, detail=detail
            )
        )

    async def record_repeated(
        self,
        at: datetime,
        actor: str,
        action: str,
        campaign_id: int | None = None,
        **detail: Any,
    ) -> None:
        """Like `record`, for what one person can repeat thousands of times (a refused staff
        command): the first time in a minute writes the row, with its time and detail; every
        repeat in that minute adds one to its `repeats`. One statement, so workers sharing the
        database count every repeat exactly once between them."""
        statement = upsert(self.conn, audit_log).values(
            at=at, actor=actor, action=action, campaign_id=campaign_id, detail=detail,
            repeats=1, dedup_key=repeat_key(at, actor, action),
        )
        await self.conn.execute(statement.on_conflict_do_update(
            index_elements=[audit_log.c.dedup_key],
            set_={"repeats": audit_log.c.repeats + 1},
        ))

    async def entries(self, campaign_id: int | None = None, limit: int = 100,
                      actions: Collection[str] | None = None,
                      before: int | None = None) -> list[dict]:
        """The newest first; only `actions`, when given; only below id `before`, when given."""
        query = audit_log.select().order_by(audit_log.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(audit_log.c.id < before)
        if campaign_id is not None:
            query = query.where(audit_log.c.campaign_id == campaign_id)
        if actions is not None:
            query = query.where(audit_log.c.action.in_(sorted(actions)))
        rows = (await self.conn.execute(query)).mappings().all()
        return [dict(row) for row in rows]

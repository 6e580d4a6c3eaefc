from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import audit_log


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

    async def entries(self, campaign_id: int | None = None, limit: int = 100) -> list[dict]:
        query = audit_log.select().order_by(audit_log.c.id.desc()).limit(limit)
        if campaign_id is not None:
            query = query.where(audit_log.c.campaign_id == campaign_id)
        rows = (await self.conn.execute(query)).mappings().all()
        return [dict(row) for row in rows]

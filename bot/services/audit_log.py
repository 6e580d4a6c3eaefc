"""Reading the audit log (every service writes its own entries in the same transaction as the
change they record)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.database import Database
from storage.repositories import AuditRepository


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    campaign_id: int | None
    detail: dict


class AuditLogService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def latest(self, limit: int = 20) -> list[AuditEntry]:
        """The newest entries first, from every campaign (refusals have none)."""
        async with self.db.read() as conn:
            rows = await AuditRepository(conn).entries(limit=limit)
        return [AuditEntry(r["at"], r["actor"], r["action"], r["campaign_id"], r["detail"] or {})
                for r in rows]

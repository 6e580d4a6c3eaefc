from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Announcement, AnnouncementKind
from storage.tables import announced_phases, announcements
from storage.upsert import insert

PLANNED = "planned"
SENT = "sent"
SKIPPED = "skipped"
CANCELLED = "cancelled"

REOPENING_KINDS = {AnnouncementKind.SUBMISSION_REOPENS.value,
                   AnnouncementKind.VOTING_REOPENS.value}


def _announcement(row) -> Announcement:
    return Announcement(
        id=row["id"], campaign_id=row["campaign_id"], kind=AnnouncementKind(row["kind"]),
        due_at=row["due_at"], status=row["status"], broadcast_id=row["broadcast_id"],
    )


class AnnouncementRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def replan(
        self, campaign_id: int, wanted: list[tuple[AnnouncementKind, datetime]], now: datetime
    ) -> None:
        """Make the planned rows exactly `wanted`. What was sent or skipped stays as history;
        a planned row whose time is no longer in the plan is cancelled, never fired."""
        rows = (
            await self.conn.execute(
                announcements.select().where(announcements.c.campaign_id == campaign_id)
            )
        ).mappings().all()
        # Reopenings are planned apart (`plan_reopening`), not from the calendar: left alone.
        existing = {(AnnouncementKind(r["kind"]), r["due_at"]): r for r in rows
                    if r["kind"] not in REOPENING_KINDS}
        wanted_keys = set(wanted)
        for key, row in existing.items():
            if row["status"] == PLANNED and key not in wanted_keys:
                await self._set_status(row["id"], CANCELLED, now)
            elif row["status"] == CANCELLED and key in wanted_keys:
                await self._set_status(row["id"], PLANNED, now)
        new = [key for key in wanted if key not in existing]
        if new:
            await self.conn.execute(
                announcements.insert(),
                [
                    {"campaign_id": campaign_id, "kind": kind.value, "due_at": due,
                     "status": PLANNED, "updated_at": now}
                    for kind, due in new
                ],
            )

    async def _set_status(self, announcement_id: int, status: str, now: datetime) -> None:
        await self.conn.execute(
            announcements.update()
            .where(announcements.c.id == announcement_id)
            .values(status=status, updated_at=now)
        )

    async def revive_skipped(self, campaign_id: int,
                             wanted: list[tuple[AnnouncementKind, datetime]],
                             after: datetime, now: datetime) -> int:
        """Skipped announcements of the campaign's plan (`wanted`) whose time is still to
        come (the clock stepped back after they were judged stale): planned again. What was
        sent stays sent (never twice), and what the plan no longer calls for stays skipped."""
        rows = (await self.conn.execute(
            announcements.select().where(
                announcements.c.campaign_id == campaign_id,
                announcements.c.status == SKIPPED, announcements.c.due_at > after)
        )).mappings().all()
        plan = set(wanted)
        revived = [r["id"] for r in rows if (AnnouncementKind(r["kind"]), r["due_at"]) in plan]
        for announcement_id in revived:
            await self._set_status(announcement_id, PLANNED, now)
        return len(revived)

    async def add_sent(
        self, campaign_id: int, kind: AnnouncementKind, at: datetime, broadcast_id: int
    ) -> None:
        """An announcement made on demand (e.g. results published), recorded as sent."""
        await self.conn.execute(
            announcements.insert().values(
                campaign_id=campaign_id, kind=kind.value, due_at=at, status=SENT,
                broadcast_id=broadcast_id, updated_at=at,
            )
        )

    async def due(self, now: datetime) -> list[Announcement]:
        rows = await self.conn.execute(
            announcements.select()
            .where(announcements.c.status == PLANNED, announcements.c.due_at <= now)
            .order_by(announcements.c.due_at, announcements.c.id)
        )
        return [_announcement(r) for r in rows.mappings()]

    async def settle(
        self, announcement_id: int, status: str, now: datetime, broadcast_id: int | None = None
    ) -> bool:
        """Move a planned announcement to sent or skipped; False if it was no longer planned."""
        result = await self.conn.execute(
            announcements.update()
            .where(announcements.c.id == announcement_id, announcements.c.status == PLANNED)
            .values(status=status, broadcast_id=broadcast_id, updated_at=now)
        )
        return result.rowcount == 1

    async def of_campaign(self, campaign_id: int) -> list[Announcement]:
        rows = await self.conn.execute(
            announcements.select()
            .where(announcements.c.campaign_id == campaign_id)
            .order_by(announcements.c.due_at, announcements.c.id)
        )
        return [_announcement(r) for r in rows.mappings()]

    async def upcoming(self, campaign_id: int) -> list[Announcement]:
        rows = await self.conn.execute(
            announcements.select()
            .where(announcements.c.campaign_id == campaign_id, announcements.c.status == PLANNED)
            .order_by(announcements.c.due_at)
        )
        return [_announcement(r) for r in rows.mappings()]

    async def plan_reopening(self, campaign_id: int, phase: str, kind: AnnouncementKind,
                             now: datetime) -> bool:
        """Subscribers were last told `phase` closed but it is open again: plan `kind`
        (its reopening) now, unless one is already planned. True if planned."""
        told = await self.announced_state(campaign_id, phase)
        if told != "closed":
            return False
        planned = await self.conn.scalar(
            sa.select(sa.func.count()).select_from(announcements).where(
                announcements.c.campaign_id == campaign_id,
                announcements.c.kind == kind.value, announcements.c.status == PLANNED))
        if planned:
            return False
        # ON CONFLICT: two replans in the same instant plan it once.
        result = await self.conn.execute(
            insert(self.conn, announcements).values(
                campaign_id=campaign_id, kind=kind.value, due_at=now, status=PLANNED,
                updated_at=now,
            ).on_conflict_do_nothing())
        return result.rowcount == 1

    async def announced_state(self, campaign_id: int, phase: str) -> str | None:
        """What subscribers were last told about `phase`: "open", "closed" or None."""
        return await self.conn.scalar(
            sa.select(announced_phases.c.state).where(
                announced_phases.c.campaign_id == campaign_id,
                announced_phases.c.phase == phase))

    async def tell(self, campaign_id: int, phase: str, state: str, before: str | None,
                   announcement_id: int, now: datetime) -> bool:
        """Record that subscribers are told `phase` is now `state`, if they were last told
        `before` (as read in this transaction): compare and set, so of two workers only one
        announces a change. False: somebody else changed it first."""
        if before is None:
            result = await self.conn.execute(
                insert(self.conn, announced_phases).values(
                    campaign_id=campaign_id, phase=phase, state=state,
                    announcement_id=announcement_id, updated_at=now,
                ).on_conflict_do_nothing())
        else:
            result = await self.conn.execute(
                announced_phases.update().where(
                    announced_phases.c.campaign_id == campaign_id,
                    announced_phases.c.phase == phase, announced_phases.c.state == before,
                ).values(state=state, announcement_id=announcement_id, updated_at=now))
        return result.rowcount == 1

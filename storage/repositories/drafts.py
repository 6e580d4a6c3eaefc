from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.drafts import Draft, Step
from storage.tables import citizens, submission_drafts


def _draft(row) -> Draft:
    return Draft(
        campaign_id=row["campaign_id"],
        citizen_id=row["citizen_id"],
        step=Step(row["step"]),
        answers=dict(row["answers"]),
        from_preview=row["from_preview"],
        started_at=row["started_at"],
    )


class DraftRepository:
    """One draft per citizen: the case they are writing by chat."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, citizen_id: int) -> Draft | None:
        row = (await self.conn.execute(
            submission_drafts.select().where(submission_drafts.c.citizen_id == citizen_id)
        )).mappings().first()
        return _draft(row) if row else None

    async def save(self, draft: Draft, now: datetime) -> None:
        values = {
            "campaign_id": draft.campaign_id,
            "step": draft.step.value,
            "answers": dict(draft.answers),
            "from_preview": draft.from_preview,
            "updated_at": now,
        }
        updated = await self.conn.execute(
            submission_drafts.update()
            .where(submission_drafts.c.citizen_id == draft.citizen_id).values(**values)
        )
        if updated.rowcount == 0:
            await self.conn.execute(submission_drafts.insert().values(
                citizen_id=draft.citizen_id, started_at=draft.started_at or now, **values))

    async def delete(self, citizen_id: int, started_at: datetime | None = None) -> None:
        """The citizen's draft; with `started_at`, only the draft begun then (not one begun
        since by another transaction)."""
        query = submission_drafts.delete().where(submission_drafts.c.citizen_id == citizen_id)
        if started_at is not None:
            query = query.where(submission_drafts.c.started_at == started_at)
        await self.conn.execute(query)

    async def steps_on(self, channel: str) -> dict[str, Step]:
        """Each chat account on `channel` that has a draft, and the step it is at."""
        rows = await self.conn.execute(
            sa.select(citizens.c.external_id, submission_drafts.c.step)
            .join(citizens, citizens.c.id == submission_drafts.c.citizen_id)
            .where(citizens.c.channel == channel)
        )
        return {external_id: Step(step) for external_id, step in rows}

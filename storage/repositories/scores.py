from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Role
from storage.tables import citizens, scores, staff_roles
from storage.upsert import insert as upsert


class ScoreRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def set(
        self, campaign_id: int, case_id: int, judge_id: int, criterion: int, score: float,
        now: datetime,
    ) -> float | None:
        """Record a score; returns the previous one (None if new), for the audit log.

        Safe when the same score is sent twice at once: the INSERT either creates the row
        (nothing came before) or, on PostgreSQL, waits for a concurrent insert to commit and
        does nothing; then the row is read under a lock (FOR UPDATE) and changed while held, so
        the previous score is the one this write replaces."""
        created = await self.conn.scalar(
            upsert(self.conn, scores).values(
                campaign_id=campaign_id, case_id=case_id, judge_id=judge_id,
                criterion=criterion, score=score, updated_at=now,
            ).on_conflict_do_nothing(
                index_elements=[scores.c.case_id, scores.c.judge_id, scores.c.criterion],
            ).returning(scores.c.id)
        )
        if created is not None:
            return None
        this = (scores.c.case_id == case_id, scores.c.judge_id == judge_id,
                scores.c.criterion == criterion)
        previous = await self.conn.scalar(
            sa.select(scores.c.score).where(*this).with_for_update()
        )
        await self.conn.execute(scores.update().where(*this).values(score=score, updated_at=now))
        return previous

    async def of_campaign(self, campaign_id: int) -> list[dict]:
        """Every score row: case_id, judge_id, criterion, score, updated_at."""
        rows = await self.conn.execute(
            sa.select(scores.c.case_id, scores.c.judge_id, scores.c.criterion, scores.c.score,
                      scores.c.updated_at)
            .where(scores.c.campaign_id == campaign_id)
            .order_by(scores.c.case_id, scores.c.judge_id, scores.c.criterion)
        )
        return [dict(r) for r in rows.mappings()]

    async def judge_totals(self, campaign_id: int) -> dict[int, list[float]]:
        """case id -> each judge's total over the criteria, in one query."""
        rows = await self.conn.execute(
            sa.select(scores.c.case_id, scores.c.judge_id, sa.func.sum(scores.c.score))
            .where(scores.c.campaign_id == campaign_id)
            .group_by(scores.c.case_id, scores.c.judge_id)
        )
        totals: dict[int, list[float]] = {}
        for case_id, _judge, total in rows:
            totals.setdefault(case_id, []).append(float(total))
        return totals

    async def idle_judges(self, campaign_id: int) -> list[tuple[str, str, str | None]]:
        """The judges (staff role "judge") who have scored no case of the campaign: (channel,
        external id, username), in the order they were granted."""
        scored = sa.select(scores.c.judge_id).where(scores.c.campaign_id == campaign_id)
        rows = await self.conn.execute(
            sa.select(staff_roles.c.channel, staff_roles.c.external_id, citizens.c.username)
            .select_from(staff_roles.outerjoin(citizens, sa.and_(
                citizens.c.channel == staff_roles.c.channel,
                citizens.c.external_id == staff_roles.c.external_id)))
            .where(staff_roles.c.role == Role.JUDGE.value,
                   sa.or_(citizens.c.id.is_(None), citizens.c.id.not_in(scored)))
            .order_by(staff_roles.c.granted_at, staff_roles.c.external_id)
        )
        return [(channel, external_id, username) for channel, external_id, username in rows]


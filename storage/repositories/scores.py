from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import scores


class ScoreRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def set(
        self, campaign_id: int, case_id: int, judge_id: int, criterion: int, score: float,
        now: datetime,
    ) -> float | None:
        """Record a score; returns the previous one (None if new), for the audit log."""
        previous = await self.conn.scalar(
            sa.select(scores.c.score).where(
                scores.c.case_id == case_id, scores.c.judge_id == judge_id,
                scores.c.criterion == criterion,
            )
        )
        if previous is None:
            await self.conn.execute(scores.insert().values(
                campaign_id=campaign_id, case_id=case_id, judge_id=judge_id,
                criterion=criterion, score=score, updated_at=now,
            ))
        else:
            await self.conn.execute(
                scores.update()
                .where(scores.c.case_id == case_id, scores.c.judge_id == judge_id,
                       scores.c.criterion == criterion)
                .values(score=score, updated_at=now)
            )
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

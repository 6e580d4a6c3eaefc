"""Read-only aggregates for staff reports (tally, dashboard, exports): each method is one
query, whatever the number of votes or cases."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Case
from storage.repositories.cases import case_from_row
from storage.tables import campaigns, cases, votes


class ReportRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def cases_with_votes(self, campaign_id: int) -> list[tuple[Case, int]]:
        """Every case of the campaign, whatever its status, with the votes it holds."""
        counted = (
            sa.select(votes.c.case_id, sa.func.count().label("n"))
            .where(votes.c.campaign_id == campaign_id)
            .group_by(votes.c.case_id)
            .subquery()
        )
        rows = await self.conn.execute(
            sa.select(cases, sa.func.coalesce(counted.c.n, 0).label("votes"))
            .select_from(cases.outerjoin(counted, counted.c.case_id == cases.c.id))
            .where(cases.c.campaign_id == campaign_id)
            .order_by(cases.c.id)
        )
        return [(case_from_row(row), int(row["votes"])) for row in rows.mappings()]

    async def vote_log(self, campaign_id: int, after: tuple[datetime, int] | None = None,
                       limit: int | None = None) -> list[tuple[int, int, datetime, int]]:
        """(citizen id, case id, cast at, vote id) for the votes after `after` (a vote's cast
        at and id), oldest first; at most `limit` of them. Served in this order by the index
        ix_votes_campaign_cast, so each page starts where the last one stopped."""
        query = (sa.select(votes.c.citizen_id, votes.c.case_id, votes.c.cast_at, votes.c.id)
                 .where(votes.c.campaign_id == campaign_id)
                 .order_by(votes.c.cast_at, votes.c.id).limit(limit))
        if after is not None:
            cast_at, vote_id = after  # bound as the column stores it (UTCDateTime)
            query = query.where(sa.tuple_(votes.c.cast_at, votes.c.id) > sa.tuple_(
                sa.literal(cast_at, votes.c.cast_at.type), sa.literal(vote_id)))
        rows = await self.conn.execute(query)
        return [(citizen_id, case_id, at, vote_id) for citizen_id, case_id, at, vote_id in rows]

    async def vote_total(self, campaign_id: int) -> int:
        return int(await self.conn.scalar(
            sa.select(sa.func.count()).select_from(votes)
            .where(votes.c.campaign_id == campaign_id)) or 0)

    async def created_at(self, campaign_id: int) -> datetime | None:
        return await self.conn.scalar(
            sa.select(campaigns.c.created_at).where(campaigns.c.id == campaign_id)
        )

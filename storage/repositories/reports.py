"""Read-only aggregates for staff reports (tally, dashboard, exports): each method is one
query, whatever the number of votes or cases."""

from __future__ import annotations

from datetime import UTC, datetime

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

    async def voters(self, campaign_id: int) -> int:
        return await self.conn.scalar(
            sa.select(sa.func.count(sa.distinct(votes.c.voter)))
            .where(votes.c.campaign_id == campaign_id)
        ) or 0

    async def votes_per_utc_hour(self, campaign_id: int) -> dict[datetime, int]:
        """Votes grouped by the UTC hour they were cast in (aware UTC hour starts)."""
        if self.conn.dialect.name == "sqlite":
            hour = sa.func.strftime("%Y-%m-%d %H:00:00", votes.c.cast_at)
        else:
            hour = sa.func.date_trunc("hour", votes.c.cast_at)
        rows = await self.conn.execute(
            sa.select(hour.label("hour"), sa.func.count())
            .where(votes.c.campaign_id == campaign_id)
            .group_by(hour)
        )
        found: dict[datetime, int] = {}
        for value, n in rows:
            start = datetime.fromisoformat(value) if isinstance(value, str) else value
            found[start.replace(tzinfo=UTC)] = n
        return found

    async def vote_log(self, campaign_id: int) -> list[tuple[int, int, datetime]]:
        """(citizen id, case id, cast at) for every vote, oldest first."""
        rows = await self.conn.execute(
            sa.select(votes.c.citizen_id, votes.c.case_id, votes.c.cast_at)
            .where(votes.c.campaign_id == campaign_id)
            .order_by(votes.c.cast_at, votes.c.id)
        )
        return [(citizen_id, case_id, at) for citizen_id, case_id, at in rows]

    async def created_at(self, campaign_id: int) -> datetime | None:
        return await self.conn.scalar(
            sa.select(campaigns.c.created_at).where(campaigns.c.id == campaign_id)
        )

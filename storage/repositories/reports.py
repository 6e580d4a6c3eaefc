"""Read-only aggregates for staff reports (tally, dashboard, exports): each method is one
query, whatever the number of votes or cases."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Case
from storage.repositories.cases import case_from_row
from storage.tables import campaigns, cases, citizens, votes


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

    def _epoch(self, column: sa.ColumnElement) -> sa.ColumnElement[int]:
        """Whole seconds since 1970 of a stored (naive UTC) instant, in this dialect."""
        if self.conn.dialect.name == "sqlite":
            return sa.cast(sa.func.strftime("%s", column), sa.Integer)
        return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)

    async def votes_per_window(self, campaign_id: int, window_seconds: int,
                               new_within_seconds: int) -> list[tuple[int, datetime, int, int]]:
        """(case id, window start, votes, votes from accounts first seen less than
        `new_within_seconds` before their vote), per case and clock-aligned UTC window of
        `window_seconds`, for windows holding votes: one query."""
        cast_at = self._epoch(votes.c.cast_at)
        window = (cast_at // window_seconds).label("window")
        new = sa.case((cast_at - self._epoch(citizens.c.first_seen) < new_within_seconds, 1),
                      else_=0)
        rows = await self.conn.execute(
            sa.select(votes.c.case_id, window, sa.func.count(), sa.func.sum(new))
            .select_from(votes.join(citizens, citizens.c.id == votes.c.citizen_id))
            .where(votes.c.campaign_id == campaign_id)
            .group_by(votes.c.case_id, window)
        )
        return [(case_id, datetime.fromtimestamp(int(w) * window_seconds, UTC), int(n),
                 int(fresh or 0)) for case_id, w, n, fresh in rows]

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

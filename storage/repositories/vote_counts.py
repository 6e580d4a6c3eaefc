"""Counts kept as votes are cast (the `vote_counts` table): every write of a vote adds to its
row in the same transaction, so the live tally and the dashboard read a few hundred rows, not
a million votes. `recount` rebuilds them from the votes (the migration that made the table, and
the benchmarks that load votes in bulk)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Vote
from storage.tables import UTCDateTime, citizens, vote_counts, votes
from storage.upsert import insert_into

WINDOW_SECONDS = 600  # the counters' grain: every window the reports ask for is a multiple
FRESH_SECONDS = 1800  # "a new account": first seen less than this before its vote


def epoch(dialect: str, value: sa.ColumnElement) -> sa.ColumnElement[int]:
    """Whole seconds since 1970 of a stored (naive UTC) instant, in the dialect named."""
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", value), sa.Integer)
    return sa.cast(sa.func.floor(sa.extract("epoch", value)), sa.BigInteger)


def counted(dialect: str, cast_at: sa.ColumnElement, slot: sa.ColumnElement,
            first_seen: sa.ColumnElement) -> list[sa.ColumnElement]:
    """The window, first-vote and fresh-vote columns of one vote, as SQL: the one definition
    used both when a vote is cast and when all are recounted."""
    at = epoch(dialect, cast_at)
    return [
        at - at % WINDOW_SECONDS,
        sa.case((slot == 1, 1), else_=0),
        sa.case((at - epoch(dialect, first_seen) < FRESH_SECONDS, 1), else_=0),
    ]


@functools.cache
def _add(dialect: str) -> sa.Insert:
    """Count a vote with sign 1, or take it out with -1 (the old place of a moved vote): the
    account's first-seen time read inside the statement. Built once per dialect (building
    it cost more than running it); the vote comes as parameters."""
    sign = sa.bindparam("sign", type_=sa.Integer)
    window, first, fresh = counted(
        dialect, sa.bindparam("cast_at", type_=UTCDateTime()),
        sa.bindparam("slot", type_=sa.Integer), citizens.c.first_seen)
    row = sa.select(
        sa.bindparam("campaign_id", type_=sa.Integer), sa.bindparam("case_id", type_=sa.Integer),
        window, sign, first * sign, fresh * sign,
    ).where(citizens.c.id == sa.bindparam("citizen_id", type_=sa.Integer))
    statement = insert_into(dialect, vote_counts).from_select(
        ["campaign_id", "case_id", "window_start", "votes", "first_votes", "fresh_votes"], row)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["campaign_id", "case_id", "window_start"],
        set_={"votes": vote_counts.c.votes + excluded.votes,
              "first_votes": vote_counts.c.first_votes + excluded.first_votes,
              "fresh_votes": vote_counts.c.fresh_votes + excluded.fresh_votes})


class VoteCountRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, vote: Vote, sign: int = 1) -> None:
        """Count `vote` (sign 1) or take it out (sign -1, the old place of a moved vote): one
        statement, the account's first-seen time read inside it."""
        await self.conn.execute(_add(self.conn.dialect.name), {
            "campaign_id": vote.campaign_id, "case_id": vote.case_id, "cast_at": vote.cast_at,
            "slot": vote.slot, "sign": sign, "citizen_id": vote.citizen_id})

    async def per_case(self, campaign_id: int) -> dict[int, int]:
        """Votes per case holding any (cases whose votes all moved away included, at 0)."""
        rows = await self.conn.execute(
            sa.select(vote_counts.c.case_id, sa.func.sum(vote_counts.c.votes))
            .where(vote_counts.c.campaign_id == campaign_id)
            .group_by(vote_counts.c.case_id))
        return {case_id: int(n) for case_id, n in rows}

    async def voters(self, campaign_id: int) -> int:
        return int(await self.conn.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(vote_counts.c.first_votes), 0))
            .where(vote_counts.c.campaign_id == campaign_id)) or 0)

    async def per_window(self, campaign_id: int, window_seconds: int,
                         min_fresh: int = 0) -> list[tuple[int, datetime, int, int]]:
        """(case id, window start, votes, fresh votes) per case and clock-aligned UTC window of
        `window_seconds` (a multiple of WINDOW_SECONDS), for windows holding votes (and at
        least `min_fresh` fresh ones: the database leaves the others out)."""
        start = _window_start(window_seconds)
        fresh = sa.func.sum(vote_counts.c.fresh_votes)
        query = (sa.select(vote_counts.c.case_id, start.label("start"),
                           sa.func.sum(vote_counts.c.votes), fresh)
                 .where(vote_counts.c.campaign_id == campaign_id)
                 .group_by(vote_counts.c.case_id, start))
        if min_fresh:
            query = query.having(fresh >= min_fresh)
        rows = await self.conn.execute(query)
        return [(case_id, datetime.fromtimestamp(int(at), UTC), int(n), int(fresh))
                for case_id, at, n, fresh in rows if n]

    async def per_utc_hour(self, campaign_id: int) -> dict[datetime, int]:
        """Votes per UTC hour they were cast in (aware UTC hour starts), hours holding votes:
        one row per hour from the database, whatever the number of cases."""
        start = _window_start(3600)
        rows = await self.conn.execute(
            sa.select(start, sa.func.sum(vote_counts.c.votes))
            .where(vote_counts.c.campaign_id == campaign_id).group_by(start))
        return {datetime.fromtimestamp(int(at), UTC): int(n) for at, n in rows if n}

    async def recount(self, campaign_id: int | None = None) -> None:
        """Rebuild the counts from the votes (of one campaign, or all)."""
        await recount(self.conn, campaign_id)


def _window_start(window_seconds: int) -> sa.ColumnElement[int]:
    if window_seconds % WINDOW_SECONDS:
        raise ValueError(f"windows are counted in steps of {WINDOW_SECONDS} s")
    return vote_counts.c.window_start - vote_counts.c.window_start % window_seconds


async def recount(conn: AsyncConnection, campaign_id: int | None = None) -> None:
    await conn.run_sync(recount_sync, campaign_id)


def recount_sync(conn: sa.Connection, campaign_id: int | None = None) -> None:
    """`recount` on a synchronous connection (the migration's)."""
    mine = [] if campaign_id is None else [vote_counts.c.campaign_id == campaign_id]
    conn.execute(vote_counts.delete().where(*mine))
    window, first, fresh = counted(conn.dialect.name, votes.c.cast_at, votes.c.slot,
                                   citizens.c.first_seen)
    per_vote = (
        sa.select(votes.c.campaign_id, votes.c.case_id, window.label("window_start"),
                  first.label("first_votes"), fresh.label("fresh_votes"))
        .select_from(votes.join(citizens, citizens.c.id == votes.c.citizen_id))
        .where(*([] if campaign_id is None else [votes.c.campaign_id == campaign_id]))
        .subquery())
    conn.execute(vote_counts.insert().from_select(
        ["campaign_id", "case_id", "window_start", "votes", "first_votes", "fresh_votes"],
        sa.select(per_vote.c.campaign_id, per_vote.c.case_id, per_vote.c.window_start,
                  sa.func.count(), sa.func.sum(per_vote.c.first_votes),
                  sa.func.sum(per_vote.c.fresh_votes))
        .group_by(per_vote.c.campaign_id, per_vote.c.case_id, per_vote.c.window_start)))

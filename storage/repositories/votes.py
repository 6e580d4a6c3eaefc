from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import CaseStatus, PhaseName, Vote
from storage.repositories.vote_counts import VoteCountRepository
from storage.tables import UTCDateTime, cases, phases, votes
from storage.upsert import insert as upsert
from storage.upsert import new_id


def _vote(row) -> Vote:
    return Vote(
        id=row["id"],
        campaign_id=row["campaign_id"],
        citizen_id=row["citizen_id"],
        case_id=row["case_id"],
        slot=row["slot"],
        cast_at=row["cast_at"],
        receipt=row["receipt"],
    )


def _voting_open(campaign_id: int, at: datetime) -> sa.ColumnElement[bool]:
    """The campaign's voting phase, as stored, holds `at`: start <= at < end, as
    bot.domain.Phase.status_at has it."""
    when = sa.literal(at, UTCDateTime())
    return sa.exists().where(
        phases.c.campaign_id == campaign_id, phases.c.name == PhaseName.VOTING.value,
        phases.c.starts_at <= when, phases.c.ends_at > when,
    )


class VoteRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def of_voter(self, campaign_id: int, voter: str, lock: bool = False) -> list[Vote]:
        """The votes a voter holds (whichever of its accounts cast them). `lock`: for a vote
        about to be cast (PostgreSQL; SQLite has one writer anyway): another transaction
        casting for this voter waits, then reads the votes as left."""
        query = (
            votes.select()
            .where(votes.c.campaign_id == campaign_id, votes.c.voter == voter)
            .order_by(votes.c.slot)
        )
        rows = await self.conn.execute(query.with_for_update() if lock else query)
        return [_vote(r) for r in rows.mappings()]

    async def insert(
        self, campaign_id: int, citizen_id: int, case_id: int, slot: int, at: datetime,
        receipt: str, voter: str,
    ) -> Vote:
        """Raises IntegrityError when the slot or the case is already taken by this voter."""
        result = await self.conn.execute(
            votes.insert().values(
                campaign_id=campaign_id, citizen_id=citizen_id, case_id=case_id, slot=slot,
                cast_at=at, receipt=receipt, voter=voter,
            )
        )
        vote = Vote(new_id(result), campaign_id, citizen_id, case_id, slot, at, receipt)
        await VoteCountRepository(self.conn).add(vote)
        return vote

    async def insert_first(self, campaign_id: int, citizen_id: int, case_id: int,
                           at: datetime, receipt: str, voter: str) -> Vote | None:
        """The citizen's first vote, in slot 1, if voting is open at `at` (by the phase times
        stored now) and the case is open to votes in this campaign: one statement. None
        (nothing written) when voting is not open, the case is not votable, or the citizen
        already holds a vote in slot 1 or for this case (as its voter)."""
        votable = sa.select(
            sa.literal(campaign_id), sa.literal(citizen_id), cases.c.id, sa.literal(1),
            sa.literal(at, UTCDateTime()), sa.literal(receipt), sa.literal(voter),
        ).where(cases.c.id == case_id, cases.c.campaign_id == campaign_id,
                cases.c.status == CaseStatus.APPROVED.value, _voting_open(campaign_id, at))
        vote_id = await self.conn.scalar(
            upsert(self.conn, votes).from_select(
                ["campaign_id", "citizen_id", "case_id", "slot", "cast_at", "receipt", "voter"],
                votable,
            ).on_conflict_do_nothing().returning(votes.c.id)
        )
        if vote_id is None:
            return None
        vote = Vote(vote_id, campaign_id, citizen_id, case_id, 1, at, receipt)
        await VoteCountRepository(self.conn).add(vote)
        return vote

    async def move(self, vote: Vote, case_id: int, at: datetime, receipt: str,
                   citizen_id: int) -> Vote | None:
        """Move `vote` to another case, by the account `citizen_id` (the voter's, on any
        channel), only if it is still as read (its receipt): None, and nothing written, when
        another transaction moved it first."""
        result = await self.conn.execute(
            votes.update()
            .where(votes.c.id == vote.id, votes.c.receipt == vote.receipt)
            .values(case_id=case_id, cast_at=at, receipt=receipt, citizen_id=citizen_id)
        )
        if result.rowcount != 1:
            return None
        moved = Vote(vote.id, vote.campaign_id, citizen_id, case_id, vote.slot, at, receipt)
        counts = VoteCountRepository(self.conn)
        await counts.add(vote, sign=-1)
        await counts.add(moved)
        return moved

    async def count_for_case(self, case_id: int) -> int:
        return await self.conn.scalar(
            sa.select(sa.func.count()).select_from(votes).where(votes.c.case_id == case_id)
        ) or 0

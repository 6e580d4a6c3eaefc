from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import CaseStatus, PhaseName, Vote
from storage.repositories.vote_counts import VoteCountRepository
from storage.tables import UTCDateTime, cases, phases, votes
from storage.upsert import insert_into, new_id


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


@functools.cache
def _first_vote(dialect: str) -> sa.Insert:
    """A citizen's first vote (slot 1) where voting is open at `cast_at` by the campaign's
    phase times as stored (start <= at < end, as bot.domain.Phase.status_at has it) and the
    case is approved in the campaign; nothing where the voter holds slot 1 or this case
    already. Built once per dialect; the vote comes as parameters."""
    campaign_id = sa.bindparam("campaign_id", type_=sa.Integer)
    case_id = sa.bindparam("case_id", type_=sa.Integer)
    at = sa.bindparam("cast_at", type_=UTCDateTime())
    voting_open = sa.exists().where(
        phases.c.campaign_id == campaign_id, phases.c.name == PhaseName.VOTING.value,
        phases.c.starts_at <= at, phases.c.ends_at > at,
    )
    votable = sa.select(
        campaign_id, sa.bindparam("citizen_id", type_=sa.Integer), cases.c.id, sa.literal(1),
        at, sa.bindparam("receipt", type_=sa.String), sa.bindparam("voter", type_=sa.String),
    ).where(cases.c.id == case_id, cases.c.campaign_id == campaign_id,
            cases.c.status == CaseStatus.APPROVED.value, voting_open)
    return insert_into(dialect, votes).from_select(
        ["campaign_id", "citizen_id", "case_id", "slot", "cast_at", "receipt", "voter"], votable,
    ).on_conflict_do_nothing().returning(votes.c.id)


# A voter's votes: read on every case shown and every vote. Built once.
_HELD = (votes.select()
         .where(votes.c.campaign_id == sa.bindparam("campaign_id", type_=sa.Integer),
                votes.c.voter == sa.bindparam("voter", type_=sa.String))
         .order_by(votes.c.slot))
_HELD_LOCKED = _HELD.with_for_update()


class VoteRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def of_voter(self, campaign_id: int, voter: str, lock: bool = False) -> list[Vote]:
        """The votes a voter holds (whichever of its accounts cast them). `lock`: for a vote
        about to be cast (PostgreSQL; SQLite has one writer anyway): another transaction
        casting for this voter waits, then reads the votes as left."""
        rows = await self.conn.execute(_HELD_LOCKED if lock else _HELD,
                                       {"campaign_id": campaign_id, "voter": voter})
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
        vote_id = await self.conn.scalar(_first_vote(self.conn.dialect.name), {
            "campaign_id": campaign_id, "citizen_id": citizen_id, "case_id": case_id,
            "cast_at": at, "receipt": receipt, "voter": voter})
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

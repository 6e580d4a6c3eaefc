from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Case, CaseStatus, CaseText
from storage.tables import cases, citizens, votes
from storage.upsert import new_id

TEXT_FIELDS = ("title", "summary", "body", "organization")


@dataclass(frozen=True)
class CaseFilter:
    district: str | None = None
    category: str | None = None
    # A search's result (bot/search.py matches in Python): only these cases, and `first`
    # (its title hits) before the others, each group in the usual order. None: no search.
    ids: tuple[int, ...] | None = None
    first: tuple[int, ...] = ()


# The shuffle's modulus: the prime 2**31 - 1. Every step keeps a value below it (case ids are
# 32-bit), so (value XOR key) * multiplier < 2**62 and nothing overflows a 64-bit integer on
# SQLite or PostgreSQL; both compute the same numbers.
SHUFFLE_PRIME = 2**31 - 1


@dataclass(frozen=True)
class Shuffle:
    """One citizen's stable random order: rounds of (value XOR key) * multiplier mod a prime,
    computed in SQL so a page stays a LIMIT/OFFSET page. Ties (rare) fall back to the id, so
    the order is total and every case is on exactly one page."""

    rounds: tuple[tuple[int, int], ...]  # (key < 2**31, multiplier in 1..prime-1)


class ByVotes:
    """Most votes first, then the earlier case."""


Order = Shuffle | ByVotes | None  # None: id order, the campaign file's order


def _xor(a, b):
    # SQLite has no XOR operator; (a | b) - (a & b) is XOR on both backends.
    return a.op("|")(b) - a.op("&")(b)


def _shuffled(shuffle: Shuffle):
    value = sa.cast(cases.c.id, sa.BigInteger)
    for key, multiplier in shuffle.rounds:
        mixed = _xor(value, sa.literal(key, sa.BigInteger)) * sa.literal(multiplier, sa.BigInteger)
        value = mixed % sa.literal(SHUFFLE_PRIME, sa.BigInteger)
    return value


def case_from_row(row) -> Case:
    en = None
    if row["title_en"]:
        en = CaseText(
            row["title_en"],
            row["summary_en"] or row["summary_ko"],
            row["body_en"] or row["body_ko"],
            row["organization_en"] or row["organization_ko"],
        )
    return Case(
        id=row["id"],
        campaign_id=row["campaign_id"],
        key=row["key"],
        status=CaseStatus(row["status"]),
        district=row["district"],
        neighbourhood=row["neighbourhood"],
        category=row["category"],
        ko=CaseText(row["title_ko"], row["summary_ko"], row["body_ko"], row["organization_ko"]),
        en=en,
        image=row["image"],
    )


def case_values(case: Case) -> dict:
    """The columns that describe a case (not its identity or timestamps)."""
    values = {
        "key": case.key,
        "status": case.status.value,
        "district": case.district,
        "neighbourhood": case.neighbourhood,
        "category": case.category,
        "image": case.image,
    }
    for name in TEXT_FIELDS:
        values[f"{name}_ko"] = getattr(case.ko, name)
        values[f"{name}_en"] = getattr(case.en, name) if case.en else None
    return values


# Read on nearly every press (a case opened, voted for): built once, the id a parameter.
_ONE = cases.select().where(cases.c.id == sa.bindparam("case_id", type_=sa.Integer))


class CaseRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    def _where(self, campaign_id: int, status: CaseStatus, filters: CaseFilter) -> list:
        conditions = [cases.c.campaign_id == campaign_id, cases.c.status == status.value]
        if filters.district:
            conditions.append(cases.c.district == filters.district)
        if filters.category:
            conditions.append(cases.c.category == filters.category)
        if filters.ids is not None:
            conditions.append(cases.c.id.in_(filters.ids))
        return conditions

    @staticmethod
    def _first(filters: CaseFilter) -> list:
        """The search's title hits before the rest (nothing when not searching)."""
        if not filters.first:
            return []
        return [sa.case((cases.c.id.in_(filters.first), 0), else_=1)]

    async def page(
        self,
        campaign_id: int,
        filters: CaseFilter,
        offset: int,
        limit: int,
        status: CaseStatus = CaseStatus.APPROVED,
        order: Order = None,
    ) -> tuple[list[Case], int]:
        """One page of cases in `order` and the total that match, in two queries."""
        conditions = self._where(campaign_id, status, filters)
        total = await self.conn.scalar(
            sa.select(sa.func.count()).select_from(cases).where(*conditions)
        )
        query = sa.select(cases).where(*conditions).order_by(*self._first(filters))
        if isinstance(order, Shuffle):
            query = query.order_by(_shuffled(order), cases.c.id)
        elif isinstance(order, ByVotes):
            counted = (
                sa.select(votes.c.case_id, sa.func.count().label("n"))
                .where(votes.c.campaign_id == campaign_id)
                .group_by(votes.c.case_id)
                .subquery()
            )
            query = (query.select_from(cases.outerjoin(counted, counted.c.case_id == cases.c.id))
                     .order_by(sa.func.coalesce(counted.c.n, 0).desc(), cases.c.id))
        else:
            query = query.order_by(cases.c.id)
        rows = await self.conn.execute(query.offset(offset).limit(limit))
        return [case_from_row(r) for r in rows.mappings()], total or 0

    async def matching_ids(
        self, campaign_id: int, filters: CaseFilter, status: CaseStatus = CaseStatus.APPROVED,
    ) -> list[int]:
        """The ids of every case that matches, for an order computed outside SQL."""
        rows = await self.conn.execute(
            sa.select(cases.c.id).where(*self._where(campaign_id, status, filters))
        )
        return list(rows.scalars())

    async def matching(
        self, campaign_id: int, filters: CaseFilter, status: CaseStatus = CaseStatus.APPROVED,
    ) -> list[Case]:
        """Every case that matches, texts and all: what a search looks through."""
        rows = await self.conn.execute(
            cases.select().where(*self._where(campaign_id, status, filters)).order_by(cases.c.id)
        )
        return [case_from_row(r) for r in rows.mappings()]

    async def get(self, case_id: int) -> Case | None:
        row = (await self.conn.execute(_ONE, {"case_id": case_id})).mappings().first()
        return case_from_row(row) if row else None

    async def all_of(self, campaign_id: int) -> list[Case]:
        """Every case of the campaign, whatever its status, by id."""
        rows = await self.conn.execute(
            cases.select().where(cases.c.campaign_id == campaign_id).order_by(cases.c.id))
        return [case_from_row(row) for row in rows.mappings()]

    async def many(self, case_ids: Iterable[int]) -> dict[int, Case]:
        ids = list(set(case_ids))
        if not ids:
            return {}
        rows = await self.conn.execute(cases.select().where(cases.c.id.in_(ids)))
        return {row["id"]: case_from_row(row) for row in rows.mappings()}

    async def from_file(self, campaign_id: int) -> dict[str, Case]:
        rows = await self.conn.execute(
            cases.select().where(cases.c.campaign_id == campaign_id, cases.c.source == "file")
        )
        return {row["key"]: case_from_row(row) for row in rows.mappings()}

    async def keys(self, campaign_id: int) -> set[str]:
        rows = await self.conn.execute(
            sa.select(cases.c.key).where(cases.c.campaign_id == campaign_id)
        )
        return set(rows.scalars())

    async def insert(self, case: Case, source: str, now: datetime,
                     submitter_id: int | None = None, submitter_type: str | None = None,
                     consented_at: datetime | None = None, contact: str | None = None) -> int:
        result = await self.conn.execute(
            cases.insert().values(
                campaign_id=case.campaign_id,
                source=source,
                submitter_id=submitter_id,
                submitter_type=submitter_type,
                consented_at=consented_at,
                contact=contact,
                created_at=now,
                updated_at=now,
                **case_values(case),
            )
        )
        return new_id(result)

    async def update(self, case_id: int, case: Case, now: datetime) -> None:
        await self.conn.execute(
            cases.update().where(cases.c.id == case_id).values(updated_at=now, **case_values(case))
        )

    async def set_status(self, case_id: int, status: CaseStatus, now: datetime) -> None:
        await self.conn.execute(
            cases.update().where(cases.c.id == case_id).values(status=status.value, updated_at=now)
        )

    async def set_status_with_reason(
        self, case_id: int, expected: CaseStatus, status: CaseStatus, reason: str | None,
        now: datetime,
    ) -> bool:
        """Moderation: move a case from `expected` to `status`; False if another moderator
        changed it first."""
        result = await self.conn.execute(
            cases.update()
            .where(cases.c.id == case_id, cases.c.status == expected.value)
            .values(status=status.value, status_reason=reason, updated_at=now)
        )
        return result.rowcount == 1

    async def with_status(
        self, campaign_id: int, status: CaseStatus, limit: int | None = None
    ) -> list[Case]:
        """Every case of the campaign in `status`, oldest first."""
        rows = await self.conn.execute(
            cases.select()
            .where(cases.c.campaign_id == campaign_id, cases.c.status == status.value)
            .order_by(cases.c.created_at, cases.c.id).limit(limit)
        )
        return [case_from_row(r) for r in rows.mappings()]

    async def submitted(self, campaign_id: int, limit: int = 100) -> list[Case]:
        """Cases waiting for moderation, oldest first."""
        return await self.with_status(campaign_id, CaseStatus.SUBMITTED, limit)

    async def staff_records(
        self, campaign_id: int, status: CaseStatus | None = None, case_id: int | None = None,
    ) -> list[tuple[Case, str | None, datetime, str | None]]:
        """For staff: the campaign's cases in `status` (or the one `case_id`), oldest first,
        each with staff's reason, when it entered and its submitter's channel (None for a
        case from the campaign file). Never the submitter's chat id."""
        query = (
            sa.select(cases, citizens.c.channel.label("submitter_channel"))
            .select_from(cases.outerjoin(citizens, citizens.c.id == cases.c.submitter_id))
            .where(cases.c.campaign_id == campaign_id)
            .order_by(cases.c.created_at, cases.c.id)
        )
        if status is not None:
            query = query.where(cases.c.status == status.value)
        if case_id is not None:
            query = query.where(cases.c.id == case_id)
        rows = await self.conn.execute(query)
        return [(case_from_row(r), r["status_reason"], r["created_at"], r["submitter_channel"])
                for r in rows.mappings()]

    async def submission(self, case_id: int) -> tuple[int, str | None] | None:
        """The citizen who sent a case in by chat and as what; None for file cases."""
        row = (await self.conn.execute(
            sa.select(cases.c.submitter_id, cases.c.submitter_type).where(cases.c.id == case_id)
        )).first()
        return None if row is None or row[0] is None else (row[0], row[1])

    async def contacts(self, campaign_id: int) -> dict[int, str]:
        """The contacts submitters left, by case: for the staff's export."""
        rows = await self.conn.execute(sa.select(cases.c.id, cases.c.contact).where(
            cases.c.campaign_id == campaign_id, cases.c.contact.is_not(None)))
        return {row.id: row.contact for row in rows}

    async def contact_of(self, case_id: int) -> str | None:
        """The submitter's contact, for staff only."""
        return await self.conn.scalar(sa.select(cases.c.contact).where(cases.c.id == case_id))

    async def withdraw_own(self, case_id: int, campaign_id: int, citizen_id: int,
                           now: datetime) -> bool:
        """The submitter takes back their case: only while it is still waiting for moderation,
        decided by the UPDATE itself (a moderator's approval at the same moment: one wins)."""
        result = await self.conn.execute(
            cases.update()
            .where(cases.c.id == case_id, cases.c.campaign_id == campaign_id,
                   cases.c.submitter_id == citizen_id,
                   cases.c.status == CaseStatus.SUBMITTED.value)
            .values(status=CaseStatus.WITHDRAWN.value, updated_at=now)
        )
        return result.rowcount == 1

    async def submitter_of(self, case_id: int) -> int | None:
        return await self.conn.scalar(
            sa.select(cases.c.submitter_id).where(cases.c.id == case_id)
        )

    async def by_submitter(
        self, campaign_id: int, citizen_id: int, case_id: int | None = None,
    ) -> list[tuple[Case, str | None, datetime, str | None]]:
        """The cases a citizen sent in by chat (or the one `case_id`, if it is theirs), oldest
        first, each with staff's reason, when it was sent and the contact they left."""
        query = (
            cases.select()
            .where(cases.c.campaign_id == campaign_id, cases.c.submitter_id == citizen_id)
            .order_by(cases.c.created_at, cases.c.id)
        )
        if case_id is not None:
            query = query.where(cases.c.id == case_id)
        rows = await self.conn.execute(query)
        return [(case_from_row(r), r["status_reason"], r["created_at"], r["contact"])
                for r in rows.mappings()]

    async def count_by_submitter(self, campaign_id: int, citizen_id: int) -> int:
        """The citizen's cases that count against the limit (a withdrawn one does not)."""
        return await self.conn.scalar(
            sa.select(sa.func.count()).select_from(cases)
            .where(cases.c.campaign_id == campaign_id, cases.c.submitter_id == citizen_id,
                   cases.c.status != CaseStatus.WITHDRAWN.value)
        ) or 0

    async def count_by_status(self, campaign_id: int) -> dict[CaseStatus, int]:
        rows = await self.conn.execute(
            sa.select(cases.c.status, sa.func.count())
            .where(cases.c.campaign_id == campaign_id)
            .group_by(cases.c.status)
        )
        return {CaseStatus(status): n for status, n in rows}

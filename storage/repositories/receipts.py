"""The public receipt list: the receipt of every vote the ranking counts (votes for approved
cases; a changed vote holds only its last receipt), and nothing about who cast it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Case, CaseStatus
from storage.repositories.cases import case_from_row
from storage.tables import cases, votes


class ReceiptRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    def _counted(self, campaign_id: int) -> sa.Select:
        # The same votes `ReportRepository.cases_with_votes` counts, kept to approved cases
        # as the ranking is.
        return (
            sa.select(cases, votes.c.receipt.label("vote_receipt"))
            .select_from(votes.join(cases, cases.c.id == votes.c.case_id))
            .where(votes.c.campaign_id == campaign_id,
                   cases.c.status == CaseStatus.APPROVED.value)
        )

    async def counted(self, campaign_id: int) -> list[tuple[Case, str]]:
        """(case, receipt) for every counted vote, by case then receipt."""
        rows = await self.conn.execute(
            self._counted(campaign_id).order_by(cases.c.id, votes.c.receipt))
        return [(case_from_row(row), row["vote_receipt"]) for row in rows.mappings()]

    async def count(self, campaign_id: int) -> int:
        """How many counted votes (receipts) there are: the same votes as `counted`."""
        return await self.conn.scalar(
            sa.select(sa.func.count())
            .select_from(votes.join(cases, cases.c.id == votes.c.case_id))
            .where(votes.c.campaign_id == campaign_id,
                   cases.c.status == CaseStatus.APPROVED.value)) or 0

    async def case_of(self, campaign_id: int, receipt: str) -> Case | None:
        """The approved case a counted vote with this receipt is for, if any."""
        row = (await self.conn.execute(
            self._counted(campaign_id).where(votes.c.receipt == receipt).limit(1)
        )).mappings().first()
        return case_from_row(row) if row is not None else None

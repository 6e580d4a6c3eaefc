"""Browsing the cases of a campaign: pages, filters, keyword search, one case."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import Campaign, Case, CasePage, CaseStatus
from storage.database import Database
from storage.repositories import CaseRepository, VoteRepository
from storage.repositories.cases import CaseFilter

PAGE_SIZE = 8
MAX_KEYWORD_LENGTH = 30


@dataclass(frozen=True)
class ListQuery:
    page: int = 0
    district: str | None = None
    category: str | None = None
    keyword: str | None = None


def clean_keyword(text: str | None) -> str | None:
    """A search word as typed: trimmed, bounded, None when nothing is left."""
    if text is None:
        return None
    word = " ".join(text.split())[:MAX_KEYWORD_LENGTH]
    return word or None


class CatalogService:
    def __init__(self, db: Database, page_size: int = PAGE_SIZE) -> None:
        self.db = db
        self.page_size = page_size

    async def list_cases(self, campaign: Campaign, query: ListQuery) -> CasePage:
        filters = CaseFilter(
            district=query.district if campaign.district(query.district) else None,
            category=query.category if campaign.category(query.category) else None,
            keyword=clean_keyword(query.keyword),
        )
        page = max(query.page, 0)
        async with self.db.read() as conn:
            repo = CaseRepository(conn)
            found, total = await repo.page(
                campaign.id, filters, page * self.page_size, self.page_size
            )
            pages = max(1, -(-total // self.page_size))
            if page >= pages:  # a stale page number after the list shrank: show the last page
                page = pages - 1
                found, total = await repo.page(
                    campaign.id, filters, page * self.page_size, self.page_size
                )
        return CasePage(tuple(found), page, pages, total)

    async def get_case(self, campaign: Campaign, case_id: int) -> Case | None:
        """The case if citizens may see it in this campaign, else None."""
        async with self.db.read() as conn:
            case = await CaseRepository(conn).get(case_id)
        if case is None or case.campaign_id != campaign.id or case.status != CaseStatus.APPROVED:
            return None
        return case

    async def visible_votes(self, campaign: Campaign, case_id: int) -> int | None:
        """The case's vote count if citizens may see counts now; None while they are sealed."""
        if not campaign.counts_visible:
            return None
        async with self.db.read() as conn:
            return await VoteRepository(conn).count_for_case(case_id)

"""Browsing the cases of a campaign: pages, filters, keyword search, one case."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.domain import Campaign, Case, CaseOrder, CasePage, CaseStatus, Citizen, PhaseStatus
from bot.search import Match, clean_search, match, words_of
from bot.services.results import final_ranking
from storage.database import Database
from storage.repositories import CaseRepository, VoteRepository
from storage.repositories.cases import SHUFFLE_PRIME, ByVotes, CaseFilter, Order, Shuffle

PAGE_SIZE = 8


@dataclass(frozen=True)
class ListQuery:
    page: int = 0
    district: str | None = None
    category: str | None = None
    keyword: str | None = None  # the search text (bot.search.clean_search): every word matches


SHUFFLE_ROUNDS = 3


class ByRanking:
    """The published ranking's order (computed in Python, so not an SQL order)."""


def shuffle_for(campaign_id: int, citizen_id: int) -> Shuffle:
    """A citizen's own order in a campaign: keys from a stable hash of the two ids (not
    Python's hash(), which changes with every process), so it survives restarts and is the
    same on every worker."""
    digest = hashlib.blake2b(f"{campaign_id}:{citizen_id}".encode(), digest_size=8 * SHUFFLE_ROUNDS,
                             person=b"chamyeo-order").digest()
    rounds = []
    for i in range(SHUFFLE_ROUNDS):
        key = int.from_bytes(digest[8 * i:8 * i + 4], "big") % SHUFFLE_PRIME
        multiplier = 1 + int.from_bytes(digest[8 * i + 4:8 * i + 8], "big") % (SHUFFLE_PRIME - 1)
        rounds.append((key, multiplier))
    return Shuffle(tuple(rounds))


class CatalogService:
    def __init__(self, db: Database, clock: Clock, page_size: int = PAGE_SIZE) -> None:
        self.db = db
        self.clock = clock
        self.page_size = page_size

    def _order(self, campaign: Campaign, citizen: Citizen | None) -> Order | ByRanking:
        """How the list is ordered now. While voting is open each citizen sees their own
        random order (unless the campaign keeps the file's order), so no case gains votes
        from always being first. Once voting has closed the list follows the standing:
        the final ranking once staff publish it; before that, votes when citizens can see
        counts anyway; while counts are sealed, the file's order, since sorting by votes (or
        by judges' scores not yet published) would give the result away early. Before
        voting, the file's order."""
        window = campaign.voting_window(self.clock.now())
        if window is PhaseStatus.OPEN:
            if campaign.rules.order is CaseOrder.RANDOM and citizen is not None:
                return shuffle_for(campaign.id, citizen.id)
            return None
        if window is PhaseStatus.CLOSED:
            if campaign.results_published_at is not None:
                return ByRanking()
            if campaign.counts_visible:
                return ByVotes()
        return None

    async def list_cases(
        self, campaign: Campaign, query: ListQuery, citizen: Citizen | None
    ) -> CasePage:
        """A page of the approved cases in the order `citizen` sees them now (None: staff
        and tools, who get the file's order while voting is open)."""
        filters = CaseFilter(
            district=query.district if campaign.district(query.district) else None,
            category=query.category if campaign.category(query.category) else None,
        )
        page = max(query.page, 0)
        order = self._order(campaign, citizen)
        async with self.db.read() as conn:
            filters = await self._search(conn, campaign, filters, query.keyword)
            if isinstance(order, ByRanking):
                return await self._ranked_page(conn, campaign, filters, page)
            repo = CaseRepository(conn)
            found, total = await repo.page(
                campaign.id, filters, page * self.page_size, self.page_size, order=order
            )
            pages = max(1, -(-total // self.page_size))
            if page >= pages:  # a stale page number after the list shrank: show the last page
                page = pages - 1
                found, total = await repo.page(
                    campaign.id, filters, page * self.page_size, self.page_size, order=order
                )
        return CasePage(tuple(found), page, pages, total)

    @staticmethod
    async def _search(
        conn: AsyncConnection, campaign: Campaign, filters: CaseFilter, keyword: str | None
    ) -> CaseFilter:
        """The filters narrowed to the cases that match every word of `keyword`, title hits
        marked to go first. The matching is in Python (bot/search.py), over the approved
        cases of one campaign: a few hundred at most."""
        search = clean_search(keyword)
        words = words_of(search.text if search else None)
        if not words:
            return filters
        found = {case.id: match(campaign, case, words)
                 for case in await CaseRepository(conn).matching(campaign.id, filters)}
        return replace(
            filters,
            ids=tuple(i for i, m in found.items() if m is not Match.NONE),
            first=tuple(i for i, m in found.items() if m is Match.TITLE),
        )

    async def _ranked_page(
        self, conn: AsyncConnection, campaign: Campaign, filters: CaseFilter, page: int
    ) -> CasePage:
        """A page in the published ranking's order. The ranking is computed in Python
        (bot.ranking), so the matching ids are ordered here: a few queries, only after the
        results are out."""
        repo = CaseRepository(conn)
        matching = set(await repo.matching_ids(campaign.id, filters))
        place = {r.case.id: i for i, r in enumerate(await final_ranking(conn, campaign))}
        first = set(filters.first)
        ordered = sorted(matching, key=lambda case_id: (
            case_id not in first, place.get(case_id, len(place)), case_id))
        pages = max(1, -(-len(ordered) // self.page_size))
        page = min(page, pages - 1)
        chosen = ordered[page * self.page_size:(page + 1) * self.page_size]
        found = await repo.many(chosen)
        return CasePage(tuple(found[i] for i in chosen if i in found), page, pages, len(ordered))

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

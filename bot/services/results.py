"""Results: the final ranking of the approved cases (citizen votes and judges' scores combined
by `bot.ranking`), and publishing it once, after voting has closed, with an announcement to
the subscribers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.domain import AnnouncementKind, Campaign, Case, CaseStatus, PhaseStatus
from bot.ranking import RankedCase, Standing, rank
from bot.services.announcements import AnnouncementService
from storage.database import Database
from storage.repositories import AuditRepository, CampaignRepository, ScoreRepository
from storage.repositories.reports import ReportRepository


@dataclass(frozen=True)
class RankedResult:
    ranked: RankedCase
    case: Case


class PublishOutcome(Enum):
    PUBLISHED = "published"
    ALREADY = "already"  # published before: publishing twice would announce twice
    TOO_EARLY = "too_early"  # voting has not closed yet
    INCOMPLETE = "incomplete"  # judges weigh in, but some approved case has no judge's score


@dataclass(frozen=True)
class PublishResult:
    outcome: PublishOutcome
    published_at: datetime | None = None
    broadcast_id: int | None = None
    unscored: int = 0  # approved cases no judge scored, where the judges' scores count


def unscored_count(campaign: Campaign, ranked: list[RankedResult]) -> int:
    """How many approved cases have no judge's score yet; 0 when the judges' scores carry no
    weight in the ranking (judging cannot be incomplete then)."""
    if campaign.ranking.judge_weight <= 0:
        return 0
    return sum(1 for r in ranked if r.ranked.judge_count == 0)


class ResultsService:
    def __init__(self, db: Database, clock: Clock, announcements: AnnouncementService) -> None:
        self.db = db
        self.clock = clock
        self.announcements = announcements

    async def ranking(self, campaign: Campaign) -> list[RankedResult]:
        """Every approved case, ranked; two queries, however many cases."""
        async with self.db.read() as conn:
            return await self._ranking(conn, campaign)

    @staticmethod
    async def _ranking(conn: AsyncConnection, campaign: Campaign) -> list[RankedResult]:
        counted = await ReportRepository(conn).cases_with_votes(campaign.id)
        totals = await ScoreRepository(conn).judge_totals(campaign.id)
        approved = [(c, n) for c, n in counted if c.status is CaseStatus.APPROVED]
        standings = [Standing(c.id, n, tuple(totals.get(c.id, ()))) for c, n in approved]
        by_id = {c.id: c for c, _ in approved}
        ranked = rank(standings, campaign.judging, campaign.ranking, campaign.awards)
        return [RankedResult(r, by_id[r.case_id]) for r in ranked]

    async def publish(self, campaign: Campaign, by: str,
                      incomplete_ok: bool = False) -> PublishResult:
        """Publish once, after voting has closed. While the judges' scores count and some
        approved case has none, only with `incomplete_ok` (the staff's second confirmation);
        the audit entry then records how many cases were unscored."""
        async with self.db.write() as conn:
            now = self.clock.now()
            campaigns = CampaignRepository(conn)
            fresh = await campaigns.get(campaign.id)
            if fresh is None or fresh.voting_window(now) is not PhaseStatus.CLOSED:
                return PublishResult(PublishOutcome.TOO_EARLY)
            if fresh.results_published_at is not None:
                return PublishResult(PublishOutcome.ALREADY, fresh.results_published_at)
            unscored = unscored_count(fresh, await self._ranking(conn, fresh))
            if unscored and not incomplete_ok:
                return PublishResult(PublishOutcome.INCOMPLETE, unscored=unscored)
            # The conditional UPDATE decides: of two admins (or processes) publishing at
            # once, one changes the row and announces; the other waits for its commit, changes
            # nothing and is told when it was published.
            if not await campaigns.mark_results_published(campaign.id, now):
                return PublishResult(PublishOutcome.ALREADY,
                                     await campaigns.results_published_at(campaign.id))
            extra = {"incomplete_ok": True, "unscored": unscored} if unscored else {}
            await AuditRepository(conn).record(now, by, "results.published", campaign.id,
                                               before=None, after=now.isoformat(), **extra)
        # After the commit: the announcement's "open the results" must find them published.
        broadcast_id = await self.announcements.announce_now(fresh, AnnouncementKind.RESULTS)
        return PublishResult(PublishOutcome.PUBLISHED, now, broadcast_id, unscored)

"""Results: the final ranking of the approved cases (citizen votes and judges' scores combined
by `bot.ranking`), and publishing it once, after voting has closed, with an announcement to
the subscribers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.domain import (
    AnnouncementKind,
    AwardTier,
    Campaign,
    Case,
    CaseStatus,
    PhaseName,
    PhaseStatus,
)
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
    INCOMPLETE = "incomplete"  # something is not done (see Readiness): confirm a second time


@dataclass(frozen=True)
class BoundaryTie:
    """Two cases with the same final score on either side of an award's last place: only the
    tie-break (judge points, votes, the earlier case) put one inside."""

    award: AwardTier
    inside: Case
    outside: Case
    final: float


@dataclass(frozen=True)
class Readiness:
    """Whether the results can be published, and what is not done yet. Judging is incomplete
    only where the judges' scores carry weight in the ranking."""

    too_early: bool = False  # voting has not closed
    voting_closes: datetime | None = None
    published_at: datetime | None = None
    unscored: tuple[Case, ...] = ()  # approved cases no judge scored
    idle_judges: tuple[str, ...] = ()  # judges who scored nothing (@username or channel:id)
    ties: tuple[BoundaryTie, ...] = ()

    @property
    def incomplete(self) -> bool:
        return bool(self.unscored or self.idle_judges or self.ties)

    def audit(self) -> dict[str, int]:
        """What was missing, as counts (the audit log keeps no names)."""
        return {"unscored": len(self.unscored), "idle_judges": len(self.idle_judges),
                "boundary_ties": len(self.ties)}


@dataclass(frozen=True)
class PublishResult:
    outcome: PublishOutcome
    published_at: datetime | None = None
    broadcast_id: int | None = None
    readiness: Readiness = Readiness()

    @property
    def unscored(self) -> int:
        """Approved cases no judge scored, where the judges' scores count."""
        return len(self.readiness.unscored)


def unscored_count(campaign: Campaign, ranked: list[RankedResult]) -> int:
    """How many approved cases have no judge's score yet; 0 when the judges' scores carry no
    weight in the ranking (judging cannot be incomplete then)."""
    if campaign.ranking.judge_weight <= 0:
        return 0
    return sum(1 for r in ranked if r.ranked.judge_count == 0)


def boundary_ties(ranked: list[RankedResult]) -> list[BoundaryTie]:
    """Ties at the edge of an award: the last case given an award and the next case (given
    a lower one or none) with the same final score."""
    ties = []
    for above, below in zip(ranked, ranked[1:], strict=False):
        award = above.ranked.award
        if (award is not None and below.ranked.award != award
                and above.ranked.final == below.ranked.final):
            ties.append(BoundaryTie(award, above.case, below.case, above.ranked.final))
    return ties


async def final_ranking(conn: AsyncConnection, campaign: Campaign) -> list[RankedResult]:
    """Every approved case, ranked; two queries, however many cases."""
    counted = await ReportRepository(conn).cases_with_votes(campaign.id)
    totals = await ScoreRepository(conn).judge_totals(campaign.id)
    approved = [(c, n) for c, n in counted if c.status is CaseStatus.APPROVED]
    standings = [Standing(c.id, n, tuple(totals.get(c.id, ()))) for c, n in approved]
    by_id = {c.id: c for c, _ in approved}
    ranked = rank(standings, campaign.judging, campaign.ranking, campaign.awards)
    return [RankedResult(r, by_id[r.case_id]) for r in ranked]


def _judge_name(channel: str, external_id: str, username: str | None) -> str:
    return f"@{username}" if username else f"{channel}:{external_id}"


class ResultsService:
    def __init__(self, db: Database, clock: Clock, announcements: AnnouncementService) -> None:
        self.db = db
        self.clock = clock
        self.announcements = announcements

    async def ranking(self, campaign: Campaign) -> list[RankedResult]:
        """Every approved case, ranked; two queries, however many cases."""
        async with self.db.read(scans=True) as conn:
            return await self._ranking(conn, campaign)

    @staticmethod
    async def _ranking(conn: AsyncConnection, campaign: Campaign) -> list[RankedResult]:
        return await final_ranking(conn, campaign)

    async def readiness(self, campaign: Campaign) -> Readiness:
        """What stands between the results and publishing them: for /publish to say before
        it asks anything, and for the preview."""
        async with self.db.read(scans=True) as conn:
            fresh = await CampaignRepository(conn).get(campaign.id) or campaign
            return await self._readiness(conn, fresh, await self._ranking(conn, fresh))

    async def _readiness(self, conn: AsyncConnection, campaign: Campaign,
                         ranked: list[RankedResult]) -> Readiness:
        voting = campaign.phase(PhaseName.VOTING)
        closes = voting.end if voting is not None else None
        too_early = campaign.voting_window(self.clock.now()) is not PhaseStatus.CLOSED
        unscored: tuple[Case, ...] = ()
        idle: tuple[str, ...] = ()
        if campaign.ranking.judge_weight > 0:
            unscored = tuple(r.case for r in ranked if r.ranked.judge_count == 0)
            idle = tuple(_judge_name(*j)
                         for j in await ScoreRepository(conn).idle_judges(campaign.id))
        return Readiness(too_early=too_early, voting_closes=closes,
                         published_at=campaign.results_published_at, unscored=unscored,
                         idle_judges=idle, ties=tuple(boundary_ties(ranked)))

    async def publish(self, campaign: Campaign, by: str,
                      incomplete_ok: bool = False) -> PublishResult:
        """Publish once, after voting has closed. With anything incomplete (cases no judge
        scored, judges who scored nothing, ties at an award's edge: see Readiness) only with
        `incomplete_ok` (the staff's second confirmation); the audit entry then records what
        was missing."""
        async with self.db.write() as conn:
            now = self.clock.now()
            campaigns = CampaignRepository(conn)
            fresh = await campaigns.get(campaign.id)
            if fresh is None or fresh.voting_window(now) is not PhaseStatus.CLOSED:
                return PublishResult(PublishOutcome.TOO_EARLY)
            if fresh.results_published_at is not None:
                return PublishResult(PublishOutcome.ALREADY, fresh.results_published_at)
            readiness = await self._readiness(conn, fresh, await self._ranking(conn, fresh))
            if readiness.incomplete and not incomplete_ok:
                return PublishResult(PublishOutcome.INCOMPLETE, readiness=readiness)
            # The conditional UPDATE decides: of two admins (or processes) publishing at
            # once, one changes the row and announces; the other waits for its commit, changes
            # nothing and is told when it was published.
            if not await campaigns.mark_results_published(campaign.id, now):
                return PublishResult(PublishOutcome.ALREADY,
                                     await campaigns.results_published_at(campaign.id))
            extra = ({"incomplete_ok": True, **readiness.audit()} if readiness.incomplete
                     else {})
            await AuditRepository(conn).record(now, by, "results.published", campaign.id,
                                               before=None, after=now.isoformat(), **extra)
        # After the commit: the announcement's "open the results" must find them published.
        broadcast_id = await self.announcements.announce_now(fresh, AnnouncementKind.RESULTS)
        return PublishResult(PublishOutcome.PUBLISHED, now, broadcast_id, readiness)

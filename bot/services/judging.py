"""Judging: judges score the approved cases, one overall score or one per criterion.

When scoring is allowed: from any time before the review phase closes (so judges can start
early, e.g. while citizens vote) until the review phase ends, and never after the results are
published (the published ranking must not change under the citizens' eyes). A campaign without
a review phase takes the end of voting as the deadline. Every score written is audited with its
previous value."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot.clock import Clock
from bot.domain import Campaign, Case, CaseStatus, Citizen, PhaseName
from bot.services.staff import actor
from storage.database import Database
from storage.repositories import (
    AuditRepository,
    CampaignRepository,
    CaseRepository,
    ScoreRepository,
)


class ScoreOutcome(Enum):
    SAVED = "saved"
    REVISED = "revised"
    OUT_OF_RANGE = "out_of_range"
    UNKNOWN_CASE = "unknown_case"
    UNKNOWN_CRITERION = "unknown_criterion"
    CLOSED = "closed"


@dataclass(frozen=True)
class ScoreResult:
    outcome: ScoreOutcome
    case: Case | None = None
    previous: float | None = None

    @property
    def stored(self) -> bool:
        return self.outcome in (ScoreOutcome.SAVED, ScoreOutcome.REVISED)


@dataclass(frozen=True)
class ScoringStep:
    """What a judge scores next: a case and the criterion (0 = the single overall score)."""

    case: Case
    criterion: int


@dataclass(frozen=True)
class JudgingProgress:
    scored: int  # cases with every criterion scored by this judge
    total: int  # approved cases


def criteria_of(campaign: Campaign) -> tuple[int, ...]:
    """The criterion numbers a complete score needs: (0,) or (1, ..., n)."""
    n = len(campaign.judging.criteria)
    return tuple(range(1, n + 1)) if n else (0,)


def scoring_deadline(campaign: Campaign) -> datetime | None:
    review = campaign.phase(PhaseName.REVIEW)
    if review is not None and review.end is not None:
        return review.end
    voting = campaign.phase(PhaseName.VOTING)
    return voting.end if voting is not None else None


def scoring_open(campaign: Campaign, now: datetime) -> bool:
    deadline = scoring_deadline(campaign)
    return campaign.results_published_at is None and (deadline is None or now < deadline)


class JudgingService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def is_open(self, campaign: Campaign) -> bool:
        return scoring_open(campaign, self.clock.now())

    async def _state(self, conn, campaign: Campaign, judge: Citizen):
        """The approved cases and this judge's scored (case, criterion) pairs: two queries."""
        cases = await CaseRepository(conn).with_status(campaign.id, CaseStatus.APPROVED)
        done = {(row["case_id"], row["criterion"])
                for row in await ScoreRepository(conn).of_campaign(campaign.id)
                if row["judge_id"] == judge.id}
        return cases, done

    async def next_unscored(self, campaign: Campaign, judge: Citizen,
                            after_case: int | None = None) -> ScoringStep | None:
        """The first approved case (after `after_case`, when skipping) with a criterion this
        judge has not scored yet."""
        async with self.db.read() as conn:
            cases, done = await self._state(conn, campaign, judge)
        for case in cases:
            if after_case is not None and case.id <= after_case:
                continue
            missing = [c for c in criteria_of(campaign) if (case.id, c) not in done]
            if missing:
                return ScoringStep(case, missing[0])
        return None

    async def case_for(self, campaign: Campaign, case_id: int) -> Case | None:
        """An approved case of this campaign, to score or revise."""
        async with self.db.read() as conn:
            case = await CaseRepository(conn).get(case_id)
        if (case is None or case.campaign_id != campaign.id
                or case.status is not CaseStatus.APPROVED):
            return None
        return case

    async def score(self, campaign: Campaign, judge: Citizen, case_id: int, criterion: int,
                    value: float) -> ScoreResult:
        rules = campaign.judging
        if criterion not in criteria_of(campaign):
            return ScoreResult(ScoreOutcome.UNKNOWN_CRITERION)
        if not rules.scale_min <= value <= rules.scale_max:
            return ScoreResult(ScoreOutcome.OUT_OF_RANGE)
        async with self.db.write() as conn:
            now = self.clock.now()
            fresh = await CampaignRepository(conn).get(campaign.id)  # phases may have moved
            if fresh is None or not scoring_open(fresh, now):
                return ScoreResult(ScoreOutcome.CLOSED)
            case = await CaseRepository(conn).get(case_id)
            if (case is None or case.campaign_id != campaign.id
                    or case.status is not CaseStatus.APPROVED):
                return ScoreResult(ScoreOutcome.UNKNOWN_CASE)
            previous = await ScoreRepository(conn).set(campaign.id, case_id, judge.id, criterion,
                                                       float(value), now)
            await AuditRepository(conn).record(
                now, actor(judge.channel, judge.external_id), "score.set", campaign.id,
                case_id=case_id, criterion=criterion, before=previous, after=float(value),
            )
        outcome = ScoreOutcome.SAVED if previous is None else ScoreOutcome.REVISED
        return ScoreResult(outcome, case, previous)

    async def progress(self, campaign: Campaign, judge: Citizen) -> JudgingProgress:
        async with self.db.read() as conn:
            cases, done = await self._state(conn, campaign, judge)
        needed = criteria_of(campaign)
        scored = sum(all((case.id, c) in done for c in needed) for case in cases)
        return JudgingProgress(scored, len(cases))

    async def cases(self, campaign: Campaign) -> list[Case]:
        """The cases judges score: the approved ones."""
        async with self.db.read() as conn:
            return await CaseRepository(conn).with_status(campaign.id, CaseStatus.APPROVED)

    async def scores_of(self, campaign: Campaign, judge: Citizen) -> dict[tuple[int, int], float]:
        """This judge's scores so far: (case id, criterion) -> score."""
        async with self.db.read() as conn:
            rows = await ScoreRepository(conn).of_campaign(campaign.id)
        return {(row["case_id"], row["criterion"]): row["score"] for row in rows
                if row["judge_id"] == judge.id}

"""The final ranking: citizen votes and judges' scores combined by the campaign's rules.
Pure arithmetic, no I/O.

- Votes are normalised so the most-voted case gets 100 (all 0 if nobody voted).
- Each judge's score for a case is the sum over the criteria (or the single score); the judges'
  mean is normalised to 0-100 over the possible range (scale_min..scale_max times criteria).
  A case no judge scored gets 0 judge points.
- final = citizen_weight * vote points + judge_weight * judge points.
- Ties are broken, in order, by judge points, then votes, then the lower case id (the case
  that entered the competition first), so the order is total and the same on every run.
- Award tiers go down the ranking in order: the first `count` cases get the first tier, and so on.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import AwardTier, JudgingRules, RankingRules


@dataclass(frozen=True)
class Standing:
    """What the ranking needs to know of one case."""

    case_id: int
    votes: int
    judge_totals: tuple[float, ...] = ()  # one per judge who scored it


@dataclass(frozen=True)
class RankedCase:
    case_id: int
    rank: int  # 1 is best; no two cases share a rank (see the tie-break)
    votes: int
    vote_points: float  # 0-100
    judge_mean: float | None  # on the campaign's scale; None if no judge scored it
    judge_count: int
    judge_points: float  # 0-100
    final: float  # 0-100
    award: AwardTier | None


def rank(
    standings: list[Standing],
    judging: JudgingRules,
    ranking: RankingRules,
    awards: tuple[AwardTier, ...] = (),
) -> list[RankedCase]:
    top_votes = max((s.votes for s in standings), default=0)
    parts = max(1, len(judging.criteria))
    low, high = judging.scale_min * parts, judging.scale_max * parts
    scored = []
    for s in standings:
        vote_points = 100.0 * s.votes / top_votes if top_votes else 0.0
        mean = sum(s.judge_totals) / len(s.judge_totals) if s.judge_totals else None
        judge_points = 100.0 * (mean - low) / (high - low) if mean is not None else 0.0
        final = ranking.citizen_weight * vote_points + ranking.judge_weight * judge_points
        scored.append((s, vote_points, mean, judge_points, round(final, 9)))
    scored.sort(key=lambda x: (-x[4], -round(x[3], 9), -x[0].votes, x[0].case_id))
    tiers = [tier for tier in awards for _ in range(tier.count)]
    return [
        RankedCase(
            case_id=s.case_id, rank=i + 1, votes=s.votes, vote_points=round(vote_points, 2),
            judge_mean=None if mean is None else round(mean, 2), judge_count=len(s.judge_totals),
            judge_points=round(judge_points, 2), final=round(final, 2),
            award=tiers[i] if i < len(tiers) else None,
        )
        for i, (s, vote_points, mean, judge_points, final) in enumerate(scored)
    ]

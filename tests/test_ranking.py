"""The ranking arithmetic (bot/ranking.py): normalisation, weights, criteria, ties, awards."""

from __future__ import annotations

from bot.domain import AwardTier, JudgingRules, RankingRules, Text
from bot.ranking import Standing, rank

SCALE = JudgingRules(scale_min=0, scale_max=100)
EVEN = RankingRules(citizen_weight=0.5, judge_weight=0.5)


def order(ranked) -> list[int]:
    return [r.case_id for r in ranked]


def test_votes_are_normalised_to_the_most_voted_case_and_weighted():
    ranked = rank([Standing(1, 50), Standing(2, 100), Standing(3, 0)], SCALE,
                  RankingRules(citizen_weight=1.0, judge_weight=0.0))
    assert order(ranked) == [2, 1, 3]
    assert [r.vote_points for r in ranked] == [100.0, 50.0, 0.0]
    assert [r.final for r in ranked] == [100.0, 50.0, 0.0]
    assert [r.rank for r in ranked] == [1, 2, 3]


def test_judge_mean_is_normalised_over_the_scale():
    judging = JudgingRules(scale_min=1, scale_max=5)
    ranked = rank([Standing(1, 0, (5.0, 3.0)), Standing(2, 0, (1.0,))], judging,
                  RankingRules(citizen_weight=0.0, judge_weight=1.0))
    first, second = ranked
    assert first.case_id == 1 and first.judge_mean == 4.0 and first.judge_points == 75.0
    assert first.judge_count == 2
    assert second.judge_points == 0.0


def test_weights_decide_between_the_crowd_and_the_judges():
    standings = [Standing(1, 100, (20.0,)), Standing(2, 10, (90.0,))]
    assert order(rank(standings, SCALE, RankingRules(0.9, 0.1))) == [1, 2]
    assert order(rank(standings, SCALE, RankingRules(0.3, 0.7))) == [2, 1]
    ranked = rank(standings, SCALE, RankingRules(0.3, 0.7))
    assert ranked[0].final == round(0.3 * 10 + 0.7 * 90, 2)


def test_criteria_are_summed_per_judge_and_normalised_over_their_total_range():
    judging = JudgingRules(0, 10, (Text("혁신성"), Text("효과성"), Text("확산 가능성")))
    # each judge's total is over three criteria: the range is 0..30
    ranked = rank([Standing(1, 0, (30.0, 15.0))], judging, RankingRules(0.0, 1.0))
    assert ranked[0].judge_mean == 22.5
    assert ranked[0].judge_points == 75.0


def test_an_unscored_case_gets_no_judge_points_and_no_mean():
    [r] = rank([Standing(1, 0)], SCALE, EVEN)
    assert r.judge_mean is None and r.judge_points == 0.0 and r.judge_count == 0
    assert r.vote_points == 0.0 and r.final == 0.0  # nobody voted: no division by zero


def test_ties_break_on_judge_points_then_votes_then_the_earlier_case():
    # same final (50): judge points decide
    a = rank([Standing(5, 100, (0.0,)), Standing(6, 0, (100.0,))], SCALE, EVEN)
    assert order(a) == [6, 5]
    # same final and judge points: votes decide
    b = rank([Standing(7, 10, (50.0,)), Standing(8, 20, (50.0,)), Standing(9, 20, (50.0,))],
             SCALE, RankingRules(0.0, 1.0))
    assert order(b) == [8, 9, 7]  # 8 and 9 also tie on votes: the lower id first
    # identical in every way: the lower case id, whatever the input order
    c = rank([Standing(12, 3, (70.0,)), Standing(11, 3, (70.0,))], SCALE, EVEN)
    assert order(c) == [11, 12] and [r.rank for r in c] == [1, 2]


def test_floating_noise_does_not_break_a_real_tie():
    judging = JudgingRules(0, 10)
    standings = [Standing(2, 0, (0.1 + 0.2,)), Standing(1, 0, (0.3,))]
    assert order(rank(standings, judging, RankingRules(0.0, 1.0))) == [1, 2]


def test_awards_go_down_the_ranking_tier_by_tier():
    grand, excellence = AwardTier(Text("대상"), 1), AwardTier(Text("우수상", "Excellence"), 2)
    standings = [Standing(i, votes) for i, votes in enumerate([5, 40, 30, 20, 10], start=1)]
    ranked = rank(standings, SCALE, RankingRules(1.0, 0.0), (grand, excellence))
    assert order(ranked) == [2, 3, 4, 5, 1]
    assert [r.award for r in ranked] == [grand, excellence, excellence, None, None]


def test_more_awards_than_cases_and_an_empty_ranking():
    tiers = (AwardTier(Text("대상"), 3),)
    assert [r.award for r in rank([Standing(1, 1)], SCALE, EVEN, tiers)] == [tiers[0]]
    assert rank([], SCALE, EVEN, tiers) == []

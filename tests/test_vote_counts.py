"""The kept vote counts (storage/repositories/vote_counts.py): after any mix of first votes,
second votes and changed votes, over several ten-minute windows, by old and new accounts, the
counts equal a recount of the votes themselves, and the tally built on them agrees with the
votes."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from storage.repositories import CaseRepository
from storage.repositories.cases import CaseFilter
from storage.repositories.vote_counts import VoteCountRepository
from storage.tables import vote_counts, votes
from tests.conftest import DURING_VOTING, small_campaign


async def counts(services) -> list[tuple]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(vote_counts).order_by(
            vote_counts.c.campaign_id, vote_counts.c.case_id, vote_counts.c.window_start))
        return [tuple(row) for row in rows if row.votes or row.first_votes or row.fresh_votes]


async def recounted(services) -> list[tuple]:
    async with services.db.write() as conn:
        await VoteCountRepository(conn).recount()
    return await counts(services)


async def vote_at_random(services, clock, campaign, seed: int, people: int) -> None:
    """`people` citizens, some first seen long before voting, each voting one to three times
    (a change, a second vote, the same case again), minutes apart."""
    rng = random.Random(seed)
    async with services.db.read() as conn:
        cases, _ = await CaseRepository(conn).page(campaign.id, CaseFilter(), 0, 50)
    old = [await services.citizens.identify("telegram", f"old-{i}", "ko")
           for i in range(people // 2)]
    clock.advance(timedelta(hours=2))  # the old ones are old by now
    for _ in range(people * 2):
        clock.advance(timedelta(minutes=rng.randint(0, 9), seconds=rng.randint(0, 59)))
        if old and rng.random() < 0.5:
            citizen = rng.choice(old)
        else:
            citizen = await services.citizens.identify(
                "telegram", f"new-{rng.randint(0, people)}", "ko")
        result = await services.voting.cast_vote(campaign, citizen, rng.choice(cases).id)
        assert result.outcome is not None


async def test_counts_kept_while_voting_equal_a_recount_one_vote_each(services, clock, campaign):
    await vote_at_random(services, clock, campaign, seed=1, people=40)
    kept = await counts(services)
    async with services.db.read() as conn:
        changed = await conn.scalar(sa.select(sa.func.count()).select_from(votes).where(
            votes.c.cast_at > DURING_VOTING + timedelta(hours=2)))
    assert kept and changed
    assert kept == await recounted(services)
    assert {row[5] for row in kept} != {0}, "no fresh votes: the test checks less than it says"


async def test_counts_kept_with_two_votes_each(services, clock):
    report = await services.campaigns.load(parse_campaign(small_campaign(
        voting={"votes_per_citizen": 2, "allow_change": False, "order": "file"})))
    campaign = await services.campaigns.get(report.campaign_id)
    await vote_at_random(services, clock, campaign, seed=2, people=30)
    kept = await counts(services)
    assert kept == await recounted(services)


async def test_the_tally_agrees_with_the_votes(services, clock, campaign):
    await vote_at_random(services, clock, campaign, seed=3, people=30)
    tally = await services.tally.tally(campaign)
    async with services.db.read() as conn:
        rows = (await conn.execute(sa.select(votes.c.case_id, votes.c.voter, votes.c.cast_at)
                                   .where(votes.c.campaign_id == campaign.id))).all()
    per_case = Counter(case_id for case_id, _, _ in rows)
    assert {c.case.id: c.votes for c in tally.cases if c.votes} == dict(per_case)
    assert tally.total_votes == len(rows)
    assert tally.voters == len({voter for _, voter, _ in rows})
    per_hour = Counter(at.replace(minute=0, second=0, microsecond=0) for _, _, at in rows)
    assert sum(n for _, n in tally.hourly) == len(rows)
    assert sorted(n for _, n in tally.hourly) == sorted(per_hour.values())

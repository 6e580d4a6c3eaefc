"""Whatever must happen once is decided by the database: two admins publishing the results at
the same moment, a judge's score sent twice at once, a role granted twice at once. Each test
runs the same call several times concurrently, half of them through a second Database object
(as a second bot process would have), on one Database pool on PostgreSQL (READ COMMITTED) and
through the shared file on SQLite."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
import sqlalchemy as sa

from bot.domain import AnnouncementKind, CaseStatus, Role
from bot.services import Services
from bot.services.judging import ScoreOutcome
from bot.services.results import PublishOutcome
from bot.services.staff import GrantOutcome
from storage.database import Database
from storage.repositories import CaseRepository, ScoreRepository
from storage.tables import audit_log, broadcasts
from tests.conftest import VOTING_CLOSES

TIMES = 4  # concurrent calls


@pytest.fixture
async def second(services, clock):
    """The same services over a second Database object: another process."""
    db = Database(services.db.url)
    yield Services.create(db, clock)
    await db.dispose()


async def warm(*dbs: Database) -> None:
    """Open enough pooled connections first, so no call waits for a new one while the others
    run ahead: the calls really overlap."""
    async with AsyncExitStack() as stack:
        for db in dbs:
            for _ in range(TIMES):
                await stack.enter_async_context(db.read())


async def audit(services, action: str) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.action == action)
                                  .order_by(audit_log.c.id))
        return [dict(r) for r in rows.mappings()]


def both(services, second, call):
    """`TIMES` calls of `call(services, i)`, alternating between the two processes."""
    return asyncio.gather(*(call(services if i % 2 else second, i) for i in range(TIMES)))


async def test_admins_publishing_at_once_publish_and_announce_once(services, second, campaign,
                                                                  clock):
    clock.set(VOTING_CLOSES)
    await warm(services.db, second.db)

    results = await both(services, second,
                         lambda s, i: s.results.publish(campaign, f"telegram:{9000 + i}",
                                                        incomplete_ok=True))

    outcomes = [r.outcome for r in results]
    assert sorted(o.value for o in outcomes) == ["already"] * (TIMES - 1) + ["published"]
    assert {r.published_at for r in results} == {VOTING_CLOSES}
    [published] = [r for r in results if r.outcome is PublishOutcome.PUBLISHED]
    async with services.db.read() as conn:
        kinds = (await conn.execute(sa.select(broadcasts.c.id, broadcasts.c.kind))).all()
    assert kinds == [(published.broadcast_id, AnnouncementKind.RESULTS.value)]
    [entry] = await audit(services, "results.published")
    assert entry["actor"] == f"telegram:{9000 + outcomes.index(PublishOutcome.PUBLISHED)}"
    assert (await services.campaigns.get(campaign.id)).results_published_at == VOTING_CLOSES
    await services.broadcaster.idle()
    await second.broadcaster.idle()


async def test_a_judge_scoring_one_case_at_once_keeps_every_previous_score(services, second,
                                                                           campaign):
    judge = await services.citizens.identify("telegram", "1003", "ko", "lee_judge")
    async with services.db.read() as conn:
        case = (await CaseRepository(conn).with_status(campaign.id, CaseStatus.APPROVED))[0]
    await warm(services.db, second.db)

    results = await both(services, second,
                         lambda s, i: s.judging.score(campaign, judge, case.id, 0, 10 * (i + 1)))

    outcomes = [r.outcome for r in results]
    assert outcomes.count(ScoreOutcome.SAVED) == 1
    assert outcomes.count(ScoreOutcome.REVISED) == TIMES - 1
    # The audit log tells the whole story, in the order the writes took effect: each score's
    # "before" is the score written just before it.
    entries = [e["detail"] for e in await audit(services, "score.set")]
    assert len(entries) == TIMES
    assert [e["before"] for e in entries] == [None] + [e["after"] for e in entries[:-1]]
    assert sorted(e["after"] for e in entries) == [10.0 * (i + 1) for i in range(TIMES)]
    assert sorted(r.previous for r in results if r.previous is not None) == sorted(
        e["before"] for e in entries if e["before"] is not None)
    async with services.db.read() as conn:
        [row] = await ScoreRepository(conn).of_campaign(campaign.id)
    assert row["score"] == entries[-1]["after"]


async def test_one_role_granted_at_once_is_granted_once(services, second, campaign):
    await services.citizens.identify("telegram", "1003", "ko", "lee_judge")
    await warm(services.db, second.db)

    results = await both(services, second, lambda s, i: s.staff.grant(
        f"telegram:{9000 + i}", "telegram", "1003", Role.JUDGE))

    assert sorted(r.value for r in results) == ["already"] * (TIMES - 1) + ["granted"]
    assert await services.staff.roles("telegram", "1003") == frozenset({Role.JUDGE})
    [entry] = await audit(services, "staff.granted")
    assert entry["actor"] == f"telegram:{9000 + results.index(GrantOutcome.GRANTED)}"


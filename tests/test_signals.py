"""Unusual activity for staff: many new accounts voting for one case within minutes, and one
case taking an outsized share of a busy hour, flagged in /tally and the export; signals only,
no vote removed. The accounts are made and the votes cast through the services, on the
injected clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from openpyxl import load_workbook

from bot.services.signals import NEW_ACCOUNT_VOTES, SignalKind
from storage.tables import votes
from tests.conftest import ADMIN, SEOUL
from tests.test_tally_dashboard import approved_cases


def at(day: int, hour: int, minute: int = 0) -> datetime:
    month = 11 if day >= 28 else 12
    return datetime(2024, month, day, hour, minute, tzinfo=SEOUL)


async def vote(services, clock, campaign, external_id: str, case_id: int, joined: datetime,
               voted: datetime) -> None:
    clock.set(joined)
    citizen = await services.citizens.identify("telegram", external_id, "ko")
    clock.set(voted)
    assert (await services.voting.cast_vote(campaign, citizen, case_id)).stored


async def count_votes(services) -> int:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(votes)) or 0


async def test_new_accounts_voting_together_are_flagged(services, clock, campaign):
    cases = await approved_cases(services, campaign)
    burst = NEW_ACCOUNT_VOTES + 5
    for i in range(burst):  # joined and voted within minutes, 10:01-10:06
        moment = at(29, 10, 1) + timedelta(seconds=12 * i)
        await vote(services, clock, campaign, f"new-{i}", cases[3].id, moment,
                   moment + timedelta(seconds=30))
    # As many votes for another case from accounts made days before, spread over hours.
    for i in range(burst):
        await vote(services, clock, campaign, f"old-{i}", cases[4].id, at(28, 9, 30),
                   at(29, 11) + timedelta(minutes=20 * i))
    tally = await services.tally.tally(campaign)
    [signal] = [s for s in tally.signals if s.kind is SignalKind.NEW_ACCOUNTS]
    assert signal.case.id == cases[3].id and signal.votes == burst
    assert (signal.start, signal.end) == (at(29, 10, 0), at(29, 10, 10))
    assert await count_votes(services) == 2 * burst  # nothing removed


async def test_old_accounts_spread_over_hours_are_not_flagged(services, clock, campaign):
    cases = await approved_cases(services, campaign)
    for i in range(40):  # every case, old accounts, a vote every 15 minutes
        await vote(services, clock, campaign, f"old-{i}", cases[i % 8].id, at(28, 9, 30),
                   at(29, 0) + timedelta(minutes=15 * i))
    assert (await services.tally.tally(campaign)).signals == ()


async def test_an_outsized_share_of_a_busy_hour_is_flagged_and_shown(
        staffbot, services, clock, campaign, tmp_path):
    cases = await approved_cases(services, campaign)
    # A calm day: 60 votes over all cases, one every 20 minutes.
    for i in range(60):
        await vote(services, clock, campaign, f"calm-{i}", cases[i % 8].id, at(28, 9, 30),
                   at(28, 10) + timedelta(minutes=20 * i))
    # Then, in one hour, 30 votes for case 6 and 6 for others (old accounts: no burst).
    for i in range(36):
        case = cases[6] if i < 30 else cases[i % 5]
        await vote(services, clock, campaign, f"spike-{i}", case.id, at(28, 9, 30),
                   at(29, 20, 0) + timedelta(seconds=90 * i))
    tally = await services.tally.tally(campaign)
    [spike] = tally.signals
    assert spike.kind is SignalKind.SHARE_SPIKE and spike.case.id == cases[6].id
    assert (spike.votes, spike.window_votes) == (30, 36)

    calls = await staffbot.send(ADMIN, "/tally")
    text = calls[-1].text
    assert "살펴볼 만한 움직임" in text
    assert f"· {cases[6].ko.title}: 11월 29일(금) 20:00~21:00 전체 36표 중 30표(83%)를 받음" \
        in text
    paths = await services.exports.export(campaign, tmp_path)
    book = load_workbook(next(p for p in paths if p.suffix == ".xlsx"))
    rows = list(book["살펴볼 움직임"].iter_rows(values_only=True))
    assert rows[0][0] == "움직임" and rows[1][:3] == ("한 사례에 몰림", cases[6].id, cases[6].key)
    assert await count_votes(services) == 96


async def test_a_calm_tally_says_nothing_unusual(staffbot, services, clock, campaign):
    cases = await approved_cases(services, campaign)
    await vote(services, clock, campaign, "one", cases[0].id, at(28, 9, 30), at(28, 10))
    calls = await staffbot.send(ADMIN, "/tally")
    assert "특이한 움직임 없음" in calls[-1].text

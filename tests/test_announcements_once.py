"""Announcements tell the truth, once: an opening or closing that was announced is never
announced again, whatever reloads and staff commands do to the phase times, and a phase that
opens again after it was announced closed is announced as reopened. What was announced is kept
in the database (`announced_phases`), so it holds across restarts and workers. The clock is set
by hand; nothing sleeps."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.domain import AnnouncementKind
from storage.tables import broadcasts, deliveries
from tests.conftest import ADMIN, KIM, SMITH, VOTING_OPENS, small_campaign
from tests.test_announcements import broadcast_kinds, fire, messages, subscribe

SECOND = timedelta(seconds=1)


def moved_voting(**times: str) -> dict:
    """The small campaign with the voting phase's `start` and/or `end` (Seoul time) moved."""
    phases = small_campaign()["phases"]
    phases["voting"].update(times)
    return small_campaign(phases=phases)


async def deliveries_by_kind(services) -> Counter:
    """(broadcast kind, recipient address) -> how many deliveries were written."""
    async with services.db.read() as conn:
        rows = await conn.execute(
            sa.select(broadcasts.c.kind, deliveries.c.address)
            .join(deliveries, deliveries.c.broadcast_id == broadcasts.c.id))
        return Counter((kind, address) for kind, address in rows.all())


async def test_moving_the_start_of_an_open_phase_earlier_does_not_announce_it_again(
    telegram, services, campaign, clock
):
    await subscribe(telegram, KIM)
    clock.set(VOTING_OPENS + SECOND)
    assert [a.kind for a in await fire(services)] == [AnnouncementKind.VOTING_OPENS]
    start = len(telegram.request.calls)

    clock.advance(timedelta(minutes=10))
    await services.campaigns.load(parse_campaign(moved_voting(start="2024-11-28T08:59")))
    assert await fire(services) == []
    clock.advance(timedelta(minutes=30))
    assert await fire(services) == []

    assert messages(telegram, start, KIM.id) == []
    assert (await broadcast_kinds(services))["voting_opens"] == 1
    assert (await deliveries_by_kind(services))[("voting_opens", str(KIM.id))] == 1
    # the same file again, and the original back: still nothing
    await services.campaigns.load(parse_campaign(small_campaign()))
    clock.advance(timedelta(minutes=1))
    assert await fire(services) == []
    assert messages(telegram, start, KIM.id) == []


async def test_closed_by_reload_reopened_by_reload_then_closed_by_staff(
    staffbot, services, campaign, clock
):
    await subscribe(staffbot, KIM)
    await subscribe(staffbot, SMITH)
    clock.set(VOTING_OPENS + SECOND)
    await fire(services)
    start = len(staffbot.request.calls)

    # close by a reload: the end moved to the past
    clock.set(VOTING_OPENS + timedelta(hours=1))
    await services.campaigns.load(parse_campaign(moved_voting(end="2024-11-28T09:30")))
    assert [a.kind for a in await fire(services)] == [AnnouncementKind.VOTING_CLOSES]
    # reopen by reloading the original file
    clock.advance(timedelta(minutes=5))
    await services.campaigns.load(parse_campaign(small_campaign()))
    assert [a.kind for a in await fire(services)] == [AnnouncementKind.VOTING_REOPENS]
    assert await fire(services) == []
    # staff close it
    clock.advance(timedelta(minutes=5))
    await staffbot.send(ADMIN, "/close voting")
    await staffbot.press(ADMIN, "확인")
    assert [a.kind for a in await fire(services)] == [AnnouncementKind.VOTING_CLOSES]
    clock.advance(timedelta(hours=1))
    assert await fire(services) == []

    korean = [c.text for c in messages(staffbot, start, KIM.id)]
    english = [c.text for c in messages(staffbot, start, SMITH.id)]
    assert len(korean) == 3 and len(english) == 3
    assert "시민 투표가 마감되었습니다" in korean[0]
    assert "시민 투표가 다시 열렸습니다" in korean[1]
    assert "시민 투표가 마감되었습니다" in korean[2]
    assert "Citizen voting has closed" in english[0]
    assert "Citizen voting is open again" in english[1]
    assert "Citizen voting has closed" in english[2]
    assert await broadcast_kinds(services) == {
        "voting_opens": 1, "voting_closes": 2, "voting_reopens": 1}
    per_kind = await deliveries_by_kind(services)
    for address in (str(KIM.id), str(SMITH.id)):
        assert per_kind[("voting_opens", address)] == 1
        assert per_kind[("voting_closes", address)] == 2
        assert per_kind[("voting_reopens", address)] == 1

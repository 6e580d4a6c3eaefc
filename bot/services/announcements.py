"""Announcements: the campaign calendar announcing itself. The plan lives in the database
(rebuilt whenever phase times change); `tick()` fires what is due, each announcement exactly
once, sending it late if it is still true and skipping it if it has gone stale."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.clock import Clock
from bot.domain import (
    ANNOUNCED_STATE,
    REOPENS,
    Announcement,
    AnnouncementKind,
    Campaign,
    Identity,
    announcement_still_true,
    plan_announcements,
    reopened_phases,
)
from bot.services.broadcasts import Broadcaster
from storage.database import Database
from storage.repositories import (
    AnnouncementRepository,
    AuditRepository,
    BroadcastRepository,
    CampaignRepository,
)
from storage.repositories.announcements import SENT, SKIPPED

log = logging.getLogger(__name__)


async def replan(conn: AsyncConnection, campaign_id: int, campaign: Campaign,
                 now: datetime) -> None:
    """The announcement plan after the campaign's phase times were written (same
    transaction): every boundary of the calendar, and a reopening for each phase open now
    that subscribers were last told had closed."""
    announcements = AnnouncementRepository(conn)
    await announcements.replan(campaign_id, plan_announcements(campaign), now)
    for phase in reopened_phases(campaign, now):
        if await announcements.plan_reopening(campaign_id, phase.value, REOPENS[phase], now):
            log.info("campaign %s: %s reopened, its reopening is planned", campaign_id,
                     phase.value)


class AlreadySettled(Exception):
    """Another tick (or process) fired or skipped this announcement first."""


def _phase_of(kind: AnnouncementKind) -> str:
    return kind.value.split("_")[0]  # "submission", "voting", "results"


@dataclass(frozen=True)
class AnnounceChat:
    """A public channel or group that receives every announcement too."""

    channel: str
    address: str
    language: str


class AnnouncementService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        broadcaster: Broadcaster,
        announce_chat: AnnounceChat | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.broadcaster = broadcaster
        self.announce_chat = announce_chat

    async def tick(self) -> list[Announcement]:
        """Fire every announcement that is due now. Returns the ones that were sent."""
        now = self.clock.now()
        async with self.db.read() as conn:
            due = await AnnouncementRepository(conn).due(now)
        # After a long stop (or a jump of the demo's clock) several announcements about one phase
        # can be due at once, e.g. "voting is open" and a reminder: only the latest is news.
        latest: dict[tuple[int, str], Announcement] = {}
        for announcement in due:  # ordered by due time
            latest[(announcement.campaign_id, _phase_of(announcement.kind))] = announcement
        fired = []
        for announcement in due:
            key = (announcement.campaign_id, _phase_of(announcement.kind))
            try:
                if await self._fire(announcement, superseded=latest[key] is not announcement):
                    fired.append(announcement)
            except AlreadySettled:
                log.info("announcement %s was fired by another tick", announcement.id)
        return fired

    async def _fire(self, announcement: Announcement, superseded: bool = False) -> bool:
        async with self.db.write() as conn:
            now = self.clock.now()
            campaign = await CampaignRepository(conn).get(announcement.campaign_id)
            announcements = AnnouncementRepository(conn)
            if superseded or campaign is None or not announcement_still_true(
                announcement.kind, announcement.due_at, campaign, now
            ):
                await announcements.settle(announcement.id, SKIPPED, now)
                log.info("announcement %s (%s, due %s) is stale: skipped", announcement.id,
                         announcement.kind.value, announcement.due_at.isoformat())
                return False
            kind = announcement.kind
            told = ANNOUNCED_STATE.get(kind)
            if told is not None:
                # An opening or closing is news only if subscribers were told otherwise.
                phase, state = told
                before = await announcements.announced_state(campaign.id, phase.value)
                if before == state or (kind is REOPENS[phase] and before != "closed"):
                    await announcements.settle(announcement.id, SKIPPED, now)
                    log.info("announcement %s (%s, due %s): subscribers were already told "
                             "%s is %s: skipped", announcement.id, kind.value,
                             announcement.due_at.isoformat(), phase.value, state)
                    return False
                if state == "open" and before == "closed":
                    kind = REOPENS[phase]
                if not await announcements.tell(campaign.id, phase.value, state, before,
                                                announcement.id, now):
                    raise AlreadySettled
            broadcast_id = await self._create_broadcast(conn, campaign, kind, now)
            if not await announcements.settle(announcement.id, SENT, now, broadcast_id):
                raise AlreadySettled  # rolls this broadcast back: the other one stands
        late = (now - announcement.due_at).total_seconds()
        log.info("announcement %s (%s) started as broadcast %s%s", announcement.id,
                 kind.value, broadcast_id, f", {late:.0f} s late" if late > 60 else "")
        self.broadcaster.start(broadcast_id)
        return True

    async def announce_now(self, campaign: Campaign, kind: AnnouncementKind) -> int:
        """An announcement that is not on the calendar, e.g. when staff publish results."""
        async with self.db.write() as conn:
            now = self.clock.now()
            broadcast_id = await self._create_broadcast(conn, campaign, kind, now)
            await AnnouncementRepository(conn).add_sent(campaign.id, kind, now, broadcast_id)
        self.broadcaster.start(broadcast_id)
        return broadcast_id

    async def _create_broadcast(self, conn, campaign: Campaign, kind: AnnouncementKind,
                                now) -> int:
        broadcasts = BroadcastRepository(conn)
        broadcast_id = await broadcasts.create(campaign.id, kind.value, {}, now)
        await broadcasts.add_subscribers(
            broadcast_id, campaign.id, now,
            only_non_voters=kind is AnnouncementKind.VOTING_REMINDER,
            by_phone=campaign.rules.identity is Identity.PHONE,
        )
        if self.announce_chat is not None and kind is not AnnouncementKind.VOTING_REMINDER:
            chat = self.announce_chat
            await broadcasts.add_chat(broadcast_id, chat.channel, chat.address, chat.language, now)
        return broadcast_id

    async def after_clock_step(self, seconds: float) -> int:
        """The clock stepped by `seconds`: every campaign's plan is rebuilt from its phase
        times, and after a step back, what was skipped as stale but lies ahead again is
        planned again. Recorded in the audit log for staff. Returns how many were revived."""
        async with self.db.write() as conn:
            now = self.clock.now()
            campaigns = CampaignRepository(conn)
            announcements = AnnouncementRepository(conn)
            revived = 0
            for campaign in await campaigns.all():
                wanted = plan_announcements(campaign)
                await replan(conn, campaign.id, campaign, now)
                if seconds < 0:
                    revived += await announcements.revive_skipped(campaign.id, wanted, now, now)
            await AuditRepository(conn).record(now, "system", "clock.stepped",
                                               seconds=round(seconds), revived=revived)
        return revived

    async def plan(self, campaign: Campaign) -> list[Announcement]:
        async with self.db.read() as conn:
            return await AnnouncementRepository(conn).of_campaign(campaign.id)

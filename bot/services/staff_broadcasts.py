"""Staff broadcasts: a message an admin writes, sent to every active subscriber of a campaign
by the broadcaster (resumable, once per recipient), and audited."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from bot.clock import Clock
from bot.domain import Campaign
from bot.services.broadcasts import Broadcaster
from storage.database import Database
from storage.repositories import AuditRepository, BroadcastRepository, SubscriptionRepository

STAFF_KIND = "staff"
TEXT_MAX = 1000


class StaffBroadcastOutcome(Enum):
    STARTED = "started"
    BAD_TEXT = "bad_text"  # empty or longer than TEXT_MAX
    NO_RECIPIENTS = "no_recipients"


@dataclass(frozen=True)
class StaffBroadcastResult:
    outcome: StaffBroadcastOutcome
    broadcast_id: int | None = None
    recipients: int = 0


def clean_text(text: str | None) -> str | None:
    text = (text or "").strip()
    return text if 1 <= len(text) <= TEXT_MAX else None


class StaffBroadcastService:
    def __init__(self, db: Database, clock: Clock, broadcaster: Broadcaster) -> None:
        self.db = db
        self.clock = clock
        self.broadcaster = broadcaster

    async def recipients(self, campaign: Campaign) -> int:
        async with self.db.read() as conn:
            return await SubscriptionRepository(conn).count_active(campaign.id)

    async def send(self, campaign: Campaign, text: str, by: str,
                   request_key: str | None = None) -> StaffBroadcastResult:
        """Starts the broadcast. With a `request_key` (the web form's), a second call with the
        same key starts nothing and answers as the first did: a double press sends once."""
        text = clean_text(text)
        if text is None:
            return StaffBroadcastResult(StaffBroadcastOutcome.BAD_TEXT)
        async with self.db.write() as conn:
            now = self.clock.now()
            if not await SubscriptionRepository(conn).count_active(campaign.id):
                return StaffBroadcastResult(StaffBroadcastOutcome.NO_RECIPIENTS)
            broadcasts = BroadcastRepository(conn)
            payload = {"text": text, "by": by}
            if request_key is None:
                broadcast_id, created = await broadcasts.create(
                    campaign.id, STAFF_KIND, payload, now), True
            else:
                broadcast_id, created = await broadcasts.create_once(
                    request_key, campaign.id, STAFF_KIND, payload, now)
            if not created:
                return StaffBroadcastResult(StaffBroadcastOutcome.STARTED, broadcast_id,
                                            await broadcasts.recipients(broadcast_id))
            count = await broadcasts.add_subscribers(broadcast_id, campaign.id, now)
            await AuditRepository(conn).record(
                now, by, "broadcast.sent", campaign.id, broadcast_id=broadcast_id,
                recipients=count, text=text,
            )
        self.broadcaster.start(broadcast_id)
        return StaffBroadcastResult(StaffBroadcastOutcome.STARTED, broadcast_id, count)

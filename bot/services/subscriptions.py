"""Whether a citizen wants a campaign's announcements. Opt-in: nobody is subscribed unless
they said yes."""

from __future__ import annotations

from bot.clock import Clock
from bot.domain import Campaign, Citizen
from storage.database import Database
from storage.repositories import SubscriptionRepository


class SubscriptionService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def status(self, campaign: Campaign, citizen: Citizen) -> bool | None:
        """True or False once answered; None if the citizen was never asked."""
        async with self.db.read() as conn:
            return await SubscriptionRepository(conn).get(campaign.id, citizen.id)

    async def set(self, campaign: Campaign, citizen: Citizen, active: bool) -> None:
        async with self.db.write() as conn:
            await SubscriptionRepository(conn).set(campaign.id, citizen.id, active,
                                                   self.clock.now())

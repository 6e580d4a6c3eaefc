from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import subscriptions


class SubscriptionRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def get(self, campaign_id: int, citizen_id: int) -> bool | None:
        """True or False once the citizen has answered; None if never asked."""
        return await self.conn.scalar(
            sa.select(subscriptions.c.active).where(
                subscriptions.c.campaign_id == campaign_id,
                subscriptions.c.citizen_id == citizen_id,
            )
        )

    async def set(self, campaign_id: int, citizen_id: int, active: bool, now: datetime) -> None:
        updated = await self.conn.execute(
            subscriptions.update()
            .where(subscriptions.c.campaign_id == campaign_id,
                   subscriptions.c.citizen_id == citizen_id)
            .values(active=active, updated_at=now)
        )
        if updated.rowcount == 0:
            await self.conn.execute(
                subscriptions.insert().values(
                    campaign_id=campaign_id, citizen_id=citizen_id, active=active, updated_at=now
                )
            )

    async def unsubscribe_everywhere(self, citizen_id: int, now: datetime) -> None:
        await self.conn.execute(
            subscriptions.update()
            .where(subscriptions.c.citizen_id == citizen_id, subscriptions.c.active.is_(True))
            .values(active=False, updated_at=now)
        )

    async def count_active(self, campaign_id: int) -> int:
        return await self.conn.scalar(
            sa.select(sa.func.count()).select_from(subscriptions).where(
                subscriptions.c.campaign_id == campaign_id, subscriptions.c.active.is_(True)
            )
        ) or 0

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Broadcast, Delivery
from storage.tables import broadcasts, citizens, deliveries, subscriptions, votes

RUNNING = "running"
DONE = "done"

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
BLOCKED = "blocked"
FAILED = "failed"
UNCERTAIN = "uncertain"  # was being sent when the bot stopped: not sent again


def _broadcast(row) -> Broadcast:
    return Broadcast(
        id=row["id"], campaign_id=row["campaign_id"], kind=row["kind"], payload=row["payload"],
        status=row["status"], created_at=row["created_at"],
    )


def _delivery(row) -> Delivery:
    return Delivery(
        id=row["id"], broadcast_id=row["broadcast_id"], citizen_id=row["citizen_id"],
        channel=row["channel"], address=row["address"], language=row["language"],
        attempts=row["attempts"],
    )


class BroadcastRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def create(self, campaign_id: int, kind: str, payload: dict, now: datetime) -> int:
        result = await self.conn.execute(
            broadcasts.insert().values(
                campaign_id=campaign_id, kind=kind, payload=payload, status=RUNNING,
                created_at=now,
            )
        )
        return result.inserted_primary_key[0]

    async def add_subscribers(
        self, broadcast_id: int, campaign_id: int, now: datetime, only_non_voters: bool = False
    ) -> int:
        """Every active subscriber becomes a pending delivery, in one INSERT ... SELECT."""
        conditions = [subscriptions.c.campaign_id == campaign_id,
                      subscriptions.c.active.is_(True)]
        if only_non_voters:
            conditions.append(~sa.exists().where(votes.c.campaign_id == campaign_id,
                                                  votes.c.citizen_id == citizens.c.id))
        select = (
            sa.select(
                sa.literal(broadcast_id), citizens.c.id, citizens.c.channel,
                citizens.c.external_id, citizens.c.language, sa.literal(PENDING),
                sa.literal(0), sa.literal(now, type_=deliveries.c.updated_at.type),
            )
            .select_from(subscriptions.join(citizens, citizens.c.id == subscriptions.c.citizen_id))
            .where(*conditions)
            .order_by(citizens.c.id)
        )
        result = await self.conn.execute(
            deliveries.insert().from_select(
                ["broadcast_id", "citizen_id", "channel", "address", "language", "status",
                 "attempts", "updated_at"],
                select,
            )
        )
        return result.rowcount

    async def add_chat(
        self, broadcast_id: int, channel: str, address: str, language: str, now: datetime
    ) -> None:
        await self.conn.execute(
            deliveries.insert().values(
                broadcast_id=broadcast_id, citizen_id=None, channel=channel, address=address,
                language=language, status=PENDING, attempts=0, updated_at=now,
            )
        )

    async def get(self, broadcast_id: int) -> Broadcast | None:
        row = (
            await self.conn.execute(broadcasts.select().where(broadcasts.c.id == broadcast_id))
        ).mappings().first()
        return _broadcast(row) if row else None

    async def running(self) -> list[Broadcast]:
        rows = await self.conn.execute(
            broadcasts.select().where(broadcasts.c.status == RUNNING).order_by(broadcasts.c.id)
        )
        return [_broadcast(r) for r in rows.mappings()]

    async def mark_in_flight_uncertain(self, broadcast_id: int, now: datetime) -> int:
        """After a crash: what was being sent may have arrived. It is not sent again."""
        result = await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.broadcast_id == broadcast_id, deliveries.c.status == SENDING)
            .values(status=UNCERTAIN, updated_at=now)
        )
        return result.rowcount

    async def claim_next(self, broadcast_id: int, now: datetime) -> Delivery | None:
        """Take the next pending delivery and mark it as being sent (committed before the
        message goes out, so a restart never sends it twice)."""
        row = (
            await self.conn.execute(
                deliveries.select()
                .where(deliveries.c.broadcast_id == broadcast_id, deliveries.c.status == PENDING)
                .order_by(deliveries.c.id)
                .limit(1)
            )
        ).mappings().first()
        if row is None:
            return None
        await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id == row["id"])
            .values(status=SENDING, updated_at=now)
        )
        return _delivery(row)

    async def claim_more(
        self, broadcast_id: int, channel: str, language: str, limit: int, now: datetime
    ) -> list[Delivery]:
        """Up to `limit` more pending deliveries of one channel and language, marked as being
        sent like `claim_next` marks one: the rest of a batch for a channel that sends many
        recipients in one request. Call it in the transaction of `claim_next`."""
        if limit <= 0:
            return []
        rows = (
            await self.conn.execute(
                deliveries.select()
                .where(deliveries.c.broadcast_id == broadcast_id,
                       deliveries.c.status == PENDING,
                       deliveries.c.channel == channel,
                       deliveries.c.language == language)
                .order_by(deliveries.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)  # PostgreSQL: leave rows others are claiming
            )
        ).mappings().all()
        if not rows:
            return []
        await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_([row["id"] for row in rows]))
            .values(status=SENDING, updated_at=now)
        )
        return [_delivery(row) for row in rows]

    async def record(
        self, delivery_id: int, status: str, attempts: int, now: datetime, error: str | None = None
    ) -> None:
        await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id)
            .values(status=status, attempts=attempts, error=error, updated_at=now)
        )

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.broadcast_id == broadcast_id)
            .group_by(deliveries.c.status)
        )
        return {status: n for status, n in rows}

    async def finish(self, broadcast_id: int, now: datetime) -> bool:
        """Mark the broadcast done; False if another runner already did."""
        result = await self.conn.execute(
            broadcasts.update()
            .where(broadcasts.c.id == broadcast_id, broadcasts.c.status == RUNNING)
            .values(status=DONE, finished_at=now)
        )
        return result.rowcount == 1

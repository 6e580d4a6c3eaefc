from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Broadcast, Delivery
from storage.repositories.workers import worker_gone
from storage.tables import (
    UTCDateTime,
    broadcasts,
    citizen_phones,
    citizens,
    deliveries,
    subscriptions,
    votes,
)
from storage.upsert import insert, new_id

RUNNING = "running"
DONE = "done"

PENDING = "pending"
CLAIMED = "claimed"  # a worker's, waiting for its turn to go out: never left the process yet
SENDING = "sending"  # handed to the channel (the request is on its way)
SENT = "sent"
BLOCKED = "blocked"
FAILED = "failed"
UNCERTAIN = "uncertain"  # was on its way when its worker stopped: not sent again
OPEN = (PENDING, CLAIMED, SENDING)


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


def _pending_for(broadcast_id: int, now: datetime) -> sa.Select:
    """Citizens as pending deliveries of a broadcast, in the columns _add_citizens inserts."""
    return sa.select(
        sa.literal(broadcast_id), citizens.c.id, citizens.c.channel, citizens.c.external_id,
        citizens.c.language, sa.literal(PENDING), sa.literal(0),
        sa.literal(now, type_=deliveries.c.updated_at.type),
    )


# Every message of a broadcast runs the statements below: built once (building one cost more
# than running it), the values come as parameters (named unlike the columns: SQLAlchemy keeps
# those names for the values an UPDATE sets).
_NOW = sa.bindparam("now", type_=UTCDateTime())
# Due: pending, and not waiting for a retry's time.
_DUE = [deliveries.c.broadcast_id == sa.bindparam("of_broadcast", type_=sa.Integer),
        deliveries.c.status == PENDING,
        sa.or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until <= _NOW)]
_NEXT_DUE = (sa.select(deliveries.c.channel, deliveries.c.language).where(*_DUE)
             .order_by(deliveries.c.id).limit(1))
_HAND_OVER = (
    deliveries.update()
    .where(deliveries.c.id.in_(sa.bindparam("ids", expanding=True)),
           deliveries.c.status == CLAIMED)
    .values(status=SENDING, updated_at=_NOW)
)
_RECORD = (
    deliveries.update()
    .where(deliveries.c.id == sa.bindparam("delivery_id", type_=sa.Integer))
    .values(status=sa.bindparam("outcome", type_=sa.String),
            attempts=sa.bindparam("tries", type_=sa.Integer),
            error=sa.bindparam("failure", type_=sa.Text), updated_at=_NOW, claimed_by=None,
            lease_until=sa.bindparam("not_before", type_=UTCDateTime()))
)


@functools.cache
def _claim(by_channel: bool, by_language: bool) -> sa.Update:
    due = list(_DUE)
    if by_channel:
        due.append(deliveries.c.channel == sa.bindparam("on_channel", type_=sa.String))
    if by_language:
        due.append(deliveries.c.language == sa.bindparam("in_language", type_=sa.String))
    # A CTE, MATERIALIZED: chosen once. As a plain subquery in the WHERE, PostgreSQL may
    # run it again for each row it scans and, skipping locked rows, take more than `limit`.
    picked = (
        sa.select(deliveries.c.id).where(*due).order_by(deliveries.c.id)
        .limit(sa.bindparam("limit", type_=sa.Integer))
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
        .cte("picked").prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        deliveries.update()
        .where(deliveries.c.id == picked.c.id, deliveries.c.status == PENDING)
        .values(status=CLAIMED, claimed_by=sa.bindparam("me", type_=sa.String),
                lease_until=sa.bindparam("lease", type_=UTCDateTime()), updated_at=_NOW)
        .returning(*deliveries.c)
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
        return new_id(result)

    async def create_once(self, request_key: str, campaign_id: int, kind: str, payload: dict,
                          now: datetime) -> tuple[int, bool]:
        """The broadcast a request (a form) starts, once: (its id, whether this call made it).
        A second call with the same key, from any process, finds the first one's row."""
        made = await self.conn.execute(
            insert(self.conn, broadcasts).values(
                campaign_id=campaign_id, kind=kind, payload=payload, status=RUNNING,
                created_at=now, request_key=request_key,
            ).on_conflict_do_nothing(index_elements=["request_key"])
            .returning(broadcasts.c.id)
        )
        created = made.scalar_one_or_none()
        if created is not None:
            return int(created), True
        found = await self.conn.execute(
            sa.select(broadcasts.c.id).where(broadcasts.c.request_key == request_key))
        return int(found.scalar_one()), False

    async def recipients(self, broadcast_id: int) -> int:
        return sum((await self.counts(broadcast_id)).values())

    async def add_subscribers(
        self, broadcast_id: int, campaign_id: int, now: datetime, only_non_voters: bool = False,
        by_phone: bool = False,
    ) -> int:
        """Every active subscriber becomes a pending delivery, in one INSERT ... SELECT.
        `only_non_voters`: those who have not voted; `by_phone` (a campaign counting verified
        numbers): nor has any account with the same verified number, on any channel."""
        conditions = [subscriptions.c.campaign_id == campaign_id,
                      subscriptions.c.active.is_(True)]
        if only_non_voters:
            conditions.append(~sa.exists().where(votes.c.campaign_id == campaign_id,
                                                  votes.c.citizen_id == citizens.c.id))
            if by_phone:
                mine, twin = citizen_phones.alias("mine"), citizen_phones.alias("twin")
                conditions.append(~sa.exists(
                    sa.select(votes.c.id)
                    .join(twin, twin.c.citizen_id == votes.c.citizen_id)
                    .join(mine, mine.c.phone_key == twin.c.phone_key)
                    .where(votes.c.campaign_id == campaign_id,
                           mine.c.citizen_id == citizens.c.id)))
        return await self._add_citizens(
            _pending_for(broadcast_id, now)
            .select_from(subscriptions.join(citizens, citizens.c.id == subscriptions.c.citizen_id))
            .where(*conditions)
            .order_by(citizens.c.id)
        )

    async def add_citizen(self, broadcast_id: int, citizen_id: int, now: datetime) -> int:
        """One citizen becomes a pending delivery, at their channel, address and language as
        stored now; 0 if there is no such citizen."""
        return await self._add_citizens(
            _pending_for(broadcast_id, now).where(citizens.c.id == citizen_id))

    async def _add_citizens(self, select: sa.Select) -> int:
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

    async def recover_abandoned(self, broadcast_id: int, now: datetime,
                                silent_since: datetime, any_owner: bool = False) -> tuple[int, int]:
        """Deliveries of a worker that stopped (it died, or lost its database): its lease has
        run out, or the worker has been silent since `silent_since`. What it had only claimed
        never left it and goes back to pending; what it had handed to the channel may have
        arrived, so it is recorded as uncertain and never sent again. A live worker's claims
        are left alone; with `any_owner` (no other process can be alive, e.g. SQLite) neither
        condition matters. Call it only for a broadcast this process is not running. Returns
        (back to pending, uncertain)."""
        abandoned = [deliveries.c.broadcast_id == broadcast_id]
        if not any_owner:
            abandoned.append(sa.or_(deliveries.c.lease_until.is_(None),
                                    deliveries.c.lease_until < now,
                                    worker_gone(deliveries.c.claimed_by, silent_since)))
        requeued = await self.conn.execute(
            deliveries.update().where(*abandoned, deliveries.c.status == CLAIMED)
            .values(status=PENDING, claimed_by=None, lease_until=None, updated_at=now)
        )
        lost = await self.conn.execute(
            deliveries.update().where(*abandoned, deliveries.c.status == SENDING)
            .values(status=UNCERTAIN, updated_at=now)
        )
        return requeued.rowcount, lost.rowcount

    async def hand_over(self, delivery_ids: list[int], now: datetime) -> None:
        """These claimed deliveries are about to leave the process (their request goes out
        now): from here on a crash makes them uncertain, not pending."""
        await self.conn.execute(_HAND_OVER, {"ids": delivery_ids, "now": now})

    async def next_due(self, broadcast_id: int, now: datetime) -> tuple[str, str] | None:
        """The channel and language of the next delivery due to be sent, or None when none is
        due (everything sent, being sent, or waiting for a retry's time)."""
        row = (await self.conn.execute(
            _NEXT_DUE, {"of_broadcast": broadcast_id, "now": now})).first()
        return (row[0], row[1]) if row else None

    async def claim(
        self, broadcast_id: int, me: str, now: datetime, lease_until: datetime, limit: int = 1,
        channel: str | None = None, language: str | None = None,
    ) -> list[Delivery]:
        """Take up to `limit` pending deliveries that are due (a retry waits until its time)
        and mark them as claimed by worker `me` until `lease_until`, in ONE statement: rows
        another worker is claiming at the same moment are skipped, never taken twice."""
        rows = await self.conn.execute(
            _claim(channel is not None, language is not None),
            {"of_broadcast": broadcast_id, "now": now, "limit": limit, "on_channel": channel,
             "in_language": language, "me": me, "lease": lease_until})
        return sorted((_delivery(r) for r in rows.mappings()), key=lambda d: d.id)

    async def record(
        self, delivery_id: int, status: str, attempts: int, now: datetime, error: str | None = None,
        not_before: datetime | None = None,
    ) -> None:
        """The outcome of a send. Back to pending with `not_before`: tried again from then."""
        await self.conn.execute(_RECORD, {
            "delivery_id": delivery_id, "outcome": status, "tries": attempts, "failure": error,
            "now": now, "not_before": not_before})

    async def unsettled(self, broadcast_id: int) -> bool:
        """Whether any delivery is still to be sent, or being sent."""
        return await self.conn.scalar(sa.select(sa.exists().where(
            deliveries.c.broadcast_id == broadcast_id,
            deliveries.c.status.in_(OPEN),
        ))) or False

    async def counts(self, broadcast_id: int) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(deliveries.c.status, sa.func.count())
            .where(deliveries.c.broadcast_id == broadcast_id)
            .group_by(deliveries.c.status)
        )
        return {status: n for status, n in rows}

    async def finish(self, broadcast_id: int, now: datetime) -> bool:
        """Mark the broadcast done once nothing is left to send or being sent; False if another
        runner already did, or some delivery is still waiting (a retry, another worker's)."""
        open_delivery = sa.exists().where(deliveries.c.broadcast_id == broadcast_id,
                                          deliveries.c.status.in_(OPEN))
        result = await self.conn.execute(
            broadcasts.update()
            .where(broadcasts.c.id == broadcast_id, broadcasts.c.status == RUNNING,
                   ~open_delivery)
            .values(status=DONE, finished_at=now)
        )
        return result.rowcount == 1

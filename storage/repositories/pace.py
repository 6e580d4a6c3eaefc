from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import outbound_pace
from storage.upsert import insert


class PaceRepository:
    """The outbound pace's lanes: for each, the earliest instant (Unix seconds) its next
    message may go out. Every statement here is one atomic read-and-write of a lane row, so
    workers that send at the same moment are given different instants."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def next_at(self, lane: str) -> float | None:
        return await self.conn.scalar(
            sa.select(outbound_pace.c.next_at).where(outbound_pace.c.lane == lane))

    async def book(self, lane: str, not_before: float, interval: float, forget_after: float,
                   only_within: float | None = None) -> float | None:
        """Book the lane's next instant at or after `not_before`, and move the lane on by
        `interval`. A lane booked more than `forget_after` seconds past `not_before` is taken
        as stale (the clock stepped back) and starts again from `not_before`. With
        `only_within`, book only if the instant falls within that many seconds of
        `not_before` (else None, nothing booked): what may wait gives way to what may not."""
        current = outbound_pace.c.next_at
        start = sa.case(
            (current > not_before + forget_after, not_before),
            (current > not_before, current),
            else_=not_before,
        )
        booked_until = await self.conn.scalar(
            insert(self.conn, outbound_pace)
            .values(lane=lane, next_at=not_before + interval)
            .on_conflict_do_update(
                index_elements=[outbound_pace.c.lane],
                set_={"next_at": start + interval},
                where=None if only_within is None else start <= not_before + only_within,
            )
            .returning(outbound_pace.c.next_at)
        )
        return None if booked_until is None else booked_until - interval

    async def hold(self, lane: str, until: float) -> None:
        """Nothing goes out on this lane before `until` (flood control said so)."""
        await self.conn.execute(
            insert(self.conn, outbound_pace).values(lane=lane, next_at=until).on_conflict_do_update(
                index_elements=[outbound_pace.c.lane],
                set_={"next_at": sa.case((outbound_pace.c.next_at < until, until),
                                         else_=outbound_pace.c.next_at)},
            )
        )

    async def shift(self, seconds: float) -> None:
        await self.conn.execute(
            outbound_pace.update().values(next_at=outbound_pace.c.next_at + seconds))

    async def prune(self, before: float, keep: set[str]) -> int:
        """Forget lanes idle since `before` (one row per chat would pile up), except `keep`."""
        result = await self.conn.execute(
            outbound_pace.delete().where(outbound_pace.c.next_at < before,
                                         outbound_pace.c.lane.not_in(keep))
        )
        return result.rowcount

from __future__ import annotations

import functools

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import outbound_pace
from storage.upsert import insert_into

# Every message sent books its turns: the statements are built once (building one cost more
# than running it), the instants come as parameters.
_NEXT_AT = sa.select(outbound_pace.c.next_at).where(
    outbound_pace.c.lane == sa.bindparam("lane", type_=sa.String))


@functools.cache
def _book(dialect: str, only_within: bool) -> sa.Insert:
    not_before = sa.bindparam("not_before", type_=sa.Float)
    interval = sa.bindparam("interval", type_=sa.Float)
    current = outbound_pace.c.next_at
    start = sa.case(
        (current > not_before + sa.bindparam("forget_after", type_=sa.Float), not_before),
        (current > not_before, current),
        else_=not_before,
    )
    within = start <= not_before + sa.bindparam("only_within", type_=sa.Float)
    return (
        insert_into(dialect, outbound_pace)
        .values(lane=sa.bindparam("lane", type_=sa.String), next_at=not_before + interval)
        .on_conflict_do_update(index_elements=[outbound_pace.c.lane],
                               set_={"next_at": start + interval},
                               where=within if only_within else None)
        .returning(outbound_pace.c.next_at)
    )


@functools.cache
def _hold(dialect: str) -> sa.Insert:
    until = sa.bindparam("until", type_=sa.Float)
    return (
        insert_into(dialect, outbound_pace)
        .values(lane=sa.bindparam("lane", type_=sa.String), next_at=until)
        .on_conflict_do_update(
            index_elements=[outbound_pace.c.lane],
            set_={"next_at": sa.case((outbound_pace.c.next_at < until, until),
                                     else_=outbound_pace.c.next_at)})
    )


class PaceRepository:
    """The outbound pace's lanes: for each, the earliest instant (Unix seconds) its next
    message may go out. Every statement here is one atomic read-and-write of a lane row, so
    workers that send at the same moment are given different instants."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def next_at(self, lane: str) -> float | None:
        return await self.conn.scalar(_NEXT_AT, {"lane": lane})

    async def book(self, lane: str, not_before: float, interval: float, forget_after: float,
                   only_within: float | None = None) -> float | None:
        """Book the lane's next instant at or after `not_before`, and move the lane on by
        `interval`. A lane booked more than `forget_after` seconds past `not_before` is taken
        as stale (the clock stepped back) and starts again from `not_before`. With
        `only_within`, book only if the instant falls within that many seconds of
        `not_before` (else None, nothing booked): what may wait gives way to what may not."""
        booked_until = await self.conn.scalar(
            _book(self.conn.dialect.name, only_within is not None),
            {"lane": lane, "not_before": not_before, "interval": interval,
             "forget_after": forget_after, "only_within": only_within})
        return None if booked_until is None else booked_until - interval

    async def hold(self, lane: str, until: float) -> None:
        """Nothing goes out on this lane before `until` (flood control said so)."""
        await self.conn.execute(_hold(self.conn.dialect.name), {"lane": lane, "until": until})

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

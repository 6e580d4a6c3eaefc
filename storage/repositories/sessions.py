from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.repositories.workers import worker_gone
from storage.tables import chat_sessions
from storage.upsert import insert

# Read before every update: built once (building it cost more than running it).
_LOAD = sa.select(chat_sessions.c.state).where(
    chat_sessions.c.channel == sa.bindparam("channel", type_=sa.String),
    chat_sessions.c.external_id == sa.bindparam("external_id", type_=sa.String))


class SessionRepository:
    """Chat sessions: a chat account's conversation state between updates, and its turn."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    def _key(self, channel: str, external_id: str) -> list:
        return [chat_sessions.c.channel == channel, chat_sessions.c.external_id == external_id]

    async def load(self, channel: str, external_id: str) -> dict[str, Any]:
        state = await self.conn.scalar(_LOAD, {"channel": channel, "external_id": external_id})
        return dict(state or {})

    async def save(self, channel: str, external_id: str, state: dict[str, Any],
                   now: datetime) -> None:
        await self.conn.execute(
            insert(self.conn, chat_sessions)
            .values(channel=channel, external_id=external_id, state=state, updated_at=now)
            .on_conflict_do_update(
                index_elements=[chat_sessions.c.channel, chat_sessions.c.external_id],
                set_={"state": state, "updated_at": now},
            )
        )

    async def delete(self, channel: str, external_id: str) -> None:
        await self.conn.execute(chat_sessions.delete().where(*self._key(channel, external_id)))

    async def take_turn(self, channel: str, external_id: str, owner: str, now: datetime,
                        until: datetime, silent_since: datetime) -> dict[str, Any] | None:
        """Make it `owner`'s turn with this account until `until`, unless another worker's
        turn is running (its lease not run out, the worker not silent since `silent_since`):
        one statement, so two workers never both get it. Returns the state, or None when it
        is someone else's turn."""
        holder = chat_sessions.c.turn_owner
        free = sa.or_(holder.is_(None), holder == owner, chat_sessions.c.turn_until < now,
                      worker_gone(holder, silent_since))
        state = await self.conn.scalar(
            insert(self.conn, chat_sessions)
            .values(channel=channel, external_id=external_id, state={}, turn_owner=owner,
                    turn_until=until, updated_at=now)
            .on_conflict_do_update(
                index_elements=[chat_sessions.c.channel, chat_sessions.c.external_id],
                set_={"turn_owner": owner, "turn_until": until},
                where=free,
            )
            .returning(chat_sessions.c.state)
        )
        return None if state is None else dict(state)

    async def end_turn(self, channel: str, external_id: str, owner: str,
                       state: dict[str, Any] | None, now: datetime) -> None:
        """End `owner`'s turn, saving `state` if given (None: unchanged)."""
        values: dict[str, Any] = {"turn_owner": None, "turn_until": None}
        if state is not None:
            values.update(state=state, updated_at=now)
        await self.conn.execute(
            chat_sessions.update()
            .where(*self._key(channel, external_id), chat_sessions.c.turn_owner == owner)
            .values(**values)
        )

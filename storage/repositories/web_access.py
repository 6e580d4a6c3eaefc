"""Sign-in links and sessions of the web console, by the digests of their tokens. Using a link
and ending a session are conditional updates: of two requests with the same link, one wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import web_links, web_sessions


@dataclass(frozen=True)
class Account:
    channel: str
    external_id: str


@dataclass(frozen=True)
class SessionRow:
    account: Account
    csrf: str
    expires_at: datetime


class WebAccessRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add_link(self, token_hash: str, account: Account, created_by: str,
                       now: datetime, expires_at: datetime) -> None:
        await self.conn.execute(web_links.insert().values(
            token_hash=token_hash, channel=account.channel, external_id=account.external_id,
            created_by=created_by, created_at=now, expires_at=expires_at))

    async def use_link(self, token_hash: str, now: datetime) -> Account | None:
        """The link's account if it was unused, unrevoked and unexpired; it is used now."""
        row = (await self.conn.execute(
            web_links.update()
            .where(web_links.c.token_hash == token_hash, web_links.c.used_at.is_(None),
                   web_links.c.revoked_at.is_(None), web_links.c.expires_at > now)
            .values(used_at=now)
            .returning(web_links.c.channel, web_links.c.external_id)
        )).first()
        return None if row is None else Account(row.channel, row.external_id)

    async def link_state(self, token_hash: str) -> dict | None:
        """What became of a link (to say why it no longer works)."""
        row = (await self.conn.execute(
            sa.select(web_links.c.used_at, web_links.c.revoked_at, web_links.c.expires_at)
            .where(web_links.c.token_hash == token_hash))).first()
        return None if row is None else dict(row._mapping)

    async def revoke_links(self, account: Account, now: datetime) -> int:
        result = await self.conn.execute(
            web_links.update()
            .where(web_links.c.channel == account.channel,
                   web_links.c.external_id == account.external_id,
                   web_links.c.used_at.is_(None), web_links.c.revoked_at.is_(None),
                   web_links.c.expires_at > now)
            .values(revoked_at=now))
        return result.rowcount

    async def add_session(self, token_hash: str, account: Account, csrf: str, now: datetime,
                          expires_at: datetime) -> None:
        await self.conn.execute(web_sessions.insert().values(
            token_hash=token_hash, channel=account.channel, external_id=account.external_id,
            csrf=csrf, created_at=now, expires_at=expires_at))

    async def session(self, token_hash: str, now: datetime) -> SessionRow | None:
        row = (await self.conn.execute(
            sa.select(web_sessions.c.channel, web_sessions.c.external_id, web_sessions.c.csrf,
                      web_sessions.c.expires_at)
            .where(web_sessions.c.token_hash == token_hash, web_sessions.c.ended_at.is_(None),
                   web_sessions.c.expires_at > now))).first()
        if row is None:
            return None
        return SessionRow(Account(row.channel, row.external_id), row.csrf, row.expires_at)

    async def end_session(self, token_hash: str, now: datetime) -> bool:
        result = await self.conn.execute(
            web_sessions.update()
            .where(web_sessions.c.token_hash == token_hash, web_sessions.c.ended_at.is_(None))
            .values(ended_at=now))
        return result.rowcount == 1

    async def end_sessions(self, account: Account, now: datetime) -> int:
        result = await self.conn.execute(
            web_sessions.update()
            .where(web_sessions.c.channel == account.channel,
                   web_sessions.c.external_id == account.external_id,
                   web_sessions.c.ended_at.is_(None))
            .values(ended_at=now))
        return result.rowcount

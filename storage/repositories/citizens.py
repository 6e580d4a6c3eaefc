from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Citizen
from storage.tables import citizens, staff_roles
from storage.upsert import insert

NO_CHANNEL = "none"  # the channel of the placeholder account, which is no one's
USERNAME_LENGTH: int = citizens.c.username.type.length  # type: ignore[attr-defined]


def _citizen(row) -> Citizen:
    return Citizen(
        id=row["id"],
        channel=row["channel"],
        external_id=row["external_id"],
        language=row["language"],
        first_seen=row["first_seen"],
        username=row["username"],
        alias=row["alias"],
    )


class CitizenRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def find(self, channel: str, external_id: str) -> Citizen | None:
        row = (
            await self.conn.execute(
                citizens.select().where(
                    citizens.c.channel == channel, citizens.c.external_id == external_id
                )
            )
        ).mappings().first()
        return _citizen(row) if row else None

    async def get(self, citizen_id: int) -> Citizen | None:
        row = (
            await self.conn.execute(citizens.select().where(citizens.c.id == citizen_id))
        ).mappings().first()
        return _citizen(row) if row else None

    async def create(
        self, channel: str, external_id: str, language: str, now: datetime,
        username: str | None = None, alias: str | None = None,
    ) -> Citizen:
        """Create, or return the row another request created a moment earlier: one
        statement, unless it was."""
        row = (await self.conn.execute(
            insert(self.conn, citizens).values(
                channel=channel, external_id=external_id, language=language, first_seen=now,
                username=username, alias=alias,
            ).on_conflict_do_nothing().returning(*citizens.c)
        )).mappings().first()
        if row is not None:
            return _citizen(row)
        found = await self.find(channel, external_id)
        assert found is not None
        return found

    async def set_language(self, citizen_id: int, language: str) -> None:
        await self.conn.execute(
            citizens.update().where(citizens.c.id == citizen_id).values(language=language)
        )

    async def count(self) -> int:
        """Accounts that wrote to the bot (not the placeholder purged votes are counted
        under: storage/repositories/privacy.py)."""
        return await self.conn.scalar(sa.select(sa.func.count()).select_from(citizens)
                                      .where(citizens.c.channel != NO_CHANNEL)) or 0

    async def count_without_staff(self, also_staff: dict[str, frozenset[str]]) -> int:
        """Accounts that wrote to the bot, less staff: anyone holding a role, and the
        accounts in `also_staff` (channel -> external ids: the admins from the settings)."""
        query = sa.select(sa.func.count()).select_from(citizens).where(
            citizens.c.channel != NO_CHANNEL,
            ~sa.exists().where(staff_roles.c.channel == citizens.c.channel,
                               staff_roles.c.external_id == citizens.c.external_id))
        for channel, ids in also_staff.items():
            if ids:
                query = query.where(~sa.and_(citizens.c.channel == channel,
                                             citizens.c.external_id.in_(sorted(ids))))
        return await self.conn.scalar(query) or 0

    async def set_names(self, citizen_id: int, username: str | None, alias: str | None) -> None:
        await self.conn.execute(
            citizens.update().where(citizens.c.id == citizen_id)
            .values(username=username, alias=alias)
        )

    async def with_username(self, channel: str, username: str) -> list[Citizen]:
        """The accounts holding @username (any case): one, none, or (names kept from before
        a username was taken from its former holder) more, oldest first; at most two, which
        is enough to know the name is ambiguous."""
        rows = await self.conn.execute(
            citizens.select().where(
                citizens.c.channel == channel,
                sa.func.lower(citizens.c.username) == username.lower(),
            ).order_by(citizens.c.id).limit(2)
        )
        return [_citizen(r) for r in rows.mappings()]

    async def release_username(self, channel: str, username: str, holder_id: int) -> list[str]:
        """Take @username from every account of the channel but its holder's: a username
        someone dropped and another took must name the new holder only. Returns the external
        ids of the accounts it was taken from.

        Usernames are kept in lower case (CitizenService), so this is one indexed comparison,
        cheap enough for every new account. A name written in another case before that is not
        found here, but `with_username` (which compares case-insensitively) still finds it, and
        /grant then asks for the number rather than guess."""
        rows = await self.conn.execute(
            citizens.update().where(
                citizens.c.channel == channel, citizens.c.id != holder_id,
                citizens.c.username == username.lower(),
            ).values(username=None).returning(citizens.c.external_id)
        )
        return list(rows.scalars())

    async def usernames(self, channel: str, external_ids: list[str]) -> dict[str, str | None]:
        """external id -> @username (without the @), for many accounts in one query."""
        if not external_ids:
            return {}
        rows = await self.conn.execute(
            sa.select(citizens.c.external_id, citizens.c.username).where(
                citizens.c.channel == channel, citizens.c.external_id.in_(external_ids)
            )
        )
        return dict(rows.all())

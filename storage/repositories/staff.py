from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Role
from storage.tables import staff_invitations, staff_roles
from storage.upsert import insert as upsert


class StaffRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def roles_of(self, channel: str, external_id: str) -> set[Role]:
        rows = await self.conn.execute(
            sa.select(staff_roles.c.role).where(
                staff_roles.c.channel == channel, staff_roles.c.external_id == external_id
            )
        )
        return {Role(r) for r in rows.scalars()}

    async def grant(
        self, channel: str, external_id: str, role: Role, granted_by: str, now: datetime
    ) -> bool:
        """False if the role was already held. One statement: of two grants at once, one
        inserts and the other finds the row (the primary key decides)."""
        added = await self.conn.scalar(
            upsert(self.conn, staff_roles).values(
                channel=channel, external_id=external_id, role=role.value,
                granted_by=granted_by, granted_at=now,
            ).on_conflict_do_nothing().returning(staff_roles.c.role)
        )
        return added is not None

    async def revoke(self, channel: str, external_id: str, role: Role) -> bool:
        result = await self.conn.execute(
            staff_roles.delete().where(
                staff_roles.c.channel == channel, staff_roles.c.external_id == external_id,
                staff_roles.c.role == role.value,
            )
        )
        return result.rowcount == 1

    async def all(self) -> list[tuple[str, str, Role]]:
        rows = await self.conn.execute(
            sa.select(staff_roles.c.channel, staff_roles.c.external_id, staff_roles.c.role)
            .order_by(staff_roles.c.external_id)
        )
        return [(channel, external_id, Role(role)) for channel, external_id, role in rows]


class InvitationRepository:
    """Staff invitations by the digest of their code."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def add(self, code_hash: str, role: Role, created_by: str, now: datetime,
                  expires_at: datetime) -> None:
        await self.conn.execute(staff_invitations.insert().values(
            code_hash=code_hash, role=role.value, created_by=created_by, created_at=now,
            expires_at=expires_at))

    async def use(self, code_hash: str, used_by: str, now: datetime) -> Role | None:
        """The invitation's role if it was unused and unexpired; it is used now (of two
        people typing the same code, one gets it)."""
        role = await self.conn.scalar(
            staff_invitations.update()
            .where(staff_invitations.c.code_hash == code_hash,
                   staff_invitations.c.used_at.is_(None),
                   staff_invitations.c.expires_at > now)
            .values(used_at=now, used_by=used_by)
            .returning(staff_invitations.c.role))
        return None if role is None else Role(role)

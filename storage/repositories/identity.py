"""Who a citizen is for the one-vote rule: verified phone numbers and voting codes (both only
as keyed hashes), and the wrong codes an account has tried."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.tables import citizen_phones, identity_tries, voting_codes
from storage.upsert import insert as upsert


class IdentityRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # --- phones -----------------------------------------------------------------------------

    async def phone_key(self, citizen_id: int) -> str | None:
        return await self.conn.scalar(sa.select(citizen_phones.c.phone_key)
                                      .where(citizen_phones.c.citizen_id == citizen_id))

    async def set_phone_key(self, citizen_id: int, phone_key: str, at: datetime) -> str:
        """The account's phone key: `phone_key` if it had none, else the one it already has
        (insert-if-absent, so two presses at once store one)."""
        await self.conn.execute(
            upsert(self.conn, citizen_phones)
            .values(citizen_id=citizen_id, phone_key=phone_key, verified_at=at)
            .on_conflict_do_nothing(index_elements=[citizen_phones.c.citizen_id])
        )
        stored = await self.phone_key(citizen_id)
        assert stored is not None
        return stored

    # --- voting codes -----------------------------------------------------------------------

    async def add_codes(self, campaign_id: int, code_hashes: Iterable[str], batch: str,
                        at: datetime) -> None:
        rows = [{"campaign_id": campaign_id, "code_hash": h, "batch": batch, "created_at": at}
                for h in code_hashes]
        if rows:
            await self.conn.execute(voting_codes.insert(), rows)

    async def code_of(self, campaign_id: int, citizen_id: int) -> str | None:
        """The hash of the code this account entered in the campaign, if any."""
        return await self.conn.scalar(sa.select(voting_codes.c.code_hash).where(
            voting_codes.c.campaign_id == campaign_id, voting_codes.c.citizen_id == citizen_id))

    async def code_holder(self, campaign_id: int, code_hash: str) -> tuple[bool, int | None]:
        """(whether the code exists, the account it is bound to or None)."""
        row = (await self.conn.execute(sa.select(voting_codes.c.citizen_id, voting_codes.c.bound_at)
                                       .where(voting_codes.c.campaign_id == campaign_id,
                                              voting_codes.c.code_hash == code_hash))).first()
        if row is None:
            return False, None
        return True, row.citizen_id

    async def bind_code(self, campaign_id: int, code_hash: str, citizen_id: int,
                        at: datetime) -> bool:
        """Bind an unused code to the account: a conditional write, so of two accounts entering
        one code at once exactly one gets it. False when it was used (ever: a code whose
        account was forgotten stays used)."""
        result = await self.conn.execute(
            voting_codes.update()
            .where(voting_codes.c.campaign_id == campaign_id,
                   voting_codes.c.code_hash == code_hash, voting_codes.c.bound_at.is_(None))
            .values(citizen_id=citizen_id, bound_at=at)
        )
        return result.rowcount == 1

    async def count_codes(self, campaign_id: int) -> tuple[int, int]:
        """(codes issued, codes used) in the campaign."""
        row = (await self.conn.execute(
            sa.select(sa.func.count(), sa.func.count(voting_codes.c.bound_at))
            .where(voting_codes.c.campaign_id == campaign_id))).one()
        return int(row[0]), int(row[1])

    # --- wrong tries ------------------------------------------------------------------------

    async def failures(self, campaign_id: int, citizen_id: int,
                       since: datetime) -> tuple[int, datetime | None]:
        """Wrong codes in the window that started after `since`, and when it started."""
        row = (await self.conn.execute(
            sa.select(identity_tries.c.failures, identity_tries.c.window_start).where(
                identity_tries.c.campaign_id == campaign_id,
                identity_tries.c.citizen_id == citizen_id,
                identity_tries.c.window_start > since))).first()
        return (0, None) if row is None else (int(row.failures), row.window_start)

    async def add_failure(self, campaign_id: int, citizen_id: int, at: datetime,
                          window_after: datetime) -> None:
        """One more wrong code: counted in the current window, or a new window from `at` when
        the current one started at or before `window_after` (it is over). One statement, so
        two workers counting at once both count."""
        stmt = upsert(self.conn, identity_tries).values(
            campaign_id=campaign_id, citizen_id=citizen_id, window_start=at, failures=1)
        current = identity_tries.c.window_start > sa.literal(window_after,
                                                             identity_tries.c.window_start.type)
        stmt = stmt.on_conflict_do_update(
            index_elements=[identity_tries.c.campaign_id, identity_tries.c.citizen_id],
            set_={
                "failures": sa.case((current, identity_tries.c.failures + 1), else_=1),
                "window_start": sa.case((current, identity_tries.c.window_start),
                                        else_=stmt.excluded.window_start),
            },
        )
        await self.conn.execute(stmt)

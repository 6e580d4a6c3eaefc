"""Signing staff in to the web console without passwords. A staff member asks in chat (or the
operator runs `chamyeo staff link`) for a one-time link: short-lived, used once, bound to that
staff account. Using it opens a session (a random cookie token and a form token against
cross-site requests). Only digests of the tokens are stored. A session lasts until it expires,
its holder signs out, or the account holds no staff role any more: every request re-reads the
roles, and revoking the last one ends the account's sessions (StaffService.revoke)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from bot.clock import Clock
from bot.domain import Role
from bot.services.staff import StaffService, actor
from storage.database import Database
from storage.repositories import AuditRepository
from storage.repositories.web_access import Account, WebAccessRepository

LINK_LIFETIME = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=12)  # a working day at the desk
TOKEN_BYTES = 32


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class SignIn(Enum):
    SIGNED_IN = "signed_in"
    UNKNOWN = "unknown"  # never issued (or mistyped)
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    NO_ROLE = "no_role"  # the account lost its roles since the link was made


@dataclass(frozen=True)
class SignInResult:
    outcome: SignIn
    session_token: str | None = None


@dataclass(frozen=True)
class WebSession:
    """A signed-in staff member, as of this request."""
    token_hash: str
    account: Account
    roles: frozenset[Role]
    csrf: str

    @property
    def actor(self) -> str:
        return actor(self.account.channel, self.account.external_id)


class WebAccessService:
    def __init__(self, db: Database, clock: Clock, staff: StaffService,
                 public_url: str | None = None) -> None:
        self.db = db
        self.clock = clock
        self.staff = staff
        # CHAMYEO_PUBLIC_URL: where the console is reached; without it chat gives no links.
        self.public_url = public_url.rstrip("/") if public_url else None

    async def link_for(self, channel: str, external_id: str, by: str) -> str | None:
        """A one-time sign-in address for a staff account (None without CHAMYEO_PUBLIC_URL or
        when the account holds no role)."""
        if self.public_url is None:
            return None
        token = await self.issue_link(channel, external_id, by)
        return None if token is None else f"{self.public_url}/staff/signin/{token}"

    async def issue_link(self, channel: str, external_id: str, by: str) -> str | None:
        """A new sign-in token for a staff account, or None if it holds no role."""
        if not await self.staff.roles(channel, external_id):
            return None
        token = secrets.token_urlsafe(TOKEN_BYTES)
        async with self.db.write() as conn:
            now = self.clock.now()
            await WebAccessRepository(conn).add_link(
                digest(token), Account(channel, external_id), by, now, now + LINK_LIFETIME)
            await AuditRepository(conn).record(now, by, "web.link_issued",
                                               target=actor(channel, external_id))
        return token

    async def revoke_links(self, channel: str, external_id: str, by: str) -> int:
        """Unused links of the account stop working; its sessions go on (see end_sessions)."""
        async with self.db.write() as conn:
            now = self.clock.now()
            revoked = await WebAccessRepository(conn).revoke_links(
                Account(channel, external_id), now)
            if revoked:
                await AuditRepository(conn).record(now, by, "web.links_revoked",
                                                   target=actor(channel, external_id),
                                                   count=revoked)
        return revoked

    async def sign_in(self, token: str) -> SignInResult:
        async with self.db.write() as conn:
            now = self.clock.now()
            access = WebAccessRepository(conn)
            account = await access.use_link(digest(token), now)
            if account is None:
                return SignInResult(await self._why_not(access, digest(token), now))
            if not await self.staff.roles(account.channel, account.external_id):
                return SignInResult(SignIn.NO_ROLE)
            session_token = secrets.token_urlsafe(TOKEN_BYTES)
            await access.add_session(digest(session_token), account,
                                     secrets.token_urlsafe(TOKEN_BYTES), now,
                                     now + SESSION_LIFETIME)
            await AuditRepository(conn).record(
                now, actor(account.channel, account.external_id), "web.signed_in")
        return SignInResult(SignIn.SIGNED_IN, session_token)

    @staticmethod
    async def _why_not(access: WebAccessRepository, token_hash: str, now) -> SignIn:
        state = await access.link_state(token_hash)
        if state is None:
            return SignIn.UNKNOWN
        if state["revoked_at"] is not None:
            return SignIn.REVOKED
        if state["used_at"] is not None:
            return SignIn.USED
        return SignIn.EXPIRED

    async def session(self, token: str) -> WebSession | None:
        """The session behind a cookie, with the roles held now; None if it expired, ended,
        or its account holds no role any more (then it is ended for good)."""
        token_hash = digest(token)
        async with self.db.read() as conn:
            row = await WebAccessRepository(conn).session(token_hash, self.clock.now())
        if row is None:
            return None
        roles = await self.staff.roles(row.account.channel, row.account.external_id)
        if not roles:
            await self.sign_out(token)
            return None
        return WebSession(token_hash, row.account, roles, row.csrf)

    async def sign_out(self, token: str) -> None:
        async with self.db.write() as conn:
            await WebAccessRepository(conn).end_session(digest(token), self.clock.now())

    async def end_sessions(self, channel: str, external_id: str) -> int:
        async with self.db.write() as conn:
            return await WebAccessRepository(conn).end_sessions(
                Account(channel, external_id), self.clock.now())

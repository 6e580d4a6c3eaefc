"""Staff roles: who may run the campaign. Bootstrap admins come from the settings and always
exist; admins grant and revoke the rest. Every check reads the database at the moment of the
request, and every grant, revoke and refused attempt goes to the audit log."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from bot.clock import Clock
from bot.domain import Role, StaffMember
from storage.database import Database
from storage.repositories import AuditRepository, CitizenRepository, StaffRepository
from storage.repositories.staff import InvitationRepository
from storage.repositories.web_access import Account, WebAccessRepository

# What each role may do beyond its own name: an admin can do everything a moderator can.
IMPLIED = {Role.ADMIN: {Role.ADMIN, Role.MODERATOR}, Role.MODERATOR: {Role.MODERATOR},
           Role.JUDGE: {Role.JUDGE}}


class GrantOutcome(Enum):
    GRANTED = "granted"
    ALREADY = "already"
    REVOKED = "revoked"
    NOT_HELD = "not_held"
    BOOTSTRAP = "bootstrap"  # admins from the settings are changed in the settings
    UNKNOWN_USER = "unknown_user"  # never wrote to the bot: perhaps a mistyped number


class InvitationOutcome(Enum):
    GRANTED = "granted"
    ALREADY = "already"  # the account held the role already (the code is used all the same)
    INVALID = "invalid"  # unknown, used or expired


@dataclass(frozen=True)
class InvitationResult:
    outcome: InvitationOutcome
    role: Role | None = None


# Invitation codes: typed on a phone, so upper-case letters and digits that cannot be
# mistaken for one another; 8 of them (40 bits) against guessing within a day.
INVITATION_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
INVITATION_PREFIX = "STAFF"
INVITATION_LIFETIME = timedelta(hours=24)


def invitation_code(typed: str) -> str | None:
    """The canonical code ("STAFF-ABCD-2345") in what was typed, whatever its case, spaces
    and dashes; None if it is no invitation code."""
    compact = re.sub(r"[\s\-]", "", typed).upper()
    body = compact.removeprefix(INVITATION_PREFIX)
    if body == compact or len(body) != 8 or any(c not in INVITATION_ALPHABET for c in body):
        return None
    return f"{INVITATION_PREFIX}-{body[:4]}-{body[4:]}"


def _code_digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


class ResolveOutcome(Enum):
    FOUND = "found"
    UNKNOWN_USER = "unknown_user"
    AMBIGUOUS_USER = "ambiguous_user"  # a @username on two accounts: ask for the number


@dataclass(frozen=True)
class Resolved:
    outcome: ResolveOutcome
    external_id: str | None = None


# Staff who sign in to the web console only, with a name the operator gives
# (`chamyeo staff grant web:NAME ROLE`); they have no chat account.
WEB_CHANNEL = "web"


def actor(channel: str, external_id: str) -> str:
    return f"{channel}:{external_id}"


class StaffService:
    def __init__(self, db: Database, clock: Clock,
                 bootstrap_admins: dict[str, frozenset[str]] | None = None) -> None:
        self.db = db
        self.clock = clock
        self.bootstrap_admins = dict(bootstrap_admins or {})

    def add_bootstrap_admins(self, channel: str, external_ids: set[str]) -> None:
        """Each channel's wiring names its admins from the settings."""
        self.bootstrap_admins[channel] = frozenset(external_ids)

    def is_bootstrap_admin(self, channel: str, external_id: str) -> bool:
        return external_id in self.bootstrap_admins.get(channel, frozenset())

    async def roles(self, channel: str, external_id: str) -> frozenset[Role]:
        async with self.db.read() as conn:
            held = await StaffRepository(conn).roles_of(channel, external_id)
        if self.is_bootstrap_admin(channel, external_id):
            held.add(Role.ADMIN)
        return frozenset(held)

    async def allowed(self, channel: str, external_id: str, needed: tuple[Role, ...]) -> bool:
        """True if the account holds (or is implied) any of the `needed` roles."""
        held = await self.roles(channel, external_id)
        can = set().union(*(IMPLIED[r] for r in held)) if held else set()
        return any(role in can for role in needed)

    async def refuse(self, channel: str, external_id: str, attempt: str) -> None:
        """Record a refused staff command or button. One person's refusals within a minute
        share one entry that counts them, so a flood of presses cannot push staff's own
        entries out of /audit; the entry keeps that minute's first attempt."""
        async with self.db.write() as conn:
            await AuditRepository(conn).record_repeated(
                self.clock.now(), actor(channel, external_id), "staff.refused",
                attempt=attempt[:200],
            )

    async def resolve(self, channel: str, who: str) -> Resolved:
        """A chat account from "12345" or "@username". A number is taken as it is (revoking
        works for any account; `grant` checks it has used the bot); a username must name
        exactly one account that has used the bot."""
        who = who.strip()
        if who.isascii() and who.isdigit() and len(who) < 20:
            return Resolved(ResolveOutcome.FOUND, who)
        if not (who.startswith("@") and len(who) > 1):
            return Resolved(ResolveOutcome.UNKNOWN_USER)
        async with self.db.read() as conn:
            found = await CitizenRepository(conn).with_username(channel, who[1:])
        if not found:
            return Resolved(ResolveOutcome.UNKNOWN_USER)
        if len(found) > 1:
            return Resolved(ResolveOutcome.AMBIGUOUS_USER)
        return Resolved(ResolveOutcome.FOUND, found[0].external_id)

    async def grant(self, by: str, channel: str, external_id: str, role: Role) -> GrantOutcome:
        """Only to an account that has used the bot (or an admin from the settings): a role
        for a mistyped number would wait for a stranger. A web-only account (channel "web",
        named by the operator: staff who use no chat app) is made by its first grant."""
        async with self.db.write() as conn:
            now = self.clock.now()
            if (channel != WEB_CHANNEL and not self.is_bootstrap_admin(channel, external_id)
                    and await CitizenRepository(conn).find(channel, external_id) is None):
                return GrantOutcome.UNKNOWN_USER
            added = await StaffRepository(conn).grant(channel, external_id, role, by, now)
            if added:
                await AuditRepository(conn).record(
                    now, by, "staff.granted", target=actor(channel, external_id),
                    role=role.value, before=None, after=role.value,
                )
        return GrantOutcome.GRANTED if added else GrantOutcome.ALREADY

    async def revoke(self, by: str, channel: str, external_id: str, role: Role) -> GrantOutcome:
        if role is Role.ADMIN and self.is_bootstrap_admin(channel, external_id):
            return GrantOutcome.BOOTSTRAP
        async with self.db.write() as conn:
            now = self.clock.now()
            staff = StaffRepository(conn)
            removed = await staff.revoke(channel, external_id, role)
            if removed:
                await AuditRepository(conn).record(
                    now, by, "staff.revoked", target=actor(channel, external_id),
                    role=role.value, before=role.value, after=None,
                )
                if (not await staff.roles_of(channel, external_id)
                        and not self.is_bootstrap_admin(channel, external_id)):
                    # No role left: the web console's sessions and unused links end with it.
                    access = WebAccessRepository(conn)
                    account = Account(channel, external_id)
                    await access.end_sessions(account, now)
                    await access.revoke_links(account, now)
        return GrantOutcome.REVOKED if removed else GrantOutcome.NOT_HELD

    async def invite(self, by: str, role: Role) -> str:
        """A new invitation code for `role`: the first chat account to type it within a day
        gets the role (how a KakaoTalk account becomes staff: its key is never typed)."""
        code = f"{INVITATION_PREFIX}-" + "-".join(
            "".join(secrets.choice(INVITATION_ALPHABET) for _ in range(4)) for _ in range(2))
        async with self.db.write() as conn:
            now = self.clock.now()
            await InvitationRepository(conn).add(_code_digest(code), role, by, now,
                                                 now + INVITATION_LIFETIME)
            await AuditRepository(conn).record(now, by, "staff.invited", role=role.value)
        return code

    async def accept(self, channel: str, external_id: str, code: str) -> InvitationResult:
        """`code` (canonical, see invitation_code) typed by a chat account: the role, once."""
        async with self.db.write() as conn:
            now = self.clock.now()
            who = actor(channel, external_id)
            staff = StaffRepository(conn)
            role = await InvitationRepository(conn).use(_code_digest(code), who, now)
            if role is None:
                return InvitationResult(InvitationOutcome.INVALID)
            if not await staff.grant(channel, external_id, role, who, now):
                return InvitationResult(InvitationOutcome.ALREADY, role)
            await AuditRepository(conn).record(
                now, who, "staff.granted", target=who, role=role.value, before=None,
                after=role.value, invitation=True)
        return InvitationResult(InvitationOutcome.GRANTED, role)

    async def members(self) -> list[StaffMember]:
        async with self.db.read() as conn:
            rows = await StaffRepository(conn).all()
            by_account: dict[tuple[str, str], set[Role]] = {}
            for channel, ids in self.bootstrap_admins.items():
                for external_id in ids:
                    by_account.setdefault((channel, external_id), set()).add(Role.ADMIN)
            for channel, external_id, role in rows:
                by_account.setdefault((channel, external_id), set()).add(role)
            citizens = CitizenRepository(conn)
            usernames: dict[tuple[str, str], str | None] = {}
            for channel in {channel for channel, _ in by_account}:
                account_ids = [external_id for c, external_id in by_account if c == channel]
                found = await citizens.usernames(channel, account_ids)
                usernames.update({(channel, i): u for i, u in found.items()})
        members = [
            StaffMember(channel, external_id, frozenset(roles),
                        username=usernames.get((channel, external_id)),
                        bootstrap=self.is_bootstrap_admin(channel, external_id),
                        has_written=(channel, external_id) in usernames)
            for (channel, external_id), roles in sorted(by_account.items())
        ]
        return members

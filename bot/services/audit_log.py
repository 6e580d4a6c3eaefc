"""Reading the audit log (every service writes its own entries in the same transaction as the
change they record)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.database import Database
from storage.repositories import AuditRepository, CitizenRepository

CHAT_CHANNELS = ("telegram", "kakao")

# What staff can ask `/audit <kind>` for, by the action names the services record.
STAFF_ACTIONS = (
    "campaign.loaded", "phase.changed", "case.approved", "case.rejected", "case.hidden",
    "score.set", "results.published", "broadcast.sent", "staff.granted", "staff.revoked",
    "staff.invited", "export.made",
    "campaign.purged",
)
AUDIT_KINDS: dict[str, tuple[str, ...]] = {
    "staff": STAFF_ACTIONS,  # what staff did (no refusals, nothing by citizens)
    "refused": ("staff.refused",),  # staff commands refused to someone without the role
    "votes": ("vote.changed",),
    "cases": ("case.submitted", "case.approved", "case.rejected", "case.hidden",
              "case.withdrawn"),
    "phases": ("campaign.loaded", "phase.changed"),
    "scores": ("score.set", "results.published"),
    "roles": ("staff.granted", "staff.revoked", "staff.invited"),
    "broadcasts": ("broadcast.sent",),
    "privacy": ("citizen.forgotten", "campaign.purged", "export.made"),
}


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    actor: str
    action: str
    campaign_id: int | None
    detail: dict
    repeats: int = 1  # the same action by the same actor within the minute of `at`
    id: int = 0  # its place in the log: a page of older entries starts below it


class AuditLogService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def latest(self, limit: int = 20, kind: str | None = None,
                     before: int | None = None) -> list[AuditEntry]:
        """The newest entries first, from every campaign (refusals have none); only those of
        `kind` (a key of AUDIT_KINDS) when given; only those older than entry `before`."""
        actions = AUDIT_KINDS[kind] if kind is not None else None
        async with self.db.read() as conn:
            rows = await AuditRepository(conn).entries(limit=limit, actions=actions,
                                                       before=before)
        return [AuditEntry(r["at"], r["actor"], r["action"], r["campaign_id"], r["detail"] or {},
                           r["repeats"] or 1, r["id"])
                for r in rows]

    async def usernames(self, entries: list[AuditEntry]) -> dict[str, str]:
        """Chat accounts named in `entries` (who did it, whom a role went to) -> @username,
        for those whose username the bot knows; everyone else is shown by channel and number."""
        wanted: dict[str, set[str]] = {}
        for entry in entries:
            for who in (entry.actor, entry.detail.get("target")):
                channel, _, external_id = str(who or "").partition(":")
                if channel in CHAT_CHANNELS and external_id:
                    wanted.setdefault(channel, set()).add(external_id)
        found: dict[str, str] = {}
        async with self.db.read() as conn:
            citizens = CitizenRepository(conn)
            for channel, ids in wanted.items():
                names = await citizens.usernames(channel, sorted(ids))
                found.update({f"{channel}:{i}": name for i, name in names.items() if name})
        return found

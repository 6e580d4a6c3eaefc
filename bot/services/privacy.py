"""Personal data (Korea's PIPA): a citizen's /forgetme, and `chamyeo purge` of a campaign's
personal data once its retention period is over.

What stays is what the results stand on: every vote, under its receipt, counted for its case;
published cases. What goes is what names a person: chat account ids, usernames, phone hashes,
subscriptions, drafts, chat state, messages waiting to go out.

Forgetting replaces the account's key by a random marker (the row stays, anonymous: votes
point to it), so the same chat account writing again is a new citizen. A vote's `voter` is
kept until the purge: in a campaign counting phones or codes, the same person coming back
with the same number or code is the same voter, and cannot vote twice."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from bot.clock import Clock
from bot.domain import Campaign, Citizen
from bot.services.citizens import CitizenService
from bot.services.sessions import SessionService
from storage.database import Database
from storage.repositories import AuditRepository
from storage.repositories.privacy import FORGOTTEN, PrivacyRepository


def forgotten_marker() -> str:
    return FORGOTTEN + secrets.token_hex(16)


def purge_date(campaign: Campaign) -> datetime:
    """When the campaign's personal data may be purged: `retention_days` after its last
    phase ends."""
    return campaign.span()[1] + timedelta(days=campaign.retention_days)


class PurgeOutcome(Enum):
    PURGED = "purged"
    DRY_RUN = "dry_run"  # counted, nothing changed
    TOO_EARLY = "too_early"  # the retention period is not over: nothing changed


@dataclass(frozen=True)
class PurgeReport:
    outcome: PurgeOutcome
    possible_from: datetime
    counts: dict[str, int] = field(default_factory=dict)


class PrivacyService:
    def __init__(self, db: Database, clock: Clock, citizens: CitizenService,
                 sessions: SessionService) -> None:
        self.db = db
        self.clock = clock
        self.citizens = citizens
        self.sessions = sessions

    async def forget(self, citizen: Citizen) -> bool:
        """Delete the citizen's account data and unlink them, in one transaction; their votes
        stay counted. False when the account was forgotten already (a second press)."""
        now = self.clock.now()
        async with self.db.write() as conn:
            repo = PrivacyRepository(conn)
            if not await repo.anonymise_citizen(citizen.id, citizen.external_id,
                                                forgotten_marker()):
                return False
            await repo.delete_account_data(citizen.id, citizen.channel, citizen.external_id)
            # The id only: it names the anonymous row, no person.
            await AuditRepository(conn).record(now, f"citizen:{citizen.id}", "citizen.forgotten")
        self.citizens.forget_account(citizen.channel, citizen.external_id)
        self.sessions.forget_account(citizen.channel, citizen.external_id)
        return True

    async def purge(self, campaign: Campaign, by: str, dry_run: bool = False) -> PurgeReport:
        """Remove the campaign's personal data and keep its anonymous tallies and receipts:
        subscriptions, drafts, voting codes and tries deleted; messages lose their address;
        votes counted under an anonymous voter and account; submitters unlinked; accounts
        with nothing left in any other campaign (nor a staff role) forgotten. Refused before
        `purge_date`. Running it again finds nothing more to do."""
        possible = purge_date(campaign)
        if self.clock.now() < possible:
            return PurgeReport(PurgeOutcome.TOO_EARLY, possible)
        now = self.clock.now()
        async with (self.db.read() if dry_run else self.db.write()) as conn:
            repo = PrivacyRepository(conn)
            counts = await repo.campaign_counts(campaign.id)
            if dry_run:
                return PurgeReport(PurgeOutcome.DRY_RUN, possible, counts)
            accounts = await repo.linked_accounts(campaign.id)  # before their links go
            await repo.purge_campaign_rows(campaign.id, await repo.nobody(now))
            for citizen_id, channel, external_id in accounts:
                await repo.anonymise_citizen(citizen_id, external_id, forgotten_marker())
                await repo.delete_account_data(citizen_id, channel, external_id)
            await AuditRepository(conn).record(now, by, "campaign.purged", campaign.id, **counts)
        for _, channel, external_id in accounts:
            self.citizens.forget_account(channel, external_id)
            self.sessions.forget_account(channel, external_id)
        return PurgeReport(PurgeOutcome.PURGED, possible, counts)

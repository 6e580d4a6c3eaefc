"""Moderation: staff approve or reject submitted cases, and hide approved ones. Every decision
is audited with before and after, and a case sent in by chat gets, in the same transaction, a
notice to its submitter: a broadcast to that one person (bot/services/broadcasts.py), so it
reaches them once, in their channel and language, even across a restart."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from bot.clock import Clock
from bot.domain import (
    CASE_NOTICE_KIND,
    Campaign,
    Case,
    CaseNotice,
    CaseStatus,
    Citizen,
    Text,
)
from bot.services.broadcasts import Broadcaster
from storage.database import Database
from storage.repositories import (
    AuditRepository,
    BroadcastRepository,
    CaseRepository,
    CitizenRepository,
)

REASON_MAX = 300


class ModerationOutcome(Enum):
    DONE = "done"
    UNKNOWN_CASE = "unknown_case"
    WRONG_STATUS = "wrong_status"  # already decided (perhaps by another moderator)
    BAD_REASON = "bad_reason"  # empty or longer than REASON_MAX


@dataclass(frozen=True)
class ModerationResult:
    outcome: ModerationOutcome
    case: Case | None = None
    submitter: Citizen | None = None  # None for cases from the campaign file
    reason: str | None = None
    notice_id: int | None = None  # the broadcast that tells the submitter


@dataclass(frozen=True)
class Submitter:
    citizen: Citizen
    kind: str | None  # individual, organization, council
    contact: str | None = None  # the phone or e-mail they left, for staff only


@dataclass(frozen=True)
class CaseRecord:
    """A case as staff review it: with staff's reason, when it entered (sent in, or loaded
    from the campaign file) and the channel it was sent in from (None: the campaign file)."""

    case: Case
    reason: str | None
    entered_at: datetime
    channel: str | None


def clean_reason(reason: str | None) -> str | None:
    reason = (reason or "").strip()
    return reason if 1 <= len(reason) <= REASON_MAX else None


class ModerationService:
    def __init__(self, db: Database, clock: Clock, broadcaster: Broadcaster) -> None:
        self.db = db
        self.clock = clock
        self.broadcaster = broadcaster

    async def queue(self, campaign: Campaign) -> list[Case]:
        """Submitted cases waiting for a decision, oldest first."""
        async with self.db.read() as conn:
            return await CaseRepository(conn).submitted(campaign.id)

    async def records(self, campaign: Campaign,
                      status: CaseStatus = CaseStatus.SUBMITTED) -> list[CaseRecord]:
        """The campaign's cases in `status` (default: the moderation queue), oldest first."""
        async with self.db.read() as conn:
            found = await CaseRepository(conn).staff_records(campaign.id, status)
        return [CaseRecord(*row) for row in found]

    async def record(self, campaign: Campaign, case_id: int) -> CaseRecord | None:
        """One case of this campaign, whatever its status; None if it is not one."""
        async with self.db.read() as conn:
            found = await CaseRepository(conn).staff_records(campaign.id, case_id=case_id)
        return CaseRecord(*found[0]) if found else None

    async def pending(self, campaign: Campaign, case_id: int) -> Case | None:
        """The case if it is still waiting for a decision in this campaign."""
        async with self.db.read() as conn:
            case = await CaseRepository(conn).get(case_id)
        if case is None or case.campaign_id != campaign.id:
            return None
        return case if case.status is CaseStatus.SUBMITTED else None

    async def submitter(self, case: Case) -> Submitter | None:
        """Who sent a case in by chat, so staff can reach them; None for file cases."""
        async with self.db.read() as conn:
            found = await CaseRepository(conn).submission(case.id)
            if found is None:
                return None
            citizen_id, kind = found
            citizen = await CitizenRepository(conn).get(citizen_id)
            contact = await CaseRepository(conn).contact_of(case.id)
        return Submitter(citizen, kind, contact) if citizen else None

    async def approve(self, campaign: Campaign, case_id: int, by: str) -> ModerationResult:
        return await self._decide(campaign, case_id, by, CaseStatus.SUBMITTED,
                                  CaseStatus.APPROVED, None, "case.approved")

    async def reject(self, campaign: Campaign, case_id: int, by: str,
                     reason: str) -> ModerationResult:
        return await self._decide(campaign, case_id, by, CaseStatus.SUBMITTED,
                                  CaseStatus.REJECTED, reason, "case.rejected")

    async def hide(self, campaign: Campaign, case_id: int, by: str,
                   reason: str) -> ModerationResult:
        """Take an approved case out of browsing. Votes already cast for it stay."""
        return await self._decide(campaign, case_id, by, CaseStatus.APPROVED,
                                  CaseStatus.HIDDEN, reason, "case.hidden")

    async def _decide(self, campaign: Campaign, case_id: int, by: str, expected: CaseStatus,
                      status: CaseStatus, reason: str | None, action: str) -> ModerationResult:
        if status is not CaseStatus.APPROVED:
            reason = clean_reason(reason)
            if reason is None:
                return ModerationResult(ModerationOutcome.BAD_REASON)
        async with self.db.write() as conn:
            now = self.clock.now()
            cases = CaseRepository(conn)
            case = await cases.get(case_id)
            if case is None or case.campaign_id != campaign.id:
                return ModerationResult(ModerationOutcome.UNKNOWN_CASE)
            if not await cases.set_status_with_reason(case_id, expected, status, reason, now):
                return ModerationResult(ModerationOutcome.WRONG_STATUS, case)
            await AuditRepository(conn).record(
                now, by, action, campaign.id, case_id=case_id, key=case.key,
                before=case.status.value, after=status.value, reason=reason,
            )
            submitter_id = await cases.submitter_of(case_id)
            submitter = (await CitizenRepository(conn).get(submitter_id)
                         if submitter_id is not None else None)
            decided = await cases.get(case_id)
            notice_id = None
            if submitter is not None and decided is not None:
                notice_id = await self._notice(conn, campaign, decided, submitter, reason, now)
        if notice_id is not None:
            self.broadcaster.start(notice_id)
        return ModerationResult(ModerationOutcome.DONE, decided, submitter, reason, notice_id)

    @staticmethod
    async def _notice(conn, campaign: Campaign, case: Case, submitter: Citizen,
                      reason: str | None, now: datetime) -> int:
        """The submitter's notice of the decision, written with it: both or neither."""
        notice = CaseNotice(case.status, case.id, case.key,
                            Text(case.ko.title, case.en.title if case.en else None),
                            reason)
        broadcasts = BroadcastRepository(conn)
        notice_id = await broadcasts.create(campaign.id, CASE_NOTICE_KIND, notice.payload(), now)
        await broadcasts.add_citizen(notice_id, submitter.id, now)
        return notice_id

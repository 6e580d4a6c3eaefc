"""Phase control: staff move a phase's start or end from the chat. A change is proposed first
(validated, with before and after to show), then applied after confirmation, validated again at
that moment because time may have passed. The new times, the replanned announcements and the
audit entry are written in one transaction."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, StrEnum

from bot.clock import Clock
from bot.domain import (
    PHASE_ORDER,
    Campaign,
    Phase,
    PhaseName,
    PhaseStatus,
)
from bot.services.announcements import replan
from storage.database import Database
from storage.repositories import AuditRepository, CampaignRepository


class PhaseField(StrEnum):
    START = "start"
    END = "end"
    AT = "at"  # awards: one instant


class PhaseProblem(Enum):
    UNKNOWN_CAMPAIGN = "unknown_campaign"
    UNKNOWN_PHASE = "unknown_phase"
    WRONG_FIELD = "wrong_field"  # awards has only `at`; the others `start` and `end`
    IN_THE_PAST = "in_the_past"
    END_BEFORE_START = "end_before_start"
    OVERLAP = "overlap"  # out of order with, or overlapping, a neighbouring phase
    NOT_OPEN = "not_open"  # close: the phase is not open now
    NO_CHANGE = "no_change"
    BAD_DURATION = "bad_duration"


@dataclass(frozen=True)
class PhaseProposal:
    """A validated change (problem None) or why it is refused."""

    problem: PhaseProblem | None
    phase: PhaseName | None = None
    field: PhaseField | None = None
    before: Phase | None = None
    after: Phase | None = None
    neighbour: PhaseName | None = None  # for OVERLAP

    @property
    def ok(self) -> bool:
        return self.problem is None


def _refuse(problem: PhaseProblem, **known) -> PhaseProposal:
    return PhaseProposal(problem, **known)


def validate(campaign: Campaign, phase_name: str, field: str, new_time: datetime,
             now: datetime) -> PhaseProposal:
    """Whether `campaign`'s phase may get `field` = `new_time` at `now`; pure."""
    try:
        name = PhaseName(phase_name)
    except ValueError:
        return _refuse(PhaseProblem.UNKNOWN_PHASE)
    before = campaign.phase(name)
    if before is None:
        return _refuse(PhaseProblem.UNKNOWN_PHASE)
    allowed = {PhaseField.AT} if name is PhaseName.AWARDS else {PhaseField.START, PhaseField.END}
    try:
        which = PhaseField(field)
    except ValueError:
        which = None
    if which not in allowed:
        return _refuse(PhaseProblem.WRONG_FIELD, phase=name, before=before)
    known = {"phase": name, "field": which, "before": before}
    if which is PhaseField.END:
        after = Phase(name, before.start, new_time)
    else:
        after = Phase(name, new_time, before.end)
    known["after"] = after
    if new_time < now:
        return _refuse(PhaseProblem.IN_THE_PAST, **known)
    if after == before:
        return _refuse(PhaseProblem.NO_CHANGE, **known)
    if after.end is not None and after.end <= after.start:
        return _refuse(PhaseProblem.END_BEFORE_START, **known)
    present = [campaign.phase(n) for n in PHASE_ORDER]
    ordered = [p for p in present if p is not None]
    index = [p.name for p in ordered].index(name)
    if index > 0:
        previous = ordered[index - 1]
        if after.start < (previous.end or previous.start):
            return _refuse(PhaseProblem.OVERLAP, neighbour=previous.name, **known)
    if index + 1 < len(ordered):
        following = ordered[index + 1]
        if following.start < (after.end or after.start):
            return _refuse(PhaseProblem.OVERLAP, neighbour=following.name, **known)
    return PhaseProposal(None, **known)


class PhaseService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def propose(self, campaign: Campaign, phase_name: str, field: str,
                new_time: datetime) -> PhaseProposal:
        return validate(campaign, phase_name, field, new_time, self.clock.now())

    def extend(self, campaign: Campaign, phase_name: str, duration: timedelta) -> PhaseProposal:
        """The phase ends `duration` later (awards, an instant, cannot be extended)."""
        if duration <= timedelta(0):
            return _refuse(PhaseProblem.BAD_DURATION)
        phase = _find(campaign, phase_name)
        if phase is None:
            return _refuse(PhaseProblem.UNKNOWN_PHASE)
        if phase.end is None:
            return _refuse(PhaseProblem.WRONG_FIELD, phase=phase.name, before=phase)
        return self.propose(campaign, phase_name, PhaseField.END, phase.end + duration)

    def close(self, campaign: Campaign, phase_name: str) -> PhaseProposal:
        """The open phase ends now."""
        return self._close(campaign, phase_name, self.clock.now())

    @staticmethod
    def _close(campaign: Campaign, phase_name: str, now: datetime) -> PhaseProposal:
        phase = _find(campaign, phase_name)
        if phase is None:
            return _refuse(PhaseProblem.UNKNOWN_PHASE)
        if phase.end is None:
            return _refuse(PhaseProblem.WRONG_FIELD, phase=phase.name, before=phase)
        if phase.status_at(now) is not PhaseStatus.OPEN:
            return _refuse(PhaseProblem.NOT_OPEN, phase=phase.name, before=phase)
        return validate(campaign, phase_name, PhaseField.END, now, now)

    async def apply(self, campaign_id: int, phase_name: str, field: str,
                    new_time: datetime | None, actor: str) -> PhaseProposal:
        """Validate again against the stored campaign and the clock now, then write the change,
        the new announcement plan and the audit entry together. `new_time` None: close now."""
        async with self.db.write() as conn:
            now = self.clock.now()
            campaigns = CampaignRepository(conn)
            campaign = await campaigns.get(campaign_id)
            if campaign is None:
                return _refuse(PhaseProblem.UNKNOWN_CAMPAIGN)
            if new_time is None:
                proposal = self._close(campaign, phase_name, now)
            else:
                proposal = validate(campaign, phase_name, field, new_time, now)
            if not proposal.ok:
                return proposal
            await campaigns.set_phase(campaign_id, proposal.after, now)
            changed = dataclasses.replace(campaign, phases=tuple(
                proposal.after if p.name is proposal.phase else p for p in campaign.phases))
            await replan(conn, campaign_id, changed, now)
            await AuditRepository(conn).record(
                now, actor, "phase.changed", campaign_id, phase=proposal.phase.value,
                field=proposal.field.value, before=_times(proposal.before),
                after=_times(proposal.after),
            )
        return proposal


def _find(campaign: Campaign, phase_name: str) -> Phase | None:
    try:
        return campaign.phase(PhaseName(phase_name))
    except ValueError:
        return None


def _times(phase: Phase) -> dict:
    return {"start": phase.start.isoformat(),
            "end": phase.end.isoformat() if phase.end else None}

"""Cases sent in by chat: a draft written one step at a time and stored at every step, then
sent to the moderation queue. Every call re-checks the campaign, the submission phase and the
step the citizen is answering, so a stale button or a late answer changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from bot.clock import Clock
from bot.domain import Campaign, Case, CaseStatus, Citizen, PhaseStatus
from bot.drafts import (
    CHOICE_STEPS,
    CONSENT_NO,
    SKIPPABLE,
    TEXT_STEPS,
    AnswerProblem,
    Draft,
    ProblemKind,
    Step,
    answered,
    applies,
    as_case,
    choices,
    clean_contact,
    clean_text,
    contact_of,
    draft_token,
    missing,
    move,
    previous_step,
    realigned,
    submission_refusal,
)
from bot.services.voting import new_receipt
from storage.database import Database
from storage.repositories import (
    AuditRepository,
    CampaignRepository,
    CaseRepository,
    DraftRepository,
)

SOURCE = "chat"


class SubmissionOutcome(Enum):
    STEP = "step"  # show the draft's current step
    PROBLEM = "problem"  # the answer was not taken: say why and show the step again
    STALE = "stale"  # a button of another step (or an old message): show the current step
    NOT_OPEN_YET = "not_open_yet"
    CLOSED = "closed"  # also: the campaign takes no cases by chat
    LIMIT_REACHED = "limit_reached"
    NO_DRAFT = "no_draft"
    CANCELLED = "cancelled"
    SUBMITTED = "submitted"


@dataclass(frozen=True)
class SubmissionReply:
    outcome: SubmissionOutcome
    draft: Draft | None = None
    problem: AnswerProblem | None = None
    case: Case | None = None  # SUBMITTED: the case, its key the reference number
    boundary: datetime | None = None  # NOT_OPEN_YET / CLOSED
    resumed: bool = False  # STEP after "submit": a draft was already under way
    had_draft: bool = False  # CLOSED / NOT_OPEN_YET: a draft was under way and is gone

    @property
    def ends(self) -> bool:
        """Whether the citizen has no draft any more after this reply."""
        return self.draft is None


@dataclass(frozen=True)
class SubmittedCase:
    case: Case
    reason: str | None  # why staff rejected or hid it
    sent_at: datetime
    contact: str | None = None  # the submitter's own, shown to them and to staff only

    @property
    def withdrawable(self) -> bool:
        """Still waiting for moderation: its submitter may take it back."""
        return self.case.status is CaseStatus.SUBMITTED


class WithdrawOutcome(Enum):
    WITHDRAWN = "withdrawn"
    NOT_PENDING = "not_pending"  # moderated already (or withdrawn before): nothing changes
    UNKNOWN = "unknown"  # not a case of this citizen in this campaign


@dataclass(frozen=True)
class WithdrawReply:
    outcome: WithdrawOutcome
    item: SubmittedCase | None = None  # the case as it is now (None when UNKNOWN)


def counted(mine: list[SubmittedCase]) -> int:
    """How many of a citizen's cases count against the limit (a withdrawn one does not)."""
    return sum(1 for item in mine if item.case.status is not CaseStatus.WITHDRAWN)


def _submitted(case: Case, reason: str | None, at: datetime,
               contact: str | None) -> SubmittedCase:
    shown = reason if case.status in (CaseStatus.REJECTED, CaseStatus.HIDDEN) else None
    return SubmittedCase(case, shown, at, contact)


def _chosen(campaign: Campaign, draft: Draft, index: int) -> SubmissionReply:
    """The `index`-th option of the draft's choice step, as if its button were pressed."""
    options = choices(campaign, draft, draft.step)
    if not 0 <= index < len(options):
        return SubmissionReply(SubmissionOutcome.STALE, draft)
    if options[index] == CONSENT_NO:
        return SubmissionReply(SubmissionOutcome.PROBLEM, draft,
                               AnswerProblem(ProblemKind.CONSENT_NEEDED))
    return SubmissionReply(SubmissionOutcome.STEP, answered(campaign, draft, options[index]))


def _refused(campaign: Campaign, now: datetime) -> SubmissionReply | None:
    refusal = submission_refusal(campaign, now)
    if refusal is None:
        return None
    status, boundary = refusal
    outcome = (SubmissionOutcome.NOT_OPEN_YET if status is PhaseStatus.UPCOMING
               else SubmissionOutcome.CLOSED)
    return SubmissionReply(outcome, boundary=boundary)


class SubmissionService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def start(self, campaign: Campaign, citizen: Citizen) -> SubmissionReply:
        """Begin a draft, or go back to the one under way."""
        async with self.db.write() as conn:
            now = self.clock.now()
            drafts = DraftRepository(conn)
            draft = await drafts.get(citizen.id)
            if draft is not None:
                draft, refused = await self._open_draft(drafts, campaign, citizen, None, now)
                if draft is not None:
                    return SubmissionReply(SubmissionOutcome.STEP, draft, resumed=True)
                if refused.outcome is not SubmissionOutcome.NO_DRAFT:
                    return refused
            refused = _refused(campaign, now)
            if refused is not None:
                return refused
            sent = await CaseRepository(conn).count_by_submitter(campaign.id, citizen.id)
            if sent >= campaign.submission.cases_per_citizen:
                return SubmissionReply(SubmissionOutcome.LIMIT_REACHED)
            draft = Draft(campaign.id, citizen.id, Step.TYPE, {}, started_at=now)
            await drafts.save(draft, now)
        return SubmissionReply(SubmissionOutcome.STEP, draft)

    def is_open(self, campaign: Campaign) -> bool:
        return submission_refusal(campaign, self.clock.now()) is None

    async def current(self, campaign: Campaign, citizen: Citizen,
                      step: Step | None) -> SubmissionReply:
        """The draft as it stands, checked like an answer (a button of `step`), unchanged."""
        return await self._update(campaign, citizen, step,
                                  lambda d: SubmissionReply(SubmissionOutcome.STEP, d))

    async def wrong_kind(self, campaign: Campaign, citizen: Citizen) -> SubmissionReply:
        """A message of a kind no step takes (a file, a sticker...): what the step needs."""
        def apply(draft: Draft) -> SubmissionReply:
            if draft.step is Step.PHOTO:
                kind = ProblemKind.NOT_A_PHOTO
            elif draft.step in TEXT_STEPS:
                kind = ProblemKind.NOT_TEXT
            else:
                kind = ProblemKind.USE_BUTTONS
            return SubmissionReply(SubmissionOutcome.PROBLEM, draft, AnswerProblem(kind))

        return await self._update(campaign, citizen, None, apply)

    async def draft_of(self, citizen: Citizen) -> Draft | None:
        async with self.db.read() as conn:
            return await DraftRepository(conn).get(citizen.id)

    async def choose(self, campaign: Campaign, citizen: Citizen, step: Step,
                     index: int) -> SubmissionReply:
        """A button of a choice step: the `index`-th of its choices."""
        return await self._update(campaign, citizen, step,
                                  lambda draft: _chosen(campaign, draft, index))

    async def type_text(self, campaign: Campaign, citizen: Citizen, text: str,
                        typed_choice: Callable[[Draft], int | None] | None = None
                        ) -> SubmissionReply:
        """A typed message, for whatever step the draft is at. At a choice step,
        `typed_choice` finds the option whose label was typed (the channel knows its labels;
        see bot.submission_texts.typed_choice): taken as if its button were pressed."""
        def apply(draft: Draft) -> SubmissionReply:
            if draft.step is Step.PHOTO:
                return SubmissionReply(SubmissionOutcome.PROBLEM, draft,
                                       AnswerProblem(ProblemKind.TEXT_AT_PHOTO))
            if draft.step in CHOICE_STEPS and typed_choice is not None:
                index = typed_choice(draft)
                if index is not None:
                    return _chosen(campaign, draft, index)
            if draft.step not in TEXT_STEPS:
                return SubmissionReply(SubmissionOutcome.PROBLEM, draft,
                                       AnswerProblem(ProblemKind.USE_BUTTONS))
            if draft.step is Step.CONTACT:
                value, problem = clean_contact(text)
            else:
                value, problem = clean_text(draft.step, text)
            if problem is not None:
                return SubmissionReply(SubmissionOutcome.PROBLEM, draft, problem)
            return SubmissionReply(SubmissionOutcome.STEP, answered(campaign, draft, value))

        return await self._update(campaign, citizen, None, apply)

    async def attach_photo(self, campaign: Campaign, citizen: Citizen,
                           image: str) -> SubmissionReply:
        """A photo sent as a photo; `image` is how the channel finds it again."""
        def apply(draft: Draft) -> SubmissionReply:
            if draft.step is not Step.PHOTO:
                text_step = draft.step in TEXT_STEPS
                kind = ProblemKind.NOT_TEXT if text_step else ProblemKind.USE_BUTTONS
                return SubmissionReply(SubmissionOutcome.PROBLEM, draft, AnswerProblem(kind))
            return SubmissionReply(SubmissionOutcome.STEP, answered(campaign, draft, image))

        return await self._update(campaign, citizen, None, apply)

    async def skip_photo(self, campaign: Campaign, citizen: Citizen) -> SubmissionReply:
        return await self.skip(campaign, citizen, Step.PHOTO)

    async def skip(self, campaign: Campaign, citizen: Citizen, step: Step) -> SubmissionReply:
        """The "skip" button of an optional step (the photo, the contact): no answer."""
        def apply(draft: Draft) -> SubmissionReply:
            if step not in SKIPPABLE:
                return SubmissionReply(SubmissionOutcome.STALE, draft)
            return SubmissionReply(SubmissionOutcome.STEP, answered(campaign, draft, ""))

        return await self._update(campaign, citizen, step, apply)

    async def keep(self, campaign: Campaign, citizen: Citizen, step: Step) -> SubmissionReply:
        """Go on with the answer already given to `step` (after Back, or when editing)."""
        def apply(draft: Draft) -> SubmissionReply:
            value = draft.answer(step)
            if value is None:
                return SubmissionReply(SubmissionOutcome.STALE, draft)
            return SubmissionReply(SubmissionOutcome.STEP, answered(campaign, draft, value))

        return await self._update(campaign, citizen, step, apply)

    async def back(self, campaign: Campaign, citizen: Citizen, step: Step) -> SubmissionReply:
        def apply(draft: Draft) -> SubmissionReply:
            previous = previous_step(campaign, draft)
            if previous is None:
                return SubmissionReply(SubmissionOutcome.STALE, draft)
            return SubmissionReply(SubmissionOutcome.STEP, move(draft, previous))

        return await self._update(campaign, citizen, step, apply)

    async def edit(self, campaign: Campaign, citizen: Citizen, field: Step) -> SubmissionReply:
        """From the preview, answer one step again, then come back to the preview."""
        def apply(draft: Draft) -> SubmissionReply:
            if field is Step.PREVIEW or not applies(campaign, draft, field):
                return SubmissionReply(SubmissionOutcome.STALE, draft)
            return SubmissionReply(SubmissionOutcome.STEP,
                                   replace(draft, step=field, from_preview=True))

        return await self._update(campaign, citizen, Step.PREVIEW, apply)

    async def cancel(self, campaign: Campaign | None, citizen: Citizen) -> SubmissionReply:
        """/cancel: throw away whatever draft the citizen has (an explicit, fresh request;
        a button uses discard)."""
        async with self.db.write() as conn:
            drafts = DraftRepository(conn)
            if await drafts.get(citizen.id) is None:
                return SubmissionReply(SubmissionOutcome.NO_DRAFT)
            await drafts.delete(citizen.id)
        return SubmissionReply(SubmissionOutcome.CANCELLED)

    async def discard(self, campaign: Campaign, citizen: Citizen, step: Step,
                      made_for: str | None) -> SubmissionReply:
        """The "throw it away" button of the confirmation made at `step` for the draft whose
        draft_token is `made_for`. Checked in the delete's own transaction: a button of an
        earlier draft, of another step, or without a token (made before buttons carried one)
        deletes nothing, and the draft's current step is shown again."""
        async with self.db.write() as conn:
            now = self.clock.now()
            drafts = DraftRepository(conn)
            draft, refused = await self._open_draft(drafts, campaign, citizen, step, now)
            if refused is not None:
                return refused
            if made_for is None or made_for != draft_token(draft):
                return SubmissionReply(SubmissionOutcome.STALE, draft)
            await drafts.delete(citizen.id, draft.started_at)
        return SubmissionReply(SubmissionOutcome.CANCELLED)

    async def submit(self, campaign: Campaign, citizen: Citizen, by: str) -> SubmissionReply:
        """Send the previewed draft to moderation: a new case in "submitted" status whose key
        is the reference number given to the citizen."""
        async with self.db.write() as conn:
            now = self.clock.now()
            # The phase times as stored, inside this transaction: a close a moment ago (in
            # any worker) counts, as for a vote.
            campaign = await CampaignRepository(conn).get(campaign.id) or campaign
            drafts = DraftRepository(conn)
            draft, refused = await self._open_draft(drafts, campaign, citizen, Step.PREVIEW, now)
            if refused is not None:
                return refused
            gap = missing(campaign, draft)
            if gap is not None:  # the campaign's lists changed meanwhile: ask that again
                draft = replace(draft, step=gap, from_preview=True)
                await drafts.save(draft, now)
                return SubmissionReply(SubmissionOutcome.STALE, draft)
            cases = CaseRepository(conn)
            if await cases.count_by_submitter(campaign.id, citizen.id) \
                    >= campaign.submission.cases_per_citizen:
                await drafts.delete(citizen.id)
                return SubmissionReply(SubmissionOutcome.LIMIT_REACHED)
            taken = await cases.keys(campaign.id)
            reference = new_receipt()
            while reference in taken:  # one in a trillion; file keys are lowercase anyway
                reference = new_receipt()
            case = as_case(draft, key=reference)
            case_id = await cases.insert(case, SOURCE, now, submitter_id=citizen.id,
                                         submitter_type=draft.answer(Step.TYPE),
                                         consented_at=now, contact=contact_of(draft))
            await drafts.delete(citizen.id)
            await AuditRepository(conn).record(now, by, "case.submitted", campaign.id,
                                               case_id=case_id, key=reference)
            stored = await cases.get(case_id)
        return SubmissionReply(SubmissionOutcome.SUBMITTED, case=stored)

    async def mine(self, campaign: Campaign, citizen: Citizen) -> list[SubmittedCase]:
        async with self.db.read() as conn:
            rows = await CaseRepository(conn).by_submitter(campaign.id, citizen.id)
        return [_submitted(*row) for row in rows]

    async def one_of_mine(self, campaign: Campaign, citizen: Citizen,
                          case_id: int) -> SubmittedCase | None:
        """One of the citizen's own cases; None for anyone else's, or no such case."""
        async with self.db.read() as conn:
            rows = await CaseRepository(conn).by_submitter(campaign.id, citizen.id, case_id)
        return _submitted(*rows[0]) if rows else None

    async def withdraw(self, campaign: Campaign, citizen: Citizen, case_id: int,
                       by: str) -> WithdrawReply:
        """Take back one's own case while it still waits for moderation. The UPDATE decides
        (a moderator approving it at the same moment: exactly one of them wins); it leaves
        the moderation queue and the audit log says who withdrew it."""
        async with self.db.write() as conn:
            now = self.clock.now()
            repo = CaseRepository(conn)
            if await repo.withdraw_own(case_id, campaign.id, citizen.id, now):
                await AuditRepository(conn).record(now, by, "case.withdrawn", campaign.id,
                                                   case_id=case_id)
                outcome = WithdrawOutcome.WITHDRAWN
            else:
                outcome = WithdrawOutcome.NOT_PENDING
            rows = await repo.by_submitter(campaign.id, citizen.id, case_id)
        if not rows:
            return WithdrawReply(WithdrawOutcome.UNKNOWN)
        return WithdrawReply(outcome, _submitted(*rows[0]))

    async def count_mine(self, campaign: Campaign, citizen: Citizen) -> int:
        async with self.db.read() as conn:
            return await CaseRepository(conn).count_by_submitter(campaign.id, citizen.id)

    async def steps_on(self, channel: str) -> dict[str, Step]:
        """Who on `channel` is halfway through a draft, and at which step: a channel restores
        its conversations from this after a restart."""
        async with self.db.read() as conn:
            return await DraftRepository(conn).steps_on(channel)

    async def _update(self, campaign: Campaign, citizen: Citizen, step: Step | None,
                      apply) -> SubmissionReply:
        """Load the draft, check it may change, `apply` the answer, store what came out.
        `step` is the step a button was made for (None for typed messages and photos)."""
        async with self.db.write() as conn:
            now = self.clock.now()
            drafts = DraftRepository(conn)
            draft, refused = await self._open_draft(drafts, campaign, citizen, step, now)
            if refused is not None:
                return refused
            reply = apply(draft)
            if reply.draft is not None and reply.draft != draft:
                await drafts.save(reply.draft, now)
        return reply

    @staticmethod
    async def _open_draft(drafts: DraftRepository, campaign: Campaign, citizen: Citizen,
                          step: Step | None, now: datetime
                          ) -> tuple[Draft | None, SubmissionReply | None]:
        """The citizen's draft, ready for an answer to `step`; or why there is none to answer.
        A draft of another campaign, or of a closed phase, is deleted; one waiting at a step
        the campaign no longer asks is moved on first."""
        draft = await drafts.get(citizen.id)
        if draft is None:
            return None, SubmissionReply(SubmissionOutcome.NO_DRAFT)
        if draft.campaign_id != campaign.id:
            await drafts.delete(citizen.id)
            return None, SubmissionReply(SubmissionOutcome.NO_DRAFT)
        refused = _refused(campaign, now)
        if refused is not None:  # the phase closed while they wrote: nothing can be sent now
            await drafts.delete(citizen.id)
            return None, replace(refused, had_draft=True)
        moved = realigned(campaign, draft)
        if moved != draft:
            await drafts.save(moved, now)
        if step is not None and step is not moved.step:
            return moved, SubmissionReply(SubmissionOutcome.STALE, moved)
        return moved, None

"""The guided steps of sending in a case by chat, as pure rules: which step comes next, which
answers are valid, and when a draft is complete. No I/O; the submission service stores drafts
and every channel shows the steps in its own way."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum

from bot.campaign_file import BODY_LENGTH, ORGANIZATION_LENGTH, SUMMARY_LENGTH, TITLE_LENGTH
from bot.domain import Campaign, Case, CaseStatus, CaseText, PhaseName, PhaseStatus


class SubmitterType(StrEnum):
    INDIVIDUAL = "individual"
    ORGANIZATION = "organization"
    COUNCIL = "council"  # a neighbourhood council (동 지역사회보장협의체, 주민자치회)


class Step(StrEnum):
    TYPE = "type"
    NAME = "name"  # the organization, council or person shown on the case
    CONTACT = "contact"  # optional phone or e-mail, for staff only (never shown to citizens)
    DISTRICT = "district"
    NEIGHBOURHOOD = "hood"
    CATEGORY = "category"
    TITLE = "title"
    SUMMARY = "summary"
    BODY = "body"
    PHOTO = "photo"
    CONSENT = "consent"
    PREVIEW = "preview"


STEPS = tuple(Step)
ANSWER_STEPS = STEPS[:-1]  # every step but the preview holds an answer
CHOICE_STEPS = (Step.TYPE, Step.DISTRICT, Step.NEIGHBOURHOOD, Step.CATEGORY, Step.CONSENT)
TEXT_LIMITS = {
    Step.NAME: ORGANIZATION_LENGTH,
    Step.TITLE: TITLE_LENGTH,
    Step.SUMMARY: SUMMARY_LENGTH,
    Step.BODY: BODY_LENGTH,
}
TEXT_STEPS = (*TEXT_LIMITS, Step.CONTACT)  # steps answered by typing
SINGLE_LINE = (Step.NAME, Step.TITLE)
SKIPPABLE = (Step.CONTACT, Step.PHOTO)  # steps a "skip" button answers with ""
NO_PHOTO = ""  # the photo step answered with "skip"
NO_CONTACT = ""  # the contact step answered with "skip"
CONTACT_LENGTH = 100  # longer is not a phone number or a sane e-mail address
CONSENT_YES = "yes"
CONSENT_NO = "no"

# The word a draft's button carries (Telegram's callback data, KakaoTalk's `o`), for what is
# not an option's index. Both channels take the same words: ^[a-z0-9-]{1,16}$.
BACK, KEEP, SKIP, SEND, EDIT, CANCEL, DISCARD, HERE = (
    "back", "keep", "skip", "send", "edit", "cancel", "discard", "here")
EDIT_PREFIX = "e-"  # + a step: answer that step again, from the preview
DISCARD_PREFIX = DISCARD + "-"  # + draft_token: throw away that draft (and no other)


class ProblemKind(StrEnum):
    EMPTY = "empty"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    USE_BUTTONS = "use_buttons"  # typed text where buttons are offered
    NOT_A_PHOTO = "not_a_photo"  # a file or anything else where a photo is asked for
    TEXT_AT_PHOTO = "text_at_photo"  # typed text where a photo (or "skip") is asked for
    NOT_TEXT = "not_text"  # a photo or a file where text is asked for
    BAD_CONTACT = "bad_contact"  # neither a phone number nor an e-mail address
    CONSENT_NEEDED = "consent_needed"


@dataclass(frozen=True)
class AnswerProblem:
    kind: ProblemKind
    length: int = 0
    minimum: int = 0
    maximum: int = 0


@dataclass(frozen=True)
class Draft:
    campaign_id: int
    citizen_id: int
    step: Step
    answers: Mapping[str, str] = field(default_factory=dict)
    from_preview: bool = False  # editing one field: after it, back to the preview
    started_at: datetime | None = None

    def answer(self, step: Step) -> str | None:
        return self.answers.get(step.value)


def draft_token(draft: Draft) -> str:
    """A short fingerprint of one draft (8 hex digits), carried by the "throw it away" button:
    a press whose token is not the stored draft's was made for an earlier draft."""
    started = draft.started_at.astimezone(UTC).isoformat() if draft.started_at else ""
    text = f"{draft.campaign_id}:{draft.citizen_id}:{started}"
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def discard_choice(draft: Draft) -> str:
    """The word of the button that throws `draft` away."""
    return DISCARD_PREFIX + draft_token(draft)


def is_discard(choice: str) -> bool:
    """A "throw it away" button, with or without its draft's token (old buttons have none)."""
    return choice == DISCARD or choice.startswith(DISCARD_PREFIX)


def discard_token(choice: str) -> str | None:
    """The draft token a "throw it away" button carries, or None (an old button, or a word
    that is not a token: never trusted)."""
    token = choice.removeprefix(DISCARD_PREFIX) if choice.startswith(DISCARD_PREFIX) else ""
    return token if len(token) == 8 and all(c in "0123456789abcdef" for c in token) else None


def submission_refusal(
    campaign: Campaign, now: datetime
) -> tuple[PhaseStatus, datetime | None] | None:
    """Why a case cannot be sent in at `now` (not open yet, or closed) with the boundary to
    mention (None: the campaign takes no cases by chat); None while submission is open."""
    phase = campaign.phase(PhaseName.SUBMISSION)
    if phase is None:
        return PhaseStatus.CLOSED, None
    status = phase.status_at(now)
    if status is PhaseStatus.UPCOMING:
        return status, phase.start
    if status is PhaseStatus.CLOSED:
        return status, phase.end or phase.start
    return None


def choices(campaign: Campaign, draft: Draft, step: Step) -> tuple[str, ...]:
    """The values the buttons of a choice step stand for, in button order."""
    if step is Step.TYPE:
        return tuple(SubmitterType)
    if step is Step.DISTRICT:
        return tuple(d.key for d in campaign.districts)
    if step is Step.NEIGHBOURHOOD:
        district = campaign.district(draft.answer(Step.DISTRICT))
        return tuple(h.ko for h in district.neighbourhoods) if district else ()
    if step is Step.CATEGORY:
        return tuple(c.key for c in campaign.categories)
    if step is Step.CONSENT:
        return (CONSENT_YES, CONSENT_NO)
    return ()


def applies(campaign: Campaign, draft: Draft, step: Step) -> bool:
    """A district without neighbourhoods, or a campaign without categories, skips that step.
    Before a district is chosen, the neighbourhood step counts if any district has them."""
    if step is Step.NEIGHBOURHOOD and draft.answer(Step.DISTRICT) is None:
        return any(d.neighbourhoods for d in campaign.districts)
    if step in (Step.NEIGHBOURHOOD, Step.CATEGORY):
        return bool(choices(campaign, draft, step))
    return True


def _steps(campaign: Campaign, draft: Draft) -> list[Step]:
    return [s for s in STEPS if applies(campaign, draft, s)]


def missing(campaign: Campaign, draft: Draft) -> Step | None:
    """The first step still to answer, or None when the draft is complete. A choice that
    the campaign no longer offers (a district dropped from the file, say) is missing too."""
    for step in _steps(campaign, draft):
        if step is Step.PREVIEW:
            return None
        value = draft.answer(step)
        if value is None or (step is Step.CONSENT and value != CONSENT_YES):
            return step
        if step in CHOICE_STEPS and value not in choices(campaign, draft, step):
            return step
    return None


def next_step(campaign: Campaign, draft: Draft) -> Step:
    """Where to go after answering `draft.step`."""
    if draft.from_preview:
        return missing(campaign, draft) or Step.PREVIEW
    later = [s for s in _steps(campaign, draft) if STEPS.index(s) > STEPS.index(draft.step)]
    return later[0] if later else Step.PREVIEW


def previous_step(campaign: Campaign, draft: Draft) -> Step | None:
    """Where Back goes: the step before (None at the first), or the preview when editing
    and nothing is missing. (The draft's own step may no longer apply: the campaign file
    changed under it.)"""
    if draft.from_preview and missing(campaign, draft) is None:
        return Step.PREVIEW
    earlier = [s for s in _steps(campaign, draft) if STEPS.index(s) < STEPS.index(draft.step)]
    return earlier[-1] if earlier else None


def realigned(campaign: Campaign, draft: Draft) -> Draft:
    """A draft waiting at a step the campaign no longer asks (its district lost its
    neighbourhoods, say) moves to the first step still to answer, or the preview."""
    if applies(campaign, draft, draft.step):
        return draft
    return replace(draft, step=missing(campaign, draft) or Step.PREVIEW, from_preview=False)


def move(draft: Draft, step: Step) -> Draft:
    return replace(draft, step=step, from_preview=draft.from_preview and step is not Step.PREVIEW)


def answered(campaign: Campaign, draft: Draft, value: str) -> Draft:
    """The draft with `value` as the answer to its current step, moved on to the next step.
    A new district forgets the neighbourhood, which belongs to the old one."""
    answers = dict(draft.answers)
    if draft.step is Step.DISTRICT and answers.get(Step.DISTRICT.value) != value:
        answers.pop(Step.NEIGHBOURHOOD.value, None)
    answers[draft.step.value] = value
    updated = replace(draft, answers=answers)
    return move(updated, next_step(campaign, updated))


_SPACES = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(step: Step, text: str) -> tuple[str | None, AnswerProblem | None]:
    """A typed answer, tidied (titles and names on one line; at most one blank line in a
    description), or the problem with it."""
    if step in SINGLE_LINE:
        value = _SPACES.sub(" ", text).strip()
    else:
        lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
        value = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    low, high = TEXT_LIMITS[step]
    if not value:
        return None, AnswerProblem(ProblemKind.EMPTY)
    if len(value) < low:
        return None, AnswerProblem(ProblemKind.TOO_SHORT, len(value), low, high)
    if len(value) > high:
        return None, AnswerProblem(ProblemKind.TOO_LONG, len(value), low, high)
    return value, None


def as_case(draft: Draft, key: str = "draft", case_id: int = 0) -> Case:
    """The case as citizens will see it (for the preview, and to store it)."""
    a = draft.answers
    return Case(
        id=case_id, campaign_id=draft.campaign_id, key=key, status=CaseStatus.SUBMITTED,
        district=a.get(Step.DISTRICT.value, ""), neighbourhood=a.get(Step.NEIGHBOURHOOD.value, ""),
        category=a.get(Step.CATEGORY.value, ""),
        ko=CaseText(a.get(Step.TITLE.value, ""), a.get(Step.SUMMARY.value, ""),
                    a.get(Step.BODY.value, ""), a.get(Step.NAME.value, "")),
        image=a.get(Step.PHOTO.value) or None,
    )


def contact_of(draft: Draft) -> str | None:
    """The contact for staff, or None (skipped)."""
    return draft.answer(Step.CONTACT) or None


# A Korean phone number as people type it: +82 or 0, then a mobile (010...), Seoul (02),
# regional (031..064) or internet (070) number, or a 4+4 company number (1588-1234).
_PHONE_SEPARATORS = re.compile(r"[\s.()\-]")
_AREA = re.compile(r"^(02|0[3-6][1-5]|01[016789]|070|050\d?)(\d{3,4})(\d{4})$")
_COMPANY = re.compile(r"^(1[5-9]\d{2})(\d{4})$")
_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})*"
                    r"\.[A-Za-z]{2,24}$")


def _phone(text: str) -> str | None:
    digits = _PHONE_SEPARATORS.sub("", text)
    if digits.startswith("+82"):
        digits = "0" + digits.removeprefix("+82").removeprefix("0")
    if not digits.isdigit():
        return None
    found = _AREA.match(digits) or _COMPANY.match(digits)
    return "-".join(found.groups()) if found else None


def clean_contact(text: str) -> tuple[str | None, AnswerProblem | None]:
    """A phone number (normalised: 010-1234-5678) or an e-mail address (its domain in lower
    case), or the problem with what was typed."""
    value = _SPACES.sub(" ", text).strip()
    if not value:
        return None, AnswerProblem(ProblemKind.EMPTY)
    if len(value) > CONTACT_LENGTH:
        return None, AnswerProblem(ProblemKind.TOO_LONG, len(value), 0, CONTACT_LENGTH)
    phone = _phone(value)
    if phone is not None:
        return phone, None
    if _EMAIL.match(value) and ".." not in value:
        local, _, domain = value.rpartition("@")
        return f"{local}@{domain.lower()}", None
    return None, AnswerProblem(ProblemKind.BAD_CONTACT)


def typed_forms(label: str) -> set[str]:
    """A button's label as it may be typed: trimmed, case-folded, and without a leading emoji
    or mark ("✓ 서구", "🙋 개인")."""
    folded = " ".join(label.split()).casefold()
    first, _, rest = folded.partition(" ")
    return {folded, rest} if rest and not any(c.isalnum() for c in first) else {folded}


def match_choice(typed: str, label_lists: Iterable[Sequence[str]]) -> int | None:
    """The index of the option whose label (in any of the lists: one per language, each in
    the order of `choices`) is what was typed, or None."""
    wanted = typed_forms(typed)
    for labels in label_lists:
        for index, label in enumerate(labels):
            if wanted & typed_forms(label):
                return index
    return None

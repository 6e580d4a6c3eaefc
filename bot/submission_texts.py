"""Texts of the guided case submission that every channel shows the same way: where the
draft is (step n of m), the question of a step, the labels of its choices, what was wrong with
an answer, why there is no draft (any more), one line of a citizen's cases. Telegram-style
HTML, as the catalogs are; a channel without HTML makes them plain (bot.text.plain_text)."""

from __future__ import annotations

import html
from collections.abc import Mapping

from bot.domain import Campaign
from bot.drafts import (
    ANSWER_STEPS,
    CONTACT_LENGTH,
    TEXT_LIMITS,
    AnswerProblem,
    Draft,
    ProblemKind,
    Step,
    applies,
    choices,
    match_choice,
)
from bot.i18n import format_when, plain, t
from bot.services.submissions import SubmissionOutcome, SubmissionReply, SubmittedCase
from bot.text import clip, shorten

REASON_PREVIEW = 150  # staff's reason, in the list of a citizen's cases
DETAIL_BODY = 3000  # a case's description in its submitter's view: all of it, within a message
CURRENT_PREVIEW = 200  # how much of an earlier answer is repeated under the question


def answer_steps(campaign: Campaign, draft: Draft) -> list[Step]:
    """The steps this draft asks, in order (the preview not counted)."""
    return [s for s in ANSWER_STEPS if applies(campaign, draft, s)]


def position(campaign: Campaign, draft: Draft) -> tuple[int, int]:
    """(step, steps), 1-based; a step the campaign no longer asks counts as the last."""
    steps = answer_steps(campaign, draft)
    return (steps.index(draft.step) + 1 if draft.step in steps else len(steps)), len(steps)


def header_text(lang: str, campaign: Campaign, draft: Draft) -> str:
    step, steps = position(campaign, draft)
    return t(lang, "submission.header", step=step, steps=steps)


def question_text(lang: str, campaign: Campaign, draft: Draft) -> str:
    step = draft.step
    low, high = TEXT_LIMITS.get(step, (0, 0))
    if step is Step.NAME:
        kind = draft.answer(Step.TYPE) or "individual"
        return t(lang, f"submission.ask.name_{kind}", max=high)
    if step is Step.CONTACT:
        return t(lang, "submission.ask.contact", max=CONTACT_LENGTH)
    if step is Step.NEIGHBOURHOOD:
        district = campaign.district(draft.answer(Step.DISTRICT))
        return t(lang, "submission.ask.hood", district=district.name.get(lang) if district else "")
    if step is Step.CONSENT:  # what is kept, why and how long, before asking (PIPA)
        return t(lang, "submission.ask.consent") + "\n\n" + t(
            lang, "privacy.consent", days=campaign.retention_days)
    return t(lang, f"submission.ask.{step.value}", min=low, max=high)


def option_labels(lang: str, campaign: Campaign, draft: Draft, step: Step) -> list[str]:
    """The labels of a choice step's buttons, in the order of bot.drafts.choices."""
    values = choices(campaign, draft, step)
    if step is Step.TYPE:
        return [plain(lang, f"submission.type.{v}") for v in values]
    if step is Step.DISTRICT:
        return [d.name.get(lang) for d in campaign.districts]
    if step is Step.NEIGHBOURHOOD:
        district = campaign.district(draft.answer(Step.DISTRICT))
        return [h.get(lang) for h in district.neighbourhoods] if district else []
    if step is Step.CATEGORY:
        return [c.name.get(lang) for c in campaign.categories]
    return [plain(lang, "submission.button.agree"), plain(lang, "submission.button.disagree")]


def typed_choice(campaign: Campaign, draft: Draft, text: str,
                 extra: tuple[list[str], ...] = ()) -> int | None:
    """The option of the draft's choice step whose label was typed (either language, trimmed,
    case-insensitive, with or without its emoji), or None. `extra`: a channel's own labels."""
    labels = [option_labels(lang, campaign, draft, draft.step) for lang in ("ko", "en")]
    return match_choice(text, [*labels, *extra])


def problem_text(lang: str, problem: AnswerProblem) -> str:
    return "⚠️ " + t(lang, f"submission.problem.{problem.kind.value}", length=problem.length,
                     min=problem.minimum, max=problem.maximum)


def note_text(lang: str, reply: SubmissionReply,
              instead: Mapping[ProblemKind, str] | None = None) -> str | None:
    """What to say above the step a reply shows: what was wrong with the answer, that the
    button was stale, or that a draft was already under way; None for nothing. `instead`:
    a channel's own catalog key for a problem (KakaoTalk cannot take photos, say)."""
    if reply.outcome is SubmissionOutcome.PROBLEM and reply.problem is not None:
        key = (instead or {}).get(reply.problem.kind)
        return t(lang, key) if key else problem_text(lang, reply.problem)
    if reply.outcome is SubmissionOutcome.STALE:
        return t(lang, "submission.stale")
    if reply.resumed:
        return t(lang, "submission.resumed")
    return None


def ending_text(lang: str, campaign: Campaign, reply: SubmissionReply) -> str:
    """Why there is no draft (any more), for every outcome but SUBMITTED (each channel says
    where the case's status can be seen)."""
    outcome = reply.outcome
    if outcome is SubmissionOutcome.NOT_OPEN_YET and reply.boundary is not None:
        return t(lang, "submission.not_open",
                 time=format_when(reply.boundary, campaign.timezone, lang))
    if outcome is SubmissionOutcome.CLOSED:
        if reply.boundary is None:
            return t(lang, "submission.no_phase")
        key = "submission.closed_draft" if reply.had_draft else "submission.closed"
        return t(lang, key, time=format_when(reply.boundary, campaign.timezone, lang))
    if outcome is SubmissionOutcome.LIMIT_REACHED:
        return t(lang, "submission.limit", limit=campaign.submission.cases_per_citizen)
    if outcome is SubmissionOutcome.CANCELLED:
        return t(lang, "submission.cancelled")
    return t(lang, "submission.no_draft")


def my_case_text(lang: str, campaign: Campaign, item: SubmittedCase) -> str:
    """One of a citizen's cases: title, reference, when, status, and staff's reason."""
    line = t(lang, "submission.mine.item", title=item.case.ko.title, reference=item.case.key,
             time=format_when(item.sent_at, campaign.timezone, lang),
             status=plain(lang, f"submission.status.{item.case.status.value}"))
    if item.reason:
        line += "\n" + t(lang, "submission.mine.reason",
                          reason=shorten(item.reason, REASON_PREVIEW))
    return line


def my_case_detail(lang: str, campaign: Campaign, item: SubmittedCase) -> str:
    """The submitter's own view of one case: its status and staff's reason, then all of it
    (summary, description, name; their contact, which only they and staff see)."""
    case = item.case
    lines = [my_case_text(lang, campaign, item)]
    lines.append(f"<i>{html.escape(case.ko.summary, quote=False)}</i>")
    lines.append(html.escape(clip(case.ko.body, DETAIL_BODY), quote=False))
    if case.ko.organization:
        lines.append("— " + html.escape(case.ko.organization, quote=False))
    if item.contact:
        lines.append(t(lang, "submission.preview_contact", contact=item.contact))
    if item.withdrawable:
        lines.append(t(lang, "submission.mine.withdraw_hint"))
    return "\n\n".join(lines)


def draft_waiting_text(lang: str, campaign: Campaign, draft: Draft) -> str:
    step, steps = position(campaign, draft)
    return t(lang, "submission.mine.draft", step=step, steps=steps)

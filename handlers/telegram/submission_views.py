"""Screens of the guided case submission: one per step, the preview, and /mycases. Pure
functions of the draft; `submission.py` decides which to show."""

from __future__ import annotations

from datetime import datetime

from telegram import InlineKeyboardButton

from bot.domain import Campaign
from bot.drafts import (
    BACK,
    CANCEL,
    CHOICE_STEPS,
    EDIT,
    EDIT_PREFIX,
    HERE,
    KEEP,
    SEND,
    SKIP,
    Draft,
    Step,
    as_case,
    choices,
    contact_of,
    discard_choice,
    previous_step,
)
from bot.i18n import plain, t
from bot.services.submissions import (
    SubmissionOutcome,
    SubmissionReply,
    SubmittedCase,
    counted,
)
from bot.submission_texts import (
    CURRENT_PREVIEW,
    answer_steps,
    draft_waiting_text,
    ending_text,
    header_text,
    my_case_detail,
    my_case_text,
    option_labels,
    question_text,
)
from bot.text import shorten, split_text
from handlers.telegram import callbacks as cb
from handlers.telegram.common import Screen
from handlers.telegram.views import BODY_PART_LENGTH, button, case_card, home_button

MESSAGE_BUDGET = 3800  # under Telegram's 4096, with room for the HTML tags
OPEN_BUTTONS = 10  # the newest cases get a button to open them
OPEN_LABEL = 40  # characters of a title on its button


def _button(lang: str, label: str, draft: Draft, choice: str, step: Step | None = None):
    return button(label, cb.DraftButton(draft.campaign_id, (step or draft.step).value, choice))


def _navigation(lang: str, campaign: Campaign, draft: Draft) -> list[InlineKeyboardButton]:
    row = []
    previous = previous_step(campaign, draft)
    if previous is Step.PREVIEW:
        row.append(_button(lang, plain(lang, "submission.button.to_preview"), draft, BACK))
    elif previous is not None:
        row.append(_button(lang, plain(lang, "submission.button.back"), draft, BACK))
    row.append(_button(lang, plain(lang, "submission.button.cancel"), draft, CANCEL))
    return row


def step_screens(lang: str, campaign: Campaign, draft: Draft, now: datetime,
                 bot_username: str, note: str | None = None) -> list[Screen]:
    """What to show for the draft's current step, in order; `note` goes on top (a problem
    with the last answer, say)."""
    if draft.step is Step.PREVIEW:
        return preview_screens(lang, campaign, draft, now, bot_username, note)
    return [step_screen(lang, campaign, draft, note)]


def step_screen(lang: str, campaign: Campaign, draft: Draft, note: str | None = None) -> Screen:
    """The question of a step (not the preview) with its buttons."""
    lines = [note] if note else []
    lines.append(header_text(lang, campaign, draft))
    lines.append(question_text(lang, campaign, draft))
    keyboard: list[list[InlineKeyboardButton]] = []
    answer = draft.answer(draft.step)
    if draft.step in CHOICE_STEPS:
        values = choices(campaign, draft, draft.step)
        labels = option_labels(lang, campaign, draft, draft.step)
        options = [_button(lang, f"✓ {label}" if value == answer else label, draft, str(i))
                   for i, (value, label) in enumerate(zip(values, labels, strict=True))]
        per_row = 2 if draft.step in (Step.DISTRICT, Step.NEIGHBOURHOOD) else 1
        keyboard += [options[i:i + per_row] for i in range(0, len(options), per_row)]
    elif draft.step is Step.CONTACT:
        if answer:
            lines.append(t(lang, "submission.current", value=answer))
            keyboard.append([_button(lang, plain(lang, "submission.button.keep"), draft, KEEP)])
        keyboard.append([_button(lang, plain(lang, "submission.button.skip_contact"), draft,
                                 SKIP)])
    elif draft.step is Step.PHOTO:
        if answer:
            lines.append(t(lang, "submission.current_photo"))
            keyboard.append([_button(lang, plain(lang, "submission.button.keep_photo"), draft,
                                     KEEP)])
            keyboard.append([_button(lang, plain(lang, "submission.button.remove_photo"), draft,
                                     SKIP)])
        else:
            keyboard.append([_button(lang, plain(lang, "submission.button.skip_photo"), draft,
                                     SKIP)])
    elif answer:
        lines.append(t(lang, "submission.current", value=shorten(answer, CURRENT_PREVIEW)))
        keyboard.append([_button(lang, plain(lang, "submission.button.keep"), draft, KEEP)])
    keyboard.append(_navigation(lang, campaign, draft))
    return Screen("\n\n".join(lines), keyboard)


def preview_screens(lang: str, campaign: Campaign, draft: Draft, now: datetime,
                    bot_username: str, note: str | None = None) -> list[Screen]:
    """The case card exactly as citizens will read it, every part of a long description
    included so all of it can be checked, and Submit / Edit / Stop under the last part."""
    case = as_case(draft)
    parts = len(split_text(case.ko.body, BODY_PART_LENGTH))
    cards = [case_card(lang, campaign, case, cb.ListState(), part, now, bot_username).text
             for part in range(parts)]
    first = [note] if note else []
    cards[0] = "\n\n".join([*first, t(lang, "submission.preview"), cards[0]])
    contact = contact_of(draft)
    if contact:  # the submitter's own, under the card: citizens never see it
        cards[-1] += "\n\n" + t(lang, "submission.preview_contact", contact=contact)
    if parts > 1:
        cards[-1] += "\n\n" + t(lang, "submission.preview_parts", parts=parts)
    keyboard = [
        [_button(lang, plain(lang, "submission.button.send"), draft, SEND)],
        [_button(lang, plain(lang, "submission.button.edit"), draft, EDIT),
         _button(lang, plain(lang, "submission.button.cancel"), draft, CANCEL)],
    ]
    return [Screen(text, continues=True) for text in cards[:-1]] + [Screen(cards[-1], keyboard)]


def edit_menu(lang: str, campaign: Campaign, draft: Draft) -> Screen:
    fields = [s for s in answer_steps(campaign, draft) if s is not Step.CONSENT]
    buttons = [_button(lang, plain(lang, f"submission.field.{s.value}"), draft,
                       EDIT_PREFIX + s.value) for s in fields]
    keyboard = [buttons[i:i + 2] for i in range(0, len(buttons), 2)]
    keyboard.append([_button(lang, plain(lang, "submission.button.to_preview"), draft, HERE)])
    return Screen(t(lang, "submission.edit_prompt"), keyboard)


def confirm_cancel(lang: str, draft: Draft) -> Screen:
    """"Throw it away?": the Yes button carries the draft's token, so it throws away this
    draft only, never one begun after it."""
    return Screen(t(lang, "submission.confirm_cancel"), [
        [_button(lang, plain(lang, "submission.button.discard"), draft,
                 discard_choice(draft))],
        [_button(lang, plain(lang, "submission.button.continue"), draft, HERE)],
    ])


def ending(lang: str, campaign: Campaign, reply: SubmissionReply) -> Screen:
    """What to say when there is no draft (any more): why, and where to go from here."""
    keyboard = [[home_button(lang)]]
    outcome = reply.outcome
    if outcome is SubmissionOutcome.SUBMITTED:
        case = reply.case
        keyboard.insert(0, [button(plain(lang, "submission.menu_mine"), cb.MyCases())])
        return Screen(t(lang, "submission.submitted", reference=case.key,
                        title=case.ko.title), keyboard)
    if outcome is SubmissionOutcome.LIMIT_REACHED:
        keyboard.insert(0, [button(plain(lang, "submission.menu_mine"), cb.MyCases())])
    return Screen(ending_text(lang, campaign, reply), keyboard)


def my_cases(lang: str, campaign: Campaign, mine: list[SubmittedCase], draft: Draft | None,
             can_start: bool) -> Screen:
    """The citizen's cases, newest first, as many as fit in one message; a draft in progress
    (while submission is open) with a button to go back to it."""
    limit = campaign.submission.cases_per_citizen
    header = t(lang, "submission.mine.header", count=counted(mine), limit=limit)
    items = []
    for item in reversed(mine):
        items.append(my_case_text(lang, campaign, item))
    keyboard = [[button(shorten(plain(lang, "submission.mine.open", title=item.case.ko.title),
                                OPEN_LABEL), cb.MyCase(campaign.id, item.case.id))]
                for item in reversed(mine[-OPEN_BUTTONS:])]
    footer = [t(lang, "submission.mine.pick")] if mine else []
    if not mine:
        footer.append(t(lang, "submission.mine.none"))
    if can_start and draft is not None and draft.campaign_id == campaign.id:
        footer.append(draft_waiting_text(lang, campaign, draft))
        keyboard.append([button(plain(lang, "submission.menu_continue"),
                                cb.StartSubmission(campaign.id))])
    elif can_start and counted(mine) < limit:
        keyboard.append([button(plain(lang, "submission.menu_start"),
                                cb.StartSubmission(campaign.id))])
    keyboard.append([home_button(lang)])
    while len("\n\n".join([header, *items, *footer])) > MESSAGE_BUDGET and len(items) > 1:
        items.pop()  # the oldest go first; the count in the header still says how many
    return Screen("\n\n".join([header, *items, *footer]), keyboard)


def my_case(lang: str, campaign: Campaign, item: SubmittedCase | None,
            refused: bool = False) -> Screen:
    """The submitter's own view of one case; "withdraw" while it waits for moderation.
    `refused`: a withdrawal came too late (it was moderated meanwhile). None: not theirs,
    or no such case."""
    back = [button(plain(lang, "submission.mine.back"), cb.MyCases())]
    if item is None:
        return Screen(t(lang, "submission.mine.unknown"), [back, [home_button(lang)]])
    lines = []
    if refused:
        status = plain(lang, f"submission.status.{item.case.status.value}")
        lines.append("⚠️ " + t(lang, "submission.mine.not_pending", status=status))
    lines.append(my_case_detail(lang, campaign, item))
    keyboard = []
    if item.withdrawable:
        keyboard.append([button(plain(lang, "submission.mine.withdraw"),
                                cb.Withdraw(campaign.id, item.case.id, False))])
    keyboard += [back, [home_button(lang)]]
    return Screen("\n\n".join(lines), keyboard)


def confirm_withdraw(lang: str, campaign: Campaign, item: SubmittedCase) -> Screen:
    return Screen(t(lang, "submission.mine.confirm_withdraw", title=item.case.ko.title), [
        [button(plain(lang, "submission.mine.withdraw_yes"),
                cb.Withdraw(campaign.id, item.case.id, True))],
        [button(plain(lang, "submission.mine.withdraw_no"), cb.MyCase(campaign.id, item.case.id))],
    ])


def withdrawn(lang: str, campaign: Campaign, item: SubmittedCase | None) -> Screen:
    title = item.case.ko.title if item else ""
    return Screen(t(lang, "submission.mine.withdrawn", title=title),
                  [[button(plain(lang, "submission.mine.back"), cb.MyCases())],
                   [home_button(lang)]])

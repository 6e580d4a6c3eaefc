"""/score: judges walk through the approved cases they have not scored, one case (and one
criterion) at a time, by pressing a number or typing one. `/score <case id>` revises a score.
The open scoring step lives in the judge's user_data; every press and typed number is checked
again by the judging service (role, phase, case, range)."""

from __future__ import annotations

import html

from telegram import InlineKeyboardButton, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.domain import Campaign, Citizen, Role
from bot.i18n import Safe, plain, t
from bot.services.judging import ScoreOutcome, ScoringStep
from bot.text import split_text
from handlers.telegram.browse import send_local_photo
from handlers.telegram.common import CHANNEL, PRIVATE, Screen, Turn, begin_turn, services_of, show
from handlers.telegram.fallback import on_text
from handlers.telegram.staff.access import StaffButton, campaign_turn, staff_only, staff_pattern
from handlers.telegram.staff.pending import awaiting_text

AREA = "j"
STEP = "scoring_step"  # user_data: {"campaign": id, "case": id, "criterion": n}
NUMBER = filters.Regex(r"^\s*-?\d{1,6}([.,]\d{1,2})?\s*$")
MESSAGE_LIMIT = 4096
CARD_ROOM = 3600  # a card with the whole text above this sends the text on its own first
BODY_PART = 3000  # escaping (&, <, >) can lengthen a part: room is kept under 4096


def _number(value: float) -> str:
    return f"{value:g}"


def score_values(low: int, high: int) -> list[int]:
    """Eleven buttons across the scale (0, 10, ... 100), or every value on a short scale."""
    if high - low <= 10:
        return list(range(low, high + 1))
    return sorted({round(low + (high - low) * i / 10) for i in range(11)})


def _button(label: str, action: str, *args: object) -> InlineKeyboardButton:
    data = StaffButton(AREA, action, tuple(str(a) for a in args)).encode()
    return InlineKeyboardButton(label, callback_data=data)


def _body_parts(body: str) -> list[str]:
    """The text in parts that stay within a message once escaped for HTML (& is five)."""
    limit = BODY_PART
    parts = split_text(body, limit)
    while limit > 100 and any(len(html.escape(p, quote=False)) > BODY_PART for p in parts):
        limit //= 2
        parts = split_text(body, limit)
    return parts


async def _step_screen(turn: Turn, step: ScoringStep, with_body: bool = True) -> Screen:
    lang, campaign = turn.language, turn.campaign
    rules = campaign.judging
    progress = await turn.services.judging.progress(campaign, turn.citizen)
    if step.criterion == 0:
        criterion = t(lang, "results.judge.criterion_overall", min=rules.scale_min,
                      max=rules.scale_max)
    else:
        criterion = t(lang, "results.judge.criterion_named",
                      name=rules.criteria[step.criterion - 1].get(lang), index=step.criterion,
                      count=len(rules.criteria), min=rules.scale_min, max=rules.scale_max)
    text = step.case.text(lang)
    # Judges score the whole case: its full text is on the card, or just above it when long.
    body = t(lang, "staffux.judge.card" if with_body else "results.judge.card",
             title=f"#{step.case.id} {text.title}", organization=text.organization,
             summary=text.summary, body=text.body, criterion=Safe(criterion),
             scored=progress.scored, total=progress.total)
    args = (campaign.id, step.case.id, step.criterion)
    numbers = [_button(str(v), "s", *args, v)
               for v in score_values(rules.scale_min, rules.scale_max)]
    half = (len(numbers) + 1) // 2
    keyboard = [numbers[:half], numbers[half:],
                [_button(plain(lang, "results.judge.skip"), "k", *args),
                 _button(plain(lang, "results.judge.done"), "d", campaign.id)]]
    return Screen(body, [row for row in keyboard if row])


async def _open_step(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                     step: ScoringStep | None, note: str = "") -> None:
    """Show the next step (remembering it for a typed number), or the end of the walk."""
    prefix = f"{note}\n\n" if note else ""
    if step is None:
        context.user_data.pop(STEP, None)
        progress = await turn.services.judging.progress(turn.campaign, turn.citizen)
        await show(update, Screen(prefix + t(turn.language, "results.judge.all_done",
                                             scored=progress.scored, total=progress.total)))
        return
    context.user_data[STEP] = {"campaign": turn.campaign.id, "case": step.case.id,
                               "criterion": step.criterion}
    context.user_data.pop("awaiting_search", None)  # a typed number is a score now
    screen = await _step_screen(turn, step)
    new_message = False
    image = None
    if step.criterion <= 1:  # a case shown for the first time: its photo, its long text
        lang = turn.language
        new_message = await send_local_photo(update, context, step.case, lang)
        picture = step.case.image or ""
        image = picture if picture.startswith("https://") else None  # shown above the card
        if len(prefix + screen.text) > CARD_ROOM:
            text = step.case.text(lang)
            parts = _body_parts(text.body)
            for number, part in enumerate(parts, start=1):
                await update.effective_chat.send_message(
                    t(lang, "staffux.judge.body_part", title=f"#{step.case.id} {text.title}",
                      part=number, parts=len(parts), body=part), parse_mode="HTML")
            screen = await _step_screen(turn, step, with_body=False)
            new_message = True
    await show(update, Screen(prefix + screen.text, screen.keyboard, image_url=image),
               new_message=new_message)


async def _after(turn: Turn, campaign: Campaign, judge: Citizen, case_id: int,
                 criterion: int) -> ScoringStep | None:
    """After scoring one criterion: the next criterion of the same case, else the next case."""
    count = len(campaign.judging.criteria)
    if 0 < criterion < count:
        case = await turn.services.judging.case_for(campaign, case_id)
        if case is not None:
            return ScoringStep(case, criterion + 1)
    return await turn.services.judging.next_unscored(campaign, judge)


async def _score(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn, case_id: int,
                 criterion: int, value: float) -> None:
    lang, campaign = turn.language, turn.campaign
    rules = campaign.judging
    result = await turn.services.judging.score(campaign, turn.citizen, case_id, criterion, value)
    if result.outcome is ScoreOutcome.OUT_OF_RANGE:
        await show(update, Screen(t(lang, "results.judge.out_of_range", min=rules.scale_min,
                                    max=rules.scale_max)), new_message=True)
        return
    if result.outcome is ScoreOutcome.CLOSED:
        context.user_data.pop(STEP, None)
        await show(update, Screen(t(lang, "results.judge.closed")))
        return
    if not result.stored:
        context.user_data.pop(STEP, None)
        await show(update, Screen(t(lang, "results.judge.unknown_case")))
        return
    title = result.case.text(lang).title
    if result.outcome is ScoreOutcome.REVISED:
        note = t(lang, "results.judge.revised", title=title, before=_number(result.previous),
                 value=_number(value))
    else:
        note = t(lang, "results.judge.saved", title=title, value=_number(value))
    step = await _after(turn, campaign, turn.citizen, case_id, criterion)
    await _open_step(update, context, turn, step, note)


@staff_only(Role.JUDGE)
async def score_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang = turn.language
    if not turn.services.judging.is_open(turn.campaign):
        await show(update, Screen(t(lang, "results.judge.closed")))
        return
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isascii() and args[0].isdigit()
                                       and len(args[0]) < 10)):
        await show(update, Screen(t(lang, "results.judge.usage")))
        return
    if args:  # revise (or score) one case, from its first criterion
        case = await turn.services.judging.case_for(turn.campaign, int(args[0]))
        if case is None:
            await show(update, Screen(t(lang, "results.judge.unknown_case")))
            return
        first = 1 if turn.campaign.judging.criteria else 0
        await _open_step(update, context, turn, ScoringStep(case, first))
        return
    await _open_step(update, context, turn,
                     await turn.services.judging.next_unscored(turn.campaign, turn.citizen))


@staff_only(Role.JUDGE)
async def score_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    turn = await begin_turn(update, context)
    button = StaffButton.decode(query.data)
    campaign_id = button.int_arg(0) if button else None
    if button is None or turn.campaign is None or campaign_id != turn.campaign.id:
        await query.answer(plain(turn.language, "expired"), show_alert=True)
        return
    await query.answer()
    if button.action == "d":
        context.user_data.pop(STEP, None)
        progress = await turn.services.judging.progress(turn.campaign, turn.citizen)
        await show(update, Screen(t(turn.language, "results.judge.stopped",
                                    scored=progress.scored, total=progress.total)))
        return
    case_id, criterion = button.int_arg(1), button.int_arg(2)
    if case_id is None or criterion is None:
        await show(update, Screen(t(turn.language, "expired")))
        return
    if button.action == "k":
        step = await turn.services.judging.next_unscored(turn.campaign, turn.citizen,
                                                         after_case=case_id)
        await _open_step(update, context, turn, step)
        return
    value = button.int_arg(3)
    if button.action != "s" or value is None:
        await show(update, Screen(t(turn.language, "expired")))
        return
    await _score(update, context, turn, case_id, criterion, value)


async def typed_score(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A number typed while a scoring step is open (the handler's filter sees to that)."""
    step = context.user_data.get(STEP)
    user = update.effective_user
    services = services_of(context)
    if step is None or not await services.staff.allowed(CHANNEL, str(user.id), (Role.JUDGE,)):
        context.user_data.pop(STEP, None)  # the role was revoked meanwhile
        await on_text(update, context)
        return
    turn = await begin_turn(update, context)
    if turn.campaign is None or turn.campaign.id != step["campaign"]:
        context.user_data.pop(STEP, None)
        await show(update, Screen(t(turn.language, "expired")))
        return
    value = float(update.effective_message.text.strip().replace(",", "."))
    await _score(update, context, turn, step["case"], step["criterion"], value)


def register(application: Application) -> None:
    application.add_handler(CommandHandler("score", score_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(score_button, pattern=staff_pattern(AREA)))
    # Only while this judge has a scoring step open: other typed answers (a search word, a
    # rejection reason, a broadcast text) go to their own flows even when they are numbers.
    application.add_handler(
        MessageHandler(awaiting_text(application, STEP) & NUMBER, typed_score)
    )

"""/phase, /extend and /close: admins move a phase's times from the chat. Each shows before and
after with Confirm / Cancel; nothing changes until Confirm, which validates again.

`/phase` with missing arguments walks through buttons: phase -> boundary -> the new time (a
few one-tap choices, or typed in the shown format). Phase and boundary words may be English
or Korean (접수, 투표, 심사, 시상; 시작, 마감)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
)

from bot.domain import PHASE_ORDER, Campaign, Phase, PhaseName, Role
from bot.i18n import format_when, plain, t
from bot.services.phases import PhaseField, PhaseProblem, PhaseProposal
from bot.services.staff import actor
from handlers.telegram.common import (
    CHANNEL,
    PRIVATE,
    Screen,
    Turn,
    begin_turn,
    services_of,
    show,
)
from handlers.telegram.fallback import on_text
from handlers.telegram.staff.access import StaffButton, campaign_turn, staff_only, staff_pattern
from handlers.telegram.staff.pending import awaiting_text

AREA = "p"
CLOSE_NOW = "now"
DURATION = re.compile(r"^(\d{1,4})\s*(m|h|d|분|시간|일)$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "분": "minutes", "시간": "hours",
         "일": "days"}
AWAITING_TIME = "operations.phase_time"  # user_data: (campaign id, phase, field)
# Words staff may type for a phase or a boundary, English or Korean, to the stored names.
PHASE_WORDS = {
    "submission": "submission", "접수": "submission", "사례접수": "submission",
    "voting": "voting", "투표": "voting", "시민투표": "voting",
    "review": "review", "심사": "review",
    "awards": "awards", "시상": "awards", "시상식": "awards",
}
FIELD_WORDS = {"start": "start", "시작": "start", "end": "end", "마감": "end", "종료": "end",
               "끝": "end", "at": "at", "시각": "at"}


def phase_word(word: str) -> str:
    """The stored phase name for an English or Korean word; unknown words unchanged (the
    service refuses them with the list of phases)."""
    return PHASE_WORDS.get(word.lower(), word.lower())


def field_word(phase: str, word: str) -> str:
    """The boundary for a word; awards, one instant, takes 시작/start as its time too."""
    field = FIELD_WORDS.get(word.lower(), word.lower())
    return "at" if phase == PhaseName.AWARDS.value and field == "start" else field


def parse_time(words: list[str], timezone: str) -> datetime | None:
    """"2024-12-01 20:00" or "2024-12-01T20:00", in the campaign's timezone unless it says."""
    if not 1 <= len(words) <= 2:
        return None
    text = "T".join(words)
    if len(text) <= 10:  # a date alone would silently mean midnight
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.replace(tzinfo=ZoneInfo(timezone)) if value.tzinfo is None else value


def parse_duration(word: str) -> timedelta | None:
    match = DURATION.match(word.lower())
    return timedelta(**{UNITS[match[2]]: int(match[1])}) if match else None


def _span(lang: str, campaign: Campaign, phase: Phase) -> str:
    if phase.end is None:
        return format_when(phase.start, campaign.timezone, lang)
    return plain(lang, "operations.phase.span",
                 start=format_when(phase.start, campaign.timezone, lang),
                 end=format_when(phase.end, campaign.timezone, lang))


def _phase_label(lang: str, name) -> str:
    return plain(lang, f"phase.name.{name.value}") if name is not None else ""


def problem_text(lang: str, campaign: Campaign, proposal: PhaseProposal) -> str:
    problem = proposal.problem
    when = ""
    if proposal.after is not None and proposal.field is not None:
        value = proposal.after.end if proposal.field is PhaseField.END else proposal.after.start
        when = format_when(value, campaign.timezone, lang)
    return t(lang, f"operations.phase.problem.{problem.value}",
             phase=_phase_label(lang, proposal.phase),
             neighbour=_phase_label(lang, proposal.neighbour), when=when,
             after=_span(lang, campaign, proposal.after) if proposal.after else "")


def confirm_screen(lang: str, campaign: Campaign, proposal: PhaseProposal, target: str) -> Screen:
    text = t(lang, "operations.phase.confirm", phase=_phase_label(lang, proposal.phase),
             field=plain(lang, f"operations.phase.field.{proposal.field.value}"),
             before=_span(lang, campaign, proposal.before),
             after=_span(lang, campaign, proposal.after), zone=campaign.timezone)
    ok = StaffButton(AREA, "ok", (str(campaign.id), proposal.phase.value, proposal.field.value,
                                  target))
    return Screen(text, [[
        InlineKeyboardButton(plain(lang, "operations.button_confirm"), callback_data=ok.encode()),
        InlineKeyboardButton(plain(lang, "operations.button_cancel"),
                             callback_data=StaffButton(AREA, "x").encode()),
    ]])


async def _answer(update: Update, lang: str, campaign: Campaign, proposal: PhaseProposal,
                  target: str | None) -> None:
    if not proposal.ok:
        await show(update, Screen(problem_text(lang, campaign, proposal)))
        return
    if target is None:  # the button carries the exact new time, validated again on Confirm
        value = proposal.after.end if proposal.field is PhaseField.END else proposal.after.start
        target = str(int(value.timestamp()))
    await show(update, confirm_screen(lang, campaign, proposal, target))


@staff_only(Role.ADMIN)
async def phase_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    context.user_data.pop(AWAITING_TIME, None)
    args = context.args or []
    if not args:
        await show(update, pick_phase_screen(lang, campaign))
        return
    phase = phase_word(args[0])
    name = _phase_name(phase)
    if name is None or campaign.phase(name) is None:
        await show(update, Screen(t(lang, "operations.phase.problem.unknown_phase")))
        return
    if len(args) == 1:
        await show(update, pick_field_screen(lang, campaign, phase))
        return
    field = field_word(phase, args[1])
    if len(args) == 2:
        await _ask_time(update, context, turn, phase, field)
        return
    when = parse_time(args[2:], campaign.timezone)
    if when is None:
        await show(update, Screen(t(lang, "operations.phase.bad_time", value=" ".join(args[2:]),
                                    zone=campaign.timezone)))
        return
    proposal = turn.services.phases.propose(campaign, phase, field, when)
    await _answer(update, lang, campaign, proposal, None)


def _phase_name(word: str) -> PhaseName | None:
    try:
        return PhaseName(word)
    except ValueError:
        return None


def _fields(phase: str) -> tuple[str, ...]:
    return ("at",) if phase == PhaseName.AWARDS.value else ("start", "end")


def _button(label: str, action: str, *args: object) -> InlineKeyboardButton:
    data = StaffButton(AREA, action, tuple(str(a) for a in args)).encode()
    return InlineKeyboardButton(label, callback_data=data)


def _cancel(lang: str) -> list[InlineKeyboardButton]:
    return [_button(plain(lang, "operations.button_cancel"), "x")]


def pick_phase_screen(lang: str, campaign: Campaign) -> Screen:
    """Step 1: which phase; each with its times now."""
    phases = [p for p in (campaign.phase(n) for n in PHASE_ORDER) if p is not None]
    lines = [t(lang, "staffux.phase.pick_phase", zone=campaign.timezone)]
    lines += [t(lang, "staffux.phase.phase_line", phase=_phase_label(lang, p.name),
                span=_span(lang, campaign, p)) for p in phases]
    lines += ["", t(lang, "staffux.phase.usage", zone=campaign.timezone)]
    keyboard = [[_button(_phase_label(lang, p.name), "w", campaign.id, p.name.value)]
                for p in phases]
    return Screen("\n".join(lines), [*keyboard, _cancel(lang)])


def pick_field_screen(lang: str, campaign: Campaign, phase: str) -> Screen:
    """Step 2: which boundary of the phase."""
    current = campaign.phase(PhaseName(phase))
    assert current is not None  # checked by the caller
    text = t(lang, "staffux.phase.pick_field", phase=_phase_label(lang, current.name),
             span=_span(lang, campaign, current), zone=campaign.timezone)
    row = [_button(plain(lang, f"operations.phase.field.{field}"), "f", campaign.id, phase,
                   field) for field in _fields(phase)]
    return Screen(text, [row, _cancel(lang)])


def choices(campaign: Campaign, phase: Phase, field: str) -> list[tuple[str, datetime]]:
    """One-tap new times for a boundary: an hour or a day later, or 09:00 / 18:00 on the
    day after it (the campaign's time)."""
    current = phase.end if field == "end" and phase.end is not None else phase.start
    local = current.astimezone(ZoneInfo(campaign.timezone))
    next_day = local + timedelta(days=1)
    return [("plus_hour", current + timedelta(hours=1)),
            ("plus_day", current + timedelta(days=1)),
            ("next_morning", next_day.replace(hour=9, minute=0, second=0, microsecond=0)),
            ("next_evening", next_day.replace(hour=18, minute=0, second=0, microsecond=0))]


async def _ask_time(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                    phase: str, field: str) -> None:
    """Step 3: the new time, by a one-tap choice (only those the rules allow now) or typed."""
    lang, campaign = turn.language, turn.campaign
    current = campaign.phase(PhaseName(phase))
    if current is None or field not in _fields(phase):
        await show(update, Screen(t(lang, "operations.phase.problem.wrong_field",
                                    phase=_phase_label(lang, _phase_name(phase)))))
        return
    context.user_data[AWAITING_TIME] = (campaign.id, phase, field)
    value = current.end if field == "end" and current.end is not None else current.start
    now = turn.services.clock.now()
    example = (max(value, now) + timedelta(days=1)).astimezone(ZoneInfo(campaign.timezone))
    text = t(lang, "staffux.phase.ask_time", phase=_phase_label(lang, current.name),
             field=plain(lang, f"operations.phase.field.{field}"),
             current=format_when(value, campaign.timezone, lang),
             example=example.strftime("%Y-%m-%d %H:00"), zone=campaign.timezone)
    keyboard = []
    for name, when in choices(campaign, current, field):
        if not turn.services.phases.propose(campaign, phase, field, when).ok:
            continue  # in the past, or overlapping a neighbour: not offered
        label = plain(lang, f"staffux.phase.choice.{name}",
                      when=format_when(when, campaign.timezone, lang))
        keyboard.append([_button(label, "t", campaign.id, phase, field,
                                 int(when.timestamp()))])
    await show(update, Screen(text, [*keyboard, _cancel(lang)]))


async def time_typed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The new time typed after the boundary was chosen."""
    waiting = context.user_data.get(AWAITING_TIME)
    user = update.effective_user
    if waiting is None or user is None or not await services_of(context).staff.allowed(
            CHANNEL, str(user.id), (Role.ADMIN,)):
        context.user_data.pop(AWAITING_TIME, None)  # the role was revoked meanwhile
        await on_text(update, context)
        return
    turn = await begin_turn(update, context)
    campaign_id, phase, field = waiting
    campaign = turn.campaign
    lang = turn.language
    if campaign is None or campaign.id != campaign_id:
        context.user_data.pop(AWAITING_TIME, None)
        await show(update, Screen(t(lang, "expired")))
        return
    text = (update.effective_message.text or "").strip()
    when = parse_time(text.split(), campaign.timezone)
    if when is None:  # still waiting: the format again
        await show(update, Screen(t(lang, "operations.phase.bad_time", value=text[:40],
                                    zone=campaign.timezone)))
        return
    proposal = turn.services.phases.propose(campaign, phase, field, when)
    if proposal.ok:
        context.user_data.pop(AWAITING_TIME, None)
    await _answer(update, lang, campaign, proposal, None)


@staff_only(Role.ADMIN)
async def extend_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    args = context.args or []
    if len(args) != 2:
        await show(update, Screen(t(lang, "operations.phase.extend_usage")))
        return
    duration = parse_duration(args[1])
    if duration is None:
        await show(update, Screen(t(lang, "operations.phase.bad_duration", value=args[1])))
        return
    proposal = turn.services.phases.extend(campaign, phase_word(args[0]), duration)
    await _answer(update, lang, campaign, proposal, None)


@staff_only(Role.ADMIN)
async def close_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    args = context.args or []
    if len(args) != 1:
        await show(update, Screen(t(lang, "operations.phase.close_usage")))
        return
    proposal = turn.services.phases.close(campaign, phase_word(args[0]))
    await _answer(update, lang, campaign, proposal, CLOSE_NOW)


@staff_only(Role.ADMIN)
async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    turn = await begin_turn(update, context)
    lang = turn.language
    button = StaffButton.decode(query.data)
    if button is not None and button.action == "x":
        context.user_data.pop(AWAITING_TIME, None)
        await query.answer()
        await show(update, Screen(t(lang, "operations.cancelled")))
        return
    if button is not None and button.action in ("w", "f", "t"):
        await _walk(update, context, turn, button)
        return
    campaign_id = button.int_arg(0) if button and button.action == "ok" else None
    target = button.args[3] if campaign_id is not None and len(button.args) == 4 else None
    campaign = turn.campaign
    # Only the current campaign's buttons count: an old Confirm must not move another campaign.
    if (target is None or campaign is None or campaign.id != campaign_id
            or not (target == CLOSE_NOW or target.isdigit())):
        await query.answer(plain(lang, "expired"), show_alert=True)
        return
    try:
        when = None if target == CLOSE_NOW else datetime.fromtimestamp(int(target), UTC)
    except (OverflowError, ValueError, OSError):  # a forged, impossible instant
        await query.answer(plain(lang, "expired"), show_alert=True)
        return
    await query.answer()
    proposal = await turn.services.phases.apply(
        campaign.id, button.args[1], button.args[2], when,
        actor(CHANNEL, str(update.effective_user.id)))
    if not proposal.ok:
        text = (t(lang, "operations.phase.problem.unknown_campaign")
                if proposal.problem is PhaseProblem.UNKNOWN_CAMPAIGN
                else problem_text(lang, campaign, proposal))
        await show(update, Screen(text))
        return
    await show(update, Screen(t(lang, "operations.phase.applied",
                                phase=_phase_label(lang, proposal.phase),
                                after=_span(lang, campaign, proposal.after))))


async def _walk(update: Update, context: ContextTypes.DEFAULT_TYPE, turn: Turn,
                button: StaffButton) -> None:
    """A press in the /phase walk-through: checked against the current campaign again."""
    query = update.callback_query
    lang, campaign = turn.language, turn.campaign
    args = button.args
    phase = args[1] if len(args) > 1 else ""
    name = _phase_name(phase)
    sizes = {"w": 2, "f": 3, "t": 4}
    if (campaign is None or button.int_arg(0) != campaign.id or len(args) != sizes[button.action]
            or name is None or campaign.phase(name) is None
            or (button.action != "w" and args[2] not in _fields(phase))
            or (button.action == "t" and not (args[3].isdigit() and len(args[3]) <= 11))):
        await query.answer(plain(lang, "expired"), show_alert=True)
        return
    await query.answer()
    if button.action == "w":
        await show(update, pick_field_screen(lang, campaign, phase))
    elif button.action == "f":
        await _ask_time(update, context, turn, phase, args[2])
    else:
        context.user_data.pop(AWAITING_TIME, None)
        when = datetime.fromtimestamp(int(args[3]), UTC)
        await _answer(update, lang, campaign,
                      turn.services.phases.propose(campaign, phase, args[2], when), None)


async def _elsewhere(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Another button pressed: a time is no longer awaited, so a reason or broadcast text
    typed next goes to its own flow (commands clear it in handlers/telegram/setup.py)."""
    context.user_data.pop(AWAITING_TIME, None)


def register(application: Application) -> None:
    # Group -2: before setup.py's group -1, which takes every button for itself.
    application.add_handler(CallbackQueryHandler(
        _elsewhere, pattern=lambda data: not str(data or "").startswith("Sp:")), group=-2)
    application.add_handler(CommandHandler("phase", phase_command, filters=PRIVATE))
    application.add_handler(CommandHandler("extend", extend_command, filters=PRIVATE))
    application.add_handler(CommandHandler("close", close_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(on_button, pattern=staff_pattern(AREA)))
    application.add_handler(MessageHandler(awaiting_text(application, AWAITING_TIME),
                                           time_typed))

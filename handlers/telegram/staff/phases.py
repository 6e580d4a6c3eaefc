"""/phase, /extend and /close: admins move a phase's times from the chat. Each shows before and
after with Confirm / Cancel; nothing changes until Confirm, which validates again."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.domain import Campaign, Phase, Role
from bot.i18n import format_when, plain, t
from bot.services.phases import PhaseField, PhaseProblem, PhaseProposal
from bot.services.staff import actor
from handlers.telegram.common import CHANNEL, PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff.access import StaffButton, campaign_turn, staff_only, staff_pattern

AREA = "p"
CLOSE_NOW = "now"
DURATION = re.compile(r"^(\d{1,4})([mhd])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


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
    args = context.args or []
    if len(args) < 3:
        await show(update, Screen(t(lang, "operations.phase.usage", zone=campaign.timezone)))
        return
    when = parse_time(args[2:], campaign.timezone)
    if when is None:
        await show(update, Screen(t(lang, "operations.phase.bad_time", value=" ".join(args[2:]),
                                    zone=campaign.timezone)))
        return
    proposal = turn.services.phases.propose(campaign, args[0].lower(), args[1].lower(), when)
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
    proposal = turn.services.phases.extend(campaign, args[0].lower(), duration)
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
    proposal = turn.services.phases.close(campaign, args[0].lower())
    await _answer(update, lang, campaign, proposal, CLOSE_NOW)


@staff_only(Role.ADMIN)
async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    turn = await begin_turn(update, context)
    lang = turn.language
    button = StaffButton.decode(query.data)
    if button is not None and button.action == "x":
        await query.answer()
        await show(update, Screen(t(lang, "operations.cancelled")))
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


def register(application: Application) -> None:
    application.add_handler(CommandHandler("phase", phase_command, filters=PRIVATE))
    application.add_handler(CommandHandler("extend", extend_command, filters=PRIVATE))
    application.add_handler(CommandHandler("close", close_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(on_button, pattern=staff_pattern(AREA)))

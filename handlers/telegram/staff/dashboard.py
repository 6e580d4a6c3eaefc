"""/admin (the dashboard, with buttons into the other staff functions) and /tally (the live
count). The figures come from TallyService; this module only lays them out."""

from __future__ import annotations

from datetime import date, datetime

from telegram import InlineKeyboardButton, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.domain import CaseStatus, Role
from bot.i18n import Safe, format_when, plain, t
from bot.services.tally import Dashboard, Tally
from bot.signal_texts import signal_line
from handlers.telegram.common import PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff import audit, broadcast, moderation, results
from handlers.telegram.staff.access import StaffButton, campaign_turn, staff_only, staff_pattern
from handlers.telegram.staff.exports import send_export

AREA = "rp"  # reports
MAX_TEXT = 4096
CASE_BUDGET = 3600  # leave room for the "… and N more" line
MAX_SET_ASIDE = 10
MAX_UPCOMING = 5
BAR_WIDTH = 10
# Buttons for functions other staff modules own: they tell the admin which command to send.
# Dashboard buttons that open another staff function, by the function's command handler
# (each re-checks its own role).
OPENS = {
    "results": results.results_command,
    "moderate": moderation.moderate_command,
    "broadcast": broadcast.broadcast_command,
    "audit": audit.audit_command,
}


def _day(day: date, language: str) -> str:
    return plain(language, "reports.dashboard.day", year=day.year, month=day.month, day=day.day)


def dashboard_screen(title: str, board: Dashboard, timezone: str, lang: str) -> Screen:
    counts = {status.value: board.cases_by_status.get(status, 0) for status in CaseStatus}
    lines = [
        t(lang, "reports.dashboard.title", title=title),
        t(lang, "reports.dashboard.people", citizens=board.citizens,
          subscribers=board.subscribers),
        t(lang, "reports.dashboard.cases", **counts),
        t(lang, "reports.dashboard.votes", votes=board.votes),
    ]
    lines += [t(lang, "reports.dashboard.per_day", day=_day(day, lang), votes=n)
              for day, n in board.daily[-7:]]
    if board.current_phase is not None:
        phase = t(lang, f"phase.name.{board.current_phase.name.value}")
        if board.next_boundary is not None:
            lines.append(t(lang, "reports.dashboard.now_open", phase=Safe(phase),
                           when=format_when(board.next_boundary, timezone, lang)))
        else:
            lines.append(t(lang, "reports.dashboard.now_open_no_end", phase=Safe(phase)))
    elif board.next_phase is not None and board.next_boundary is not None:
        lines.append(t(lang, "reports.dashboard.next",
                       phase=Safe(t(lang, f"phase.name.{board.next_phase.name.value}")),
                       when=format_when(board.next_boundary, timezone, lang)))
    if board.finished:
        lines.append(t(lang, "reports.dashboard.finished"))
    if board.upcoming:
        lines.append(t(lang, "reports.dashboard.upcoming_header"))
        for item in board.upcoming[:MAX_UPCOMING]:
            lines.append(t(lang, "reports.dashboard.upcoming_item",
                           when=format_when(item.due_at, timezone, lang),
                           kind=Safe(t(lang, f"announce.kind.{item.kind.value}"))))
        if len(board.upcoming) > MAX_UPCOMING:
            lines.append(t(lang, "reports.dashboard.upcoming_more",
                           count=len(board.upcoming) - MAX_UPCOMING))
    else:
        lines.append(t(lang, "reports.dashboard.no_upcoming"))

    def button(name: str, action: str, *args: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(plain(lang, f"reports.button.{name}"),
                                    callback_data=StaffButton(AREA, action, args).encode())

    keyboard = [
        [button("tally", "tally"), button("results", "open", "results")],
        [button("moderate", "open", "moderate"), button("export", "export")],
        [button("broadcast", "open", "broadcast"), button("audit", "open", "audit")],
    ]
    return Screen("\n".join(lines), keyboard)


MAX_SIGNALS = 10


def signal_lines(tally: Tally, lang: str) -> list[str]:
    """Unusual activity worth a look (signals only), or one line saying there is none."""
    if not tally.signals:
        return [t(lang, "signals.none")]
    zone = tally.timezone
    lines = [t(lang, "signals.header")]
    for signal in tally.signals[:MAX_SIGNALS]:
        lines.append(signal_line(signal, zone, lang, t))
    if len(tally.signals) > MAX_SIGNALS:
        lines.append(t(lang, "reports.tally.more_cases",
                       count=len(tally.signals) - MAX_SIGNALS))
    return lines


def tally_screen(title: str, tally: Tally, now: datetime, lang: str) -> Screen:
    zone = tally.timezone
    head = [
        t(lang, "reports.tally.title", title=title),
        t(lang, "reports.tally.summary", votes=tally.total_votes, voters=tally.voters,
          citizens=tally.citizens, turnout=f"{tally.turnout * 100:.1f}"),
        t(lang, "staffux.tally.basis"),
        "",
    ]
    tail = ["", *signal_lines(tally, lang)]
    if tally.set_aside:
        tail += ["", t(lang, "reports.tally.set_aside_header")]
        tail += [t(lang, "reports.tally.set_aside_line", case=item.case.text(lang).title,
                   status=Safe(t(lang, f"reports.status.{item.case.status.value}")),
                   votes=item.votes)
                 for item in tally.set_aside[:MAX_SET_ASIDE]]
        if len(tally.set_aside) > MAX_SET_ASIDE:
            tail.append(t(lang, "reports.tally.more_cases",
                          count=len(tally.set_aside) - MAX_SET_ASIDE))
    if tally.districts:
        tail += ["", t(lang, "staffux.tally.district_header")]
        tail += [t(lang, "staffux.tally.district_line", district=option.name.get(lang),
                   votes=n, share=round(100 * n / tally.total_votes) if tally.total_votes else 0)
                 for option, n in tally.districts]
    recent = tally.last_hours(now, 24)
    tail += ["", t(lang, "staffux.tally.hourly_header", zone=zone)]
    peak = max((n for _, n in recent), default=0)
    if not recent:
        tail.append(t(lang, "staffux.tally.not_open_yet"))
    elif peak == 0:
        tail.append(t(lang, "reports.tally.no_recent"))
    else:
        for start, n in recent:
            bar = "▇" * round(BAR_WIDTH * n / peak) if n else "·"
            tail.append(t(lang, "reports.tally.hour_line",
                          hour=format_when(start, zone, lang), bar=bar, votes=n))
    budget = min(CASE_BUDGET, MAX_TEXT - 200 - len("\n".join(head + tail)))
    body: list[str] = []
    used = 0
    for position, item in enumerate(tally.cases, start=1):
        line = t(lang, "reports.tally.case_line", rank=position,
                 case=item.case.text(lang).title, votes=item.votes)
        if used + len(line) + 1 > budget:
            body.append(t(lang, "reports.tally.more_cases",
                          count=len(tally.cases) - position + 1))
            break
        body.append(line)
        used += len(line) + 1
    if not tally.cases:
        body.append(t(lang, "reports.tally.no_cases"))
    return Screen("\n".join(head + body + tail)[:MAX_TEXT])


async def _show_dashboard(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await campaign_turn(update, context)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    board = await turn.services.tally.dashboard(campaign)
    await show(update, dashboard_screen(campaign.title.get(lang), board, campaign.timezone,
                                        lang))


async def _show_tally(update: Update, context: ContextTypes.DEFAULT_TYPE,
                      new_message: bool = False) -> None:
    turn = await campaign_turn(update, context, new_message=new_message)
    if turn is None:
        return
    lang, campaign = turn.language, turn.campaign
    tally = await turn.services.tally.tally(campaign)
    screen = tally_screen(campaign.title.get(lang), tally, turn.services.clock.now(), lang)
    await show(update, screen, new_message=new_message)


@staff_only(Role.ADMIN)
async def admin_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _show_dashboard(update, context)


@staff_only(Role.MODERATOR)
async def tally_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _show_tally(update, context)


@staff_only(Role.ADMIN)
async def on_dashboard_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    button = StaffButton.decode(query.data)
    turn_language = (await begin_turn(update, context)).language
    if button is None:
        await query.answer(plain(turn_language, "expired"), show_alert=True)
        return
    if button.action == "tally" and not button.args:
        await query.answer()
        await _show_tally(update, context, new_message=True)
    elif button.action == "export" and not button.args:
        await query.answer()
        await send_export(update, context)
    elif button.action == "open" and len(button.args) == 1 and button.args[0] in OPENS:
        await query.answer()
        context.args = []
        await OPENS[button.args[0]](update, context)
    else:
        await query.answer(plain(turn_language, "expired"), show_alert=True)


def register(application: Application) -> None:
    application.add_handler(CommandHandler("admin", admin_command, filters=PRIVATE))
    application.add_handler(CommandHandler("tally", tally_command, filters=PRIVATE))
    application.add_handler(CallbackQueryHandler(on_dashboard_button,
                                                 pattern=staff_pattern(AREA)))

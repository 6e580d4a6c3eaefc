"""/audit: admins read the latest entries of the audit log, in the campaign's time."""

from __future__ import annotations

import html

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.domain import Role
from bot.i18n import format_when, t
from bot.services.audit_log import AuditEntry
from bot.text import shorten
from handlers.telegram.common import PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff.access import staff_only

LATEST = 20
DETAIL_LENGTH = 120
MESSAGE_LIMIT = 4096
DEFAULT_ZONE = "UTC"


def entry_line(entry: AuditEntry, timezone: str, lang: str) -> str:
    detail = ", ".join(f"{key}={value}" for key, value in entry.detail.items()
                       if value not in (None, "", [], {}))
    when = format_when(entry.at, timezone, lang)
    line = f"{when} · {html.escape(entry.actor)} · <b>{html.escape(entry.action)}</b>"
    if detail:
        line += f"\n   {html.escape(shorten(detail, DETAIL_LENGTH), quote=False)}"
    return line


@staff_only(Role.ADMIN)
async def audit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    lang = turn.language
    zone = turn.campaign.timezone if turn.campaign else DEFAULT_ZONE
    entries = await turn.services.audit.latest(LATEST)
    if not entries:
        await show(update, Screen(t(lang, "operations.audit.empty")))
        return
    text = t(lang, "operations.audit.header", count=len(entries), zone=zone)
    for entry in entries:
        line = entry_line(entry, zone, lang)
        if len(text) + 1 + len(line) > MESSAGE_LIMIT:
            break
        text += "\n" + line
    await show(update, Screen(text))


def register(application: Application) -> None:
    application.add_handler(CommandHandler("audit", audit_command, filters=PRIVATE))

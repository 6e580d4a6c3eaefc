"""/audit: admins read the latest entries of the audit log, in the campaign's time;
`/audit <kind>` only one kind of entry (bot.services.audit_log.AUDIT_KINDS)."""

from __future__ import annotations

import html

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.domain import Role
from bot.i18n import format_when, t
from bot.services.audit_log import AUDIT_KINDS, AuditEntry
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
    if entry.repeats > 1:
        line += " " + t(lang, "staff.audit.repeats", count=f"{entry.repeats:,}")
    if detail:
        line += f"\n   {html.escape(shorten(detail, DETAIL_LENGTH), quote=False)}"
    return line


def usage(lang: str) -> str:
    lines = [t(lang, "staff.audit.usage")]
    lines += [t(lang, "staff.audit.kind_line", kind=kind,
                about=t(lang, f"staff.audit.about.{kind}")) for kind in AUDIT_KINDS]
    return "\n".join(lines)


@staff_only(Role.ADMIN)
async def audit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    lang = turn.language
    args = context.args or []
    kind = args[0].lower() if len(args) == 1 else None
    if args and kind not in AUDIT_KINDS:
        await show(update, Screen(usage(lang)))
        return
    zone = turn.campaign.timezone if turn.campaign else DEFAULT_ZONE
    entries = await turn.services.audit.latest(LATEST, kind=kind)
    label = t(lang, f"staff.audit.kind.{kind}") if kind else ""
    if not entries:
        empty = (t(lang, "staff.audit.empty_kind", label=label) if kind
                 else t(lang, "operations.audit.empty"))
        await show(update, Screen(empty))
        return
    text = (t(lang, "staff.audit.header_kind", label=label, count=len(entries), zone=zone)
            if kind else t(lang, "operations.audit.header", count=len(entries), zone=zone))
    # Without a kind, a last line says how to narrow the list; room is kept for it.
    footer = "" if kind else "\n\n" + t(lang, "staff.audit.hint", kinds=" · ".join(AUDIT_KINDS))
    for entry in entries:
        line = entry_line(entry, zone, lang)
        if len(text) + 1 + len(line) + len(footer) > MESSAGE_LIMIT:
            break
        text += "\n" + line
    await show(update, Screen(text + footer))


def register(application: Application) -> None:
    application.add_handler(CommandHandler("audit", audit_command, filters=PRIVATE))

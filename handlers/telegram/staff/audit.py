"""/audit: admins read the latest entries of the audit log, in the campaign's time;
`/audit <kind>` only one kind of entry (bot.services.audit_log.AUDIT_KINDS)."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.audit_texts import what, who
from bot.domain import LANGUAGES, Role
from bot.i18n import format_when, plain, t
from bot.services.audit_log import AUDIT_KINDS, AuditEntry
from handlers.telegram.common import PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff.access import staff_only

LATEST = 20
MESSAGE_LIMIT = 4096
DEFAULT_ZONE = "UTC"


def entry_line(entry: AuditEntry, timezone: str, lang: str,
               usernames: dict[str, str] | None = None) -> str:
    """One entry as a sentence: when (the campaign's time), who, what."""
    line = t(lang, "staffux.audit.line", when=format_when(entry.at, timezone, lang),
             who=who(entry.actor, usernames or {}, lang),
             what=what(entry, usernames or {}, timezone, lang))
    if entry.repeats > 1:
        line += " " + t(lang, "staff.audit.repeats", count=f"{entry.repeats:,}")
    return line


def usage(lang: str) -> str:
    lines = [t(lang, "staff.audit.usage")]
    lines += [t(lang, "staff.audit.kind_line", kind=plain(lang, f"staff.audit.word.{kind}"),
                about=t(lang, f"staff.audit.about.{kind}")) for kind in AUDIT_KINDS]
    return "\n".join(lines)


def kind_named(word: str) -> str | None:
    """The kind of entries a word after /audit asks for, in any language ("투표", "votes")."""
    word = word.casefold()
    for kind in AUDIT_KINDS:
        if word == kind or any(word == plain(lang, f"staff.audit.word.{kind}").casefold()
                               for lang in LANGUAGES):
            return kind
    return None


@staff_only(Role.ADMIN)
async def audit_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    turn = await begin_turn(update, context)
    lang = turn.language
    args = context.args or []
    kind = kind_named(args[0]) if len(args) == 1 else None
    if args and kind is None:
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
    words = " · ".join(plain(lang, f"staff.audit.word.{kind}") for kind in AUDIT_KINDS)
    footer = "" if kind else "\n\n" + t(lang, "staff.audit.hint", kinds=words)
    usernames = await turn.services.audit.usernames(entries)
    for entry in entries:
        line = entry_line(entry, zone, lang, usernames)
        if len(text) + 1 + len(line) + len(footer) > MESSAGE_LIMIT:
            break
        text += "\n" + line
    await show(update, Screen(text + footer))


def register(application: Application) -> None:
    application.add_handler(CommandHandler("audit", audit_command, filters=PRIVATE))

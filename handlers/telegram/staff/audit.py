"""/audit: admins read the latest entries of the audit log, in the campaign's time;
`/audit <kind>` only one kind of entry (bot.services.audit_log.AUDIT_KINDS)."""

from __future__ import annotations

from datetime import datetime

from telegram import Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.domain import LANGUAGES, Role
from bot.i18n import format_when, plain, t
from bot.services.audit_log import AUDIT_KINDS, CHAT_CHANNELS, AuditEntry
from bot.text import shorten
from handlers.telegram.common import PRIVATE, Screen, begin_turn, show
from handlers.telegram.staff.access import staff_only

LATEST = 20
DETAIL_LENGTH = 120
MESSAGE_LIMIT = 4096
DEFAULT_ZONE = "UTC"


def _who(actor: str, usernames: dict[str, str], lang: str) -> str:
    """A person as staff know them: @username, else the channel and number; the command line
    by its login; citizens by their anonymous number."""
    if actor in usernames:
        return f"@{usernames[actor]}"
    kind, _, rest = actor.partition(":")
    if kind in CHAT_CHANNELS and rest:
        return plain(lang, "staffux.audit.who.account",
                     channel=plain(lang, f"staffux.audit.channel.{kind}"), id=rest)
    if kind == "cli":
        return (plain(lang, "staffux.audit.who.cli", login=rest) if rest
                else plain(lang, "staffux.audit.who.cli_plain"))
    if kind == "citizen" and rest:
        return plain(lang, "staffux.audit.who.citizen", id=rest)
    if actor == "system":
        return plain(lang, "staffux.audit.who.system")
    return actor


def _instant(value: object, timezone: str, lang: str) -> str:
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    return format_when(when, timezone, lang)


def _phase_change(detail: dict, timezone: str, lang: str) -> dict[str, str]:
    field = str(detail.get("field", ""))
    key = "end" if field == "end" else "start"  # awards' one instant is stored as its start
    before, after = detail.get("before") or {}, detail.get("after") or {}
    return {"phase": plain(lang, f"phase.name.{detail.get('phase')}"),
            "field": plain(lang, f"operations.phase.field.{field}"),
            "before": _instant(before.get(key), timezone, lang),
            "after": _instant(after.get(key), timezone, lang)}


def _count(value: object) -> int:
    return len(value) if isinstance(value, list | tuple) else int(value or 0)  # type: ignore[call-overload]


def what(entry: AuditEntry, usernames: dict[str, str], timezone: str, lang: str) -> str:
    """What the entry records, as a short sentence (plain text, escaped by the caller)."""
    d = entry.detail
    key = f"staffux.audit.action.{entry.action}"
    try:
        if entry.action == "phase.changed":
            return plain(lang, key, **_phase_change(d, timezone, lang))
        if entry.action == "campaign.loaded":
            return plain(lang, key, added=_count(d.get("added")),
                         updated=_count(d.get("updated")), removed=_count(d.get("removed")))
        if entry.action in ("case.approved", "case.hidden", "case.submitted"):
            return plain(lang, key, case=d.get("case_id", "?"))
        if entry.action == "case.rejected":
            return plain(lang, key, case=d.get("case_id", "?"),
                         reason=shorten(str(d.get("reason") or ""), DETAIL_LENGTH))
        if entry.action == "score.set":
            before = d.get("before")
            return plain(lang, key if before is None else f"{key}_again", case=d.get("case_id"),
                         criterion=d.get("criterion"), after=_number(d.get("after")),
                         before=_number(before))
        if entry.action in ("staff.granted", "staff.revoked"):
            return plain(lang, key, target=_who(str(d.get("target")), usernames, lang),
                         role=plain(lang, f"staff.role.{d.get('role')}"))
        if entry.action == "broadcast.sent":
            return plain(lang, key, count=d.get("recipients", 0),
                         text=shorten(str(d.get("text") or ""), 60))
        if entry.action == "staff.refused":
            return plain(lang, key, attempt=shorten(str(d.get("attempt") or ""), 60))
        if entry.action == "vote.changed":
            return plain(lang, key, before=d.get("from_case"), after=d.get("to_case"))
        if entry.action == "codes.issued":
            return plain(lang, key, count=d.get("count", 0), batch=d.get("batch", ""))
        if entry.action in ("results.published", "campaign.purged", "citizen.forgotten",
                            "clock.stepped"):
            return plain(lang, key)
    except (KeyError, TypeError, ValueError):  # an entry written by an older version
        pass
    detail = ", ".join(f"{k}={v}" for k, v in d.items() if v not in (None, "", [], {}))
    return shorten(f"{entry.action} {detail}".strip(), DETAIL_LENGTH)


def _number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def entry_line(entry: AuditEntry, timezone: str, lang: str,
               usernames: dict[str, str] | None = None) -> str:
    """One entry as a sentence: when (the campaign's time), who, what."""
    line = t(lang, "staffux.audit.line", when=format_when(entry.at, timezone, lang),
             who=_who(entry.actor, usernames or {}, lang),
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

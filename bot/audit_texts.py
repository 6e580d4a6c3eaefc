"""Audit entries as staff read them, in any channel: who did it (@username, the channel and
number, the command line's login) and what, as one short sentence from the catalog."""

from __future__ import annotations

from datetime import datetime

from bot.i18n import format_when, plain
from bot.services.audit_log import CHAT_CHANNELS, AuditEntry
from bot.text import shorten

DETAIL_LENGTH = 120


def who(actor: str, usernames: dict[str, str], lang: str) -> str:
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
            return plain(lang, key, target=who(str(d.get("target")), usernames, lang),
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
        if entry.action == "export.made":
            return plain(lang, key, count=_count(d.get("files")))
        if entry.action == "staff.invited":
            return plain(lang, key, role=plain(lang, f"staff.role.{d.get('role')}"))
        if entry.action in ("web.link_issued", "web.links_revoked"):
            return plain(lang, key, target=who(str(d.get("target")), usernames, lang),
                         count=d.get("count", 1))
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

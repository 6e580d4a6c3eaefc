"""The audit log at a desk: the newest entries first, in the campaign's time, filtered by kind
as `/audit <kind>` is, each told as the chat tells it (bot/audit_texts.py)."""

from __future__ import annotations

from aiohttp import web

from bot.audit_texts import what, who
from bot.domain import Role
from bot.services.audit_log import AUDIT_KINDS
from handlers.web.auth import staff_page
from handlers.web.console.common import current_campaign, form_id
from handlers.web.rendering import language_of, render, services_of

PATH = "/staff/audit"
SHOWN = 100  # entries on a page; "older" shows the next page
DEFAULT_ZONE = "Asia/Seoul"


@staff_page(Role.ADMIN)
async def audit_page(request: web.Request) -> web.StreamResponse:
    kind = request.query.get("kind") or None
    if kind is not None and kind not in AUDIT_KINDS:
        kind = None
    services = services_of(request)
    campaign = await current_campaign(request)
    zone = campaign.timezone if campaign else DEFAULT_ZONE
    lang = language_of(request)
    before = form_id(request.query.get("before", ""))
    entries = await services.audit.latest(limit=SHOWN + 1, kind=kind, before=before)
    older = entries[SHOWN - 1].id if len(entries) > SHOWN else None
    entries = entries[:SHOWN]
    usernames = await services.audit.usernames(entries)
    lines = [(entry, who(entry.actor, usernames, lang), what(entry, usernames, zone, lang))
             for entry in entries]
    return render(request, "console/audit.html", lines=lines, kinds=list(AUDIT_KINDS),
                  kind=kind or "", zone=zone, older=older, paged=before is not None)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, audit_page)

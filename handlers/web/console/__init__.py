"""The staff console: one module per page, each adding its routes under /staff. Every page
and form is guarded by `staff_page(role)` (handlers/web/auth.py), as the chat commands are."""

from __future__ import annotations

from aiohttp import web

from handlers.web.console import (
    audit,
    broadcast,
    calendar,
    dashboard,
    exports,
    judging,
    moderation,
    photos,
    results,
    roles,
)

PAGES = (dashboard, moderation, photos, judging, calendar, results, broadcast, exports, audit,
         roles)


def add_console_routes(app: web.Application) -> None:
    for page in PAGES:
        page.add_routes(app)

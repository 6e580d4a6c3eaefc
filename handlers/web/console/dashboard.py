"""The dashboard: the first page after signing in."""

from __future__ import annotations

from aiohttp import web

from bot.domain import Role
from handlers.web.auth import staff_page
from handlers.web.rendering import render


@staff_page(Role.JUDGE, Role.MODERATOR)
async def dashboard(request: web.Request) -> web.StreamResponse:
    return render(request, "console/dashboard.html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/staff", dashboard)

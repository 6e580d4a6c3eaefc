"""The public pages (no sign-in): the campaign, its cases, the results, the receipts."""

from __future__ import annotations

from aiohttp import web

from handlers.web.rendering import render


async def index(request: web.Request) -> web.StreamResponse:
    return render(request, "public/index.html")


def add_public_routes(app: web.Application) -> None:
    app.router.add_get("/", index)

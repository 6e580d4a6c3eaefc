"""The web's routes on the one HTTP server: the public pages, the staff console, the sign-in
links, the stylesheet; and the headers every page carries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from telegram import Bot

from bot.services import Services
from bot.settings import Settings
from handlers.web import public
from handlers.web.auth import add_auth_routes, load_session
from handlers.web.console import add_console_routes
from handlers.web.console.photos import add_photos, telegram_bot
from handlers.web.rendering import SERVICES, STATIC, WEB_SETTINGS, render, setup_templates

# No inline script or style, nothing from elsewhere but pictures (case pictures may be
# https:// addresses), no framing, forms only to ourselves.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' https: data:; "
                           "script-src 'self'; style-src 'self'; frame-ancestors 'none'; "
                           "form-action 'self'; base-uri 'none'")


@web.middleware
async def security_headers(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                           ) -> web.StreamResponse:
    if request.method == "POST" and not _same_origin(request):
        # A form posted from another site (the form token stops it too; this also stops a
        # sign-in forced from elsewhere, which has no token yet).
        return render(request, "refused.html", status=403, needed="", stale_form=True)
    try:
        response = await handler(request)
    except web.HTTPNotFound:
        response = render(request, "not_found.html", status=404)
    if response.content_type == "text/html":
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.path.startswith("/staff"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def _same_origin(request: web.Request) -> bool:
    """False only when the browser says the request comes from another origin."""
    origin = request.headers.get("Origin")
    if origin is None or request.path.startswith("/kakao/"):
        return True
    public_url = request.app[WEB_SETTINGS].chamyeo_public_url
    allowed = {f"{scheme}://{request.host}" for scheme in ("http", "https")}
    if public_url:
        allowed.add(public_url.rstrip("/"))
    return origin in allowed


def add_web_routes(app: web.Application, services: Services, settings: Settings,
                   telegram: Bot | None = None) -> None:
    """`telegram`: the bot that fetches photos sent in on Telegram for staff (default: one
    made from TELEGRAM_BOT_TOKEN, when this server has it)."""
    app[SERVICES] = services
    app[WEB_SETTINGS] = settings
    setup_templates(app)
    app.middlewares.append(security_headers)
    app.middlewares.append(load_session)
    app.router.add_static("/static/", STATIC)
    add_auth_routes(app)
    add_console_routes(app)
    add_photos(app, telegram or telegram_bot(settings))
    public.add_public_routes(app)

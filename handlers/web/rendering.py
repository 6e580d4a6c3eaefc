"""Rendering pages: the templates, the language a page is shown in, and what every template
can use (`_` for a catalog text, the session, the form token, the public address)."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.domain import LANGUAGES, Role
from bot.i18n import format_when, plain
from bot.services import Services
from bot.services.staff import IMPLIED
from bot.services.web_access import WebSession
from bot.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

SERVICES = web.AppKey("web_services", Services)
WEB_SETTINGS = web.AppKey("web_settings", Settings)
LANGUAGE_COOKIE = "chamyeo_lang"
# The signed-in staff member of a console request (absent on public pages, or signed out).
SESSION_KEY = web.RequestKey("web_session", WebSession)


# The console's menu: (path, catalog key, roles that may open it), in the order shown.
CONSOLE_MENU: tuple[tuple[str, str, tuple[Role, ...]], ...] = (
    ("/staff", "web.menu.dashboard", (Role.JUDGE, Role.MODERATOR)),
    ("/staff/moderation", "web.menu.moderation", (Role.MODERATOR,)),
    ("/staff/judging", "web.menu.judging", (Role.JUDGE,)),
    ("/staff/calendar", "web.menu.calendar", (Role.ADMIN,)),
    ("/staff/results", "web.menu.results", (Role.ADMIN,)),
    ("/staff/broadcast", "web.menu.broadcast", (Role.ADMIN,)),
    ("/staff/exports", "web.menu.exports", (Role.ADMIN,)),
    ("/staff/audit", "web.menu.audit", (Role.ADMIN,)),
    ("/staff/roles", "web.menu.roles", (Role.ADMIN,)),
)


def can(session: WebSession | None, roles: tuple[Role, ...]) -> bool:
    """Whether the session's account holds (or is implied) one of `roles`."""
    if session is None or not session.roles:
        return False
    able = set().union(*(IMPLIED[r] for r in session.roles))
    return any(role in able for role in roles)


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["LANGUAGES"] = LANGUAGES
    env.globals["static"] = static_url


@functools.cache
def static_url(name: str) -> str:
    """/static/NAME?v=DIGEST: cached for a year, and a new address when the file changes."""
    body = (STATIC / name).read_bytes()
    return f"/static/{name}?v={hashlib.sha256(body).hexdigest()[:10]}"


def services_of(request: web.Request) -> Services:
    return request.app[SERVICES]


def session_of(request: web.Request) -> WebSession | None:
    return request.get(SESSION_KEY)


def language_of(request: web.Request) -> str:
    """?lang= (kept in a cookie), else the cookie, else the browser's first language we
    have, else the default."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANGUAGE_COOKIE)):
        if candidate in LANGUAGES:
            return str(candidate)
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().split("-")[0].lower()
        if code in LANGUAGES:
            return code
    return request.app[WEB_SETTINGS].chamyeo_default_language


def render(request: web.Request, template: str, status: int = 200,
           **context: Any) -> web.Response:
    language = language_of(request)
    session = session_of(request)

    def text(key: str, **params: object) -> str:
        return plain(language, key, **params)

    def when(instant: datetime | None, timezone: str = "Asia/Seoul") -> str:
        return "" if instant is None else format_when(instant, timezone, language)

    def with_query(**changes: object) -> str:
        """This page's address with some query parameters changed (None removes one)."""
        query = {k: v for k, v in request.query.items()}
        for key, value in changes.items():
            if value is None or value == "":
                query.pop(key, None)
            else:
                query[key] = str(value)
        return request.path + ("?" + urlencode(query) if query else "")

    menu = [(path, key, path == request.path) for path, key, roles in CONSOLE_MENU
            if can(session, roles)]
    response = aiohttp_jinja2.render_template(template, request, {
        "menu": menu,
        "_": text, "lang": language, "when": when, "with_query": with_query,
        "session": session, "csrf": session.csrf if session else "",
        "request": request, **context,
    }, status=status)
    if request.query.get("lang") in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600,
                            httponly=True, samesite="Lax")
    return response


def redirect(location: str) -> web.Response:
    """See other (303): after a form, the browser GETs the page it is sent to."""
    return web.Response(status=303, headers={"Location": location})

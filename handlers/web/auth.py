"""Who may open a console page: the session cookie, the sign-in link, the form token, and the
role check every staff page and form makes on the server (as the chat commands do; a refusal
is audited). The sign-in link opens a page with a button, and only pressing it uses the link:
messengers fetch links to preview them, and a preview must not use up a one-time link."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.domain import Role
from bot.i18n import plain
from bot.services.staff import IMPLIED
from bot.services.web_access import SESSION_LIFETIME, SignIn, WebSession
from handlers.web.rendering import (
    SESSION_KEY,
    WEB_SETTINGS,
    can,
    language_of,
    redirect,
    render,
    services_of,
    session_of,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SIGNIN_ROUTE = "/staff/signin/{token:[A-Za-z0-9_-]{16,64}}"
CONSOLE_PREFIX = "/staff"
CSRF_FIELD = "csrf"


def cookie_name(request: web.Request) -> str:
    # Behind HTTPS the __Host- prefix makes the browser refuse the cookie from anything but
    # this host over HTTPS.
    return "__Host-chamyeo_staff" if _secure(request) else "chamyeo_staff"


def _secure(request: web.Request) -> bool:
    public_url = request.app[WEB_SETTINGS].chamyeo_public_url or ""
    return public_url.startswith("https://")


def role_names(language: str, needed: tuple[Role, ...]) -> str:
    order = (Role.JUDGE, Role.MODERATOR, Role.ADMIN)
    able = [r for r in order if any(n in IMPLIED[r] for n in needed)]
    return plain(language, "staffux.role_separator").join(
        plain(language, f"staff.role.{r.value}") for r in able)


@web.middleware
async def load_session(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The signed-in staff member on console pages (public pages read no session)."""
    if request.path.startswith(CONSOLE_PREFIX):
        token = request.cookies.get(cookie_name(request))
        session = await services_of(request).web_access.session(token) if token else None
        if session is not None:
            request[SESSION_KEY] = session
    return await handler(request)


def staff_page(*roles: Role) -> Callable[[Handler], Handler]:
    """A console page or form for holders of one of `roles` (an admin passes for moderator
    work). Without a session: the sign-in page (401). With the wrong role: 403, audited.
    A form (POST) must carry the session's form token: without it, 403, audited."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = session_of(request)
            if session is None:
                return render(request, "signin_needed.html", status=401)
            language = language_of(request)
            if not can(session, roles):
                await _refuse(request, session)
                return render(request, "refused.html", status=403,
                              needed=role_names(language, roles))
            if request.method == "POST":
                form = await request.post()
                given = str(form.get(CSRF_FIELD, ""))
                if not hmac.compare_digest(given.encode(), session.csrf.encode()):
                    await _refuse(request, session, "bad form token")
                    return render(request, "refused.html", status=403, needed="",
                                  stale_form=True)
            return await handler(request)

        return guarded

    return wrap


async def _refuse(request: web.Request, session: WebSession, why: str = "") -> None:
    attempt = f"web {request.method} {request.path}" + (f" ({why})" if why else "")
    await services_of(request).staff.refuse(session.account.channel,
                                            session.account.external_id, attempt)


async def signin_page(request: web.Request) -> web.StreamResponse:
    """The link from chat: a page with one button (a GET never uses the link)."""
    response = render(request, "signin.html", token=request.match_info["token"])
    # The token must not leak to other sites. Not "no-referrer": with it, the browser posts the
    # button's form with "Origin: null", which the same-origin check rightly refuses.
    response.headers["Referrer-Policy"] = "same-origin"
    return response


async def signin(request: web.Request) -> web.StreamResponse:
    result = await services_of(request).web_access.sign_in(request.match_info["token"])
    if result.outcome is not SignIn.SIGNED_IN or result.session_token is None:
        response = render(request, "signin_failed.html", status=403,
                          why=result.outcome.value)
        response.headers["Referrer-Policy"] = "same-origin"
        return response
    response = redirect(CONSOLE_PREFIX)
    response.set_cookie(cookie_name(request), result.session_token, path="/",
                        max_age=int(SESSION_LIFETIME.total_seconds()), httponly=True,
                        secure=_secure(request), samesite="Strict")
    return response


async def signout(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    token = request.cookies.get(cookie_name(request))
    if session is not None and token:
        form = await request.post()
        if hmac.compare_digest(str(form.get(CSRF_FIELD, "")).encode(), session.csrf.encode()):
            await services_of(request).web_access.sign_out(token)
    response = redirect("/")
    response.del_cookie(cookie_name(request), path="/")
    return response


def add_auth_routes(app: web.Application) -> None:
    app.router.add_get(SIGNIN_ROUTE, signin_page)
    app.router.add_post(SIGNIN_ROUTE, signin)
    app.router.add_post(f"{CONSOLE_PREFIX}/signout", signout)

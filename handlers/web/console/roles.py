"""Staff roles at a desk: who holds which role; grant one to a chat account (its number or
@username) or to a web-only account, revoke one (the web sessions end with the last role),
and issue an invitation code, as /grant, /revoke and /invite do."""

from __future__ import annotations

import re

from aiohttp import web

from bot.domain import Role
from bot.services.staff import WEB_CHANNEL, GrantOutcome, ResolveOutcome
from handlers.web.auth import staff_page
from handlers.web.console.common import actor_of
from handlers.web.rendering import redirect, render, services_of

PATH = "/staff/roles"
CHANNELS = ("telegram", "kakao", WEB_CHANNEL)
WEB_NAME = re.compile(r"[a-z0-9._-]{1,32}")  # a web-only account, named by the operator


async def _page(request: web.Request, status: int = 200, problem: str = "",
                code: str = "") -> web.Response:
    members = await services_of(request).staff.members()
    return render(request, "console/roles.html", status=status, members=members,
                  roles=list(Role), channels=CHANNELS, problem=problem, code=code,
                  done=request.query.get("done", ""))


@staff_page(Role.ADMIN)
async def roles_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


def _role(value: object) -> Role | None:
    return next((r for r in Role if r.value == value), None)


@staff_page(Role.ADMIN)
async def grant(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    channel, role = str(form.get("channel", "")), _role(form.get("role"))
    typed = str(form.get("who", "")).strip()[:64]
    if channel not in CHANNELS or role is None:
        return await _page(request, 400, "bad_form")
    staff = services_of(request).staff
    if channel == WEB_CHANNEL:
        if not WEB_NAME.fullmatch(typed):
            return await _page(request, 400, "bad_web_name")
        external_id = typed
    else:
        resolved = await staff.resolve(channel, typed)
        if resolved.outcome is not ResolveOutcome.FOUND or resolved.external_id is None:
            return await _page(request, 400, resolved.outcome.value)
        external_id = resolved.external_id
    outcome = await staff.grant(actor_of(request), channel, external_id, role)
    if outcome is not GrantOutcome.GRANTED:
        return await _page(request, 409 if outcome is GrantOutcome.ALREADY else 400,
                           outcome.value)
    return redirect(f"{PATH}?done=granted")


@staff_page(Role.ADMIN)
async def revoke(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    channel, role = str(form.get("channel", "")), _role(form.get("role"))
    external_id = str(form.get("external_id", ""))[:64]
    if channel not in CHANNELS or role is None or not external_id:
        return await _page(request, 400, "bad_form")
    outcome = await services_of(request).staff.revoke(actor_of(request), channel,
                                                      external_id, role)
    if outcome is not GrantOutcome.REVOKED:
        return await _page(request, 409, outcome.value)
    return redirect(f"{PATH}?done=revoked")


@staff_page(Role.ADMIN)
async def invite(request: web.Request) -> web.StreamResponse:
    role = _role((await request.post()).get("role"))
    if role is None:
        return await _page(request, 400, "bad_form")
    code = await services_of(request).staff.invite(actor_of(request), role)
    # Shown once, on this answer only (no redirect: the code is in no address or log).
    return await _page(request, code=code)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, roles_page)
    app.router.add_post(PATH + "/grant", grant)
    app.router.add_post(PATH + "/revoke", revoke)
    app.router.add_post(PATH + "/invite", invite)

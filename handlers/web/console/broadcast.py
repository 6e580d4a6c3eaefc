"""A broadcast at a desk: write it, see it as subscribers will and how many they are, then send
on a second press, as /broadcast does; StaffBroadcastService queues it for the sender."""

from __future__ import annotations

import re
import secrets

from aiohttp import web

from bot.domain import Campaign, Role
from bot.services.staff_broadcasts import TEXT_MAX, StaffBroadcastOutcome, clean_text
from handlers.web.auth import staff_page
from handlers.web.console.common import actor_of, current_campaign, no_campaign
from handlers.web.rendering import redirect, render, services_of

PATH = "/staff/broadcast"
# The key the preview's "send" form carries, so that pressing it twice sends once.
REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{32,64}")


async def _page(request: web.Request, campaign: Campaign, status: int = 200,
                problem: str = "", text: str = "", preview: bool = False) -> web.Response:
    recipients = await services_of(request).staff_broadcasts.recipients(campaign)
    return render(request, "console/broadcast.html", status=status, problem=problem,
                  text=text, preview=preview, recipients=recipients, text_max=TEXT_MAX,
                  done=request.query.get("done", ""),
                  request_key=secrets.token_urlsafe(32) if preview else "")


@staff_page(Role.ADMIN)
async def broadcast_page(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    return await _page(request, campaign)


@staff_page(Role.ADMIN)
async def send(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    form = await request.post()
    typed = str(form.get("text", ""))
    text = clean_text(typed)
    if text is None:
        return await _page(request, campaign, 400, StaffBroadcastOutcome.BAD_TEXT.value,
                           typed[:TEXT_MAX * 2])
    request_key = str(form.get("request_key", ""))
    if form.get("confirmed") != "1" or not REQUEST_KEY.fullmatch(request_key):
        return await _page(request, campaign, text=text, preview=True)
    result = await services_of(request).staff_broadcasts.send(
        campaign, text, actor_of(request), request_key)
    if result.outcome is not StaffBroadcastOutcome.STARTED:
        return await _page(request, campaign, 409, result.outcome.value, text)
    return redirect(f"{PATH}?done={result.recipients}")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, broadcast_page)
    app.router.add_post(PATH, send)

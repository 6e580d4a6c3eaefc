"""What every console page needs: the campaign staff are running (the one the chat commands
act on) and the signed-in member as an actor and as a citizen."""

from __future__ import annotations

from aiohttp import web

from bot.domain import Campaign, Citizen
from handlers.web.rendering import language_of, render, services_of, session_of


async def current_campaign(request: web.Request) -> Campaign | None:
    return await services_of(request).campaigns.current()


def no_campaign(request: web.Request) -> web.Response:
    return render(request, "console/no_campaign.html")


def actor_of(request: web.Request) -> str:
    session = session_of(request)
    assert session is not None, "only on pages behind staff_page"
    return session.actor


async def citizen_of(request: web.Request) -> Citizen:
    session = session_of(request)
    assert session is not None, "only on pages behind staff_page"
    return await services_of(request).citizens.identify(
        session.account.channel, session.account.external_id, language_of(request))


def form_id(value: object) -> int | None:
    """A positive id typed into a form or an address, or None."""
    text = str(value or "")
    return int(text) if text.isdigit() and len(text) <= 9 else None

"""The dashboard: the phase and what comes next, the counts, turnout by hour as a chart drawn
on the server (bars in SVG, no script needed), the announcements planned. A small script
(static/live.js) refreshes the numbers from /staff/live where the browser runs it."""

from __future__ import annotations

from aiohttp import web

from bot.domain import CaseStatus, Role
from bot.services.tally import Tally
from bot.signal_texts import signal_line
from handlers.web.auth import session_of, staff_page
from handlers.web.console.common import current_campaign, no_campaign
from handlers.web.rendering import can, language_of, render, services_of

PATH = "/staff"
HOURS = 24  # the chart's span
UPCOMING = 8


@staff_page(Role.JUDGE, Role.MODERATOR)
async def dashboard(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    services = services_of(request)
    board = await services.tally.dashboard(campaign)
    tally = await services.tally.tally(campaign)
    hours = tally.last_hours(services.clock.now(), HOURS)
    peak = max((n for _, n in hours), default=0) or 1
    # Votes by case are for moderators and admins, as /tally is; judges score without them.
    by_case = can(session_of(request), (Role.MODERATOR,))
    return render(request, "console/dashboard.html", campaign=campaign, board=board,
                  tally=tally, hours=hours, peak=peak, statuses=list(CaseStatus),
                  upcoming=board.upcoming[:UPCOMING], by_case=by_case,
                  signals=signal_texts(tally, language_of(request)) if by_case else [])


def signal_texts(tally: Tally, lang: str) -> list[str]:
    """Unusual activity, told as /tally tells it (without the chat's bullet)."""
    return [signal_line(s, tally.timezone, lang).removeprefix("· ") for s in tally.signals]


@staff_page(Role.JUDGE, Role.MODERATOR)
async def live(request: web.Request) -> web.StreamResponse:
    """The dashboard's numbers, for live.js."""
    campaign = await current_campaign(request)
    if campaign is None:
        return web.json_response({})
    tally = await services_of(request).tally.tally(campaign)
    return web.json_response({"votes": tally.total_votes, "voters": tally.voters,
                              "citizens": tally.citizens,
                              "turnout": f"{tally.turnout * 100:.1f}%"},
                             headers={"Cache-Control": "no-store"})


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, dashboard)
    app.router.add_get(PATH + "/live", live)

"""Results at a desk: the preview (ranking, awards, the chart, what is not done yet) and
publishing, confirmed on a second page, with ResultsService's guards (not before voting
closes, once only, and anything incomplete named before the confirmation)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.chart import render_results_chart
from bot.domain import Role
from bot.services.results import PublishOutcome
from handlers.web.auth import staff_page
from handlers.web.console.common import actor_of, current_campaign, no_campaign
from handlers.web.public import case_view
from handlers.web.rendering import language_of, redirect, render, services_of

PATH = "/staff/results"


async def _preview(request: web.Request, template: str, status: int = 200,
                   problem: str = "") -> web.Response:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    services = services_of(request)
    lang = language_of(request)
    ranked = await services.results.ranking(campaign)
    readiness = await services.results.readiness(campaign)
    rows = [(r.ranked, case_view(campaign, r.case, lang)) for r in ranked]
    unscored = [case_view(campaign, c, lang) for c in readiness.unscored]
    return render(request, template, status=status, campaign=campaign, rows=rows,
                  readiness=readiness, unscored=unscored, problem=problem,
                  published=request.query.get("done") == "published")


@staff_page(Role.ADMIN)
async def results_page(request: web.Request) -> web.StreamResponse:
    return await _preview(request, "console/results.html")


@staff_page(Role.ADMIN)
async def results_chart(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        raise web.HTTPNotFound()
    ranked = await services_of(request).results.ranking(campaign)
    if not ranked:
        raise web.HTTPNotFound()
    png = await asyncio.to_thread(render_results_chart, ranked, language_of(request), campaign)
    return web.Response(body=png, content_type="image/png")


@staff_page(Role.ADMIN)
async def publish(request: web.Request) -> web.StreamResponse:
    """The first press shows what will happen; the second (confirmed=1) publishes."""
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    form = await request.post()
    if form.get("confirmed") != "1":
        return await _preview(request, "console/results_confirm.html")
    result = await services_of(request).results.publish(campaign, actor_of(request),
                                                        incomplete_ok=True)
    if result.outcome is not PublishOutcome.PUBLISHED:
        return await _preview(request, "console/results.html", 409, result.outcome.value)
    return redirect(f"{PATH}?done=published")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, results_page)
    app.router.add_get(PATH + "/chart.png", results_chart)
    app.router.add_post(PATH + "/publish", publish)

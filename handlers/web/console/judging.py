"""Judging at a desk: the cases to score with this judge's progress, and each case's full text
and picture beside a form with one score per criterion, revisable until review closes. Every
score goes through JudgingService.score, as /score's do."""

from __future__ import annotations

import math

from aiohttp import web

from bot.domain import Campaign, Role
from bot.services.judging import ScoreOutcome, criteria_of
from handlers.web.auth import staff_page
from handlers.web.console.common import citizen_of, current_campaign, form_id, no_campaign
from handlers.web.console.photos import staff_picture_url
from handlers.web.public import case_view
from handlers.web.rendering import language_of, redirect, render, services_of

PATH = "/staff/judging"


def criterion_names(campaign: Campaign, lang: str) -> list[tuple[int, str]]:
    named = campaign.judging.criteria
    return [(n, named[n - 1].get(lang) if n else "") for n in criteria_of(campaign)]


@staff_page(Role.JUDGE)
async def judging_list(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    services = services_of(request)
    judge = await citizen_of(request)
    lang = language_of(request)
    mine = await services.judging.scores_of(campaign, judge)
    needed = criteria_of(campaign)
    cases = await services.judging.cases(campaign)
    rows = [(case_view(campaign, case, lang), all((case.id, c) in mine for c in needed))
            for case in cases]
    return render(request, "console/judging.html", rows=rows,
                  scored=sum(done for _, done in rows), total=len(rows),
                  open=services.judging.is_open(campaign))


async def _case_page(request: web.Request, case_id: int | None, status: int = 200,
                     problem: str = "", typed: dict[int, str] | None = None) -> web.Response:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    services = services_of(request)
    case = await services.judging.case_for(campaign, case_id) if case_id else None
    if case is None:
        raise web.HTTPNotFound()
    judge = await citizen_of(request)
    mine = await services.judging.scores_of(campaign, judge)
    lang = language_of(request)
    criteria = [(n, name, (typed or {}).get(n, _shown(mine.get((case.id, n)))))
                for n, name in criterion_names(campaign, lang)]
    return render(request, "console/judging_case.html", status=status,
                  view=case_view(campaign, case, lang), picture=staff_picture_url(request, case),
                  criteria=criteria, rules=campaign.judging, problem=problem,
                  saved=request.query.get("saved") == "1",
                  open=services.judging.is_open(campaign))


def _shown(score: float | None) -> str:
    if score is None:
        return ""
    return str(int(score)) if float(score).is_integer() else str(score)


@staff_page(Role.JUDGE)
async def judging_case(request: web.Request) -> web.StreamResponse:
    return await _case_page(request, form_id(request.match_info["case_id"]))


@staff_page(Role.JUDGE)
async def save_scores(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    case_id = form_id(request.match_info["case_id"])
    form = await request.post()
    typed = {n: str(form.get(f"score-{n}", "")).strip()[:12] for n in criteria_of(campaign)}
    values: dict[int, float] = {}
    for n, text in typed.items():
        try:
            value = float(text)
        except ValueError:
            return await _case_page(request, case_id, 400, "not_a_number", typed)
        if not math.isfinite(value):
            return await _case_page(request, case_id, 400, "not_a_number", typed)
        values[n] = value
    rules = campaign.judging
    if any(not rules.scale_min <= v <= rules.scale_max for v in values.values()):
        # Checked for all before any is stored: a form is saved whole or not at all.
        return await _case_page(request, case_id, 400, ScoreOutcome.OUT_OF_RANGE.value, typed)
    services = services_of(request)
    judge = await citizen_of(request)
    for n, value in values.items():
        result = await services.judging.score(campaign, judge, case_id or 0, n, value)
        if not result.stored:
            status = 404 if result.outcome is ScoreOutcome.UNKNOWN_CASE else 409
            return await _case_page(request, case_id, status, result.outcome.value, typed)
    return redirect(f"{PATH}/{case_id}?saved=1")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, judging_list)
    app.router.add_get(PATH + "/{case_id:[0-9]{1,9}}", judging_case)
    app.router.add_post(PATH + "/{case_id:[0-9]{1,9}}", save_scores)

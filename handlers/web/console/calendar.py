"""The calendar at a desk: the phases, and a change to one shown before → after and applied
only on a second press, as /phase does. PhaseService validates twice: on the proposal, and
again against the stored campaign and the clock when it is applied."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from bot.domain import Campaign, Phase, PhaseName, Role
from bot.i18n import format_when, plain
from bot.services.phases import PhaseField, PhaseProposal
from handlers.web.auth import staff_page
from handlers.web.console.common import actor_of, current_campaign, no_campaign
from handlers.web.rendering import language_of, redirect, render, services_of

PATH = "/staff/calendar"


def span(lang: str, campaign: Campaign, phase: Phase) -> str:
    start = format_when(phase.start, campaign.timezone, lang)
    if phase.end is None:
        return start
    return plain(lang, "operations.phase.span", start=start,
                 end=format_when(phase.end, campaign.timezone, lang))


def problem_text(lang: str, campaign: Campaign, proposal: PhaseProposal) -> str:
    assert proposal.problem is not None

    def label(name: PhaseName | None) -> str:
        return plain(lang, f"phase.name.{name.value}") if name else ""

    when = ""
    if proposal.after is not None and proposal.field is not None:
        value = proposal.after.end if proposal.field is PhaseField.END else proposal.after.start
        when = format_when(value, campaign.timezone, lang) if value else ""
    return plain(lang, f"operations.phase.problem.{proposal.problem.value}",
                 phase=label(proposal.phase), neighbour=label(proposal.neighbour), when=when,
                 after=span(lang, campaign, proposal.after) if proposal.after else "")


def parse_local(typed: str, timezone: str) -> datetime | None:
    """A browser's datetime-local value ("2024-12-01T20:00"), in the campaign's timezone."""
    if len(typed) < 16 or len(typed) > 19:
        return None
    try:
        value = datetime.fromisoformat(typed)
    except ValueError:
        return None
    return value.replace(tzinfo=ZoneInfo(timezone)) if value.tzinfo is None else None


def _phases(lang: str, campaign: Campaign) -> list[tuple[Phase, str, str]]:
    return [(p, plain(lang, f"phase.name.{p.name.value}"), span(lang, campaign, p))
            for p in campaign.phases]


async def _page(request: web.Request, campaign: Campaign, status: int = 200,
                problem: str = "", proposal: PhaseProposal | None = None,
                typed: str = "") -> web.Response:
    lang = language_of(request)
    return render(request, "console/calendar.html", status=status, campaign=campaign,
                  phases=_phases(lang, campaign), problem=problem, proposal=proposal,
                  before=span(lang, campaign, proposal.before) if proposal and proposal.before
                  else "",
                  after=span(lang, campaign, proposal.after) if proposal and proposal.after
                  else "",
                  typed=typed, done=request.query.get("done") == "1",
                  now=services_of(request).clock.now())


@staff_page(Role.ADMIN)
async def calendar_page(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    return await _page(request, campaign)


@staff_page(Role.ADMIN)
async def change(request: web.Request) -> web.StreamResponse:
    """Without confirmed=1: the proposal, before → after. With it: applied."""
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    lang = language_of(request)
    form = await request.post()
    phase, field = str(form.get("phase", ""))[:16], str(form.get("field", ""))[:8]
    typed = str(form.get("when", "")).strip()[:32]
    if phase not in {p.value for p in PhaseName}:
        return await _page(request, campaign, 400,
                           plain(lang, "operations.phase.problem.unknown_phase"))
    new_time = parse_local(typed, campaign.timezone)
    if new_time is None:
        return await _page(request, campaign, 400,
                           plain(lang, "web.console.calendar.bad_time", zone=campaign.timezone),
                           typed=typed)
    services = services_of(request)
    if form.get("confirmed") != "1":
        proposal = services.phases.propose(campaign, phase, field, new_time)
        if not proposal.ok:
            return await _page(request, campaign, 400, problem_text(lang, campaign, proposal),
                               typed=typed)
        return await _page(request, campaign, proposal=proposal, typed=typed)
    applied = await services.phases.apply(campaign.id, phase, field, new_time,
                                          actor_of(request))
    if not applied.ok:
        return await _page(request, campaign, 409, problem_text(lang, campaign, applied),
                           typed=typed)
    return redirect(f"{PATH}?done=1")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, calendar_page)
    app.router.add_post(PATH, change)

"""Moderation at a desk: the queue with pictures and the submitter's contact; approve, or
reject with a reason; and the approved cases, any of which can be taken off the list with a
reason (as /hide does; votes already cast stay). ModerationService decides and tells the
submitter in their channel and language, as it does for /moderate."""

from __future__ import annotations

from aiohttp import web

from bot.domain import CaseStatus, Role
from bot.services.moderation import REASON_MAX, ModerationOutcome
from handlers.web.auth import staff_page
from handlers.web.console.common import actor_of, current_campaign, form_id, no_campaign
from handlers.web.console.photos import staff_picture_url
from handlers.web.public import case_view
from handlers.web.rendering import language_of, redirect, render, services_of

PATH = "/staff/moderation"
DONE = ("approve", "reject", "hide", "hide_told")  # what the page confirms after a decision


async def _page(request: web.Request, status: int = 200, problem: str = "") -> web.Response:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    moderation = services_of(request).moderation
    lang = language_of(request)
    queue = []
    for case in await moderation.queue(campaign):
        submitter = await moderation.submitter(case)
        queue.append((case_view(campaign, case, lang), staff_picture_url(request, case), submitter))
    done = request.query.get("done", "")
    approved = [case_view(campaign, record.case, lang)
                for record in await moderation.records(campaign, CaseStatus.APPROVED)]
    return render(request, "console/moderation.html", status=status, queue=queue,
                  approved=approved, done=done if done in DONE else "", problem=problem,
                  reason_max=REASON_MAX)


@staff_page(Role.MODERATOR)
async def moderation_page(request: web.Request) -> web.StreamResponse:
    return await _page(request)


@staff_page(Role.MODERATOR)
async def decide(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    form = await request.post()
    case_id = form_id(request.match_info["case_id"])
    moderation = services_of(request).moderation
    if case_id is None:
        return await _page(request, 400, ModerationOutcome.UNKNOWN_CASE.value)
    action, reason = request.match_info["action"], str(form.get("reason", ""))
    if action == "approve":
        result = await moderation.approve(campaign, case_id, actor_of(request))
    elif action == "reject":
        result = await moderation.reject(campaign, case_id, actor_of(request), reason)
    else:
        result = await moderation.hide(campaign, case_id, actor_of(request), reason)
    if result.outcome is not ModerationOutcome.DONE:
        status = 409 if result.outcome is ModerationOutcome.WRONG_STATUS else 400
        return await _page(request, status, result.outcome.value)
    if action == "hide" and result.notice_id is not None:
        action = "hide_told"  # sent in by chat: its submitter has been told why
    return redirect(f"{PATH}?done={action}")


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH, moderation_page)
    app.router.add_post(PATH + "/{case_id:[0-9]{1,9}}/{action:approve|reject|hide}", decide)

"""The Kakao i Open Builder skill server (aiohttp): one POST route that every block of ours
calls, and the pictures KakaoTalk fetches from us (media.py). It checks the secret header and
the bot id, parses the request leniently, and answers within a time budget well inside Kakao's
5 seconds, with a friendly "try again" if the answer is late; under a burst, answers are worked
on a few at a time in arrival order (admission.py). Malformed requests get 400 and a log line,
never a crash."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Awaitable

from aiohttp import web
from pydantic import ValidationError

from bot.i18n import t
from bot.services import Services
from bot.settings import Settings
from bot.text import plain_text
from handlers.kakao.admission import Admission, NoRoom
from handlers.kakao.media import add_media_routes
from handlers.kakao.models import SimpleText, SkillRequest, SkillResponse, Template, output
from handlers.kakao.skill import KakaoSkill, busy_response

log = logging.getLogger(__name__)

SKILL_PATH = "/kakao/skill"
HEALTH_PATH = "/kakao/health"
SECRET_HEADER = "X-Chamyeo-Skill-Secret"
TIME_BUDGET = 3.5  # seconds; Kakao drops an answer after 5
MAX_BODY = 64 * 1024  # a skill request is a few KB

SKILL = web.AppKey("skill", KakaoSkill)
SETTINGS = web.AppKey("settings", Settings)
BUDGET = web.AppKey("budget", float)
ADMISSION = web.AppKey("admission", Admission)


def add_kakao_routes(app: web.Application, services: Services, settings: Settings,
                     time_budget: float = TIME_BUDGET) -> None:
    """The skill's routes on the HTTP server (handlers/server.py)."""
    app[SKILL] = KakaoSkill(services, settings.chamyeo_kakao_block_id or "",
                            announcements=settings.kakao_events_enabled,
                            welcome_block_id=settings.chamyeo_kakao_welcome_block_id,
                            public_url=settings.chamyeo_public_url,
                            phone_block_id=settings.chamyeo_kakao_phone_block_id)
    app[SETTINGS] = settings
    app[BUDGET] = time_budget
    app[ADMISSION] = Admission()
    app.router.add_post(SKILL_PATH, skill_route)
    app.router.add_get(HEALTH_PATH, health_route)


def build_kakao_app(services: Services, settings: Settings,
                    time_budget: float = TIME_BUDGET) -> web.Application:
    """The skill and the pictures KakaoTalk fetches, without the web pages (tests)."""
    app = web.Application(client_max_size=MAX_BODY)
    add_kakao_routes(app, services, settings, time_budget)
    add_media_routes(app, services)  # the pictures KakaoTalk fetches from CHAMYEO_PUBLIC_URL
    return app


def _refuse(status: int, reason: str, request: web.Request) -> web.Response:
    log.warning("kakao skill: %s %s from %s", status, reason, request.remote)
    return web.json_response({"error": reason}, status=status)


def _problems(exc: ValidationError, shown: int = 3) -> str:
    """Which fields are wrong and how, never what they hold (it may be personal)."""
    problems = []
    for error in exc.errors()[:shown]:
        where = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "missing":
            what = "missing"
        elif error["type"].endswith("_type"):  # string_type, dict_type, model_type, ...
            what = "wrong type"
        else:
            what = error["msg"]
        problems.append(f"{where}: {what}")
    if exc.error_count() > shown:
        problems.append(f"and {exc.error_count() - shown} more")
    return "; ".join(problems)


def _same_bot(given: str, expected: str | None) -> bool:
    # The development channel sends the bot id with "!" at the end.
    return expected is not None and given.removesuffix("!") == expected.removesuffix("!")


async def skill_route(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    secret = settings.chamyeo_kakao_skill_secret or ""
    given = request.headers.get(SECRET_HEADER, "")
    # surrogateescape: a header of stray bytes is just a wrong secret, not an error.
    if not secret or not hmac.compare_digest(given.encode("utf-8", "surrogateescape"),
                                             secret.encode()):
        return _refuse(401, "missing or wrong skill secret", request)
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        return _refuse(400, "body is not JSON", request)
    except web.HTTPRequestEntityTooLarge:
        return _refuse(413, "body too large", request)
    try:
        skill_request = SkillRequest.model_validate(body)
    except ValidationError as exc:
        return _refuse(400, f"not a skill request: {_problems(exc)}", request)
    if not _same_bot(skill_request.bot.id, settings.chamyeo_kakao_bot_id):
        return _refuse(400, "request for another bot", request)
    language = "en" if (skill_request.user_request.lang or "").startswith("en") \
        else settings.chamyeo_default_language
    budget = request.app[BUDGET]
    arrived = asyncio.get_running_loop().time()
    try:
        async with request.app[ADMISSION].turn(skill_request.extra, budget):
            waited = asyncio.get_running_loop().time() - arrived
            answer = await within_budget(request.app[SKILL].answer(skill_request),
                                         budget - waited)
    except NoRoom:
        log.warning("kakao skill: no room to start within %.1f s; said 'try again'", budget)
        answer = busy_response(language)
    except TimeoutError:
        log.warning("kakao skill: no answer within %.1f s; said 'try again'", budget)
        answer = busy_response(language)
    except Exception:
        log.exception("kakao skill: error while answering")
        answer = _error_response(language)
    return web.json_response(answer.to_json(), dumps=_dumps)


async def within_budget(answer: Awaitable[SkillResponse], seconds: float) -> SkillResponse:
    """The answer, or TimeoutError once `seconds` have passed (it is cancelled then).

    Whatever the cancelled answer raises while it unwinds (the rollback of a transaction cut
    short can raise PendingRollbackError) is logged with its cause, and it is still a
    timeout: the citizen is told to try again, not that something broke."""
    task = asyncio.ensure_future(answer)
    try:
        done, _ = await asyncio.wait({task}, timeout=seconds)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        return task.result()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.warning("kakao skill: the answer cut short at the budget failed as it stopped",
                    exc_info=True)
    raise TimeoutError


def _dumps(body: object) -> str:
    return json.dumps(body, ensure_ascii=False)  # Korean as itself: half the bytes


async def health_route(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def _error_response(language: str) -> SkillResponse:
    text = plain_text(t(language, "error"))
    return SkillResponse(template=Template(outputs=[output(SimpleText(text=text))]))

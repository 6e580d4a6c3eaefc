"""The one HTTP server of a worker: the KakaoTalk skill (when KakaoTalk is set up), the
pictures and receipt lists under /media/ and /receipts/, and the web (staff console and
public pages, when CHAMYEO_PUBLIC_URL is set or `chamyeo run --web` asks for it). It runs in
the bot's event loop, beside Telegram or alone."""

from __future__ import annotations

import logging

from aiohttp import web
from telegram import Bot

from bot.services import Services
from bot.settings import Settings
from handlers.kakao.media import add_media_routes
from handlers.kakao.server import MAX_BODY, TIME_BUDGET, add_kakao_routes
from handlers.web.app import add_web_routes

log = logging.getLogger(__name__)


def build_http_app(services: Services, settings: Settings, *, web_pages: bool | None = None,
                   time_budget: float = TIME_BUDGET,
                   telegram: Bot | None = None) -> web.Application:
    """`web_pages` overrides whether the web is served (default: settings.web_enabled);
    `telegram` is the bot the console fetches Telegram photos with (default: from the token)."""
    app = web.Application(client_max_size=MAX_BODY)
    if settings.kakao_enabled:
        add_kakao_routes(app, services, settings, time_budget)
    add_media_routes(app, services)
    if settings.web_enabled if web_pages is None else web_pages:
        add_web_routes(app, services, settings, telegram)
    return app


class HttpServer:
    def __init__(self, services: Services, settings: Settings, *,
                 web_pages: bool | None = None) -> None:
        self.settings = settings
        self.runner = web.AppRunner(build_http_app(services, settings, web_pages=web_pages),
                                    access_log=None)

    async def start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.chamyeo_kakao_listen,
                           self.settings.chamyeo_kakao_port)
        await site.start()
        log.info("HTTP server on %s:%s (%s)", self.settings.chamyeo_kakao_listen,
                 self.settings.chamyeo_kakao_port, ", ".join(self.settings.http_parts))

    async def stop(self) -> None:
        await self.runner.cleanup()

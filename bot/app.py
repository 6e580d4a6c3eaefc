"""Wiring: settings + database + services + Telegram handlers = a running Application.
This and handlers/ are the only places that know about python-telegram-bot."""

from __future__ import annotations

import logging

from telegram.ext import AIORateLimiter, Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot.clock import Clock, SystemClock
from bot.services import Services
from bot.settings import Settings
from handlers.telegram.common import SERVICES
from handlers.telegram.processor import PerUserUpdateProcessor
from handlers.telegram.setup import register, set_commands
from storage.database import Database
from storage.migrate import upgrade

log = logging.getLogger(__name__)

OFFLINE_TOKEN = "0:offline"  # the offline transport never sends it anywhere


def build_application(
    settings: Settings,
    services: Services,
    *,
    request: BaseRequest | None = None,
    rate_limited: bool = True,
    migrate_on_start: bool = False,
) -> Application:
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or OFFLINE_TOKEN)
        .base_url(settings.telegram_api_base_url)
        .concurrent_updates(PerUserUpdateProcessor(256))
        .post_init(_post_init(services, migrate_on_start))
        .post_shutdown(_post_shutdown(services))
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if rate_limited:
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))
    application = builder.build()
    application.bot_data[SERVICES] = services
    register(application)
    return application


def _post_init(services: Services, migrate: bool):
    async def post_init(application: Application) -> None:
        # Runs inside the bot's event loop, so the database connections live in that loop.
        if migrate:
            await upgrade(services.db)
            log.info("database is up to date")
        await set_commands(application.bot)

    return post_init


def _post_shutdown(services: Services):
    async def post_shutdown(application: Application) -> None:
        await services.db.dispose()

    return post_shutdown


def create_services(settings: Settings, clock: Clock | None = None) -> Services:
    db = Database(settings.chamyeo_database_url)
    return Services.create(db, clock or SystemClock(), settings.chamyeo_default_language)


def run(settings: Settings) -> None:
    """Serve Telegram by long polling until interrupted."""
    services = create_services(settings)
    application = build_application(settings, services, migrate_on_start=True)
    log.info("Chamyeo is starting (database %s)", settings.chamyeo_database_url.split("://")[0])
    application.run_polling(allowed_updates=["message", "callback_query"])

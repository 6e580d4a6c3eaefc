"""Wiring: settings + database + services + Telegram handlers = a running Application, and
`run`, which serves whichever channels are configured (Telegram, KakaoTalk or both). This and
handlers/ are the only places that know about python-telegram-bot; what every run shares, and
the KakaoTalk-only run, are in bot/runtime.py."""

from __future__ import annotations

import asyncio
import logging
import socket
from urllib.parse import urlsplit

from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot.clock import Clock, SystemClock
from bot.runtime import Runtime, WithoutTelegram, settle_memory
from bot.scheduler import ClockWatch, Scheduler
from bot.services import AnnounceChat, Services
from bot.services.broadcasts import Broadcaster
from bot.services.outbound import OutboundPace
from bot.settings import Settings
from handlers.server import HttpServer
from handlers.telegram.common import CHANNEL, SCHEDULER, SERVICES
from handlers.telegram.menus import refresh_staff_menu, set_commands
from handlers.telegram.processor import PerUserUpdateProcessor
from handlers.telegram.rate_limiter import PacedRateLimiter
from handlers.telegram.sender import TelegramSender
from handlers.telegram.setup import register
from storage.coordination import AdvisoryLeadership, FileLeadership, Leadership, claim_sqlite
from storage.database import Database
from storage.migrate import upgrade
from storage.reachable import database_location, has_campaign

log = logging.getLogger(__name__)

OFFLINE_TOKEN = "0:offline"  # the offline transport never sends it anywhere


def build_application(
    settings: Settings,
    services: Services,
    *,
    request: BaseRequest | None = None,
    rate_limited: bool = True,
    run_scheduler: bool = False,
    http: HttpServer | None = None,
    leadership: Leadership | None = None,
) -> Application:
    """The bot, on a database that is already migrated. With `run_scheduler`, announcements
    are fired while it runs (`chamyeo run`; with `leadership`, only while this worker leads);
    tests and the demo drive the scheduler themselves. `http`, the HTTP server (KakaoTalk
    skill, web), is served alongside while the bot runs. With `rate_limited`, every call to
    Telegram keeps the outbound pace all workers share (handlers/telegram/rate_limiter.py)."""
    pace = OutboundPace(services.db, CHANNEL) if rate_limited else None
    runtime = Runtime(settings, services, leadership=leadership,
                      clock_watch=ClockWatch() if run_scheduler else None,
                      paces=(pace,) if pace else ())
    scheduler = runtime.scheduler
    processor = PerUserUpdateProcessor(256, CHANNEL)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token or OFFLINE_TOKEN)
        .base_url(settings.telegram_api_base_url)
        .concurrent_updates(processor)
        .post_init(_post_init(services, scheduler if run_scheduler else None, http))
        .post_stop(_post_stop(scheduler, http))
        .post_shutdown(_post_shutdown(runtime))
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if pace is not None:
        builder = builder.rate_limiter(PacedRateLimiter(pace))
        # A broadcast claims its next message only when replies leave room for it.
        services.broadcaster.wait_for_room = pace.wait_for_room
    application = builder.build()
    processor.keep_sessions(application, services.sessions)
    application.bot_data[SERVICES] = services
    application.bot_data[SCHEDULER] = scheduler
    sender = TelegramSender(application.bot, settings.chamyeo_admin_ids,
                            settings.chamyeo_default_language,
                            lambda user: services.citizens.language_of(CHANNEL, user))
    services.broadcaster.register(CHANNEL, sender)
    services.staff.add_bootstrap_admins(CHANNEL, {str(i) for i in settings.chamyeo_admin_ids})
    services.broadcaster.on_finished(sender.tell_admins)
    register(application)
    return application


def _post_init(services: Services, scheduler: Scheduler | None, http: HttpServer | None):
    async def post_init(application: Application) -> None:
        await set_commands(application.bot)
        await refresh_staff_menu(application.bot, services)
        if http is not None:
            await http.start()
        if scheduler is not None:
            await scheduler.start()

    return post_init


def _post_stop(scheduler: Scheduler, http: HttpServer | None):
    async def post_stop(application: Application) -> None:
        if http is not None:
            await http.stop()
        # Before the bot shuts down: messages in flight finish, the rest resumes next start.
        await scheduler.stop()

    return post_stop


def _post_shutdown(runtime: Runtime):
    async def post_shutdown(application: Application) -> None:
        await runtime.close()

    return post_shutdown


def create_services(settings: Settings, clock: Clock | None = None, *,
                    telegram: bool = True, record_only: bool = False) -> Services:
    """`telegram`: whether Telegram is served (the announce chat is a Telegram chat).
    `record_only`: broadcasts are written down, never run here (a command line process with no
    channel: the running bot sends them; see Broadcaster)."""
    db = Database(settings.chamyeo_database_url)
    clock = clock or SystemClock()
    announce_chat = None
    if telegram and settings.chamyeo_announce_chat_id is not None:
        announce_chat = AnnounceChat(CHANNEL, str(settings.chamyeo_announce_chat_id),
                                     settings.chamyeo_default_language)
    broadcaster = Broadcaster(db, clock, record_only=True) if record_only else None
    services = Services.create(db, clock, settings.chamyeo_default_language,
                               announce_chat=announce_chat, broadcaster=broadcaster,
                               identity_key=settings.chamyeo_identity_key,
                               public_url=settings.chamyeo_public_url)
    # Whatever this process serves (the web console, the command line too), Telegram's
    # bootstrap admins are admins.
    services.staff.add_bootstrap_admins(CHANNEL, {str(i) for i in settings.chamyeo_admin_ids})
    return services


async def log_database(database_url: str) -> None:
    """Say which database this start serves (a SQLite file by its absolute path, a URL without
    its password), and warn in one line if no campaign was ever loaded into it: `chamyeo run`
    from another directory makes a new, empty chamyeo.db there and would serve nothing."""
    where = database_location(database_url)
    log.info("database: %s", where)
    loaded = await has_campaign(database_url)
    if loaded is None:
        log.warning("the database %s is new and empty (created by this start) and no campaign "
                    "is loaded: run `chamyeo campaign load FILE` for it; running from another "
                    "directory makes a new, empty database (CHAMYEO_DATABASE_URL names the one "
                    "to use)", where)
    elif not loaded:
        log.warning("no campaign has been loaded into the database %s: run `chamyeo campaign "
                    "load FILE` with the same CHAMYEO_DATABASE_URL, from the same directory",
                    where)


async def migrate(database_url: str) -> None:
    db = Database(database_url)
    try:
        await upgrade(db)
    finally:
        await db.dispose()
    log.info("database is up to date")


def served_channels(settings: Settings, webhook: bool = False) -> list[str]:
    channels = []
    if settings.telegram_bot_token:
        channels.append("Telegram (webhook)" if webhook else "Telegram (polling)")
    if settings.kakao_enabled:
        channels.append("KakaoTalk")
    if settings.web_enabled:
        channels.append("web")
    return channels


def run(settings: Settings, *, webhook: bool = False) -> None:
    """Migrate the database, then serve every configured channel until interrupted. Telegram
    (TELEGRAM_BOT_TOKEN): by long polling, or with `webhook` as a webhook server that Telegram
    posts to (the TELEGRAM_WEBHOOK_* settings; requests without the secret in
    X-Telegram-Bot-Api-Secret-Token are refused with 403). KakaoTalk (the CHAMYEO_KAKAO_*
    settings): the skill server, beside Telegram or alone."""
    telegram = bool(settings.telegram_bot_token)
    if webhook and not (settings.telegram_webhook_url and settings.telegram_webhook_secret):
        raise ValueError("webhook mode needs TELEGRAM_WEBHOOK_URL and TELEGRAM_WEBHOOK_SECRET")
    if webhook and not telegram:
        raise ValueError("webhook mode is Telegram's: it needs TELEGRAM_BOT_TOKEN")
    if not telegram and not settings.http_enabled:
        raise ValueError("nothing to serve: set TELEGRAM_BOT_TOKEN or the KakaoTalk settings")
    # A port already taken would otherwise fail inside PTB's server and leave the bot hanging.
    if webhook:
        ensure_port_free("TELEGRAM_WEBHOOK_PORT", settings.telegram_webhook_listen,
                         settings.telegram_webhook_port)
    if settings.http_enabled:
        ensure_port_free("CHAMYEO_KAKAO_PORT", settings.chamyeo_kakao_listen,
                         settings.chamyeo_kakao_port)
    # SQLite serves one process: its lock first (raises AlreadyServed), so a refused second
    # run touches nothing, not even the migrations.
    sqlite_lock = claim_sqlite(settings.chamyeo_database_url)
    # Telegram answers (else one line, not PTB's traceback at its first call).
    if telegram:
        asyncio.run(ensure_telegram_answers(settings))
    asyncio.run(log_database(settings.chamyeo_database_url))
    # Before the bot's own event loop: its connections must be made inside that loop.
    asyncio.run(migrate(settings.chamyeo_database_url))
    log.info("serving: %s", ", ".join(served_channels(settings, webhook)))
    if settings.kakao_enabled and not settings.kakao_events_enabled:
        log.warning("KakaoTalk without the Event API (set CHAMYEO_KAKAO_REST_API_KEY and "
                    "CHAMYEO_KAKAO_EVENT_NAME): citizens on KakaoTalk get no announcements "
                    "and are not told of staff's decisions on their cases")
    if not telegram:
        log.info("Telegram is off (set TELEGRAM_BOT_TOKEN to serve it)")
        asyncio.run(_serve_without_telegram(settings, sqlite_lock))
        return
    # asyncio.run() leaves no current loop; older PTB 22.x releases expect one.
    asyncio.set_event_loop(asyncio.new_event_loop())
    services = create_services(settings)
    leadership: Leadership = sqlite_lock or AdvisoryLeadership(services.db)
    http = HttpServer(services, settings) if settings.http_enabled else None
    if not settings.kakao_enabled:
        log.info("KakaoTalk is off (set CHAMYEO_KAKAO_BOT_ID, CHAMYEO_KAKAO_SKILL_SECRET and "
                 "CHAMYEO_KAKAO_BLOCK_ID to serve it)")
    application = build_application(settings, services, run_scheduler=True, http=http,
                                    leadership=leadership)
    _log_start(settings, services)
    settle_memory()
    allowed_updates = ["message", "callback_query"]
    if not webhook:
        application.run_polling(allowed_updates=allowed_updates)
        return
    url, secret = settings.telegram_webhook_url, settings.telegram_webhook_secret
    url_path = webhook_url_path(url or "")
    log.info("serving the webhook on %s:%d/%s", settings.telegram_webhook_listen,
             settings.telegram_webhook_port, url_path)
    # PTB sets the webhook (setWebhook with the secret) and answers 403 to any request whose
    # X-Telegram-Bot-Api-Secret-Token header is missing or wrong.
    application.run_webhook(
        listen=settings.telegram_webhook_listen,
        port=settings.telegram_webhook_port,
        url_path=url_path,
        webhook_url=url,
        secret_token=secret,
        allowed_updates=allowed_updates,
    )


async def _serve_without_telegram(settings: Settings, sqlite_lock: FileLeadership | None) -> None:
    if settings.chamyeo_announce_chat_id is not None:
        log.warning("CHAMYEO_ANNOUNCE_CHAT_ID is a Telegram chat: without TELEGRAM_BOT_TOKEN "
                    "announcements go to KakaoTalk subscribers only")
    services = create_services(settings, telegram=False)
    leadership: Leadership = sqlite_lock or AdvisoryLeadership(services.db)
    _log_start(settings, services)
    settle_memory()
    await WithoutTelegram(settings, services, leadership=leadership,
                          clock_watch=ClockWatch()).serve()


def _log_start(settings: Settings, services: Services) -> None:
    log.info("Chamyeo is starting (database %s, worker %s)",
             settings.chamyeo_database_url.split("://")[0], services.worker_id)


class TelegramUnreachable(Exception):
    """Telegram refused the token, or could not be reached, when the bot asked who it is."""


async def ensure_telegram_answers(settings: Settings) -> None:
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    bot = Bot(settings.telegram_bot_token or "", base_url=settings.telegram_api_base_url)
    try:
        await bot.get_me()
    except InvalidToken:
        raise TelegramUnreachable(
            "Telegram refused TELEGRAM_BOT_TOKEN: check it with @BotFather") from None
    except NetworkError as exc:
        raise TelegramUnreachable(
            f"cannot reach Telegram at {settings.telegram_api_base_url} ({exc.message}): "
            "check the network or TELEGRAM_API_BASE_URL") from None
    except TelegramError as exc:
        raise TelegramUnreachable(f"Telegram answered getMe with an error: {exc.message}") \
            from None
    finally:
        await bot.shutdown()


class PortInUse(Exception):
    """A port the bot must listen on is taken (another worker on this host, say)."""


def ensure_port_free(setting: str, host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"{setting}: cannot listen on {host}:{port} "
                            f"({exc.strerror or exc}); is another worker using it?") from None


def webhook_url_path(url: str) -> str:
    """The path the webhook server listens on, from the public URL Telegram posts to:
    https://bot.example.org/tg/hook -> "tg/hook" (a reverse proxy keeps the path)."""
    return urlsplit(url).path.strip("/")

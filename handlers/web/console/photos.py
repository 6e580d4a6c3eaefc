"""Photos sent in on Telegram, for the moderation and judging pages. Telegram keeps them; the
server fetches one with the bot's token (getFile, then the download), which never reaches the
browser. Staff only, a case of the current campaign only, never from a URL's file id; the last
few photos are kept in this process and in the staff member's browser for an hour."""

from __future__ import annotations

import logging

from aiohttp import web
from telegram import Bot
from telegram.error import TelegramError

from bot.domain import TELEGRAM_PHOTO, Case, Role
from bot.settings import Settings
from handlers.kakao.media import MAX_PICTURE_BYTES, OnceCache
from handlers.web.auth import staff_page
from handlers.web.console.common import current_campaign, form_id, no_campaign
from handlers.web.public import picture_url
from handlers.web.rendering import services_of

log = logging.getLogger(__name__)

PATH = "/staff/photos"
PHOTOS_KEPT = 32  # a moderation queue's worth


class TelegramPhotos:
    """Downloads the photos citizens sent the bot, by file id, at most once each at a time."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        self.kept = OnceCache(PHOTOS_KEPT)
        self._ready = False

    async def get(self, file_id: str) -> bytes | None:
        """The photo's bytes, or None when Telegram no longer has it or cannot be reached (not
        kept: the next page asks again)."""
        try:
            return await self.kept.get(file_id, lambda: self._download(file_id))
        except TelegramError as exc:
            log.warning("could not fetch a Telegram photo: %s", exc.message)
            return None

    async def _download(self, file_id: str) -> bytes:
        if not self._ready:
            await self.bot.initialize()
            self._ready = True
        found = await self.bot.get_file(file_id)
        if (found.file_size or 0) > MAX_PICTURE_BYTES:
            raise TelegramError("the photo is larger than a page shows")
        data = bytes(await found.download_as_bytearray())
        if len(data) > MAX_PICTURE_BYTES:
            raise TelegramError("the photo is larger than a page shows")
        return data

    async def close(self) -> None:
        if self._ready:
            await self.bot.shutdown()


TELEGRAM_PHOTOS = web.AppKey("telegram_photos", TelegramPhotos)


def telegram_bot(settings: Settings) -> Bot | None:
    """A Bot for downloads, when this server has the token (the file URL beside the API's)."""
    if not settings.telegram_bot_token:
        return None
    base = settings.telegram_api_base_url
    if not base.endswith("/bot"):
        return Bot(settings.telegram_bot_token, base_url=base)
    return Bot(settings.telegram_bot_token, base_url=base,
               base_file_url=base.removesuffix("/bot") + "/file/bot")


def staff_picture_url(request: web.Request, case: Case) -> str | None:
    """The case's picture for a console page: as the public pages show it, or, for a photo
    sent in on Telegram, through our guarded route when this server can fetch it."""
    found = picture_url(case)
    if found is None and (case.image or "").startswith(TELEGRAM_PHOTO) \
            and TELEGRAM_PHOTOS in request.app:
        return f"{PATH}/{case.id}.jpg"
    return found


@staff_page(Role.MODERATOR, Role.JUDGE)
async def photo(request: web.Request) -> web.StreamResponse:
    campaign = await current_campaign(request)
    if campaign is None:
        return no_campaign(request)
    case_id = form_id(request.match_info["case_id"])
    record = await services_of(request).moderation.record(campaign, case_id) if case_id else None
    image = record.case.image if record else None
    photos = request.app.get(TELEGRAM_PHOTOS)
    if photos is None or not image or not image.startswith(TELEGRAM_PHOTO):
        raise web.HTTPNotFound()
    data = await photos.get(image.removeprefix(TELEGRAM_PHOTO))
    if data is None:
        raise web.HTTPNotFound()
    return web.Response(body=data, content_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=3600"})


def add_photos(app: web.Application, bot: Bot | None) -> None:
    """Serve Telegram photos to staff when there is a bot to fetch them with."""
    if bot is None:
        return
    photos = app[TELEGRAM_PHOTOS] = TelegramPhotos(bot)

    async def close(_: web.Application) -> None:
        await photos.close()

    app.on_cleanup.append(close)


def add_routes(app: web.Application) -> None:
    app.router.add_get(PATH + "/{case_id:[0-9]{1,9}}.jpg", photo)

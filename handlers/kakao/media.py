"""Pictures KakaoTalk fetches from us: KakaoTalk shows an image only from a public URL, so the
skill server also serves, under CHAMYEO_PUBLIC_URL:

- the results chart, GET /media/results/{campaign}/{lang}/{version}.png, once results are
  published. The version comes from the publishing time, read from the database at every
  request: a republish (by any process) makes a new URL, and the old one answers 404;
- the pictures that cases of the current campaign hold as files (campaign files may name a
  local picture), GET /media/cases/{case}/{digest}.{ext}. The file is the one the case points
  at, never a path from the URL; the digest changes with the file (its path, size and time).

Both URLs name one content for ever, so they are cached for a year (`immutable`), with an
ETag and 304 for a client that asks again. Charts are drawn off the event loop, once per
(campaign, language, version) in this process: requests that come together wait for the same
drawing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import stat
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from pathlib import Path

from aiohttp import web

from bot.domain import LANGUAGES, TELEGRAM_PHOTO, Campaign, Case
from bot.services import Services
from bot.services.receipts import ReceiptsNotYet
from bot.services.results import RankedResult

log = logging.getLogger(__name__)

CHART_ROUTE = r"/media/results/{campaign_id:[0-9]{1,9}}/{lang:[a-z]{2}}/{version:[0-9a-f]{12}}.png"
CASE_ROUTE = r"/media/cases/{case_id:[0-9]{1,9}}/{digest:[0-9a-f]{16}}.{ext:[a-z]{3,4}}"
RECEIPTS_ROUTE = "/receipts/{slug:[a-z0-9-]{1,64}}.csv"
IMMUTABLE = "public, max-age=31536000, immutable"
PICTURE_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
                 "webp": "image/webp"}
CHARTS_KEPT = 16  # (campaign, language, version): a few campaigns' charts in two languages
MAX_PICTURE_BYTES = 20 * 1024 * 1024


# --- the URLs ------------------------------------------------------------------------------

def results_version(campaign: Campaign) -> str | None:
    """Names the published results: None before publishing, and a new value after a
    republish (the publishing time is in the database, so every process agrees)."""
    published = campaign.results_published_at
    if published is None:
        return None
    seed = f"{campaign.id}:{published.timestamp():.6f}"
    return hashlib.sha256(seed.encode()).hexdigest()[:12]


def chart_path(campaign: Campaign, lang: str) -> str | None:
    version = results_version(campaign)
    return None if version is None else f"/media/results/{campaign.id}/{lang}/{version}.png"


def local_picture(case: Case) -> Path | None:
    """The picture file a case holds (from a campaign file), or None: an https address is
    fetched by KakaoTalk itself, and a photo sent by chat is Telegram's."""
    image = case.image
    if not image or image.startswith(("https://", "http://", TELEGRAM_PHOTO)):
        return None
    path = Path(image)
    if not path.is_absolute() or path.suffix.lower().lstrip(".") not in PICTURE_TYPES:
        return None
    return path


def _digest(path: Path) -> str | None:
    try:
        found = path.stat()
    except OSError:
        return None
    if not stat.S_ISREG(found.st_mode):
        return None
    seed = f"{path}\0{found.st_size}\0{found.st_mtime_ns}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def case_picture_path(case: Case) -> str | None:
    """Where we serve a case's picture file, or None (no file, or gone since it was loaded)."""
    path = local_picture(case)
    digest = _digest(path) if path is not None else None
    if path is None or digest is None:
        return None
    return f"/media/cases/{case.id}/{digest}.{path.suffix.lower().lstrip('.')}"


def public(base_url: str, path: str) -> str:
    """A path of ours under the public base address (which may have a path of its own)."""
    return base_url.rstrip("/") + path


# --- charts drawn once ---------------------------------------------------------------------

class OnceCache:
    """Values made at most once per key while they are kept (the last `size` keys): a
    request that finds the value being made waits for it instead of making it again. A
    failure is not kept, so the next request tries again."""

    def __init__(self, size: int = CHARTS_KEPT) -> None:
        self.size = size
        self._entries: OrderedDict[Hashable, asyncio.Future[bytes | None]] = OrderedDict()

    async def get(self, key: Hashable,
                  make: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            entry = asyncio.ensure_future(make())
            self._entries[key] = entry
            entry.add_done_callback(lambda done: self._forget_failure(key, done))
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)  # a waiter still holds its own future
        else:
            self._entries.move_to_end(key)
        # Shielded: a request that gives up (its client went away) does not cancel the
        # drawing the others wait for.
        return await asyncio.shield(entry)

    def _forget_failure(self, key: Hashable, done: asyncio.Future[bytes | None]) -> None:
        failed = done.cancelled() or done.exception() is not None
        if failed and self._entries.get(key) is done:
            del self._entries[key]


def _render(ranked: list[RankedResult], lang: str, campaign: Campaign) -> bytes:
    # In a worker thread: matplotlib loads here at the first chart, not on the event loop.
    from bot.chart import render_results_chart

    return render_results_chart(ranked, lang, campaign)


# --- the routes ----------------------------------------------------------------------------

class Media:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.charts = OnceCache()

    async def chart(self, request: web.Request) -> web.StreamResponse:
        lang = request.match_info["lang"]
        version = request.match_info["version"]
        if lang not in LANGUAGES:
            raise web.HTTPNotFound()
        campaign = await self.services.campaigns.get(int(request.match_info["campaign_id"]))
        if campaign is None or results_version(campaign) != version:
            raise web.HTTPNotFound()  # not published, or another (older) publishing
        etag = f'"{version}-{lang}"'
        if _fresh(request, etag):
            return _not_modified(etag)

        async def draw() -> bytes | None:
            ranked = await self.services.results.ranking(campaign)
            if not ranked:
                return None
            return await asyncio.to_thread(_render, ranked, lang, campaign)

        png = await self.charts.get((campaign.id, lang, version), draw)
        if png is None:
            raise web.HTTPNotFound()
        return _picture(png, "image/png", etag)

    async def receipts(self, request: web.Request) -> web.StreamResponse:
        """The public receipt list of a campaign as CSV, once voting has closed: observers
        recount every case from it. It names nobody."""
        slug = request.match_info["slug"]
        campaign = next((c for c in await self.services.campaigns.all() if c.slug == slug),
                        None)
        if campaign is None:
            raise web.HTTPNotFound()
        try:
            data = await self.services.receipts.csv_bytes(campaign, "ko")
        except ReceiptsNotYet:
            raise web.HTTPForbidden(text="The receipt list is published once voting has "
                                         "closed.\n") from None
        return web.Response(body=data, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="receipts-{slug}.csv"',
            "Cache-Control": "no-cache"})

    async def case_picture(self, request: web.Request) -> web.StreamResponse:
        ext = request.match_info["ext"].lower()
        if ext not in PICTURE_TYPES:
            raise web.HTTPNotFound()
        campaign = await self.services.campaigns.current()
        if campaign is None:
            raise web.HTTPNotFound()
        case = await self.services.catalog.get_case(campaign,
                                                    int(request.match_info["case_id"]))
        wanted = f"/media/cases/{request.match_info['case_id']}/" \
                 f"{request.match_info['digest']}.{ext}"
        if case is None or case_picture_path(case) != wanted:
            raise web.HTTPNotFound()  # no such case, no file, or the file has changed
        path = local_picture(case)
        assert path is not None  # case_picture_path found it
        etag = f'"{request.match_info["digest"]}"'
        if _fresh(request, etag):
            return _not_modified(etag)
        try:
            body = await asyncio.to_thread(_read, path)
        except OSError:
            log.warning("case %s: its picture file cannot be read", case.id)
            raise web.HTTPNotFound() from None
        return _picture(body, PICTURE_TYPES[ext], etag)


def _read(path: Path) -> bytes:
    with path.open("rb") as file:
        body = file.read(MAX_PICTURE_BYTES + 1)
    if len(body) > MAX_PICTURE_BYTES:
        raise OSError("picture too large to serve")
    return body


def _fresh(request: web.Request, etag: str) -> bool:
    """If-None-Match names this ETag (weak or strong) or is "*"."""
    header = request.headers.get("If-None-Match", "")
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return etag in tags or "*" in tags


def _headers(etag: str) -> dict[str, str]:
    return {"Cache-Control": IMMUTABLE, "ETag": etag}


def _not_modified(etag: str) -> web.Response:
    return web.Response(status=304, headers=_headers(etag))


def _picture(body: bytes, content_type: str, etag: str) -> web.Response:
    return web.Response(body=body, content_type=content_type, headers=_headers(etag))


MEDIA = web.AppKey("media", Media)


def add_media_routes(app: web.Application, services: Services) -> None:
    media = Media(services)
    app[MEDIA] = media
    app.router.add_get(CHART_ROUTE, media.chart)  # HEAD too
    app.router.add_get(CASE_ROUTE, media.case_picture)
    app.router.add_get(RECEIPTS_ROUTE, media.receipts)

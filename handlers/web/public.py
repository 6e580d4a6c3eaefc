"""The public pages (no sign-in): the campaigns, a campaign with its schedule and its cases
(filters, search, pages), and one case with the buttons into chat to vote. The results and
the receipt list are in public_results.py. Only what citizens see in chat is shown: approved
cases through CatalogService, vote counts only when the campaign shows them, and never who
sent a case in."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from bot.domain import LANGUAGES, Campaign, Case, Phase, PhaseStatus
from bot.search import clean_search
from bot.services.catalog import CatalogService, ListQuery
from handlers.kakao.media import case_picture_path, public
from handlers.telegram.start import DEEP_LINK_PREFIX
from handlers.web.rendering import WEB_SETTINGS, language_of, render, services_of

SLUG = "{slug:[a-z0-9-]{1,64}}"
CASE_ID = "{case_id:[0-9]{1,9}}"
PAGE_SIZE = 20  # cases per page: a screenful on a desktop, a short scroll on a phone
MAX_PAGE = 10_000  # a page number beyond any campaign's cases (shown as the last page)
DESCRIPTION_LENGTH = 200  # og:description


async def campaign_of(request: web.Request) -> Campaign:
    """The campaign the address names, or the 404 page."""
    slug = request.match_info["slug"]
    for campaign in await services_of(request).campaigns.all():
        if campaign.slug == slug:
            return campaign
    raise web.HTTPNotFound()


def campaign_path(campaign: Campaign, rest: str = "") -> str:
    return f"/c/{campaign.slug}{rest}"


def lang_query(request: web.Request) -> str:
    """"?lang=xx" when the page was asked for in a language by address: carried on the
    page's links, for a browser that keeps no cookie."""
    lang = request.query.get("lang")
    return "?" + urlencode({"lang": lang}) if lang in LANGUAGES else ""


def page(request: web.Request, template: str, section: str, status: int = 200,
         **context: object) -> web.Response:
    """A public page: `section` marks where it is in the campaign's menu."""
    return render(request, template, status=status, section=section, lq=lang_query(request),
                  **context)


@dataclass(frozen=True)
class CaseView:
    """A case as a page shows it, in the page's language."""

    case: Case
    title: str
    summary: str
    body: str
    organization: str
    district: str
    neighbourhood: str
    category: str
    url: str


def case_view(campaign: Campaign, case: Case, lang: str) -> CaseView:
    text = case.text(lang)
    district = campaign.district(case.district)
    category = campaign.category(case.category)
    return CaseView(
        case=case, title=text.title, summary=text.summary, body=text.body,
        organization=text.organization,
        district=district.name.get(lang) if district else case.district,
        neighbourhood=campaign.neighbourhood_name(case, lang),
        category=category.name.get(lang) if category else case.category,
        url=campaign_path(campaign, f"/cases/{case.id}"))


def schedule(campaign: Campaign, request: web.Request) -> list[tuple[Phase, PhaseStatus]]:
    now = services_of(request).clock.now()
    return [(phase, phase.status_at(now)) for phase in campaign.phases]


# --- the pages -------------------------------------------------------------------------------

async def index(request: web.Request) -> web.StreamResponse:
    """The current campaign's page; the list of campaigns when there is none to go to."""
    services = services_of(request)
    current = await services.campaigns.current()
    if current is not None:
        return web.Response(status=302, headers={
            "Location": campaign_path(current) + lang_query(request)})
    return page(request, "public/index.html", "index",
                campaigns=await services.campaigns.listing())


def _page_number(raw: str | None) -> int:
    """?page= (1-based) as a 0-based page; anything else is the first page."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        return 0
    return min(max(int(raw), 1), MAX_PAGE) - 1


async def campaign_page(request: web.Request) -> web.StreamResponse:
    campaign = await campaign_of(request)
    services = services_of(request)
    lang = language_of(request)
    district = request.query.get("district", "")
    category = request.query.get("category", "")
    search = clean_search(request.query.get("q", ""))
    query = ListQuery(page=_page_number(request.query.get("page")),
                      district=district if campaign.district(district) else None,
                      category=category if campaign.category(category) else None,
                      keyword=search.text if search else None)
    # A visitor here is nobody in particular, so there is no citizen's own shuffled order
    # (that one keeps a case from gaining votes by always being first for one person, and
    # needs a person). With citizen=None CatalogService gives what an anonymous list should
    # be: the campaign file's order while voting is open (the same for everyone, as staff
    # see it), then the standing once voting has closed (the published ranking; votes where
    # counts are shown; else still the file's order, so the page gives no result away).
    catalog = CatalogService(services.db, services.clock, page_size=PAGE_SIZE)
    found = await catalog.list_cases(campaign, query, None)
    return page(
        request, "public/campaign.html", "cases", campaign=campaign,
        schedule=schedule(campaign, request),
        cases=[case_view(campaign, c, lang) for c in found.cases], found=found,
        chosen_district=query.district or "", chosen_category=query.category or "",
        search=search.text if search else "", search_cut=bool(search and search.cut),
        filtered=bool(query.district or query.category or query.keyword))


def picture_url(case: Case) -> str | None:
    """The case's picture as a page shows it: an https address as it is, a file the case
    holds through our /media/cases route; none for a photo sent in on Telegram (Telegram's)."""
    image = case.image or ""
    if image.startswith("https://") and urlsplit(image).netloc:
        return image
    return case_picture_path(case)


def _absolute(request: web.Request, path: str) -> str | None:
    base = request.app[WEB_SETTINGS].chamyeo_public_url
    if path.startswith("https://"):
        return path
    return public(base, path) if base else None


def _cut(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1].rstrip() + "…"


async def case_page(request: web.Request) -> web.StreamResponse:
    campaign = await campaign_of(request)
    services = services_of(request)
    settings = request.app[WEB_SETTINGS]
    lang = language_of(request)
    # Approved cases of this campaign only: anything else (another campaign's, one waiting
    # for moderation, rejected, hidden, withdrawn) is the same 404 as no case at all.
    case = await services.catalog.get_case(campaign, int(request.match_info["case_id"]))
    if case is None:
        raise web.HTTPNotFound()
    view = case_view(campaign, case, lang)
    votes = await services.catalog.visible_votes(campaign, case.id)
    picture = picture_url(case)
    # Into chat to vote: only while voting is open, and only for the campaign the bot serves
    # now (a Telegram deep link opens the case in that campaign).
    current = await services.campaigns.current()
    voting = campaign.voting_window(services.clock.now())
    open_here = voting is PhaseStatus.OPEN and current is not None and current.id == campaign.id
    telegram = kakao = None
    if open_here and settings.chamyeo_telegram_bot_username:
        telegram = (f"https://t.me/{settings.chamyeo_telegram_bot_username}"
                    f"?start={DEEP_LINK_PREFIX}{case.id}")
    if open_here and settings.chamyeo_kakao_channel_url:
        kakao = settings.chamyeo_kakao_channel_url
    return page(
        request, "public/case.html", "case", campaign=campaign, view=view, votes=votes,
        picture=picture, voting=voting.value, telegram_url=telegram, kakao_url=kakao,
        og_url=_absolute(request, view.url),
        og_image=_absolute(request, picture) if picture else None,
        og_description=_cut(view.summary or view.body, DESCRIPTION_LENGTH))


def add_public_routes(app: web.Application) -> None:
    # Here, not at the top: public_results builds on this module's helpers.
    from handlers.web import public_results

    app.router.add_get("/", index)
    app.router.add_get(f"/c/{SLUG}", campaign_page)
    app.router.add_get(f"/c/{SLUG}/cases/{CASE_ID}", case_page)
    public_results.add_routes(app)

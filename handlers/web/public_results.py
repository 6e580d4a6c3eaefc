"""The public results and receipt list of a campaign. The results: after staff publish them,
the ranking with the award tiers, the formula and the chart (the PNG KakaoTalk shows, served
under /media/results/); before, when they come. The receipts: once voting has closed, "check
my receipt" and the whole list as CSV (/receipts/{slug}.csv); the page itself lists none,
so it stays small however many votes were cast."""

from __future__ import annotations

from aiohttp import web

from bot.domain import PhaseName
from bot.i18n import plain
from bot.services.receipts import ReceiptsNotYet, ReceiptStatus
from handlers.kakao.media import chart_path
from handlers.web.public import SLUG, campaign_of, case_view, page
from handlers.web.rendering import language_of, services_of

CHART_ALT_ENTRIES = 3  # the chart's alt text names the top cases
TYPED_SHOWN = 40  # of a typed receipt, what is put back in the box
MAX_TYPED = 64  # longer is not a receipt


async def results_page(request: web.Request) -> web.StreamResponse:
    campaign = await campaign_of(request)
    services = services_of(request)
    lang = language_of(request)
    if campaign.results_published_at is None:
        awards = campaign.phase(PhaseName.AWARDS)
        return page(request, "public/results.html", "results", campaign=campaign,
                    published=False, awards_at=awards.start if awards else None)
    ranked = await services.results.ranking(campaign)
    rows = [(r.ranked, case_view(campaign, r.case, lang)) for r in ranked]
    top = plain(lang, "web.public.results.alt_separator").join(
        plain(lang, "web.public.results.alt_entry", rank=r.rank, title=view.title,
              final=f"{r.final:.2f}")
        for r, view in rows[:CHART_ALT_ENTRIES])
    weights = {"citizen": round(campaign.ranking.citizen_weight * 100),
               "judge": round(campaign.ranking.judge_weight * 100)}
    return page(
        request, "public/results.html", "results", campaign=campaign, published=True, rows=rows,
        chart=chart_path(campaign, lang) if rows else None,
        chart_alt=plain(lang, "web.public.results.chart_alt",
                        title=campaign.title.get(lang), top=top),
        formula=plain(lang, "results.citizen.formula", **weights).split("\n"))


async def receipts_page(request: web.Request) -> web.StreamResponse:
    """The checker and the CSV link. The form posts, so a receipt (which tells which case its
    vote went to) stays out of addresses and the browser's history; ?receipt= is answered
    too."""
    campaign = await campaign_of(request)
    services = services_of(request)
    lang = language_of(request)
    voting = campaign.phase(PhaseName.VOTING)
    closes = voting.end if voting is not None else None
    try:
        count = await services.receipts.count(campaign)
    except ReceiptsNotYet:
        return page(request, "public/receipts.html", "receipts", campaign=campaign,
                    open=False, closes=closes)
    answer: dict[str, object] | None = None
    typed = ""
    status = 200
    asked = request.method == "POST" or "receipt" in request.query
    if asked:
        # The form posts; ?receipt= answers too (a link that checks one, say).
        raw = (await request.post()).get("receipt", "") if request.method == "POST" \
            else request.query.get("receipt", "")
        typed = raw if isinstance(raw, str) else ""
        # A receipt is 8 letters and digits, maybe with spaces or a dash: anything much
        # longer is not one (and is not worth reading through).
        found = await services.receipts.lookup(
            campaign, typed if len(typed) <= MAX_TYPED else "")
        if found.status is ReceiptStatus.FOUND and found.case is not None:
            answer = {"kind": "found", "receipt": found.receipt,
                      "case": case_view(campaign, found.case, lang)}
        elif found.status is ReceiptStatus.NOT_FOUND and found.receipt is not None:
            answer = {"kind": "not_found", "receipt": found.receipt}
        elif found.status is ReceiptStatus.NOT_FOUND:
            answer = {"kind": "malformed"}  # not 8 letters and digits of a receipt
            status = 400
        else:  # staff reopened voting a moment ago: no final list to check against
            return page(request, "public/receipts.html", "receipts", campaign=campaign,
                        open=False, closes=closes)
    return page(request, "public/receipts.html", "receipts", status=status,
                campaign=campaign, open=True, count=count, answer=answer,
                typed=" ".join(typed.split())[:TYPED_SHOWN],
                csv_url=f"/receipts/{campaign.slug}.csv")


def add_routes(app: web.Application) -> None:
    app.router.add_get(f"/c/{SLUG}/results", results_page)
    app.router.add_get(f"/c/{SLUG}/receipts", receipts_page)
    app.router.add_post(f"/c/{SLUG}/receipts", receipts_page)

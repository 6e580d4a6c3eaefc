"""The public web pages (no sign-in): the campaign with its schedule and its cases (filters,
search, pages), one case (only approved ones, with Open Graph tags and buttons into chat),
the results before and after publishing, the receipt checker; every page in Korean and
English and under 300 KB; and the KakaoTalk cards' buttons to these pages."""

from __future__ import annotations

import html
import re
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.campaign_file import parse_campaign
from bot.domain import CaseStatus
from bot.settings import SettingsError, load_settings
from handlers.kakao.media import chart_path
from handlers.server import build_http_app
from storage.repositories import CaseRepository
from storage.tables import cases as cases_table
from tests.conftest import DAEJEON_FILE, VOTING_CLOSES, VOTING_OPENS, _case, small_campaign
from tests.test_images import PNG
from tests.test_kakao_results import PUBLIC, serve, vote_and_publish
from tests.test_kakao_skill import ask, card_button, press, quick_reply, skill_request
from tests.web_support import PUBLIC_URL, WEB_SETTINGS

SLUG = "test-2024"
MAX_PAGE_BYTES = 300 * 1024
CASE_LINK = re.compile(r'<h3><a href="/c/[a-z0-9-]+/cases/(\d+)[^"]*">([^<]+)</a></h3>')


async def get(client: TestClient, path: str, status: int = 200) -> str:
    """The page as a new visitor gets it (no language cookie from an earlier ?lang=)."""
    client.session.cookie_jar.clear()
    response = await client.get(path, allow_redirects=False)
    text = await response.text()
    assert response.status == status, (path, response.status, text[:500])
    assert len(text.encode()) < MAX_PAGE_BYTES, path
    return text


def titles(page: str) -> list[str]:
    return [html.unescape(title) for _, title in CASE_LINK.findall(page)]


def case_ids(page: str) -> list[int]:
    return [int(case_id) for case_id, _ in CASE_LINK.findall(page)]


async def ids_by_key(services, campaign) -> dict[str, int]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(cases_table.c.key, cases_table.c.id)
                                  .where(cases_table.c.campaign_id == campaign.id))
        return {key: case_id for key, case_id in rows}


async def load(services, raw: dict, **options):
    report = await services.campaigns.load(parse_campaign(raw, **options))
    return await services.campaigns.get(report.campaign_id)


async def client_with(services, **settings) -> TestClient:
    client = TestClient(TestServer(build_http_app(
        services, WEB_SETTINGS.model_copy(update=settings))))
    await client.start_server()
    return client


def meta(page: str, prop: str) -> str | None:
    found = re.search(rf'<meta property="{re.escape(prop)}" content="([^"]*)">', page)
    return html.unescape(found.group(1)) if found else None


# --- / and the campaign page ---------------------------------------------------------------

async def test_the_root_goes_to_the_current_campaign(web):
    response = await web.get("/", allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == f"/c/{SLUG}"
    response = await web.get("/?lang=en", allow_redirects=False)
    assert response.headers["Location"] == f"/c/{SLUG}?lang=en"


async def test_without_any_campaign_the_root_says_so(services):
    client = await client_with(services)
    try:
        page = await get(client, "/")
        assert "지금 열린 공모가 없습니다" in page
        assert "No campaign is open now" in await get(client, "/?lang=en")
    finally:
        await client.close()


async def test_the_campaign_page_in_korean_and_english(web, campaign):
    page = await get(web, f"/c/{SLUG}")
    assert '<html lang="ko">' in page
    assert "<h1>시험 공모 2024</h1>" in page and "시험용 공모입니다." in page
    # The schedule in the campaign's time, the open phase marked.
    assert "10월 7일(월) 09:00 ~ 11월 24일(일) 18:00" in page
    assert "12월 9일(월) 14:00" in page
    current = re.search(r'<li class="phase open" aria-current="step">\s*<strong>([^<]+)', page)
    assert current and current.group(1) == "시민 투표"
    assert page.count('aria-current="step"') == 1
    # Every approved case, in the file's order (an anonymous visitor gets no shuffle).
    assert titles(page) == [f"사례 제목 {i:02d}번" for i in range(1, 11)]
    assert "사례 10건" in page
    assert 'id="case-filters"' in page and '<label for="filter-q">' in page
    english = await get(web, f"/c/{SLUG}?lang=en")
    assert '<html lang="en">' in english and "<h1>Test competition 2024</h1>" in english
    assert "Mon 7 Oct 09:00 – Sun 24 Nov 18:00" in english
    assert "Citizen voting" in english and "10 cases" in english
    # Case 3 has no English text: its Korean stands in.
    assert titles(english)[:3] == ["Case title 01", "Case title 02", "사례 제목 03번"]


async def test_filters_and_search_narrow_the_list(web, campaign):
    async def listed(query: str) -> list[str]:
        return titles(await get(web, f"/c/{SLUG}?{query}"))

    odd = [f"사례 제목 {i:02d}번" for i in (1, 3, 5, 7, 9)]
    assert await listed("district=dong") == odd
    assert await listed("category=seniors") == [f"사례 제목 {i:02d}번" for i in range(6, 11)]
    assert await listed("district=dong&category=seniors") == ["사례 제목 07번", "사례 제목 09번"]
    # The same search as in chat: every word, in any text or place name.
    assert await listed("q=07번") == ["사례 제목 07번"]
    assert await listed("q=송촌동") == [f"사례 제목 {i:02d}번" for i in (2, 4, 6, 8, 10)]
    assert await listed("q=Case+title+04&lang=en") == ["Case title 04"]
    assert await listed("q=송촌동&district=dong") == []
    page = await get(web, f"/c/{SLUG}?q=없는말")
    assert "맞는 사례가 없습니다" in page and "사례 0건" in page
    # The chosen filters stay chosen; an unknown one is ignored, not an error.
    page = await get(web, f"/c/{SLUG}?district=dong&q=%3Cb%3E")
    assert '<option value="dong" selected>' in page
    assert 'value="&lt;b&gt;"' in page and "<b>" not in page.split("<main", 1)[1]
    assert len(await listed("district=nowhere&category=%00")) == 10


async def test_pages_of_twenty(web, services, campaign):
    raw = small_campaign()
    raw["cases"] = [_case(f"case-{i}", "dong", "효동", "care", f"사례 제목 {i:02d}번", None)
                    for i in range(1, 46)]
    await load(services, raw)
    first = await get(web, f"/c/{SLUG}")
    assert titles(first) == [f"사례 제목 {i:02d}번" for i in range(1, 21)]
    assert "3쪽 중 1쪽" in first and 'id="page-next"' in first and 'id="page-prev"' not in first
    second = await get(web, f"/c/{SLUG}?page=2&district=dong")
    assert titles(second) == [f"사례 제목 {i:02d}번" for i in range(21, 41)]
    assert 'href="/c/test-2024?page=3&amp;district=dong"' in second  # the filters kept
    last = await get(web, f"/c/{SLUG}?page=3")
    assert titles(last) == [f"사례 제목 {i:02d}번" for i in range(41, 46)]
    assert 'id="page-next"' not in last
    assert titles(await get(web, f"/c/{SLUG}?page=999")) == titles(last)  # past the end
    for garbage in ("0", "-1", "abc", "１", "99999999999"):
        assert titles(await get(web, f"/c/{SLUG}?page={garbage}")) == titles(first)


async def test_unknown_campaigns_and_cases_are_404(web, services, campaign):
    ids = await ids_by_key(services, campaign)
    page = await get(web, "/c/no-such-campaign", status=404)
    assert "페이지를 찾을 수 없습니다" in page
    await get(web, "/c/no-such-campaign/results", status=404)
    await get(web, "/c/no-such-campaign/receipts", status=404)
    await get(web, f"/c/no-such-campaign/cases/{ids['case-1']}", status=404)
    await get(web, f"/c/{SLUG}/cases/999999", status=404)
    await get(web, f"/c/{SLUG}/cases/abc", status=404)
    other = await load(services, small_campaign(slug="other-2025", phases={
        "submission": {"start": "2025-10-07T09:00", "end": "2025-11-24T18:00"},
        "voting": {"start": "2025-11-28T09:00", "end": "2025-12-01T18:00"},
        "review": {"start": "2025-12-02T09:00", "end": "2025-12-06T18:00"},
        "awards": {"at": "2025-12-09T14:00"}}))
    theirs = await ids_by_key(services, other)
    await get(web, f"/c/{SLUG}/cases/{theirs['case-1']}", status=404)
    await get(web, f"/c/other-2025/cases/{ids['case-1']}", status=404)
    assert "사례 제목 01번" in await get(web, f"/c/other-2025/cases/{theirs['case-1']}")


async def test_only_approved_cases_are_public(web, services, campaign, clock):
    ids = await ids_by_key(services, campaign)
    statuses = [CaseStatus.SUBMITTED, CaseStatus.REJECTED, CaseStatus.HIDDEN,
                CaseStatus.WITHDRAWN, CaseStatus.REMOVED]
    async with services.db.write() as conn:
        for n, status in enumerate(statuses, start=1):
            await CaseRepository(conn).set_status(ids[f"case-{n}"], status, clock.now())
    for n in range(1, len(statuses) + 1):
        await get(web, f"/c/{SLUG}/cases/{ids[f'case-{n}']}", status=404)
    page = await get(web, f"/c/{SLUG}")
    assert titles(page) == [f"사례 제목 {i:02d}번" for i in range(6, 11)]
    assert "사례 5건" in page


# --- one case --------------------------------------------------------------------------------

async def test_a_case_page_shows_the_whole_case_and_never_the_contact(web, services, campaign,
                                                                      clock):
    ids = await ids_by_key(services, campaign)
    page = await get(web, f"/c/{SLUG}/cases/{ids['case-1']}")
    assert "<h1>사례 제목 01번</h1>" in page
    assert "사례 제목 01번 요약입니다." in page
    assert "사례 제목 01번 본문입니다. " * 5 in page
    assert "효동 지역사회보장협의체" in page and "동구 효동" in page and "<dd>돌봄</dd>" in page
    assert 'id="case-votes"' not in page  # counts are sealed in this campaign
    english = await get(web, f"/c/{SLUG}/cases/{ids['case-1']}?lang=en")
    assert "<h1>Case title 01</h1>" in english and "Dong-gu Hyo-dong" in english
    assert "Summary of Case title 01." in english and "<dd>Care</dd>" in english
    # A case sent in by chat, with the submitter's contact: approved, it is public; the
    # contact never is.
    submitted = campaign_case(campaign, "sent-1", "주민 손글씨 편지")
    async with services.db.write() as conn:
        new_id = await CaseRepository(conn).insert(
            submitted, "chat", clock.now(), contact="010-2345-6789 kim@example.org")
    page = await get(web, f"/c/{SLUG}/cases/{new_id}")
    assert "주민 손글씨 편지" in page
    assert "010-2345-6789" not in page and "kim@example.org" not in page


def campaign_case(campaign, key: str, title: str):
    from bot.domain import Case, CaseText

    return Case(id=0, campaign_id=campaign.id, key=key, status=CaseStatus.APPROVED,
                district="dong", neighbourhood="효동", category="care",
                ko=CaseText(title, "요약", "본문", "주민"))


async def test_open_graph_tags_for_sharing(web, services, tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "one.png").write_bytes(PNG)
    raw = small_campaign()
    raw["cases"][0]["image"] = "pics/one.png"
    raw["cases"][1]["image"] = "https://example.org/two.jpg"
    campaign = await load(services, raw, base_dir=tmp_path)
    ids = await ids_by_key(services, campaign)
    page = await get(web, f"/c/{SLUG}/cases/{ids['case-2']}")
    assert meta(page, "og:title") == "사례 제목 02번"
    assert meta(page, "og:description") == "사례 제목 02번 요약입니다."
    assert meta(page, "og:url") == f"{PUBLIC_URL}/c/{SLUG}/cases/{ids['case-2']}"
    assert meta(page, "og:image") == "https://example.org/two.jpg"
    assert '<img src="https://example.org/two.jpg" alt="사례 사진: 사례 제목 02번">' in page
    # A picture file of the case: through our /media/cases route, absolute for sharing.
    page = await get(web, f"/c/{SLUG}/cases/{ids['case-1']}")
    image = meta(page, "og:image")
    assert image.startswith(f"{PUBLIC_URL}/media/cases/{ids['case-1']}/")
    served = await web.get(image.removeprefix(PUBLIC_URL))
    assert served.status == 200 and await served.read() == PNG
    assert f'<img src="{image.removeprefix(PUBLIC_URL)}"' in page
    page = await get(web, f"/c/{SLUG}/cases/{ids['case-3']}")
    assert meta(page, "og:image") is None and "<img" not in page
    assert meta(await get(web, f"/c/{SLUG}/cases/{ids['case-3']}?lang=en"), "og:title") \
        == "사례 제목 03번"


async def test_vote_buttons_only_with_their_settings_and_while_voting(web, services, campaign,
                                                                      clock):
    ids = await ids_by_key(services, campaign)
    path = f"/c/{SLUG}/cases/{ids['case-4']}"
    page = await get(web, path)
    assert 'id="vote-telegram"' not in page and 'id="vote-kakao"' not in page
    assert "투표는 카카오톡이나 텔레그램의 공모 채팅에서 합니다." in page
    client = await client_with(services, chamyeo_telegram_bot_username="chamyeo_bot",
                               chamyeo_kakao_channel_url="https://pf.kakao.com/_abcd/chat")
    try:
        page = await get(client, path)
        telegram = re.search(r'<a class="button big primary" id="vote-telegram" href="([^"]+)"',
                             page)
        # The deep link /start understands (handlers/telegram/start.py).
        assert telegram and telegram.group(1) == f"https://t.me/chamyeo_bot?start=case_{ids['case-4']}"
        assert 'id="vote-kakao" href="https://pf.kakao.com/_abcd/chat"' in page
        assert "텔레그램에서 투표하기" in page and "카카오톡에서 투표하기" in page
        assert "「사례 제목 04번」을 보내면" in page
        english = await get(client, path + "?lang=en")
        assert "Vote on Telegram" in english and "Vote on KakaoTalk" in english
        only_telegram = await client_with(services, chamyeo_telegram_bot_username="chamyeo_bot")
        try:
            page = await get(only_telegram, path)
            assert 'id="vote-telegram"' in page and 'id="vote-kakao"' not in page
        finally:
            await only_telegram.close()
        clock.set(VOTING_OPENS - timedelta(minutes=1))
        page = await get(client, path)
        assert 'id="vote-telegram"' not in page and "아직 시작하지 않았습니다" in page
        clock.set(VOTING_CLOSES)
        page = await get(client, path)
        assert 'id="vote-telegram"' not in page and "시민 투표가 끝났습니다." in page
    finally:
        await client.close()


def test_the_chat_settings_are_checked():
    settings = load_settings(_env_file=None, chamyeo_telegram_bot_username="@chamyeo_bot",
                             chamyeo_kakao_channel_url=" https://pf.kakao.com/_abcd ")
    assert settings.chamyeo_telegram_bot_username == "chamyeo_bot"
    assert settings.chamyeo_kakao_channel_url == "https://pf.kakao.com/_abcd"
    empty = load_settings(_env_file=None, chamyeo_telegram_bot_username="",
                          chamyeo_kakao_channel_url="")
    assert empty.chamyeo_telegram_bot_username is None and empty.chamyeo_kakao_channel_url is None
    with pytest.raises(SettingsError, match="CHAMYEO_TELEGRAM_BOT_USERNAME"):
        load_settings(_env_file=None, chamyeo_telegram_bot_username="bad name!")
    with pytest.raises(SettingsError, match="CHAMYEO_KAKAO_CHANNEL_URL"):
        load_settings(_env_file=None, chamyeo_kakao_channel_url="javascript:alert(1)")


async def test_vote_counts_only_where_the_campaign_shows_them(web, services, campaign):
    shown = await load(services, small_campaign(voting={
        "votes_per_citizen": 1, "allow_change": True, "show_running_tally": True,
        "order": "file"}))
    ids = await ids_by_key(services, shown)
    kim = await services.citizens.identify("telegram", "1001", "ko")
    assert (await services.voting.cast_vote(shown, kim, ids["case-2"])).stored
    page = await get(web, f"/c/{SLUG}/cases/{ids['case-2']}")
    assert '<dd id="case-votes">1표</dd>' in page
    english = await get(web, f"/c/{SLUG}/cases/{ids['case-2']}?lang=en")
    assert '<dd id="case-votes">1 vote</dd>' in english


# --- results ---------------------------------------------------------------------------------

async def test_results_before_publishing_say_when(web, campaign, clock):
    for now in (clock.now(), VOTING_CLOSES):
        clock.set(now)
        page = await get(web, f"/c/{SLUG}/results")
        assert "아직 결과가 발표되지 않았습니다." in page
        assert "시상 예정: 12월 9일(월) 14:00" in page
        assert 'id="ranking"' not in page and "/media/results/" not in page
    english = await get(web, f"/c/{SLUG}/results?lang=en")
    assert "The results have not been published yet." in english
    assert "Awards: Mon 9 Dec 14:00" in english


async def test_published_results_with_ranking_awards_formula_and_chart(web, services, clock):
    campaign = await vote_and_publish(services, clock)
    page = await get(web, f"/c/{SLUG}/results")
    assert "아직 결과가" not in page
    assert "최종 점수 = 시민 투표 30% + 심사 70%" in page
    assert "<strong>대상</strong>: 1개 사례" in page and "<strong>우수상</strong>: 2개 사례" in page
    rows = re.findall(r'<tr( class="awarded")?>\s*<td class="number">(\d+)</td>\s*'
                      r'<th scope="row">(?:<span class="award">([^<]+)</span> )?'
                      r'<a href="[^"]+">([^<]+)</a>.*?</th>\s*'
                      r'<td class="number" data-label="받은 표">(\d+)</td>\s*'
                      r'<td class="number" data-label="심사 점수">([\d.]+)</td>\s*'
                      r'<td class="number" data-label="최종 점수">([\d.]+)</td>', page, re.S)
    assert [(r[1], r[3], r[2], r[4], r[6]) for r in rows[:4]] == [
        ("1", "사례 제목 02번", "대상", "3", "30.00"),
        ("2", "사례 제목 01번", "우수상", "2", "20.00"),
        ("3", "사례 제목 05번", "우수상", "1", "10.00"),
        ("4", "사례 제목 03번", "", "0", "0.00"),
    ]
    assert len(rows) == 10 and [r[0] for r in rows[:4]] == [' class="awarded"'] * 3 + [""]
    chart = chart_path(campaign, "ko")
    image = re.search(r'<img src="([^"]+)" alt="([^"]+)" id="results-chart">', page)
    assert image and image.group(1) == chart
    assert html.unescape(image.group(2)) == (
        "시험 공모 2024 결과 그래프. 상위 사례: 1위 사례 제목 02번 30.00점, "
        "2위 사례 제목 01번 20.00점, 3위 사례 제목 05번 10.00점")
    served = await web.get(chart)
    assert served.status == 200 and (await served.read()).startswith(b"\x89PNG")
    english = await get(web, f"/c/{SLUG}/results?lang=en")
    assert "Final score = citizen votes 30% + judges 70%" in english
    assert "Grand prize" in english and "Case title 02" in english
    assert f'<img src="{chart_path(campaign, "en")}"' in english
    assert "1. Case title 02, 30.00 points" in english
    # After publishing, the list of cases follows the ranking.
    assert titles(await get(web, f"/c/{SLUG}"))[:3] == [
        "사례 제목 02번", "사례 제목 01번", "사례 제목 05번"]


# --- receipts --------------------------------------------------------------------------------

async def vote(services, campaign, ids, keys) -> list[str]:
    receipts = []
    for n, key in enumerate(keys):
        citizen = await services.citizens.identify("kakao", f"voter-{n}", "ko")
        cast = await services.voting.cast_vote(campaign, citizen, ids[key])
        assert cast.stored
        receipts.append(cast.vote.receipt)
    return receipts


async def test_receipts_before_voting_closes(web, services, campaign):
    ids = await ids_by_key(services, campaign)
    [receipt] = await vote(services, campaign, ids, ["case-1"])
    page = await get(web, f"/c/{SLUG}/receipts")
    assert "영수증 목록은 투표가 끝난 뒤에 공개됩니다." in page
    assert "투표 마감: 12월 1일(일) 18:00" in page
    assert 'id="receipt-check"' not in page
    response = await web.post(f"/c/{SLUG}/receipts", data={"receipt": receipt})
    assert response.status == 200
    text = await response.text()
    assert "투표가 끝난 뒤에 공개됩니다" in text and "사례 제목 01번" not in text
    assert "The receipt list is published once voting has closed." in await get(
        web, f"/c/{SLUG}/receipts?lang=en")


async def test_checking_a_receipt(web, services, campaign, clock):
    ids = await ids_by_key(services, campaign)
    receipts = await vote(services, campaign, ids, ["case-2", "case-2", "case-7"])
    clock.set(VOTING_CLOSES)
    page = await get(web, f"/c/{SLUG}/receipts")
    assert '<form id="receipt-check"' in page and '<label for="receipt">' in page
    assert 'name="receipt"' in page and 'id="receipt-submit"' in page
    assert 'id="receipt-result"' not in page
    assert "세어진 표: 3개" in page and f'href="/receipts/{SLUG}.csv"' in page

    async def check(typed: str, status: int = 200, lang: str = "") -> str:
        web.session.cookie_jar.clear()
        response = await web.post(f"/c/{SLUG}/receipts{lang}", data={"receipt": typed})
        text = await response.text()
        assert response.status == status, text[:300]
        assert len(text.encode()) < MAX_PAGE_BYTES
        result = re.search(r'<div id="receipt-result"[^>]*>(.*?)</div>', text, re.S)
        assert result, "no answer on the page"
        return result.group(1)

    found = await check(receipts[2])
    assert f"{receipts[2]}: 이 영수증의 표는 아래 사례에 세어졌습니다." in found
    assert f'<a href="/c/{SLUG}/cases/{ids["case-7"]}">사례 제목 07번</a>' in found
    typed = receipts[0].lower().replace("-", " ")  # as people type it
    assert "사례 제목 02번" in await check(typed)
    english = await check(receipts[0], lang="?lang=en")
    assert "was counted for this case" in english and "Case title 02" in english
    missing = "ZZZZ-ZZZZ" if "ZZZZ-ZZZZ" not in receipts else "YYYY-YYYY"
    assert "이 번호로 세어진 표가 없습니다" in await check(missing)
    for garbage in ("", "12", "A" * 5000, "<script>alert(1)</script>", "ABCD-EFGH-IJKL"):
        answer = await check(garbage, status=400)
        assert "영수증 번호가 아닙니다" in answer
    # An address that checks one is answered too.
    by_link = await get(web, f"/c/{SLUG}/receipts?receipt={receipts[2]}")
    assert 'id="receipt-result"' in by_link and "사례 제목 07번" in by_link
    await get(web, f"/c/{SLUG}/receipts?receipt=%3Cscript%3E", status=400)
    response = await web.post(f"/c/{SLUG}/receipts", data={"receipt": "<b>x</b>"})
    text = await response.text()
    assert "<b>x</b>" not in text and 'value="&lt;b&gt;x&lt;/b&gt;"' in text
    csv = await web.get(f"/receipts/{SLUG}.csv")
    assert csv.status == 200 and receipts[2] in (await csv.read()).decode("utf-8-sig")


# --- every page: both languages, small, fast -------------------------------------------------

async def test_every_page_of_the_sample_campaign_is_small_and_quick(web, services, clock):
    report = await services.campaigns.load_file(DAEJEON_FILE)
    sample = await services.campaigns.get(report.campaign_id)
    ids = await ids_by_key(services, sample)
    await vote(services, sample, ids, list(ids)[:5])
    clock.set(VOTING_CLOSES)
    await services.results.publish(sample, "test", incomplete_ok=True)
    await services.broadcaster.idle()
    slug = sample.slug
    paths = [f"/c/{slug}", f"/c/{slug}?q=돌봄", f"/c/{slug}/results", f"/c/{slug}/receipts",
             *(f"/c/{slug}/cases/{case_id}" for case_id in ids.values())]
    slowest = 0.0
    for lang in ("", "?lang=en"):
        for path in paths:
            path += lang if "?" not in path else lang.replace("?", "&")
            started = time.perf_counter()
            page = await get(web, path)
            slowest = max(slowest, time.perf_counter() - started)
            assert f'<html lang="{"en" if lang else "ko"}">' in page
            assert " style=" not in page and "<script" not in page  # the CSP allows neither
    # The issue asks for 200 ms; here each takes well under 100 ms (SQLite and PostgreSQL),
    # and a shared CI machine gets room to spare.
    assert slowest < 1.0


# --- KakaoTalk's buttons to these pages --------------------------------------------------------

async def test_kakao_cards_carry_a_web_link(services, campaign, clock):
    ids = await ids_by_key(services, campaign)
    client = await serve(services)  # CHAMYEO_PUBLIC_URL = PUBLIC
    try:
        status, answer = await ask(client, skill_request(
            "자세히", {"a": "c", "k": campaign.id, "c": ids["case-3"]}))
        button = card_button(answer, "웹에서 보기")
        assert button["action"] == "webLink"
        assert button["webLinkUrl"] == f"{PUBLIC}/c/{SLUG}/cases/{ids['case-3']}"
        assert card_button(answer, "투표하기")  # beside the vote button
        status, answer = await ask(client, skill_request("시작"))
        status, answer = await press(client, quick_reply(answer, "English"))
        status, answer = await ask(client, skill_request(
            "more", {"a": "c", "k": campaign.id, "c": ids["case-3"]}))
        assert card_button(answer, "On the web")["webLinkUrl"] == \
            f"{PUBLIC}/c/{SLUG}/cases/{ids['case-3']}?lang=en"
        await vote_and_publish(services, clock)
        status, answer = await ask(client, skill_request("Results"))
        outputs = answer["template"]["outputs"]
        assert len(outputs) == 3 and "simpleImage" in outputs[0]
        assert outputs[-1]["textCard"]["buttons"][0]["webLinkUrl"] == \
            f"{PUBLIC}/c/{SLUG}/results?lang=en"
        status, answer = await ask(client, skill_request("menu"))
        status, answer = await press(client, quick_reply(answer, "한국어"))
        status, answer = await ask(client, skill_request("결과 보기"))
        link = card_button(answer, "웹에서 보기")
        assert link["action"] == "webLink" and link["webLinkUrl"] == f"{PUBLIC}/c/{SLUG}/results"
    finally:
        await client.close()

"""Results on KakaoTalk: the ranking with its awards after publishing, the chart served by our
own skill server under CHAMYEO_PUBLIC_URL (fetched back here from the same test server, with
its cache headers, 304 and 404s), drawn once for concurrent requests; and case pictures kept
as files, served the same way and shown on Kakao cards."""

from __future__ import annotations

import asyncio
import threading
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.campaign_file import parse_campaign
from handlers.kakao.media import IMMUTABLE, MEDIA
from handlers.kakao.results import MORE, pack
from handlers.kakao.server import build_kakao_app
from storage.tables import cases
from tests.conftest import VOTING_CLOSES, small_campaign
from tests.test_images import PNG
from tests.test_kakao_skill import SETTINGS, ask, press, quick_reply, skill_request, texts

PUBLIC = "https://chamyeo.example.org"
AWARDS = [{"ko": "대상", "en": "Grand prize", "count": 1},
          {"ko": "우수상", "en": "Excellence", "count": 2}]
NOT_YET = "아직 결과가 발표되지 않았습니다."


async def serve(services, public_url: str | None = PUBLIC) -> TestClient:
    settings = SETTINGS.model_copy(update={"chamyeo_public_url": public_url})
    client = TestClient(TestServer(build_kakao_app(services, settings)))
    await client.start_server()
    return client


@pytest.fixture
async def kakao(services, campaign):
    client = await serve(services)
    yield client
    await client.close()


async def load(services, raw: dict):
    report = await services.campaigns.load(parse_campaign(raw))
    return await services.campaigns.get(report.campaign_id)


async def case_ids(services, campaign) -> dict[str, int]:
    page = await services.catalog.list_cases(campaign, _all(), None)
    return {c.key: c.id for c in page.cases}


def _all():
    from bot.services.catalog import ListQuery

    return ListQuery(0, None, None, None)


async def vote_and_publish(services, clock) -> object:
    """Case 02 three votes, case 01 two, case 05 one; voting closes; results published."""
    campaign = await load(services, small_campaign(awards=AWARDS))
    ids = await case_ids(services, campaign)
    for n, key in enumerate(["case-2"] * 3 + ["case-1"] * 2 + ["case-5"]):
        citizen = await services.citizens.identify("kakao", f"voter-{n}", "ko")
        await services.voting.cast_vote(campaign, citizen, ids[key])
    clock.set(VOTING_CLOSES)
    result = await services.results.publish(campaign, "telegram:1", incomplete_ok=True)
    assert result.published_at is not None
    await services.broadcaster.idle()  # the announcement, in the background, is done
    return await services.campaigns.get(campaign.id)


def image_url(answer: dict) -> str | None:
    images = [o["simpleImage"] for o in answer["template"]["outputs"] if "simpleImage" in o]
    assert len(images) <= 1
    return images[0]["imageUrl"] if images else None


def path(url: str) -> str:
    assert url.startswith(PUBLIC + "/media/")
    return urlsplit(url).path


def ranking_text(answer: dict) -> str:
    return "\n".join(t for o, t in zip(answer["template"]["outputs"], texts(answer), strict=True)
                     if "simpleText" in o)


async def test_published_results_with_the_chart_served_by_us(kakao, services, clock):
    campaign = await vote_and_publish(services, clock)
    status, answer = await ask(kakao, skill_request("시작"))
    assert answer["template"]["quickReplies"][0]["label"] == "🏆 결과 보기"
    assert len(answer["template"]["quickReplies"]) <= 10
    status, answer = await press(kakao, quick_reply(answer, "결과 보기"))
    assert status == 200
    outputs = answer["template"]["outputs"]
    assert "simpleImage" in outputs[0] and len(outputs) <= 3
    assert outputs[0]["simpleImage"]["altText"] == "🏆 시험 공모 2024 결과"
    text = ranking_text(answer)
    assert text.startswith("🏆 시험 공모 2024 결과")
    assert "1. [대상] 사례 제목 02번\n   3표 · 심사 0점 · 최종 30.00점" in text
    assert "최종 점수 = 시민 투표 30% + 심사 70%" in text  # the formula, with the weights
    assert "2. [우수상] 사례 제목 01번\n   2표 · 심사 0점 · 최종 20.00점" in text
    assert "3. [우수상] 사례 제목 05번\n   1표 · 심사 0점 · 최종 10.00점" in text
    assert all(len(o["simpleText"]["text"]) <= 1000 for o in outputs[1:-1])
    # Last, a card with a button to the public results page (tests/test_web_public.py).
    link = outputs[-1]["textCard"]["buttons"][0]
    assert link["action"] == "webLink" and link["webLinkUrl"] == f"{PUBLIC}/c/test-2024/results"
    assert quick_reply(answer, "사례 보기")  # the menu under it

    chart = path(image_url(answer))
    assert chart.startswith(f"/media/results/{campaign.id}/ko/")
    response = await kakao.get(chart)
    assert response.status == 200
    body = await response.read()
    assert body.startswith(b"\x89PNG\r\n\x1a\n") and len(body) > 10_000
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Cache-Control"] == IMMUTABLE == \
        "public, max-age=31536000, immutable"
    etag = response.headers["ETag"]
    again = await kakao.get(chart, headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == IMMUTABLE
    head = await kakao.head(chart)
    assert head.status == 200 and head.headers["Content-Type"] == "image/png"

    # In English: typed, the label of the quick reply works too; its own chart.
    status, answer = await press(kakao, quick_reply(answer, "English"))
    status, answer = await ask(kakao, skill_request("Results"))
    text = ranking_text(answer)
    assert "1. [Grand prize] Case title 02\n   3 votes · judges 0 points · final 30.00" in text
    assert "2. [Excellence] Case title 01\n   2 votes · judges 0 points · final 20.00" in text
    english = path(image_url(answer))
    assert english == chart.replace("/ko/", "/en/")
    response = await kakao.get(english)
    assert response.status == 200 and (await response.read()).startswith(b"\x89PNG")
    assert response.headers["ETag"] != etag

    # Only the published version of a campaign's chart, in our languages, exists.
    version = chart.rsplit("/", 1)[1]
    for wrong in (chart.replace(version, "0123456789ab.png"),
                  chart.replace("/ko/", "/xx/"),
                  chart.replace(f"/results/{campaign.id}/", f"/results/{campaign.id + 1}/"),
                  chart.replace(".png", ".gif"),
                  f"/media/results/{campaign.id}/ko/..%2F..%2Fchamyeo.db"):
        assert (await kakao.get(wrong)).status == 404, wrong


async def test_a_republished_result_gets_a_new_address(kakao, services, clock):
    campaign = await vote_and_publish(services, clock)
    status, answer = await ask(kakao, skill_request("결과 보기"))
    old = path(image_url(answer))
    async with services.db.write() as conn:  # as if staff had published again, later
        from storage.tables import campaigns

        await conn.execute(sa.update(campaigns).where(campaigns.c.id == campaign.id)
                           .values(results_published_at=VOTING_CLOSES.replace(hour=19)))
    status, answer = await ask(kakao, skill_request("결과 보기"))
    new = path(image_url(answer))
    assert new != old
    assert (await kakao.get(old)).status == 404
    assert (await kakao.get(new)).status == 200


async def test_before_publishing_not_yet_and_no_chart(kakao, services, campaign, clock):
    status, answer = await ask(kakao, skill_request("시작"))
    assert "🏆 결과 보기" not in [r["label"] for r in answer["template"]["quickReplies"]]
    forged = {"a": "rs", "k": campaign.id}
    status, answer = await ask(kakao, skill_request("🏆 결과 보기", forged))
    assert texts(answer) == [NOT_YET] and quick_reply(answer, "사례 보기")
    clock.set(VOTING_CLOSES)  # voting closed, still not published
    status, answer = await ask(kakao, skill_request("결과 보기"))
    assert texts(answer) == [NOT_YET] and image_url(answer) is None
    # The address it would have (any version) is not there.
    assert (await kakao.get(f"/media/results/{campaign.id}/ko/0123456789ab.png")).status == 404
    # A press for another campaign is stale, as every campaign-bound press.
    status, answer = await ask(kakao, skill_request("결과", {"a": "rs", "k": campaign.id + 1}))
    assert texts(answer)[0].startswith("이 버튼은 만료되었습니다")


async def test_without_a_public_url_the_results_are_text_only(services, clock, campaign):
    await vote_and_publish(services, clock)
    client = await serve(services, public_url=None)
    try:
        status, answer = await ask(client, skill_request("결과 보기"))
    finally:
        await client.close()
    assert image_url(answer) is None
    assert all("simpleText" in o for o in answer["template"]["outputs"])
    assert "1. [대상] 사례 제목 02번\n   3표 · 심사 0점 · 최종 30.00점" in ranking_text(answer)


async def test_the_chart_is_drawn_once_for_requests_that_come_together(kakao, services, clock,
                                                                       monkeypatch):
    import bot.chart

    calls: list[str] = []
    release = threading.Event()

    def slow_render(ranked, language, campaign):
        assert campaign.results_published_at is not None  # its date heads the chart
        calls.append(language)
        release.wait(5)  # every request has arrived before the first drawing ends
        return PNG

    monkeypatch.setattr(bot.chart, "render_results_chart", slow_render)
    await vote_and_publish(services, clock)
    status, answer = await ask(kakao, skill_request("결과 보기"))
    chart = path(image_url(answer))
    charts = kakao.app[MEDIA].charts
    asked = []
    get = charts.get

    async def counted_get(key, make):
        asked.append(key)
        return await get(key, make)

    monkeypatch.setattr(charts, "get", counted_get)
    requests = [asyncio.ensure_future(kakao.get(chart)) for _ in range(6)]
    # The drawing goes on only once all six have asked for the chart: five wait for the first.
    async with asyncio.timeout(30):  # a regression fails here rather than hanging the run
        while len(asked) < 6 or not calls:  # noqa: ASYNC110 (filled by the server's handlers)
            await asyncio.sleep(0.01)
    assert calls == ["ko"]
    release.set()
    responses = await asyncio.gather(*requests)
    assert [r.status for r in responses] == [200] * 6
    assert {await r.read() for r in responses} == {PNG}
    assert calls == ["ko"]
    assert (await kakao.get(chart)).status == 200 and calls == ["ko"]
    assert (await kakao.get(chart.replace("/ko/", "/en/"))).status == 200
    assert calls == ["ko", "en"]


async def test_a_failed_drawing_is_tried_again(kakao, services, clock, monkeypatch):
    import bot.chart

    calls = []

    def failing_once(ranked, language, campaign):
        calls.append(language)
        if len(calls) == 1:
            raise RuntimeError("no font today")
        return PNG

    monkeypatch.setattr(bot.chart, "render_results_chart", failing_once)
    await vote_and_publish(services, clock)
    status, answer = await ask(kakao, skill_request("결과 보기"))
    chart = path(image_url(answer))
    assert (await kakao.get(chart)).status == 500
    response = await kakao.get(chart)
    assert response.status == 200 and await response.read() == PNG
    assert len(calls) == 2


def test_a_long_ranking_fills_the_texts_and_says_it_goes_on():
    lines = ["🏆 결과"] + [f"{n}. " + "가" * 95 for n in range(1, 51)]
    parts = pack(lines, 1000, 2)
    assert len(parts) == 2 and all(len(p) <= 1000 for p in parts)
    assert parts[0].startswith("🏆 결과\n1. ") and parts[-1].endswith("\n" + MORE)
    assert pack(lines[:3], 1000, 2) == ["\n".join(lines[:3])]


# --- case pictures kept as files ---------------------------------------------------------------

async def pictures(services, tmp_path):
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "one.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(b"not for anyone")
    raw = small_campaign()
    raw["cases"][0]["image"] = "pics/one.png"
    raw["cases"][1]["image"] = "https://example.org/two.jpg"
    report = await services.campaigns.load(parse_campaign(raw, base_dir=tmp_path))
    campaign = await services.campaigns.get(report.campaign_id)
    ids = await case_ids(services, campaign)
    async with services.db.write() as conn:  # a photo sent in on Telegram: Telegram's only
        await conn.execute(sa.update(cases).where(cases.c.id == ids["case-3"])
                           .values(image="telegram:AgACAgIAAx"))
    return campaign, ids


def thumbnail(answer: dict) -> str | None:
    card = answer["template"]["outputs"][0]
    return card["basicCard"]["thumbnail"]["imageUrl"] if "basicCard" in card else None


async def test_a_case_picture_file_is_served_and_shown_on_its_card(kakao, services, tmp_path):
    campaign, ids = await pictures(services, tmp_path)

    def detail(key):
        return skill_request("자세히", {"a": "c", "k": campaign.id, "c": ids[key]})

    status, answer = await ask(kakao, detail("case-1"))
    url = thumbnail(answer)
    picture = path(url)
    assert picture.startswith(f"/media/cases/{ids['case-1']}/") and picture.endswith(".png")
    response = await kakao.get(picture)
    assert response.status == 200 and await response.read() == PNG
    assert response.headers["Content-Type"] == "image/png"
    assert response.headers["Cache-Control"] == IMMUTABLE
    again = await kakao.get(picture, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status == 304

    status, answer = await ask(kakao, detail("case-2"))
    assert thumbnail(answer) == "https://example.org/two.jpg"  # as it is
    status, answer = await ask(kakao, detail("case-3"))
    assert thumbnail(answer) is None and "textCard" in answer["template"]["outputs"][0]

    digest = picture.rsplit("/", 1)[1]
    for wrong in (
        picture.replace(f"/{ids['case-1']}/", f"/{ids['case-3']}/"),  # another case
        picture.replace(f"/{ids['case-1']}/", f"/{ids['case-2']}/"),
        picture.replace(".png", ".jpg"),
        picture.replace(digest, "0" * 16 + ".png"),
        f"/media/cases/{ids['case-1']}/..%2F..%2Fsecret.png",
        f"/media/cases/{ids['case-1']}/%2E%2E/%2E%2E/secret.png",
        f"/media/cases/{ids['case-1']}/{tmp_path}/secret.png",
        "/media/cases/..%2F..%2Fsecret.png",
        "/media/" + str(tmp_path / "secret.png"),
    ):
        response = await kakao.get(wrong)
        assert response.status == 404, wrong
        assert b"not for anyone" not in await response.read()

    # The file changed: a new address on the card; the old one is gone.
    (tmp_path / "pics" / "one.png").write_bytes(PNG + b"\0")
    status, answer = await ask(kakao, detail("case-1"))
    assert path(thumbnail(answer)) != picture
    assert (await kakao.get(picture)).status == 404
    assert (await kakao.get(path(thumbnail(answer)))).status == 200


async def test_without_a_public_url_a_picture_file_is_not_shown(services, tmp_path):
    campaign, ids = await pictures(services, tmp_path)
    client = await serve(services, public_url=None)
    try:
        status, answer = await ask(client, skill_request(
            "자세히", {"a": "c", "k": campaign.id, "c": ids["case-1"]}))
    finally:
        await client.close()
    assert "textCard" in answer["template"]["outputs"][0]

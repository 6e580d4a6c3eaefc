"""Photos sent in on Telegram on the moderation and judging pages: fetched by the server from
the (offline) Bot API with getFile and the download, for staff only, for a case of the current
campaign only; kept once fetched, and a failure is not kept."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from telegram import Bot

from bot.domain import TELEGRAM_PHOTO, Role
from handlers.server import build_http_app
from handlers.telegram.offline import OfflineRequest
from storage.tables import cases
from tests.test_moderation import SMITH, submit
from tests.web_support import ADMIN_ID, WEB_SETTINGS, sign_in

PHOTO = b"\xff\xd8 a photo Telegram keeps \xff\xd9"


@pytest.fixture
async def telegram(services):
    request = OfflineRequest(clock=services.clock)
    request.files["photo-big"] = PHOTO
    return request


@pytest.fixture
async def console(services, campaign, telegram):
    services.staff.add_bootstrap_admins("telegram", {ADMIN_ID})
    bot = Bot("123:offline", request=telegram, get_updates_request=OfflineRequest())
    client = TestClient(TestServer(build_http_app(services, WEB_SETTINGS, telegram=bot)))
    await client.start_server()
    yield client
    await client.close()


async def with_photo(services, campaign, title: str, file_id: str) -> int:
    case_id = await submit(services, campaign, SMITH, title)
    async with services.db.write() as conn:
        await conn.execute(sa.update(cases).where(cases.c.id == case_id)
                           .values(image=TELEGRAM_PHOTO + file_id))
    return case_id


def fetched(telegram: OfflineRequest, method: str) -> int:
    return sum(call.method == method for call in telegram.calls)


async def test_a_moderator_sees_the_photo_sent_in(console, services, campaign, telegram):
    case_id = await with_photo(services, campaign, "사진 있는 사례", "photo-big")
    await sign_in(console, services)
    page = await (await console.get("/staff/moderation")).text()
    assert f'src="/staff/photos/{case_id}.jpg"' in page
    for _ in range(2):
        response = await console.get(f"/staff/photos/{case_id}.jpg")
        assert response.status == 200 and response.content_type == "image/jpeg"
        assert await response.read() == PHOTO
        assert response.headers["Cache-Control"] == "private, max-age=3600"
    assert fetched(telegram, "getFile") == 1 and fetched(telegram, "downloadFile") == 1
    # The bot's token is in the download's address, never on the page.
    assert "123:offline" not in page


async def test_photos_are_for_staff_and_for_cases_with_one(console, services, campaign, telegram):
    case_id = await with_photo(services, campaign, "사진", "photo-big")
    plain = await submit(services, campaign, SMITH, "사진 없음")
    response = await console.get(f"/staff/photos/{case_id}.jpg")
    assert response.status == 401  # no session
    await services.staff.grant("test", "web", "lee", Role.JUDGE)
    await sign_in(console, services, external_id="lee", channel="web")
    assert (await console.get(f"/staff/photos/{case_id}.jpg")).status == 200  # a judge may
    assert (await console.get(f"/staff/photos/{plain}.jpg")).status == 404
    assert (await console.get("/staff/photos/999999.jpg")).status == 404
    assert fetched(telegram, "getFile") == 1


async def test_a_photo_telegram_cannot_give_is_missing_then_tried_again(
        console, services, campaign, telegram):
    case_id = await with_photo(services, campaign, "사라진 사진", "photo-gone")
    await sign_in(console, services)
    telegram.fail_next("getFile", 400, "Bad Request: wrong file_id or the file is temporarily "
                       "unavailable")
    assert (await console.get(f"/staff/photos/{case_id}.jpg")).status == 404
    again = await console.get(f"/staff/photos/{case_id}.jpg")
    assert again.status == 200 and (await again.read()).startswith(b"\xff\xd8")
    assert fetched(telegram, "getFile") == 2


async def test_without_a_bot_the_page_shows_no_photo(web, services, campaign):
    case_id = await with_photo(services, campaign, "봇 없는 서버", "photo-big")
    await sign_in(web, services)
    page = await (await web.get("/staff/moderation")).text()
    assert "봇 없는 서버" in page and f"/staff/photos/{case_id}.jpg" not in page
    assert (await web.get(f"/staff/photos/{case_id}.jpg")).status == 404

"""Signing in to the web console: one-time links, sessions, form tokens, roles checked on the
server at every page, refusals audited, sessions ended when the role goes."""

from __future__ import annotations

from datetime import timedelta

from bot.domain import Role
from bot.services.staff import GrantOutcome
from tests.conftest import KIM
from tests.web_support import ADMIN_ID, sign_in


async def test_a_link_signs_in_once_and_the_dashboard_opens(web, services):
    token = await services.web_access.issue_link("telegram", ADMIN_ID, by="test")
    page = await web.get(f"/staff/signin/{token}")
    assert page.status == 200
    assert "로그인" in await page.text()
    # Opening the link (a messenger's preview does) does not use it: pressing the button does.
    signed = await web.post(f"/staff/signin/{token}", allow_redirects=False)
    assert signed.status == 303 and signed.headers["Location"] == "/staff"
    cookie = signed.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert (await web.get("/staff")).status == 200
    # Used once: a second browser with the same link is refused.
    web.session.cookie_jar.clear()
    again = await web.post(f"/staff/signin/{token}", allow_redirects=False)
    assert again.status == 403
    assert "이미 사용한 링크" in await again.text()


async def test_an_expired_or_revoked_or_unknown_link_signs_nobody_in(web, services, clock):
    expired = await services.web_access.issue_link("telegram", ADMIN_ID, by="test")
    clock.advance(timedelta(minutes=16))
    response = await web.post(f"/staff/signin/{expired}", allow_redirects=False)
    assert response.status == 403 and "유효 시간" in await response.text()
    revoked = await services.web_access.issue_link("telegram", ADMIN_ID, by="test")
    assert await services.web_access.revoke_links("telegram", ADMIN_ID, by="test") == 1
    response = await web.post(f"/staff/signin/{revoked}", allow_redirects=False)
    assert response.status == 403 and "취소된 링크" in await response.text()
    response = await web.post("/staff/signin/" + "x" * 43, allow_redirects=False)
    assert response.status == 403 and "알 수 없는 링크" in await response.text()
    assert (await web.get("/staff")).status == 401


async def test_no_link_for_an_account_without_a_role(services, campaign):
    assert await services.web_access.issue_link("telegram", "1001", by="test") is None


async def test_a_session_expires(web, services, clock):
    await sign_in(web, services)
    clock.advance(timedelta(hours=12, seconds=1))
    assert (await web.get("/staff")).status == 401


async def test_revoking_the_last_role_ends_the_session(web, services, telegram):
    await telegram.send(KIM, "/start")  # has used the bot: can be granted a role
    assert await services.staff.grant("test", "telegram", "1001", Role.JUDGE) \
        is GrantOutcome.GRANTED
    await sign_in(web, services, external_id="1001")
    assert await services.staff.revoke("test", "telegram", "1001", Role.JUDGE) \
        is GrantOutcome.REVOKED
    assert (await web.get("/staff")).status == 401


async def test_signing_out_needs_the_form_token_and_ends_the_session(web, services):
    # A wrong token only clears this browser's cookie; the right one ends the session too.
    await sign_in(web, services)
    await web.post("/staff/signout", data={"csrf": "wrong"}, allow_redirects=False)
    assert (await web.get("/staff")).status == 401
    csrf = await sign_in(web, services)
    response = await web.post("/staff/signout", data={"csrf": csrf}, allow_redirects=False)
    assert response.status == 303
    assert (await web.get("/staff")).status == 401


async def test_pages_carry_security_headers(web, services):
    await sign_in(web, services)
    response = await web.get("/staff")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_form_posted_from_another_site_is_refused(web, services):
    token = await services.web_access.issue_link("telegram", ADMIN_ID, by="test")
    forced = await web.post(f"/staff/signin/{token}", allow_redirects=False,
                            headers={"Origin": "https://evil.example"})
    assert forced.status == 403
    # Refused before anything happened: the link still works from our own pages.
    signed = await web.post(f"/staff/signin/{token}", allow_redirects=False,
                            headers={"Origin": "http://chamyeo.test"})
    assert signed.status == 303

"""Getting a sign-in link to the web console: /web on Telegram, '관리' on KakaoTalk, and
`chamyeo staff link` on the server (with `chamyeo staff grant|revoke|list|revoke-links`).
Each link really signs its owner in, once; nobody without a staff role gets one."""

from __future__ import annotations

import re

import sqlalchemy as sa

from bot.domain import Role
from storage.tables import audit_log
from tests.conftest import ADMIN, KIM
from tests.test_cli_staff import chamyeo, env  # noqa: F401  (fixtures)
from tests.test_kakao_skill import ask, skill_request, texts

LINK = re.compile(r"(https?://[^/\s]+)(/staff/signin/[A-Za-z0-9_-]+)")


async def test_web_on_telegram_gives_an_admin_a_link_that_signs_in_once(
        staffbot, services, web):
    services.web_access.public_url = "https://chamyeo.test"
    calls = await staffbot.send(ADMIN, "/web")
    found = LINK.search(calls[-1].text)
    assert found and found.group(1) == "https://chamyeo.test"
    assert calls[-1].params.get("link_preview_options", {}).get("is_disabled") is True
    signed = await web.post(found.group(2), allow_redirects=False)
    assert signed.status == 303
    assert (await web.get("/staff")).status == 200
    web.session.cookie_jar.clear()
    assert (await web.post(found.group(2), allow_redirects=False)).status == 403


async def test_web_on_telegram_is_no_command_for_a_citizen(staffbot, services):
    services.web_access.public_url = "https://chamyeo.test"
    calls = await staffbot.send(KIM, "/web")
    assert not any(LINK.search(c.text or "") for c in calls)
    async with services.db.read() as conn:
        refused = (await conn.execute(sa.select(audit_log.c.action, audit_log.c.actor))).all()
    assert ("staff.refused", f"telegram:{KIM.id}") in refused


async def test_web_without_a_public_address_says_so(staffbot, services):
    calls = await staffbot.send(ADMIN, "/web")
    assert "CHAMYEO_PUBLIC_URL" in calls[-1].text


async def test_the_word_on_kakaotalk_gives_staff_a_link_card_and_others_a_search(
        kakao, services, web):
    services.web_access.public_url = "https://chamyeo.test"
    await ask(kakao, skill_request("시작", user="staff-key"))
    _, answer = await ask(kakao, skill_request("관리", user="citizen-key"))
    assert "webLink" not in str(answer)  # a citizen: an ordinary search
    await services.staff.grant("test", "kakao", "staff-key", Role.MODERATOR)
    _, answer = await ask(kakao, skill_request("관리", user="staff-key"))
    card = answer["template"]["outputs"][0]["textCard"]
    assert "한 번만" in texts(answer)[0]
    button = card["buttons"][0]
    assert button["action"] == "webLink"
    path = LINK.search(button["webLinkUrl"]).group(2)
    assert (await web.post(path, allow_redirects=False)).status == 303
    assert (await web.get("/staff")).status == 200


async def test_the_command_line_grants_a_web_account_and_prints_its_link(
        services, campaign, web, chamyeo):  # noqa: F811
    code, _, err = await chamyeo("staff", "link", "web:kim")
    assert code == 1 and "holds no staff role" in err
    code, out, _ = await chamyeo("staff", "grant", "web:kim", "judge")
    assert code == 0 and "web:kim is now judge" in out
    code, out, _ = await chamyeo("staff", "list")
    assert "web:kim" in out and "judge" in out
    code, out, _ = await chamyeo("staff", "link", "web:kim")
    assert code == 0
    path = LINK.search(out).group(2)
    assert (await web.post(path, allow_redirects=False)).status == 303
    assert (await web.get("/staff")).status == 200
    # Revoking the links and sessions: this browser is signed out, an unused link is void.
    code, out, _ = await chamyeo("staff", "link", "web:kim")
    unused = LINK.search(out).group(2)
    code, out, _ = await chamyeo("staff", "revoke-links", "web:kim")
    assert "1 unused sign-in link(s) revoked, 1 web session(s) ended" in out
    assert (await web.get("/staff")).status == 401
    assert (await web.post(unused, allow_redirects=False)).status == 403
    code, _, err = await chamyeo("staff", "grant", "web:Kim Bad", "judge")
    assert code == 1 and "name" in err
    code, _, err = await chamyeo("staff", "grant", "web:kim", "boss")
    assert code == 1 and "a role is" in err

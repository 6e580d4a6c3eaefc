"""Getting a sign-in link to the web console: /web on Telegram, '관리' on KakaoTalk, and
`chamyeo staff link` on the server (with `chamyeo staff grant|revoke|list|revoke-links`).
Each link really signs its owner in, once; nobody without a staff role gets one."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

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


async def test_an_invitation_code_typed_on_kakaotalk_makes_that_account_staff_once(
        kakao, services, web):
    services.web_access.public_url = "https://chamyeo.test"
    code = await services.staff.invite("cli:kim", Role.JUDGE)
    assert re.fullmatch(r"STAFF-[2-9A-Z]{4}-[2-9A-Z]{4}", code)
    # Typed as people type it: lower case, spaces instead of dashes.
    typed = code.lower().replace("-", " ")
    _, answer = await ask(kakao, skill_request(typed, user="judge-key"))
    assert "심사위원 역할을 받았습니다" in texts(answer)[0]
    assert await services.staff.roles("kakao", "judge-key") == frozenset({Role.JUDGE})
    _, answer = await ask(kakao, skill_request(code, user="someone-else"))
    assert "쓸 수 없습니다" in texts(answer)[0]
    assert not await services.staff.roles("kakao", "someone-else")
    # Now '관리' gives the new judge a link.
    _, answer = await ask(kakao, skill_request("관리", user="judge-key"))
    assert answer["template"]["outputs"][0]["textCard"]["buttons"][0]["action"] == "webLink"


async def test_an_invitation_expires_and_is_no_search_on_telegram(staffbot, services, clock):
    code = await services.staff.invite("cli:kim", Role.MODERATOR)
    clock.advance(timedelta(hours=24, seconds=1))
    calls = await staffbot.send(KIM, code)
    assert "24시간" in calls[-1].text
    fresh = await services.staff.invite("cli:kim", Role.MODERATOR)
    calls = await staffbot.send(KIM, fresh)
    assert "운영자 역할을 받았습니다" in calls[0].text
    assert Role.MODERATOR in await services.staff.roles("telegram", str(KIM.id))


async def test_two_accounts_typing_one_code_at_once_one_gets_it(services, campaign):
    code = await services.staff.invite("cli:kim", Role.JUDGE)
    results = await asyncio.gather(*(services.staff.accept("kakao", f"key-{i}", code)
                                     for i in range(4)))
    assert sorted(r.outcome.value for r in results) == ["granted", "invalid", "invalid",
                                                        "invalid"]


async def test_the_command_line_prints_an_invitation(services, campaign, chamyeo):  # noqa: F811
    code, out, _ = await chamyeo("staff", "invite", "moderator")
    assert code == 0
    printed = out.splitlines()[0]
    result = await services.staff.accept("telegram", "4242", printed)
    assert result.role is Role.MODERATOR

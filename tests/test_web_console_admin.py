"""The admin's console pages over aiohttp's test client: the dashboard and its live numbers,
the calendar (a change shown before → after, applied on the second press, refused in the past),
exports (a real workbook and the CSVs downloaded), the audit log filtered by kind, staff roles
(grant, revoke ending the web session, invitation codes) and a broadcast after its preview."""

from __future__ import annotations

import asyncio
import io
import re
import zipfile

import openpyxl
import sqlalchemy as sa

from bot.domain import PhaseName, Role
from storage.tables import audit_log, broadcasts
from tests.conftest import VOTING_CLOSES
from tests.web_support import csrf_of, sign_in


async def test_dashboard_and_its_live_numbers(web, services, campaign):
    await sign_in(web, services)
    page = await (await web.get("/staff")).text()
    assert campaign.title.ko in page and 'data-live="votes"' in page and "live.js" in page
    live = await (await web.get("/staff/live")).json()
    assert live["votes"] == 0 and set(live) == {"votes", "voters", "citizens", "turnout"}
    script = await web.get("/static/live.js")
    assert script.status == 200


async def test_calendar_change_is_confirmed_then_applied(web, services, campaign):
    csrf = await sign_in(web, services)
    form = {"csrf": csrf, "phase": "voting", "field": "end", "when": "2024-12-01T20:00"}
    shown = await web.post("/staff/calendar", data=form)
    page = await shown.text()
    assert shown.status == 200 and 'id="confirm-phase"' in page
    assert (await services.campaigns.get(campaign.id)).phase(PhaseName.VOTING).end == VOTING_CLOSES
    applied = await web.post("/staff/calendar", data={**form, "confirmed": "1"})
    assert "일정을 바꿨습니다" in await applied.text()
    end = (await services.campaigns.get(campaign.id)).phase(PhaseName.VOTING).end
    assert end is not None and end.isoformat().startswith("2024-12-01T11:00")  # 20:00 Seoul
    for when in ("2024-11-01T10:00", "어제", ""):
        refused = await web.post("/staff/calendar", data={**form, "when": when, "confirmed": "1"})
        assert refused.status in (400, 409), when  # 409: refused when applied (the past)
    assert (await services.campaigns.get(campaign.id)).phase(PhaseName.VOTING).end == end


async def test_exports_download_a_real_workbook_and_the_csvs(web, services, campaign):
    await sign_in(web, services)
    workbook = await web.get("/staff/exports/workbook")
    assert workbook.status == 200
    assert "attachment" in workbook.headers["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(await workbook.read()), read_only=True)
    assert len(book.sheetnames) >= 2
    csvs = await web.get("/staff/exports/csv")
    archive = zipfile.ZipFile(io.BytesIO(await csvs.read()))
    names = archive.namelist()
    assert names and all(n.endswith(".csv") for n in names)
    # Each download is audited, and told as a sentence on the audit page.
    made = [e for e in await services.audit.latest(kind="privacy") if e.action == "export.made"]
    assert [e.actor for e in made] == ["telegram:9001"] * 2
    page = await (await web.get("/staff/audit?kind=privacy")).text()
    assert page.count("내보내기 파일 8개 받음") == 2


async def test_audit_filters_by_kind(web, services, campaign, clock):
    await services.staff.grant("test", "web", "lee", Role.JUDGE)
    lee = await sign_in(web, services, external_id="lee", channel="web")
    await web.get("/staff/roles")  # refused: recorded
    assert lee
    await sign_in(web, services)
    everything = await (await web.get("/staff/audit")).text()
    assert "역할 부여" in everything and "/staff/roles" in everything
    refused = await (await web.get("/staff/audit?kind=refused")).text()
    assert "/staff/roles" in refused and "역할 부여" not in refused
    assert (await web.get("/staff/audit?kind=nonsense")).status == 200


async def test_roles_grant_revoke_and_invite(web, services, campaign):
    csrf = await sign_in(web, services)
    granted = await web.post("/staff/roles/grant", data={
        "csrf": csrf, "channel": "web", "who": "park", "role": "moderator"})
    assert "역할을 주었습니다" in await granted.text()
    assert Role.MODERATOR in await services.staff.roles("web", "park")
    for bad in ({"channel": "web", "who": "Park Kim", "role": "moderator"},
                {"channel": "telegram", "who": "@nobody", "role": "judge"},
                {"channel": "fax", "who": "1", "role": "judge"},
                {"channel": "web", "who": "park", "role": "king"}):
        response = await web.post("/staff/roles/grant", data={"csrf": csrf, **bad})
        assert response.status == 400, bad
    again = await web.post("/staff/roles/grant", data={
        "csrf": csrf, "channel": "web", "who": "park", "role": "moderator"})
    assert again.status == 409

    # Park signs in elsewhere; revoking the last role ends that session.
    from aiohttp.test_utils import TestClient
    park = TestClient(web.server)
    await sign_in(park, services, external_id="park", channel="web")
    page = await (await web.get("/staff/roles")).text()
    assert 'id="revoke-web-park-moderator"' in page
    revoked = await web.post("/staff/roles/revoke", data={
        "csrf": csrf, "channel": "web", "external_id": "park", "role": "moderator"})
    assert "역할을 회수했습니다" in await revoked.text()
    assert (await park.get("/staff")).status == 401
    bootstrap = await web.post("/staff/roles/revoke", data={
        "csrf": csrf, "channel": "telegram", "external_id": "9001", "role": "admin"})
    assert bootstrap.status == 409

    invited = await (await web.post("/staff/roles/invite",
                                    data={"csrf": csrf, "role": "judge"})).text()
    code = invited.split("초대 코드: ")[1].split(" ")[0]
    await services.citizens.identify("kakao", "kakao-judge", "ko")
    from bot.services.staff import InvitationOutcome
    assert (await services.staff.accept("kakao", "kakao-judge", code)).outcome is \
        InvitationOutcome.GRANTED


async def count_broadcasts(services) -> int:
    async with services.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(broadcasts))).scalar_one()


async def test_broadcast_after_a_preview(web, services, campaign):
    citizen = await services.citizens.identify("kakao", "kim", "ko")
    await services.subscriptions.set(campaign, citizen, True)
    csrf = await sign_in(web, services)
    before = await count_broadcasts(services)
    preview = await web.post("/staff/broadcast", data={"csrf": csrf, "text": "내일 마감합니다"})
    page = await preview.text()
    assert 'id="broadcast-send"' in page and "내일 마감합니다" in page
    assert await count_broadcasts(services) == before
    for bad in ("", " ", "가" * 1001):
        response = await web.post("/staff/broadcast",
                                  data={"csrf": csrf, "text": bad, "confirmed": "1"})
        assert response.status == 400
    # A send without the preview's key (a form from elsewhere, or made by hand) is shown
    # the preview again: nothing is sent.
    for key in ("", "short", "x" * 65, "<script>" * 5):
        again = await web.post("/staff/broadcast", data={
            "csrf": csrf, "text": "내일 마감합니다", "confirmed": "1", "request_key": key})
        assert again.status == 200 and 'id="broadcast-send"' in await again.text()
    assert await count_broadcasts(services) == before
    form = {"csrf": csrf, "text": "내일 마감합니다", "confirmed": "1",
            "request_key": request_key_of(page)}
    sent = await web.post("/staff/broadcast", data=form)
    assert "보내기 시작했습니다" in await sent.text(), (sent.status, (await sent.text())[-1500:])
    assert await count_broadcasts(services) == before + 1
    assert csrf_of(await sent.text()) == csrf
    # Pressed twice (a double click, the form sent again from the browser's history): the
    # same answer, and still one broadcast, one audit line.
    twice = await web.post("/staff/broadcast", data=form)
    assert "보내기 시작했습니다" in await twice.text() and "1명" in await twice.text()
    assert await count_broadcasts(services) == before + 1
    async with services.db.read() as conn:
        audited = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(
            audit_log.c.action == "broadcast.sent"))).scalar_one()
    assert audited == 1


def request_key_of(page: str) -> str:
    found = re.search(r'name="request_key" value="([A-Za-z0-9_-]+)"', page)
    assert found, "no request key on the preview"
    return found.group(1)


async def test_one_form_sent_twice_at_once_starts_one_broadcast(services, campaign):
    """Two workers taking the same "send" together (on PostgreSQL, two real transactions):
    the unique key lets one insert and the other find its row."""
    citizen = await services.citizens.identify("kakao", "kim", "ko")
    await services.subscriptions.set(campaign, citizen, True)
    before = await count_broadcasts(services)
    key = "k" * 43
    first, second = await asyncio.gather(*(
        services.staff_broadcasts.send(campaign, "같은 양식", "web:admin", key)
        for _ in range(2)))
    assert first.broadcast_id == second.broadcast_id and first.recipients == second.recipients == 1
    assert await count_broadcasts(services) == before + 1


async def test_the_audit_log_pages_back_to_the_first_entry(web, services, campaign):
    from storage.repositories import AuditRepository

    async with services.db.write() as conn:
        for n in range(1, 251):
            await AuditRepository(conn).record(services.clock.now(), "cli:kim", "case.approved",
                                               campaign.id, case_id=n)
    await sign_in(web, services)
    seen: list[str] = []
    page = await (await web.get("/staff/audit?kind=cases")).text()
    while True:
        seen += re.findall(r"사례 #(\d+) 승인", page)
        older = re.search(r'href="(/staff/audit\?kind=cases&amp;before=\d+)" id="audit-older"',
                          page)
        if older is None:
            break
        page = await (await web.get(older.group(1).replace("&amp;", "&"))).text()
        assert "최근 기록으로" in page
    assert seen == [str(n) for n in range(250, 0, -1)]  # every entry once, newest first
    assert (await web.get("/staff/audit?before=nonsense")).status == 200


async def test_the_dashboard_shows_votes_by_case_to_moderators_not_judges(
        web, services, campaign, clock):
    from tests.test_tally_dashboard import cast_votes

    cases = await cast_votes(services, clock, campaign)
    await sign_in(web, services)
    page = await (await web.get("/staff")).text()
    table = page[page.index('id="votes-by-case"'):]
    table = table[:table.index("</table>")]
    first = cases[0].ko.title
    assert f'<th scope="row">{first}</th><td class="number">2</td><td class="number">50.0%' \
        in table
    assert "목록에서 빠진 사례가 받은 표" in page and cases[2].ko.title in page
    assert 'id="votes-by-district"' in page
    # A judge sees the totals, never which case is ahead.
    await services.staff.grant("test", "web", "lee", Role.JUDGE)
    await sign_in(web, services, external_id="lee", channel="web")
    judged = await (await web.get("/staff")).text()
    assert 'id="votes-by-case"' not in judged and first not in judged
    assert 'data-live="votes">4<' in judged

"""The console's working pages over aiohttp's test client: moderation (approve, reject with a
reason, the submitter told), judging (one score per criterion beside the case, revisable until
review closes, bad scores stored nowhere) and results (preview, publish after a confirmation,
not before voting closes)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.domain import CaseStatus, Role
from storage.repositories import CaseRepository
from storage.tables import audit_log, broadcasts
from tests.conftest import VOTING_CLOSES
from tests.test_judging_results import AFTER_REVIEW
from tests.test_moderation import SMITH, submit
from tests.web_support import csrf_of, sign_in


async def status_of(services, case_id: int) -> CaseStatus:
    async with services.db.read() as conn:
        case = await CaseRepository(conn).get(case_id)
    assert case is not None
    return case.status


async def notices(services) -> int:
    async with services.db.read() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(broadcasts))).scalar_one()


async def test_approve_from_the_queue_tells_the_submitter(web, services, campaign):
    case_id = await submit(services, campaign, SMITH, "웹에서 승인")
    csrf = await sign_in(web, services)
    page = await (await web.get("/staff/moderation")).text()
    assert "웹에서 승인" in page and f'id="approve-{case_id}"' in page
    before = await notices(services)
    response = await web.post(f"/staff/moderation/{case_id}/approve", data={"csrf": csrf})
    assert response.status == 200 and "승인했습니다" in await response.text()
    assert await status_of(services, case_id) is CaseStatus.APPROVED
    assert await notices(services) == before + 1
    # Pressed again (another moderator's tab): refused, nothing changes.
    again = await web.post(f"/staff/moderation/{case_id}/approve", data={"csrf": csrf})
    assert again.status == 409 and "이미 다른 결정" in await again.text()
    assert await notices(services) == before + 1


async def test_reject_needs_a_reason_within_the_limit(web, services, campaign):
    case_id = await submit(services, campaign, SMITH, "반려할 사례")
    csrf = await sign_in(web, services)
    for reason in ("", "   ", "가" * 301):
        response = await web.post(f"/staff/moderation/{case_id}/reject",
                                  data={"csrf": csrf, "reason": reason})
        assert response.status == 400, reason
        assert await status_of(services, case_id) is CaseStatus.SUBMITTED
    response = await web.post(f"/staff/moderation/{case_id}/reject",
                              data={"csrf": csrf, "reason": "사진이 없습니다"})
    assert response.status == 200 and "반려했습니다" in await response.text()
    assert await status_of(services, case_id) is CaseStatus.REJECTED
    async with services.db.read() as conn:
        row = (await conn.execute(sa.select(broadcasts.c.payload).order_by(
            broadcasts.c.id.desc()).limit(1))).scalar_one()
    assert "사진이 없습니다" in str(row)


async def test_a_judge_may_not_moderate(web, services, campaign):
    case_id = await submit(services, campaign, SMITH, "심사위원은 못 함")
    await services.staff.grant("test", "web", "lee", Role.JUDGE)
    csrf = await sign_in(web, services, external_id="lee", channel="web")
    response = await web.post(f"/staff/moderation/{case_id}/approve", data={"csrf": csrf})
    assert response.status == 403
    assert await status_of(services, case_id) is CaseStatus.SUBMITTED


async def scores(services) -> dict[tuple[int, int], float]:
    from storage.tables import scores as table
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(table.c.case_id, table.c.criterion, table.c.score))
        return {(r.case_id, r.criterion): r.score for r in rows}


async def test_a_judge_scores_beside_the_text_and_revises(web, services, campaign, clock):
    await services.staff.grant("test", "web", "lee", Role.JUDGE)
    csrf = await sign_in(web, services, external_id="lee", channel="web")
    listing = await (await web.get("/staff/judging")).text()
    assert "0건 완료" in listing
    case = (await services.judging.cases(campaign))[0]
    page = await (await web.get(f"/staff/judging/{case.id}")).text()
    assert case.ko.body.split()[0] in page and 'id="score-form"' in page
    response = await web.post(f"/staff/judging/{case.id}", data={"csrf": csrf, "score-0": "85"})
    assert response.status == 200 and 'value="85"' in await response.text()
    assert await scores(services) == {(case.id, 0): 85.0}
    assert "1건 완료" in await (await web.get("/staff/judging")).text()
    await web.post(f"/staff/judging/{case.id}", data={"csrf": csrf, "score-0": "90.5"})
    assert await scores(services) == {(case.id, 0): 90.5}
    for bad in ("", "abc", "101", "-1", "nan", "inf"):
        response = await web.post(f"/staff/judging/{case.id}", data={"csrf": csrf, "score-0": bad})
        assert response.status == 400, bad
    assert await scores(services) == {(case.id, 0): 90.5}
    missing = await web.post("/staff/judging/999999", data={"csrf": csrf, "score-0": "50"})
    assert missing.status == 404
    clock.set(AFTER_REVIEW)
    csrf = await sign_in(web, services, external_id="lee", channel="web")  # the day's session ended
    closed = await web.post(f"/staff/judging/{case.id}", data={"csrf": csrf, "score-0": "10"})
    assert closed.status == 409 and "심사 기간이 끝나" in await closed.text()
    assert await scores(services) == {(case.id, 0): 90.5}


async def test_publish_asks_first_and_only_after_voting(web, services, campaign, clock):
    csrf = await sign_in(web, services)
    early = await web.post("/staff/results/publish", data={"csrf": csrf, "confirmed": "1"})
    assert early.status == 409
    clock.set(VOTING_CLOSES + timedelta(minutes=1))
    csrf = await sign_in(web, services)
    page = await (await web.get("/staff/results")).text()
    assert 'id="publish"' in page and "심사 점수가 없습니다" in page
    chart = await web.get("/staff/results/chart.png")
    assert chart.status == 200 and (await chart.read()).startswith(b"\x89PNG")
    confirm = await web.post("/staff/results/publish", data={"csrf": csrf})
    assert 'id="confirm-publish"' in await confirm.text()
    assert (await services.campaigns.get(campaign.id)).results_published_at is None
    done = await web.post("/staff/results/publish", data={"csrf": csrf, "confirmed": "1"})
    assert "결과를 발표했습니다" in await done.text()
    assert (await services.campaigns.get(campaign.id)).results_published_at is not None
    twice = await web.post("/staff/results/publish", data={"csrf": csrf, "confirmed": "1"})
    assert twice.status == 409
    async with services.db.read() as conn:
        published = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log).where(
            audit_log.c.action == "results.published"))).scalar_one()
    assert published == 1
    assert csrf_of(await (await web.get("/staff/results")).text()) == csrf


async def test_hide_an_approved_case_with_a_reason(web, services, campaign):
    case_id = await submit(services, campaign, SMITH, "나중에 숨길 사례")
    csrf = await sign_in(web, services)
    await web.post(f"/staff/moderation/{case_id}/approve", data={"csrf": csrf})
    page = await (await web.get("/staff/moderation")).text()
    assert f'id="hide-{case_id}"' in page
    before = await notices(services)
    refused = await web.post(f"/staff/moderation/{case_id}/hide", data={"csrf": csrf,
                                                                       "reason": " "})
    assert refused.status == 400 and await status_of(services, case_id) is CaseStatus.APPROVED
    hidden = await web.post(f"/staff/moderation/{case_id}/hide",
                            data={"csrf": csrf, "reason": "중복 제출"})
    assert "제출자에게 이유를 알렸습니다" in await hidden.text()
    assert await status_of(services, case_id) is CaseStatus.HIDDEN
    assert await notices(services) == before + 1
    again = await web.post(f"/staff/moderation/{case_id}/hide",
                           data={"csrf": csrf, "reason": "중복 제출"})
    assert again.status == 409 and await notices(services) == before + 1
    [entry] = await services.audit.latest(kind="cases", limit=1)
    assert (entry.action, entry.detail["reason"]) == ("case.hidden", "중복 제출")
    # A case from the campaign file has nobody to tell.
    file_case = next(c for c in await services.judging.cases(campaign)
                     if not c.key.startswith("chat-"))
    told = await web.post(f"/staff/moderation/{file_case.id}/hide",
                          data={"csrf": csrf, "reason": "주최 측 요청"})
    assert "그대로 둡니다." in await told.text() and "알렸습니다" not in await told.text()
    assert (await web.get("/staff/moderation?done=nonsense")).status == 200

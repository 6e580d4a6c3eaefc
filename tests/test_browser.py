"""The web in a real browser (headless Chromium): a staff member signs in with a one-time link,
approves a submission, scores a case and publishes the results; then a citizen opens the
public results and checks a receipt. The public pages pass axe-core with no serious or
critical violations; screenshots of the dashboard, the judging page and the public results are
saved at phone and desktop widths (CHAMYEO_SCREENSHOTS=docs/screenshots refreshes the README's).
Run on SQLite only: the pages are the same on PostgreSQL, and the browser is the slow part."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from bot.domain import CaseStatus, Role
from storage.repositories import CaseRepository
from tests.browser_support import DESKTOP, PHONE, Browser, chromium_or_skip, screenshot_dir, serve
from tests.conftest import VOTING_CLOSES, small_campaign
from tests.test_moderation import SMITH, submit
from tests.test_web_public import ids_by_key, vote

ADMIN_ID = "9001"

pytestmark = pytest.mark.skipif(bool(os.environ.get("CHAMYEO_TEST_DATABASE_URL")),
                                reason="the browser tests run in the SQLite pass only")


@pytest.fixture
async def site(services, campaign):
    binary = chromium_or_skip()
    services.staff.add_bootstrap_admins("telegram", {ADMIN_ID})
    runner, base = await serve(services, ADMIN_ID)
    browser = Browser(binary)
    try:
        yield browser, base
    finally:
        browser.close()
        await runner.cleanup()


async def sign_in(browser: Browser, base: str, services) -> None:
    token = await services.web_access.issue_link("telegram", ADMIN_ID, by="test")
    assert token is not None
    await browser.open(f"{base}/staff/signin/{token}")
    await browser.click("signin")
    assert "대시보드" in await browser.text()


async def test_a_whole_staff_day_and_a_receipt_checked(site, services, campaign, clock,
                                                       tmp_path):
    browser, base = site
    shots = screenshot_dir(tmp_path)
    await services.staff.grant("test", "telegram", ADMIN_ID, Role.JUDGE)
    case_id = await submit(services, campaign, SMITH, "브라우저로 승인할 사례")
    [receipt] = await vote(services, campaign, await ids_by_key(services, campaign), ["case-3"])

    await sign_in(browser, base, services)
    await browser.screenshot(shots / "dashboard-desktop.png", DESKTOP)
    await browser.screenshot(shots / "dashboard-phone.png", PHONE)

    await browser.follow("/staff/moderation")
    await browser.click(f"approve-{case_id}")
    assert "승인했습니다" in await browser.text()
    async with services.db.read() as conn:
        case = await CaseRepository(conn).get(case_id)
    assert case is not None and case.status is CaseStatus.APPROVED

    clock.set(VOTING_CLOSES + timedelta(minutes=5))
    await sign_in(browser, base, services)  # a day later: yesterday's session has ended
    for case in await services.judging.cases(campaign):
        await browser.follow("/staff/judging")
        await browser.click(f"score-{case.id}")
        await browser.type("score-0", str(50 + case.id % 40))
        if case.id == case_id:
            await browser.screenshot(shots / "judging-desktop.png", DESKTOP)
            await browser.screenshot(shots / "judging-phone.png", PHONE)
        await browser.click("save-scores")
        assert "점수를 저장했습니다" in await browser.text()
    judge = await services.citizens.identify("telegram", ADMIN_ID, "ko")
    scored = await services.judging.scores_of(campaign, judge)
    assert scored[(case_id, 0)] == 50 + case_id % 40

    await browser.follow("/staff/results")
    await browser.click("publish")
    await browser.click("confirm-publish")
    assert "결과를 발표했습니다" in await browser.text()
    assert (await services.campaigns.get(campaign.id)).results_published_at is not None

    await browser.open(f"{base}/c/{campaign.slug}/results")
    assert "브라우저로 승인할 사례" in await browser.text()
    await browser.screenshot(shots / "results-desktop.png", DESKTOP)
    await browser.screenshot(shots / "results-phone.png", PHONE)
    await browser.open(f"{base}/c/{campaign.slug}/receipts")
    await browser.type("receipt", receipt.lower())
    await browser.click("receipt-submit")
    answer = await browser.text("receipt-result")
    assert "이 영수증의 표는 아래 사례에 세어졌습니다" in answer, answer
    assert campaign_title(campaign, "case-3") in answer
    for name in ("dashboard", "judging", "results"):
        for width in ("phone", "desktop"):
            assert (shots / f"{name}-{width}.png").stat().st_size > 10_000


def campaign_title(campaign, key: str) -> str:
    return next(case["ko"]["title"] for case in small_campaign()["cases"] if case["key"] == key)


async def test_axe_finds_what_it_should(site):
    """The checker itself: a page with an unlabelled field and an image without text fails."""
    browser, base = site
    await browser.open("data:text/html;charset=utf-8,<html><body><img src='x.png'>"
                       "<input type='text'></body></html>")
    found = {p["id"] for p in await browser.accessibility_violations()}
    assert {"image-alt", "label"} <= found, found


async def test_the_public_pages_pass_axe(site, services, campaign, clock):
    browser, base = site
    clock.set(VOTING_CLOSES + timedelta(minutes=5))
    await services.results.publish(campaign, "test", incomplete_ok=True)
    case = (await services.judging.cases(campaign))[0]
    slug = campaign.slug
    for path in (f"/c/{slug}", f"/c/{slug}/cases/{case.id}", f"/c/{slug}/results",
                 f"/c/{slug}/receipts", f"/c/{slug}?lang=en"):
        await browser.open(base + path)
        problems = await browser.accessibility_violations()
        assert not problems, (path, [(p["id"], p["description"], [n.get("target") for n in
                                                                  p["nodes"]][:3])
                                     for p in problems])

"""The order citizens see the cases in: each citizen their own stable random order while voting
is open (on Telegram and KakaoTalk), the file's order when the campaign asks for it or before
voting, and the standing after voting has closed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.campaign_file import parse_campaign
from bot.clock import SettableClock
from bot.domain import Campaign, Citizen
from bot.services import Services
from bot.services.catalog import ListQuery, shuffle_for
from handlers.telegram.offline import TelegramUser
from storage.repositories.cases import SHUFFLE_PRIME
from tests.conftest import (
    IDENTITY_KEY,
    VOTING_CLOSES,
    VOTING_OPENS,
    _case,
    small_campaign,
)
from tests.test_kakao_skill import (
    SETTINGS,
    ask,
    card_button,
    press,
    quick_reply,
    skill_request,
    texts,
)

N_CASES = 30


def thirty_cases(**changes) -> dict:
    """The small campaign with 30 cases: an equal order for two citizens by chance is then
    1 in 30! (and one page of 8 alike, 1 in 30*29*...*23)."""
    raw = small_campaign(**changes)
    if "voting" not in changes:  # the default order, random (the test campaign asks for file)
        del raw["voting"]["order"]
    raw["cases"] = [
        _case(f"case-{i}", "dong" if i % 2 else "daedeok", "효동" if i % 2 else "송촌동",
              "care" if i <= 15 else "seniors", f"사례 제목 {i:02d}번", f"Case title {i:02d}")
        for i in range(1, N_CASES + 1)
    ]
    return raw


def with_lunch_boxes(raw: dict) -> dict:
    """도시락 in the first case's title and only in the last case's body."""
    raw["cases"][0]["ko"]["title"] += " 도시락"
    raw["cases"][-1]["ko"]["body"] += " 도시락을 나눕니다."
    return raw


@pytest.fixture
async def campaign(services):
    report = await services.campaigns.load(parse_campaign(thirty_cases()))
    return await services.campaigns.get(report.campaign_id)


async def citizen(services: Services, n: int) -> Citizen:
    return await services.citizens.identify("telegram", str(50_000 + n), "ko")


async def every_page(services: Services, campaign: Campaign, who: Citizen | None,
                     **filters) -> list[int]:
    first = await services.catalog.list_cases(campaign, ListQuery(**filters), who)
    ids = [c.id for c in first.cases]
    for page in range(1, first.pages):
        found = await services.catalog.list_cases(campaign, ListQuery(page=page, **filters), who)
        assert found.page == page and found.total == first.total
        ids += [c.id for c in found.cases]
    return ids


async def ids_in_file_order(services: Services, campaign: Campaign) -> list[int]:
    ranked = await services.results.ranking(campaign)
    return sorted(r.case.id for r in ranked)


async def test_each_citizen_has_a_stable_order_that_covers_every_case(services, campaign, db,
                                                                      clock):
    kim, lee = await citizen(services, 1), await citizen(services, 2)
    kims = await every_page(services, campaign, kim)
    file_order = await ids_in_file_order(services, campaign)
    assert len(kims) == N_CASES and sorted(kims) == file_order  # every case, exactly once
    assert kims != file_order
    assert await every_page(services, campaign, kim) == kims  # the same on every look
    lees = await every_page(services, campaign, lee)
    assert sorted(lees) == file_order and lees != kims
    assert lees[:8] != kims[:8]

    # A restart: new services (no cache) over the same database, the same orders.
    again = Services.create(db, SettableClock(clock.now()), identity_key=IDENTITY_KEY)
    fresh = await again.campaigns.get(campaign.id)
    assert await every_page(again, fresh, kim) == kims
    assert await every_page(again, fresh, lee) == lees
    await again.broadcaster.stop()


def python_order(ids: list[int], campaign_id: int, citizen_id: int) -> list[int]:
    """The shuffle worked out in Python: SQLite and PostgreSQL must both give exactly this."""
    def key(case_id: int) -> tuple[int, int]:
        value = case_id
        for k, m in shuffle_for(campaign_id, citizen_id).rounds:
            value = ((value ^ k) * m) % SHUFFLE_PRIME
        return value, case_id
    return sorted(ids, key=key)


async def test_the_database_computes_the_same_order_as_python(services, campaign):
    kim = await citizen(services, 1)
    ids = await ids_in_file_order(services, campaign)
    assert await every_page(services, campaign, kim) == python_order(ids, campaign.id, kim.id)


def test_the_shuffle_keys_are_stable_and_in_range():
    # A fixed digest (hashlib, not the per-process hash()): the same keys in every process.
    assert shuffle_for(7, 11) == shuffle_for(7, 11) != shuffle_for(7, 12) != shuffle_for(8, 11)
    for key, multiplier in shuffle_for(1, 1).rounds:
        assert 0 <= key < SHUFFLE_PRIME and 1 <= multiplier < SHUFFLE_PRIME


async def test_the_first_case_varies_between_citizens(services, campaign):
    """No case is first for everybody: over 60 citizens many different cases lead."""
    firsts = set()
    for n in range(60):
        page = await services.catalog.list_cases(campaign, ListQuery(), await citizen(services, n))
        firsts.add(page.cases[0].id)
    assert len(firsts) >= 15


async def test_filters_and_search_keep_the_citizens_order(services, campaign):
    kim = await citizen(services, 1)
    everything = await every_page(services, campaign, kim)
    seniors = await every_page(services, campaign, kim, category="seniors")
    assert len(seniors) == 15 and seniors == [i for i in everything if i in set(seniors)]
    dong = await every_page(services, campaign, kim, district="dong", category="seniors")
    assert len(dong) == 7 and dong == [i for i in everything if i in set(dong)]
    # every word: 제목 (in every title) and 1 (01, 10 to 19, 21)
    found = await every_page(services, campaign, kim, keyword="제목 1")
    assert len(found) == 12 and found == [i for i in everything if i in set(found)]


async def test_a_search_lists_title_hits_first_each_group_in_the_citizens_order(services):
    """A word in the title of some cases and only in the body of others: the title hits
    come first, then the rest, and each group keeps the citizen's own random order."""
    raw = thirty_cases(slug="title-first")
    for n, case in enumerate(raw["cases"], start=1):
        if n <= 6:
            case["ko"]["title"] += " 도시락"
        elif n >= 20:
            case["ko"]["body"] += " 반찬과 도시락을 나눕니다."
    report = await services.campaigns.load(parse_campaign(raw))
    campaign = await services.campaigns.get(report.campaign_id)
    ids = sorted(r.case.id for r in await services.results.ranking(campaign))
    titled, bodied = set(ids[:6]), set(ids[19:])
    orders = []
    for n in (1, 2, 3):
        who = await citizen(services, n)
        everything = await every_page(services, campaign, who)
        found = await every_page(services, campaign, who, keyword="도시락")
        assert found[:6] == [i for i in everything if i in titled]
        assert found[6:] == [i for i in everything if i in bodied]
        orders.append(found)
    assert len({tuple(o) for o in orders}) == 3  # still each citizen's own order


async def test_file_order_when_the_campaign_asks_for_it(services):
    report = await services.campaigns.load(parse_campaign(thirty_cases(
        slug="file-order", voting={"votes_per_citizen": 1, "order": "file"})))
    campaign = await services.campaigns.get(report.campaign_id)
    kim, lee = await citizen(services, 1), await citizen(services, 2)
    file_order = await ids_in_file_order(services, campaign)
    assert await every_page(services, campaign, kim) == file_order
    assert await every_page(services, campaign, lee) == file_order


async def test_file_order_before_voting(services, campaign, clock):
    clock.set(VOTING_OPENS - timedelta(days=10))  # submission phase
    kim = await citizen(services, 1)
    assert await every_page(services, campaign, kim) == await ids_in_file_order(services,
                                                                                campaign)


async def cast_votes(services: Services, campaign: Campaign) -> list[int]:
    """Votes for cases 30 (three), 12 (two) and 7 (one): the vote order is known."""
    ids = await ids_in_file_order(services, campaign)
    n = 100
    for case_index, count in ((29, 3), (11, 2), (6, 1)):
        for _ in range(count):
            n += 1
            result = await services.voting.cast_vote(campaign, await citizen(services, n),
                                                     ids[case_index])
            assert result.outcome.value == "recorded"
    return ids


async def test_after_voting_the_published_ranking(services, clock):
    # Votes only, so the ranking is known from the votes cast (judges' part is weightless).
    raw = with_lunch_boxes(thirty_cases(ranking={"citizen_weight": 1.0, "judge_weight": 0.0}))
    report = await services.campaigns.load(parse_campaign(raw))
    campaign = await services.campaigns.get(report.campaign_id)
    ids = await cast_votes(services, campaign)
    clock.set(VOTING_CLOSES + timedelta(hours=1))
    kim = await citizen(services, 1)
    # Closed, counts sealed, not published yet: the file's order gives nothing away.
    assert await every_page(services, campaign, kim) == ids
    published = await services.results.publish(campaign, "test")
    assert published.outcome.value == "published"
    campaign = await services.campaigns.get(campaign.id)
    ranking = [r.case.id for r in await services.results.ranking(campaign)]
    expected = [ids[29], ids[11], ids[6]] + [i for i in ids if i not in
                                              {ids[29], ids[11], ids[6]}]
    assert ranking == expected
    assert await every_page(services, campaign, kim) == expected
    assert await every_page(services, campaign, await citizen(services, 2)) == expected
    # filters follow the ranking too: 대덕구 (even numbers) has case 30 and 12 first
    dong = await every_page(services, campaign, kim, district="daedeok")
    assert dong[:2] == [ids[29], ids[11]] and len(dong) == 15
    page = await services.catalog.list_cases(campaign, ListQuery(page=99), kim)
    assert page.page == page.pages - 1 == 3 and [c.id for c in page.cases] == expected[24:]
    # a search: the title hit first, though the other case is ranked first
    assert await every_page(services, campaign, kim, keyword="도시락") == [ids[0], ids[29]]


async def test_after_voting_with_a_running_tally_most_votes_first(services, clock):
    report = await services.campaigns.load(parse_campaign(with_lunch_boxes(thirty_cases(
        voting={"votes_per_citizen": 1, "show_running_tally": True}))))
    campaign = await services.campaigns.get(report.campaign_id)
    ids = await cast_votes(services, campaign)
    kim = await citizen(services, 1)
    assert await every_page(services, campaign, kim) != ids  # still shuffled while open
    clock.set(VOTING_CLOSES + timedelta(minutes=1))
    top = [ids[29], ids[11], ids[6]]
    assert await every_page(services, campaign, kim) == top + [i for i in ids if i not in top]
    # a search: the title hit first, though the other case has the most votes
    assert await every_page(services, campaign, kim, keyword="도시락") == [ids[0], ids[29]]


# --- through the channels -------------------------------------------------------------------

KIM = TelegramUser(2001, "김순자", "ko")
LEE = TelegramUser(2002, "이영희", "ko")


async def telegram_pages(telegram, user: TelegramUser) -> list[list[str]]:
    await telegram.send(user, "/start")
    calls = await telegram.press(user, "사례 보기")
    pages = [next(c for c in calls if c.method == "editMessageText").labels()[:8]]
    calls = await telegram.press(user, "다음 ▶")
    pages.append(next(c for c in calls if c.method == "editMessageText").labels()[:8])
    return pages


async def test_telegram_two_citizens_see_their_own_first_page(telegram, campaign):
    kims, lees = await telegram_pages(telegram, KIM), await telegram_pages(telegram, LEE)
    assert all("사례 제목" in label for page in kims + lees for label in page)
    assert kims[0] != lees[0]
    assert not set(kims[0]) & set(kims[1])  # the second page goes on, no repeats

    # A case and back to the list: the same page of the same order.
    calls = await telegram.press(KIM, kims[1][2].split(" · ")[0])
    assert next(c for c in calls if c.method == "editMessageText").text.startswith("<b>사례 제목")
    calls = await telegram.press(KIM, "목록으로")
    assert next(c for c in calls if c.method == "editMessageText").labels()[:8] == kims[1]
    # and Kim's first page is Kim's first page again
    calls = await telegram.press(KIM, "◀ 이전")
    assert next(c for c in calls if c.method == "editMessageText").labels()[:8] == kims[0]


@pytest.fixture
async def kakao(services, campaign):
    from aiohttp.test_utils import TestClient, TestServer

    from handlers.kakao.server import build_kakao_app

    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
    await client.start_server()
    yield client
    await client.close()


def titles(answer: dict) -> list[str]:
    return [text.split("\n")[0] for text in texts(answer)[1:]]


async def test_kakao_two_citizens_see_their_own_first_page(kakao, campaign):
    firsts = {}
    for user in ("kakao-user-kim", "kakao-user-lee"):
        _, answer = await ask(kakao, skill_request("시작", user=user))
        _, answer = await press(kakao, quick_reply(answer, "사례 보기"), user)
        firsts[user] = titles(answer)
        assert len(firsts[user]) == 8
        _, again = await ask(kakao, skill_request("시작", user=user))
        _, again = await press(kakao, quick_reply(again, "사례 보기"), user)
        assert titles(again) == firsts[user]  # stable
        _, second = await press(kakao, quick_reply(answer, "다음"), user)
        assert len(titles(second)) == 8 and not set(titles(second)) & set(firsts[user])
    assert firsts["kakao-user-kim"] != firsts["kakao-user-lee"]


async def test_kakao_back_to_the_list_returns_to_the_same_page(kakao, campaign):
    user = "kakao-user-kim"
    _, answer = await ask(kakao, skill_request("시작", user=user))
    _, answer = await press(kakao, quick_reply(answer, "사례 보기"), user)
    _, answer = await press(kakao, quick_reply(answer, "분야"), user)
    _, answer = await press(kakao, quick_reply(answer, "돌봄"), user)  # 15 cases, two pages
    _, second = await press(kakao, quick_reply(answer, "다음"), user)
    assert "(2/2쪽, 모두 15건)" in texts(second)[0]
    _, card = await press(kakao, card_button(second, "자세히", index=1), user)
    assert texts(card)[0].split("\n")[0] == titles(second)[1]
    _, back = await press(kakao, quick_reply(card, "목록으로"), user)
    assert texts(back)[0] == texts(second)[0] and titles(back) == titles(second)

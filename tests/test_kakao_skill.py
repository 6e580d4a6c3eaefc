"""The KakaoTalk skill server over HTTP (aiohttp's test client against the real app): the
citizen's journey from welcome to a recorded vote, refusals of forged or stale presses, the
secret header and bot id, malformed bodies, and the 5-second budget."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.exc import PendingRollbackError

from bot.campaign_file import parse_campaign
from bot.i18n import plain, t
from bot.settings import Settings
from bot.text import plain_text
from handlers.kakao import server as kakao_server
from handlers.kakao.server import SECRET_HEADER, SKILL_PATH, build_kakao_app
from storage.repositories import CaseRepository
from storage.tables import citizens, votes
from tests.conftest import _case, small_campaign

BOT_ID = "5f1a2b3c4d5e6f7a8b9c0d1e"
BLOCK_ID = "65a1b2c3d4e5f60718293a4b"
SECRET = "s3cret-header-value"
SETTINGS = Settings(_env_file=None, chamyeo_kakao_bot_id=BOT_ID,
                    chamyeo_kakao_skill_secret=SECRET, chamyeo_kakao_block_id=BLOCK_ID,
                    chamyeo_kakao_rest_api_key="rest-key", chamyeo_kakao_event_name="news")

# The request format of Kakao's documentation ("응답 타입별 JSON 포맷", the action example),
# with its placeholders filled in.
DOCUMENTED_REQUEST = {
    "userRequest": {
        "timezone": "Asia/Seoul",
        "params": {},
        "block": {"id": BLOCK_ID, "name": "참여 동작"},
        "utterance": "시작",
        "lang": "ko",
        "user": {
            "id": "a1b2c3d4e5f6",
            "type": "botUserKey",
            "properties": {"plusfriendUserKey": "pf-7788", "isFriend": True},
        },
    },
    "contexts": [],
    "bot": {"id": BOT_ID, "name": "참여봇"},
    "action": {"name": "chamyeo", "clientExtra": None, "params": {}, "id": "skill-1",
               "detailParams": {}},
}


def skill_request(utterance: str = "시작", extra: dict | None = None, user: str = "a1b2c3d4e5f6",
                  **changes) -> dict:
    body = copy.deepcopy(DOCUMENTED_REQUEST)
    body["userRequest"]["utterance"] = utterance
    body["userRequest"]["user"]["id"] = user
    body["action"]["clientExtra"] = extra
    body.update(changes)
    return body


async def ask(client: TestClient, body: dict, secret: str | None = SECRET):
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    response = await client.post(SKILL_PATH, json=body, headers=headers)
    return response.status, await response.json()


def texts(answer: dict) -> list[str]:
    """Every text of an answer, checked to be plain: KakaoTalk shows markup as it is."""
    assert not any(mark in json.dumps(answer, ensure_ascii=False)
                   for mark in ("<b>", "</b>", "<i>", "<code>", "&lt;", "&gt;", "&amp;"))
    found = []
    for output in answer["template"]["outputs"]:
        for kind, component in output.items():
            if kind == "simpleText":
                found.append(component["text"])
            elif kind == "carousel":
                found += [f"{i.get('title', '')}\n{i.get('description', '')}"
                          for i in component["items"]]
            else:
                found.append(f"{component.get('title', '')}\n{component.get('description', '')}")
    return found


def quick_reply(answer: dict, label: str) -> dict:
    for reply in answer["template"].get("quickReplies", []):
        if label in reply["label"]:
            return reply
    raise LookupError(f"no quick reply {label!r} in "
                      f"{[r['label'] for r in answer['template'].get('quickReplies', [])]}")


def card_button(answer: dict, label: str, index: int = 0) -> dict:
    for output in answer["template"]["outputs"]:
        for kind, component in output.items():
            items = component["items"] if kind == "carousel" else [component]
            if index >= len(items):
                continue
            for button in items[index].get("buttons", []):
                if label in button["label"]:
                    return button
    raise LookupError(f"no button {label!r}")


async def press(client, target: dict, user: str = "a1b2c3d4e5f6"):
    assert target["action"] == "block" and target["blockId"] == BLOCK_ID
    return await ask(client, skill_request(target["messageText"], target["extra"], user))


async def test_from_welcome_to_a_recorded_vote(kakao, services, campaign):
    status, answer = await ask(kakao, skill_request("시작"))
    assert status == 200 and answer["version"] == "2.0"
    assert "시험 공모 2024" in texts(answer)[0] and "시민 투표" in texts(answer)[0]
    status, answer = await press(kakao, quick_reply(answer, "사례 보기"))
    assert answer["template"]["outputs"][1]["carousel"]["type"] == "textCard"
    assert len(answer["template"]["outputs"][1]["carousel"]["items"]) == 8
    status, answer = await press(kakao, card_button(answer, "자세히", index=0))
    assert texts(answer)[0].startswith("사례 제목 01번")
    status, answer = await press(kakao, card_button(answer, "투표하기"))
    assert "이 사례에 투표할까요?" in texts(answer)[0]
    status, answer = await press(kakao, card_button(answer, "네, 투표합니다"))
    assert "투표가 기록되었습니다" in texts(answer)[0]
    async with services.db.read() as conn:
        rows = (await conn.execute(
            sa.select(citizens.c.channel, citizens.c.external_id, citizens.c.alias, votes.c.case_id)
            .join(votes, votes.c.citizen_id == citizens.c.id))).all()
    assert [tuple(r) for r in rows] == [("kakao", "a1b2c3d4e5f6", "pf-7788", rows[0][3])]


async def test_the_same_person_on_telegram_is_another_channel_account(kakao, telegram,
                                                                      services, campaign):
    from tests.conftest import KIM

    extra = {"a": "y", "k": campaign.id, "c": 1, "v": "0"}
    status, answer = await ask(kakao, skill_request("네, 투표합니다", extra))
    assert "투표가 기록되었습니다" in texts(answer)[0]
    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "사례 보기")
    await telegram.press(KIM, "사례 제목 02번")
    await telegram.press(KIM, "투표하기")
    await telegram.press(KIM, "네, 투표합니다")
    async with services.db.read() as conn:
        rows = (await conn.execute(
            sa.select(citizens.c.channel, votes.c.case_id)
            .join(votes, votes.c.citizen_id == citizens.c.id)
            .order_by(citizens.c.channel))).all()
    assert [tuple(r) for r in rows] == [("kakao", 1), ("telegram", 2)]
    tally = await services.tally.tally(campaign)
    assert tally.voters == 2


# --- a stale confirmation --------------------------------------------------------------------


async def twenty_cases(services) -> dict[str, int]:
    """The campaign reloaded with 20 cases (as in the replay: case 1, then case 20); ids by
    key."""
    raw = small_campaign()
    raw["cases"] += [_case(f"case-{i}", "dong", "효동", "seniors", f"사례 제목 {i:02d}번",
                           f"Case title {i:02d}") for i in range(11, 21)]
    report = await services.campaigns.load(parse_campaign(raw))
    async with services.db.read() as conn:
        found = await CaseRepository(conn).from_file(report.campaign_id)
    return {key: case.id for key, case in found.items()}


async def vote_state(services) -> list[tuple]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(votes.c.case_id, votes.c.receipt, votes.c.cast_at))
        return [tuple(r) for r in rows]


async def test_a_stale_confirmation_does_not_move_the_vote(kakao, services, campaign):
    """The replay: confirm case 1, change to case 20 with "✅ 네, 바꿉니다", then press the
    first card's confirm again. KakaoTalk keeps every card tappable; the old press must change
    nothing and ask again, made for the vote as it is now."""
    ids = await twenty_cases(services)
    status, answer = await ask(kakao, skill_request("사례 제목 01번"))
    status, answer = await press(kakao, card_button(answer, "투표하기"))
    assert "이 사례에 투표할까요?" in texts(answer)[0]
    first_confirm = card_button(answer, "네, 투표합니다")
    status, answer = await press(kakao, first_confirm)
    assert "투표가 기록되었습니다" in texts(answer)[0]

    status, answer = await ask(kakao, skill_request("사례 제목 20번"))
    status, answer = await press(kakao, card_button(answer, "투표하기"))
    assert "지금 사례 제목 01번에 투표하셨습니다" in texts(answer)[0]
    change_confirm = card_button(answer, "네, 바꿉니다")
    status, answer = await press(kakao, change_confirm)
    assert "투표를 바꾸었습니다" in texts(answer)[0]
    changed = await vote_state(services)
    assert [row[0] for row in changed] == [ids["case-20"]]

    status, answer = await press(kakao, first_confirm)
    assert status == 200
    assert await vote_state(services) == changed  # nothing moved, no new receipt
    notice, question = texts(answer)
    assert notice == plain("ko", "vote.stale")
    assert "지금 사례 제목 20번에 투표하셨습니다" in question
    assert "사례 제목 01번\n이 사례로 바꿀까요?" in question
    # Asked again, made for the vote as it is now: this press is a real change, confirmed.
    again = card_button(answer, "네, 바꿉니다")
    assert again["extra"] != first_confirm["extra"]

    # The change confirmation, pressed again, is stale too: it was made for the vote for 1.
    status, answer = await press(kakao, change_confirm)
    assert texts(answer)[0] == plain("ko", "vote.stale")
    assert "이미 이 사례에 투표하셨습니다" in texts(answer)[1]
    assert await vote_state(services) == changed

    status, answer = await press(kakao, again)
    assert "투표를 바꾸었습니다" in texts(answer)[0]
    assert "사례 제목 20번 → 사례 제목 01번" in texts(answer)[0]
    assert [row[0] for row in await vote_state(services)] == [ids["case-1"]]
    status, answer = await press(kakao, again)  # the fresh one, once used, is stale as well
    assert texts(answer)[0] == plain("ko", "vote.stale")
    assert [row[0] for row in await vote_state(services)] == [ids["case-1"]]


async def test_a_fresh_first_vote_and_a_change_on_fresh_cards(kakao, services, campaign):
    status, answer = await ask(kakao, skill_request("제목 03"))
    status, answer = await press(kakao, card_button(answer, "투표하기"))
    status, answer = await press(kakao, card_button(answer, "네, 투표합니다"))
    assert "투표가 기록되었습니다" in texts(answer)[0]
    status, answer = await ask(kakao, skill_request("제목 05"))
    status, answer = await press(kakao, card_button(answer, "투표하기"))
    status, answer = await press(kakao, card_button(answer, "네, 바꿉니다"))
    assert "투표를 바꾸었습니다" in texts(answer)[0]
    assert "사례 제목 03번 → 사례 제목 05번" in texts(answer)[0]
    assert plain("ko", "vote.stale") not in texts(answer)


@pytest.mark.parametrize("lang", ["ko", "en"])
async def test_a_confirmation_from_before_buttons_carried_the_vote_asks_again(
        kakao, services, campaign, lang):
    """A card made before this change has no `v`: it is taken as stale, whatever the vote."""
    status, answer = await ask(kakao, _in(lang, skill_request(
        "네", {"a": "y", "k": campaign.id, "c": 2})))
    assert await vote_count(services) == 0
    assert texts(answer)[0] == plain(lang, "vote.stale")
    status, answer = await press(kakao, card_button(answer, plain(lang, "kakao.button.yes")))
    assert await vote_count(services) == 1
    recorded = {"ko": "투표가 기록되었습니다", "en": "Your vote is recorded"}[lang]
    assert recorded in texts(answer)[0]


def _in(lang: str, body: dict) -> dict:
    body["userRequest"]["lang"] = lang
    return body


# --- refusals --------------------------------------------------------------------------------


async def vote_count(services) -> int:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(votes))


async def citizen_count(services) -> int:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(sa.func.count()).select_from(citizens))


@pytest.mark.parametrize("extra", [
    {"a": "y", "k": 999, "c": 1},  # another campaign
    {"a": "y", "c": 1},  # no campaign
    {"a": "y", "k": 1},  # no case
    {"a": "zz", "k": 1},  # no such action
    {"a": "y", "k": 1, "c": 1, "admin": True},  # an unknown field
    {"a": "y", "k": 1, "c": -4},
    {"a": "y", "k": 1, "c": "1; DROP TABLE votes"},
    {"a": ["y"]},
    {"a": "y", "k": 1, "c": 1, "v": "zz"},  # not a votes token
    {"a": "y", "k": 1, "c": 1, "v": 0},
    {"a": "y", "k": 1, "c": 1, "v": "0a1b2c3d4"},
    {"a": "y", "k": 1, "c": 1, "v": "0A1B2C3D"},
])
async def test_forged_or_stale_extra_is_refused_and_changes_nothing(kakao, services, campaign,
                                                                    extra):
    status, answer = await ask(kakao, skill_request("네, 투표합니다", extra))
    assert status == 200
    assert texts(answer) == ["이 버튼은 만료되었습니다. 처음 화면에서 다시 해 주세요."]
    assert await vote_count(services) == 0


async def test_a_case_that_cannot_be_voted_for(kakao, services, campaign):
    status, answer = await ask(kakao, skill_request("네", {"a": "y", "k": campaign.id,
                                                          "c": 999_999, "v": "0"}))
    assert texts(answer) == ["이 사례에는 투표할 수 없습니다."]
    await services.moderation.hide(campaign, 3, "test", "중복")
    status, answer = await ask(kakao, skill_request("네", {"a": "y", "k": campaign.id, "c": 3,
                                                          "v": "0"}))
    assert texts(answer) == ["이 사례에는 투표할 수 없습니다."]
    status, answer = await ask(kakao, skill_request("자세히", {"a": "c", "k": campaign.id,
                                                             "c": 3}))
    assert "찾을 수 없" in texts(answer)[0] or "없습니다" in texts(answer)[0]
    assert await vote_count(services) == 0


async def test_voting_is_checked_at_the_moment_of_the_request(kakao, services, campaign,
                                                               clock):
    from tests.conftest import VOTING_CLOSES

    clock.set(VOTING_CLOSES)
    status, answer = await ask(kakao, skill_request("네", {"a": "y", "k": campaign.id, "c": 1,
                                                          "v": "0"}))
    assert texts(answer)[0] == "투표는 12월 1일(일) 18:00에 마감되었습니다."
    assert await vote_count(services) == 0
    status, answer = await ask(kakao, skill_request("자세히", {"a": "c", "k": campaign.id,
                                                             "c": 1}))
    assert "buttons" not in answer["template"]["outputs"][0]["textCard"]  # no vote button


@pytest.mark.parametrize(("secret", "bot_id", "status"), [
    (None, BOT_ID, 401),
    ("wrong", BOT_ID, 401),
    ("", BOT_ID, 401),
    (SECRET + "x", BOT_ID, 401),
    (SECRET, "another-bot", 400),
])
async def test_authentication_refusals_change_nothing(kakao, services, campaign, secret, bot_id,
                                                      status):
    body = skill_request("네", {"a": "y", "k": campaign.id, "c": 1, "v": "0"},
                         bot={"id": bot_id})
    got, _ = await ask(kakao, body, secret=secret)
    assert got == status
    assert await vote_count(services) == 0 and await citizen_count(services) == 0


async def test_the_development_channel_bot_id_is_accepted(kakao, campaign):
    status, answer = await ask(kakao, skill_request("시작", bot={"id": BOT_ID + "!"}))
    assert status == 200 and "시험 공모 2024" in texts(answer)[0]


@pytest.mark.parametrize("body", [
    b"{not json", b"", b"\xff\xfe", b"[1, 2, 3]", b'{"userRequest": {}}',
    b'{"bot": {"id": "x"}}', b'"just a string"',
])
async def test_malformed_bodies_get_400(kakao, services, body):
    response = await kakao.post(SKILL_PATH, data=body, headers={SECRET_HEADER: SECRET})
    assert response.status == 400
    assert await citizen_count(services) == 0


async def test_an_enormous_body_is_refused(kakao, services):
    body = skill_request("가" * 100_000)
    response = await kakao.post(SKILL_PATH, json=body, headers={SECRET_HEADER: SECRET})
    assert response.status == 413
    assert await citizen_count(services) == 0


async def test_a_slow_answer_becomes_try_again_within_the_budget(services, campaign,
                                                                monkeypatch):
    never = asyncio.Event()

    async def stuck(*args, **kwargs):
        await never.wait()

    monkeypatch.setattr(services.campaigns, "current", stuck)
    client = TestClient(TestServer(build_kakao_app(services, SETTINGS, time_budget=0.05)))
    await client.start_server()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        status, answer = await ask(client, skill_request("시작"))
        elapsed = loop.time() - started
    finally:
        await client.close()
    assert status == 200
    assert texts(answer)[0].startswith("지금 요청이 많아 답이 늦었습니다.")
    assert elapsed < 1.0


async def test_an_error_inside_is_a_polite_answer(services, campaign, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(services.campaigns, "current", broken)
    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
    await client.start_server()
    try:
        status, answer = await ask(client, skill_request("시작"))
    finally:
        await client.close()
    assert status == 200 and len(texts(answer)) == 1 and "database" not in texts(answer)[0]


# --- the other flows ----------------------------------------------------------------------


async def test_search_filters_and_pages(kakao, campaign):
    status, answer = await ask(kakao, skill_request("제목 07"))
    assert texts(answer)[0].startswith("📋 사례 목록 (1/1쪽, 모두 1건)")
    assert "「제목 07」" in texts(answer)[0]
    status, answer = await ask(kakao, skill_request("사례 보기"))
    assert texts(answer)[0].startswith("📋 사례 목록 (1/2쪽, 모두 10건)")
    status, answer = await press(kakao, quick_reply(answer, "다음"))
    assert texts(answer)[0].startswith("📋 사례 목록 (2/2쪽, 모두 10건)")
    status, answer = await press(kakao, quick_reply(answer, "지역"))
    assert [r["label"] for r in answer["template"]["quickReplies"]] == ["전체 보기", "동구",
                                                                         "대덕구"]
    status, answer = await press(kakao, quick_reply(answer, "대덕구"))
    assert "조건: 대덕구" in texts(answer)[0] and "모두 5건" in texts(answer)[0]
    status, answer = await press(kakao, quick_reply(answer, "분야"))
    status, answer = await press(kakao, quick_reply(answer, "어르신"))
    assert "조건: 대덕구 · 어르신" in texts(answer)[0]
    status, answer = await press(kakao, quick_reply(answer, "조건 지우기"))
    assert "모두 10건" in texts(answer)[0]


async def test_my_vote_schedule_help_news_and_language(kakao, services, campaign):
    await ask(kakao, skill_request("네", {"a": "y", "k": campaign.id, "c": 4, "v": "0"}))
    status, answer = await ask(kakao, skill_request("🗳 내 투표"))
    assert texts(answer)[0].startswith("🗳 내 투표\n\n사례 제목 04번")
    status, answer = await ask(kakao, skill_request("일정", {"a": "sc"}))
    assert "시민 투표" in texts(answer)[0] and "🟢" in texts(answer)[0]
    status, answer = await ask(kakao, skill_request("도움말", {"a": "h"}))
    assert "/" not in texts(answer)[0]  # no Telegram commands on Kakao
    status, answer = await ask(kakao, skill_request("시작"))
    status, answer = await press(kakao, quick_reply(answer, "알림 받기"))
    assert texts(answer)[0].startswith("🔔 알림을 받습니다")
    citizen = await services.citizens.identify("kakao", "a1b2c3d4e5f6", "ko")
    assert await services.subscriptions.status(campaign, citizen) is True
    assert quick_reply(answer, "알림 끄기")
    status, answer = await press(kakao, quick_reply(answer, "English"))
    assert "Test competition 2024" in texts(answer)[0]
    assert quick_reply(answer, "Browse")


async def test_a_long_case_reads_in_parts(kakao, services, campaign):
    from bot.campaign_file import parse_campaign
    from tests.conftest import small_campaign

    raw = small_campaign()
    raw["cases"][0]["ko"]["body"] = "긴 본문입니다. " * 250  # about 2,250 characters
    await services.campaigns.load(parse_campaign(raw))
    status, answer = await ask(kakao, skill_request("자세히", {"a": "c", "k": campaign.id,
                                                             "c": 1}))
    assert len(answer["template"]["outputs"]) == 2
    assert texts(answer)[1].startswith("(1/3)")
    status, answer = await press(kakao, quick_reply(answer, "더 읽기"))
    assert texts(answer)[0].startswith("(2/3)")
    assert quick_reply(answer, "투표하기")


async def test_cases_with_pictures_are_basic_cards(kakao, services, campaign):
    from bot.campaign_file import parse_campaign
    from tests.conftest import small_campaign

    raw = small_campaign()
    for n, case in enumerate(raw["cases"]):
        case["image"] = f"https://example.org/{n}.jpg"
    await services.campaigns.load(parse_campaign(raw))
    status, answer = await ask(kakao, skill_request("사례 보기"))
    carousel = answer["template"]["outputs"][1]["carousel"]
    assert carousel["type"] == "basicCard"
    assert carousel["items"][0]["thumbnail"] == {"imageUrl": "https://example.org/0.jpg"}


async def test_the_bot_serves_the_skill_while_it_runs(services, clock, campaign):
    """`chamyeo run` wiring: the skill server starts with the bot and stops with it."""
    from aiohttp import ClientSession

    from bot.app import build_application
    from handlers.server import HttpServer
    from handlers.telegram.offline import OfflineRequest

    settings = SETTINGS.model_copy(update={"chamyeo_kakao_listen": "127.0.0.1",
                                           "chamyeo_kakao_port": 0})
    server = HttpServer(services, settings)
    application = build_application(settings, services, request=OfflineRequest(clock=clock),
                                    rate_limited=False, http=server)
    async with application:
        await application.post_init(application)
        host, port = server.runner.addresses[0][:2]
        async with ClientSession() as http:
            response = await http.post(f"http://{host}:{port}{SKILL_PATH}",
                                       json=skill_request("시작"),
                                       headers={SECRET_HEADER: SECRET})
            assert response.status == 200
            assert "시험 공모 2024" in texts(await response.json())[0]
        await application.post_stop(application)
    assert server.runner.addresses == []


async def test_no_news_button_without_the_event_api(services, campaign):
    settings = SETTINGS.model_copy(update={"chamyeo_kakao_rest_api_key": None})
    client = TestClient(TestServer(build_kakao_app(services, settings)))
    await client.start_server()
    try:
        status, answer = await ask(client, skill_request("시작"))
    finally:
        await client.close()
    labels = [r["label"] for r in answer["template"]["quickReplies"]]
    assert "🔔 알림 받기" not in labels and "📋 사례 보기" in labels


async def test_typed_news_words_and_labels_in_any_case(kakao, services, campaign):
    status, answer = await ask(kakao, skill_request("알림 받기"))
    assert texts(answer)[0].startswith("🔔 알림을 받습니다")
    status, answer = await ask(kakao, skill_request("HELP"))
    assert texts(answer)[0].startswith("이렇게 쓰세요")


def budget_ending_at(casting: asyncio.Event):
    """A `within_budget` whose budget runs out exactly when `casting` is set (no wall clock)."""

    async def budget(answer, seconds):
        task = asyncio.ensure_future(answer)
        await casting.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise TimeoutError

    return budget


async def test_a_vote_outlasting_the_budget_still_completes(services, campaign, monkeypatch):
    """The answer gives up at the budget; the vote itself is shielded and is recorded whole,
    and the citizen is told where to check it. The budget runs out exactly while the vote is
    being cast (no wall clock: the budget's end is the test's to choose)."""
    real_cast = services.voting.cast_vote
    casting, release = asyncio.Event(), asyncio.Event()

    async def slow_cast(*args, **kwargs):
        casting.set()
        await release.wait()
        return await real_cast(*args, **kwargs)

    monkeypatch.setattr(services.voting, "cast_vote", slow_cast)
    monkeypatch.setattr(kakao_server, "within_budget", budget_ending_at(casting))
    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
    await client.start_server()
    try:
        status, answer = await ask(client, skill_request("네", {"a": "y", "k": campaign.id,
                                                               "c": 2, "v": "0"}))
        assert "내 투표" in texts(answer)[0]
        assert await vote_count(services) == 0  # still being cast
        release.set()
        for _ in range(1000):  # the shielded vote finishes in the background
            if await vote_count(services):
                break
            await asyncio.sleep(0)
    finally:
        await client.close()
    assert await vote_count(services) == 1


async def test_a_vote_failing_after_its_answer_ran_out_is_logged_with_its_cause(
        services, campaign, monkeypatch, caplog):
    """The shielded vote goes on alone after the busy answer; if it then fails, the log says
    so with the cause (not asyncio's "Task exception was never retrieved")."""
    casting, release = asyncio.Event(), asyncio.Event()

    async def failing_cast(*args, **kwargs):
        casting.set()
        await release.wait()
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(services.voting, "cast_vote", failing_cast)
    monkeypatch.setattr(kakao_server, "within_budget", budget_ending_at(casting))
    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
    await client.start_server()
    try:
        with caplog.at_level(logging.ERROR, logger="handlers.kakao.skill"):
            status, answer = await ask(client, skill_request(
                "네", {"a": "y", "k": campaign.id, "c": 2, "v": "0"}))
            assert "내 투표" in texts(answer)[0]
            release.set()
            for _ in range(100):
                if caplog.records:
                    break
                await asyncio.sleep(0)
    finally:
        await client.close()
    [record] = caplog.records
    assert "outlasted its answer" in record.getMessage()
    assert "the disk is full" in str(record.exc_info[1])


class RollbackWhenCancelled:
    """An answer still inside a transaction when the budget ends: cancelled, its rollback
    fails (as SQLAlchemy's does for a connection cut short mid-statement)."""

    def __init__(self) -> None:
        self.started = False

    async def answer(self, request):
        self.started = True
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise PendingRollbackError("Can't reconnect until invalid transaction is rolled "
                                       "back", None, None) from None


async def test_an_answer_failing_as_the_budget_cancels_it_is_still_a_busy_answer(
        services, caplog):
    stuck = RollbackWhenCancelled()
    app = build_kakao_app(services, SETTINGS, time_budget=0.0)
    app[kakao_server.SKILL] = stuck
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        with caplog.at_level(logging.WARNING, logger="handlers.kakao.server"):
            status, answer = await ask(client, skill_request("투표하기"))
    finally:
        await client.close()
    assert stuck.started and status == 200
    assert texts(answer)[0] == plain_text(t("ko", "kakao.busy"))
    assert "PendingRollbackError" in caplog.text and "Traceback" not in texts(answer)[0]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_non_utf8_secret_header_is_a_wrong_secret(kakao, services):
    response = await kakao.post(SKILL_PATH, data=json.dumps(skill_request("시작")),
                                headers={SECRET_HEADER: "\udcff\udcfe".encode(
                                    "utf-8", "surrogateescape").decode("latin-1")})
    assert response.status == 401


async def test_deeply_nested_json_is_400(kakao):
    body = b"[" * 30_000 + b"]" * 30_000
    response = await kakao.post(SKILL_PATH, data=body, headers={SECRET_HEADER: SECRET})
    assert response.status == 400

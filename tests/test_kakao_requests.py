"""What Kakao really sends, over HTTP (aiohttp's test client against the real app): requests as
captured from a channel, with numbers where the documentation shows strings in fields we never
read (they are accepted), malformed fields we do read (a 400 that names the field), and the
block that called deciding the answer (the welcome block greets whatever its utterance)."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.settings import SettingsError, load_settings
from handlers.kakao.server import build_kakao_app
from storage.tables import citizens
from tests.test_kakao_skill import BLOCK_ID, BOT_ID, SETTINGS, ask, quick_reply, texts

WELCOME_BLOCK_ID = "65a1b2c3d4e5f60718290001"
FALLBACK_BLOCK_ID = "65a1b2c3d4e5f60718290002"
USER_KEY = "9f3c1d7e2b5a48c6a0e1f2d3c4b5a697"

# A request as a KakaoTalk channel sends it when a newcomer opens the chat (the welcome
# block): ids, names and keys replaced, the shape and the types as captured. Kakao sends
# appUserId as a number, and the snake_case twins of the user's keys besides the documented ones.
WELCOME_REQUEST = {
    "bot": {"id": BOT_ID, "name": "대전을 바꾸는 시간"},
    "intent": {"id": WELCOME_BLOCK_ID, "name": "웰컴 블록",
               "extra": {"reason": {"code": 1, "message": "OK"}}},
    "action": {"id": "65a1b2c3d4e5f607182900aa", "name": "참여 스킬", "params": {},
               "detailParams": {}, "clientExtra": {}},
    "userRequest": {
        "block": {"id": WELCOME_BLOCK_ID, "name": "웰컴 블록"},
        "user": {
            "id": USER_KEY,
            "type": "botUserKey",
            "properties": {
                "botUserKey": USER_KEY,
                "bot_user_key": USER_KEY,
                "plusfriendUserKey": "Vx8mQ2kLp3Zd",
                "plusfriend_user_key": "Vx8mQ2kLp3Zd",
                "appUserId": 1620160768,
                "app_user_id": 1620160768,
                "isFriend": True,
            },
        },
        "utterance": "반가워요",
        "params": {"ignoreMe": "true", "surface": "Kakaotalk.plusfriend"},
        "lang": "ko",
        "timezone": "Asia/Seoul",
        "callbackUrl": None,
    },
    "contexts": [],
    "flow": {"lastBlock": {"id": WELCOME_BLOCK_ID, "name": "웰컴 블록"},
             "trigger": {"type": "CHAT_OPEN"}},
}


def from_block(block_id: str, block_name: str, utterance: str) -> dict:
    """The captured request, as the block `block_id` would send it with `utterance`."""
    body = copy.deepcopy(WELCOME_REQUEST)
    body["intent"].update(id=block_id, name=block_name)
    body["userRequest"]["block"] = {"id": block_id, "name": block_name}
    body["userRequest"]["utterance"] = utterance
    return body


def fallback(utterance: str) -> dict:
    return from_block(FALLBACK_BLOCK_ID, "폴백 블록", utterance)


@pytest.fixture
async def kakao_with_welcome(services, campaign):
    settings = SETTINGS.model_copy(update={"chamyeo_kakao_welcome_block_id": WELCOME_BLOCK_ID})
    client = TestClient(TestServer(build_kakao_app(services, settings)))
    await client.start_server()
    yield client
    await client.close()


async def alias_of(services, user_key: str) -> str | None:
    async with services.db.read() as conn:
        return await conn.scalar(sa.select(citizens.c.alias)
                                 .where(citizens.c.external_id == user_key))


# --- fields we never read: numbers (and other surprises) are accepted ---------------------


def _spoil(body: dict, path: str, value: object) -> dict:
    body = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = body
    for key in parents:
        node = node[key]
    node[last] = value
    return body


@pytest.mark.parametrize(("path", "value"), [
    ("userRequest.user.properties.appUserId", 1620160768),
    ("userRequest.user.properties.plusfriendUserKey", 12345),
    ("userRequest.user.properties.isFriend", "yes"),
    ("userRequest.user.properties", "none"),
    ("userRequest.user.type", 1),
    ("userRequest.timezone", 9),
    ("userRequest.params", ["surface"]),
    ("userRequest.block.name", 3),
    ("intent.name", 7),
    ("intent.extra", "none"),
    ("bot.name", 2024),
    ("action.id", 42),
    ("action.name", 42),
    ("action.detailParams", []),
    ("contexts", {}),
])
async def test_unread_fields_of_another_type_are_accepted(kakao, services, path, value):
    status, answer = await ask(kakao, _spoil(fallback("시작"), path, value))
    assert status == 200, answer
    assert "시험 공모 2024" in texts(answer)[0]


async def test_numbers_in_the_user_properties_get_a_normal_answer(kakao, services):
    body = fallback("시작")
    body["userRequest"]["user"]["properties"].update(appUserId=1620160768,
                                                     plusfriendUserKey=12345)
    status, answer = await ask(kakao, body)
    assert status == 200, answer
    assert "시험 공모 2024" in texts(answer)[0]
    assert await alias_of(services, USER_KEY) == "12345"  # the key Kakao gave, as text


async def test_a_numeric_user_id_is_the_same_key_as_text(kakao, services):
    status, answer = await ask(kakao, _spoil(fallback("시작"), "userRequest.user.id", 7788))
    assert status == 200 and "시험 공모 2024" in texts(answer)[0]
    async with services.db.read() as conn:
        keys = (await conn.scalars(sa.select(citizens.c.external_id))).all()
    assert keys == ["7788"]


# --- fields we read: malformed is a 400 that says which --------------------------------


@pytest.mark.parametrize(("path", "value", "field"), [
    ("userRequest.user.id", None, "userRequest.user.id"),
    ("userRequest.user.id", {"key": "x"}, "userRequest.user.id"),
    ("userRequest.user.id", ["x"], "userRequest.user.id"),
    ("userRequest.user.id", True, "userRequest.user.id"),
    ("userRequest.user.id", "", "userRequest.user.id"),
    ("userRequest.user", "u-1", "userRequest.user"),
    ("userRequest.utterance", {"text": "시작"}, "userRequest.utterance"),
    ("userRequest.block", "웰컴 블록", "userRequest.block"),
    ("userRequest.block.id", ["x"], "userRequest.block.id"),
    ("intent.id", {"id": "x"}, "intent.id"),
    ("bot.id", {"id": BOT_ID}, "bot.id"),
    ("action.params", ["a", "b"], "action.params"),
    ("action.params", "a=b", "action.params"),
    ("action.clientExtra", ["a", "y"], "action.clientExtra"),
    ("action.clientExtra", 5, "action.clientExtra"),
])
async def test_malformed_fields_we_read_are_refused_with_the_reason(kakao, services, path, value,
                                                                    field):
    status, answer = await ask(kakao, _spoil(fallback("시작"), path, value))
    assert status == 400
    assert answer["error"].startswith("not a skill request: ")
    assert field in answer["error"]
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(citizens)) == 0


async def test_the_reason_never_repeats_what_was_sent(kakao):
    body = _spoil(fallback("시작"), "userRequest.user.id", {"secret": "010-1234-5678"})
    status, answer = await ask(kakao, body)
    assert status == 400 and "010-1234-5678" not in answer["error"]


def searched_and_found_nothing(answer: dict) -> bool:
    first = texts(answer)[0]
    return first.startswith("🔎 찾는 말: 「") and "맞는 사례가 없습니다" in first


# --- the block that called --------------------------------------------------------------


async def test_the_welcome_block_greets_whatever_its_utterance(kakao_with_welcome):
    status, answer = await ask(kakao_with_welcome, WELCOME_REQUEST)
    assert status == 200
    assert "시험 공모 2024" in texts(answer)[0] and "시민 투표" in texts(answer)[0]
    assert quick_reply(answer, "사례 보기")["blockId"] == BLOCK_ID


async def test_the_welcome_block_is_known_by_its_intent_too(kakao_with_welcome):
    body = copy.deepcopy(WELCOME_REQUEST)
    del body["userRequest"]["block"]
    status, answer = await ask(kakao_with_welcome, body)
    assert status == 200 and "시험 공모 2024" in texts(answer)[0]


async def test_the_welcome_block_greets_in_english(kakao_with_welcome):
    body = copy.deepcopy(WELCOME_REQUEST)
    body["userRequest"].update(lang="en", utterance="Nice to meet you")
    status, answer = await ask(kakao_with_welcome, body)
    assert status == 200 and "Test competition 2024" in texts(answer)[0]


async def test_a_word_in_the_fallback_block_still_searches(kakao_with_welcome):
    status, answer = await ask(kakao_with_welcome, fallback("반가워요"))
    assert searched_and_found_nothing(answer)
    status, answer = await ask(kakao_with_welcome, fallback("제목 07"))
    assert texts(answer)[0].startswith("📋 사례 목록 (1/1쪽, 모두 1건)")
    status, answer = await ask(kakao_with_welcome, fallback("메뉴"))
    assert "시험 공모 2024" in texts(answer)[0]


async def test_without_the_setting_the_utterance_decides_as_before(kakao):
    status, answer = await ask(kakao, WELCOME_REQUEST)
    assert searched_and_found_nothing(answer)
    status, answer = await ask(kakao, from_block(WELCOME_BLOCK_ID, "웰컴 블록", "안녕하세요"))
    assert "시험 공모 2024" in texts(answer)[0]


async def test_a_press_still_acts_whichever_block_id_is_configured(kakao_with_welcome, campaign):
    body = from_block(BLOCK_ID, "참여 동작", "📋 사례 보기")
    body["action"]["clientExtra"] = {"a": "l", "k": campaign.id}
    status, answer = await ask(kakao_with_welcome, body)
    assert texts(answer)[0].startswith("📋 사례 목록 (1/2쪽, 모두 10건)")


def test_the_welcome_block_cannot_be_the_button_block():
    with pytest.raises(SettingsError, match="CHAMYEO_KAKAO_WELCOME_BLOCK_ID"):
        load_settings(_env_file=None, chamyeo_kakao_block_id=BLOCK_ID,
                      chamyeo_kakao_welcome_block_id=BLOCK_ID)
    settings = load_settings(_env_file=None, chamyeo_kakao_welcome_block_id=" ")
    assert settings.chamyeo_kakao_welcome_block_id is None


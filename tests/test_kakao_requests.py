"""What Kakao really sends, over HTTP (aiohttp's test client against the real app): requests as
captured from a channel, with numbers where the documentation shows strings in fields we never
read (they are accepted), malformed fields we do read (a 400 that names the field)."""

from __future__ import annotations

import copy

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from handlers.kakao.server import build_kakao_app
from storage.tables import citizens
from tests.test_kakao_skill import BOT_ID, SETTINGS, ask, texts

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
async def kakao(services, campaign):
    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
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

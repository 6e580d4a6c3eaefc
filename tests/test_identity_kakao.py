"""One person, one vote on KakaoTalk, over HTTP against the real skill app with real skill
request JSON: a phone campaign (the notice, Kakao's phone number plugin through the phone
block, the confirmation for the case chosen), the same number verified on Telegram first, and a
code campaign (right, used, wrong, not a code, too many). No phone digits in the database or
the logs. The plugin's request shape (tests/data/kakao_phone_plugin_request.json) is our best
reading of Kakao's documentation, not yet seen from a real channel."""

from __future__ import annotations

import copy
import json
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from pydantic import ValidationError

from bot.domain import VoteOutcome
from bot.i18n import format_when
from bot.services.identity import MAX_WRONG_CODES, PhoneOutcome
from bot.settings import Settings
from handlers.kakao.models import SkillRequest
from handlers.kakao.phone import phone_from_request
from handlers.kakao.server import build_kakao_app
from storage.tables import citizen_phones, identity_tries, votes
from tests.conftest import DURING_VOTING
from tests.test_identity import approved, every_text, load
from tests.test_kakao_skill import (
    BLOCK_ID,
    SETTINGS,
    ask,
    card_button,
    press,
    quick_reply,
    skill_request,
    texts,
)

FIXTURE = Path(__file__).parent / "data" / "kakao_phone_plugin_request.json"
PLUGIN_REQUEST = json.loads(FIXTURE.read_text(encoding="utf-8"))
PHONE_BLOCK_ID = PLUGIN_REQUEST["userRequest"]["block"]["id"]
USER = "a1b2c3d4e5f6"
OTHER_USER = "f6e5d4c3b2a1"
# Every form of the test number that must never be kept or logged.
NUMBER_FORMS = ("12345678", "1234-5678", "+821012345678", "010-1234", "10-1234")


def plugin_request(user: str = USER, params: dict | None = None,
                   detail_params: dict | None = None) -> dict:
    """The phone block's request (the fixture), for `user`, its action's params replaced when
    given."""
    body = copy.deepcopy(PLUGIN_REQUEST)
    body["userRequest"]["user"]["id"] = user
    if params is not None:
        body["action"]["params"] = params
        body["action"]["detailParams"] = detail_params or {}
    return body


def parsed(body: dict) -> SkillRequest:
    return SkillRequest.model_validate(body)


# --- the number in the plugin's request (phone.py) -------------------------------------------


def test_the_plugins_number_is_read_from_the_saved_request():
    assert phone_from_request(parsed(PLUGIN_REQUEST)) == "+821012345678"


@pytest.mark.parametrize("params, detail", [
    ({"phone": {"phone_number": "+82 10-1234-5678"}}, None),  # an object, not a JSON string
    ({}, {"phone": {"origin": "x", "value": '{"phone_number": "+82 10-1234-5678"}'}}),
    ({"phone": "010-1234-5678"}, None),  # a bare number as text
    ({"phone": '{"phone_number": "+82 10-1234-5678", "nickname": "김"}'}, None),
], ids=["object", "detail-params-only", "bare-text", "more-fields"])
def test_other_documented_forms_of_the_number(params, detail):
    assert phone_from_request(parsed(plugin_request(params=params, detail_params=detail))) \
        == "+821012345678"


@pytest.mark.parametrize("params, detail", [
    ({}, None),  # no parameter at all
    ({"phone": '{"nickname": "김"}'}, None),  # no phone_number
    ({"phone": '{"phone_number": 1012345678}'}, None),  # a number, not text
    ({"phone": {"phone_number": 821012345678}}, None),
    ({"phone": 1012345678}, None),
    ({"phone": "garbage"}, None),
    ({"phone": '{"phone_number": "+82 10-1234'}, None),  # broken JSON
    ({"phone": '{"phone_number": "not a number"}'}, None),
    ({"phone": ["+82 10-1234-5678"]}, None),
    ({"phone": '["+82 10-1234-5678"]'}, None),
    ({"phone": None}, None),
    ({"a": "010-1234-5678", "b": "010-9999-8888"}, None),  # two numbers: which one?
    ({}, {"phone": "010-1234-5678"}),  # detailParams entries are objects with a value
    ({}, {"phone": {"value": 1012345678}}),
], ids=["missing", "no-field", "json-number", "object-number", "bare-number", "garbage",
        "broken-json", "not-a-number", "list", "json-list", "null", "two-numbers",
        "detail-not-object", "detail-number"])
def test_malformed_plugin_values_are_no_number(params, detail):
    assert phone_from_request(parsed(plugin_request(params=params, detail_params=detail))) \
        is None


def test_detail_params_of_any_type_do_not_refuse_a_request():
    body = plugin_request(params={})
    body["action"]["detailParams"] = "null"
    assert phone_from_request(parsed(body)) is None


def test_the_phone_block_is_another_block_than_the_buttons():
    with pytest.raises(ValidationError, match="CHAMYEO_KAKAO_BLOCK_ID"):
        Settings(_env_file=None, chamyeo_kakao_block_id=BLOCK_ID,
                 chamyeo_kakao_phone_block_id=BLOCK_ID)
    with pytest.raises(ValidationError, match="WELCOME"):
        Settings(_env_file=None, chamyeo_kakao_block_id=BLOCK_ID,
                 chamyeo_kakao_welcome_block_id="welcome", chamyeo_kakao_phone_block_id="welcome")
    settings = Settings(_env_file=None, chamyeo_kakao_phone_block_id="  ")
    assert settings.chamyeo_kakao_phone_block_id is None


# --- over HTTP ---------------------------------------------------------------------------------


@pytest.fixture
async def client(services):
    settings = SETTINGS.model_copy(update={"chamyeo_kakao_phone_block_id": PHONE_BLOCK_ID})
    client = TestClient(TestServer(build_kakao_app(services, settings)))
    await client.start_server()
    yield client
    await client.close()


async def vote_button(client, campaign, case_id: int, user: str = USER) -> dict:
    """The citizen taps "vote" on a case's card."""
    status, answer = await ask(client, skill_request("🗳 투표하기", {"a": "v", "k": campaign.id,
                                                                  "c": case_id}, user))
    assert status == 200
    return answer


def phone_target(answer: dict) -> dict:
    """The notice's button and quick reply both go to the phone block."""
    button = card_button(answer, "번호 확인하기")
    reply = quick_reply(answer, "번호 확인하기")
    for target in (button, reply):
        assert target["action"] == "block" and target["blockId"] == PHONE_BLOCK_ID
    return reply


async def rows(services, table) -> list:
    async with services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(table))).mappings().all()]


async def test_a_phone_campaign_from_the_notice_to_a_recorded_vote(services, client, clock,
                                                                   caplog):
    caplog.set_level(logging.INFO)
    campaign = await load(services, "phone")
    clock.set(DURING_VOTING)
    first = (await approved(services, campaign))[0]

    answer = await vote_button(client, campaign, first)
    [notice] = texts(answer)
    assert "한 표" in notice and "카카오톡과 텔레그램" in notice
    assert "번호는 저장하지 않습니다" in notice
    until = campaign.span()[1] + timedelta(days=campaign.retention_days)
    assert f"{campaign.retention_days}일 뒤" in notice
    assert format_when(until, campaign.timezone, "ko") in notice
    phone_target(answer)
    assert quick_reply(answer, "취소")["blockId"] == BLOCK_ID

    # Kakao's plugin asks the citizen and calls our skill from the phone block.
    status, answer = await ask(client, plugin_request())
    assert status == 200
    found = texts(answer)
    assert found[0] == "✅ 번호가 확인되었습니다."
    assert "이 사례에 투표할까요?" in found[1]  # the case chosen before, straight away
    status, answer = await press(client, card_button(answer, "네, 투표합니다"))
    assert "투표가 기록되었습니다" in texts(answer)[0]

    [vote] = await rows(services, votes)
    assert vote["case_id"] == first and vote["voter"].startswith("p:")
    assert len(await rows(services, citizen_phones)) == 1
    dump = await every_text(services)
    for form in NUMBER_FORMS:
        assert form not in dump and form not in caplog.text


@pytest.mark.parametrize("params", [
    {},  # the plugin gave nothing (the citizen declined, or the block has no plugin)
    {"phone": '{"phone_number": 1012345678}'},
    {"phone": "garbage"},
], ids=["no-number", "number-not-text", "garbage"])
async def test_no_number_from_the_plugin_is_refused_and_keeps_nothing(services, client, clock,
                                                                     params):
    campaign = await load(services, "phone")
    clock.set(DURING_VOTING)
    first = (await approved(services, campaign))[0]
    await vote_button(client, campaign, first)

    status, answer = await ask(client, plugin_request(params=params))
    assert status == 200
    assert texts(answer) == ["⚠️ 번호를 받지 못했습니다. 아무것도 저장하지 않았습니다. "
                             "‘번호 확인하기’를 눌러 다시 해 주세요."]
    phone_target_reply = quick_reply(answer, "번호 확인하기")
    assert phone_target_reply["blockId"] == PHONE_BLOCK_ID
    assert await rows(services, citizen_phones) == []
    assert await rows(services, votes) == []

    # Trying again with a number goes on to the case chosen before.
    status, answer = await ask(client, plugin_request())
    assert "이 사례에 투표할까요?" in texts(answer)[1]


async def test_the_phone_block_keeps_no_number_when_the_campaign_needs_none(services, client,
                                                                           campaign):
    status, answer = await ask(client, plugin_request())
    assert texts(answer) == ["지금 진행 중인 투표는 번호 확인이 필요하지 않습니다."]
    assert await rows(services, citizen_phones) == []


async def test_a_confirmation_from_before_the_campaign_counted_phones_asks_for_the_number(
        services, client, clock):
    campaign = await load(services, "phone")
    clock.set(DURING_VOTING)
    first = (await approved(services, campaign))[0]
    status, answer = await ask(client, skill_request(
        "✅ 네, 투표합니다", {"a": "y", "k": campaign.id, "c": first, "v": "0"}))
    phone_target(answer)
    assert await rows(services, votes) == []


async def test_without_a_phone_block_the_citizen_is_told_and_nothing_is_asked(services, clock):
    campaign = await load(services, "phone")
    clock.set(DURING_VOTING)
    first = (await approved(services, campaign))[0]
    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
    await client.start_server()
    try:
        answer = await vote_button(client, campaign, first)
    finally:
        await client.close()
    assert "아직 번호 확인이 준비되지 않았습니다" in texts(answer)[0]
    assert all(r.get("blockId") == BLOCK_ID for r in answer["template"]["quickReplies"])


@pytest.mark.parametrize("allow_change", [True, False], ids=["change", "no-change"])
async def test_the_same_number_verified_on_telegram_is_one_vote(services, client, clock, caplog,
                                                                allow_change):
    caplog.set_level(logging.INFO)
    campaign = await load(services, "phone", allow_change=allow_change)
    clock.set(DURING_VOTING)
    first, second = (await approved(services, campaign))[:2]
    on_telegram = await services.citizens.identify("telegram", "1001", "ko")
    assert await services.identity.verify_phone(on_telegram, "010-1234-5678") \
        is PhoneOutcome.VERIFIED
    cast = await services.voting.cast_vote(campaign, on_telegram, first)
    assert cast.outcome is VoteOutcome.RECORDED

    # The same person on KakaoTalk: the plugin gives "+82 10-1234-5678".
    await vote_button(client, campaign, second)
    status, answer = await ask(client, plugin_request())
    found = texts(answer)
    assert found[0] == "✅ 번호가 확인되었습니다."
    if allow_change:
        assert "이 사례로 바꿀까요?" in found[1]  # a change of the same person's vote
        status, answer = await press(client, card_button(answer, "네, 바꿉니다"))
        assert "투표를 바꾸었습니다" in texts(answer)[0]
        expected_case = second
    else:
        assert found[1] == "이미 투표하셨습니다. 이 공모에서는 투표를 바꿀 수 없습니다."
        expected_case = first
    [vote] = await rows(services, votes)  # one person, one row
    assert vote["case_id"] == expected_case and vote["id"] == cast.vote.id
    assert vote["voter"].startswith("p:")
    assert len(await rows(services, citizen_phones)) == 2  # two accounts, one number's key
    phones = await rows(services, citizen_phones)
    assert phones[0]["phone_key"] == phones[1]["phone_key"]
    dump = await every_text(services)
    for form in NUMBER_FORMS:
        assert form not in dump and form not in caplog.text


# --- a code campaign ---------------------------------------------------------------------------


async def say(client, text: str, user: str = USER) -> tuple[dict, list[str]]:
    """The citizen types `text` (the fallback block: no clientExtra)."""
    status, answer = await ask(client, skill_request(text, None, user))
    assert status == 200
    return answer, texts(answer)


async def test_a_code_campaign_on_kakaotalk(services, client, clock, caplog):
    caplog.set_level(logging.INFO)
    campaign = await load(services, "code")
    clock.set(DURING_VOTING)
    first = (await approved(services, campaign))[0]
    right, other = (await services.identity.issue_codes(campaign, 2, by="cli")).codes

    answer = await vote_button(client, campaign, first)
    assert "XXXX-XXXX-XXXX" in texts(answer)[0]
    assert quick_reply(answer, "취소")["extra"] == {"a": "m"}
    # Typed as people type it: small letters, spaces.
    answer, found = await say(client, right.lower().replace("-", " "))
    assert found[0] == "✅ 코드가 확인되었습니다."
    assert "이 사례에 투표할까요?" in found[1]
    status, answer = await press(client, card_button(answer, "네, 투표합니다"))
    assert "투표가 기록되었습니다" in texts(answer)[0]
    [vote] = await rows(services, votes)
    assert vote["voter"].startswith("c:")

    # Another account with the same code: used.
    await vote_button(client, campaign, first, OTHER_USER)
    answer, found = await say(client, right, OTHER_USER)
    assert found == ["⚠️ 이 코드는 이미 다른 계정에서 쓰였습니다. 코드는 한 번만 쓸 수 있습니다. "
                     "코드를 받은 곳에 문의해 주세요."]
    # Not a code at all: said so, and not counted as a wrong code.
    answer, found = await say(client, "돌봄", OTHER_USER)
    assert found[0].startswith("⚠️ 투표 코드는 XXXX-XXXX-XXXX처럼")
    # Wrong codes, up to the limit; then even the right one waits.
    for _ in range(MAX_WRONG_CODES):
        answer, found = await say(client, "AAAA-AAAA-AAAA", OTHER_USER)
        assert found[0].startswith("⚠️ 맞지 않는 코드입니다.")
    answer, found = await say(client, other, OTHER_USER)
    retry = format_when(DURING_VOTING + timedelta(hours=1), campaign.timezone, "ko")
    assert found == [f"⚠️ 맞지 않는 코드를 여러 번 보내셨습니다. {retry}부터 다시 보낼 수 있습니다."]
    assert len(await rows(services, votes)) == 1
    # The wait is over: typed text is a search word again, the code is asked anew.
    answer, found = await say(client, other, OTHER_USER)
    assert "맞는 사례가 없습니다." in found[0]  # a search that found nothing
    clock.set(DURING_VOTING + timedelta(hours=1, minutes=1))
    await vote_button(client, campaign, first, OTHER_USER)
    answer, found = await say(client, other, OTHER_USER)
    assert found[0] == "✅ 코드가 확인되었습니다."
    status, answer = await press(client, card_button(answer, "네, 투표합니다"), OTHER_USER)
    assert "투표가 기록되었습니다" in texts(answer)[0]
    assert len(await rows(services, votes)) == 2
    dump = await every_text(services)
    for code in (right, other):
        assert code not in caplog.text and code.replace("-", "") not in dump


async def test_cancel_leaves_the_code_question(services, client, clock):
    campaign = await load(services, "code")
    clock.set(DURING_VOTING)
    first = (await approved(services, campaign))[0]
    answer = await vote_button(client, campaign, first)
    status, answer = await press(client, quick_reply(answer, "취소"))
    assert "시험 공모 2024" in texts(answer)[0]  # the menu
    answer, found = await say(client, "AAAA-AAAA-AAAA")  # a search word now, not a code
    assert "맞는 사례가 없습니다." in found[0]  # a search that found nothing
    # Typed "취소" while a code is awaited does the same.
    await vote_button(client, campaign, first)
    answer, found = await say(client, "취소")
    assert "시험 공모 2024" in found[0]
    async with services.db.read() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(identity_tries))
                ).scalar_one() == 0


def in_english(body: dict) -> dict:
    body["userRequest"]["lang"] = "en"
    return body


async def test_the_screens_in_english(services, client, clock):
    """Every screen of both flows builds in English too (labels within Kakao's limits)."""
    campaign = await load(services, "phone")
    clock.set(DURING_VOTING)
    first = (await approved(services, campaign))[0]
    status, answer = await ask(client, in_english(skill_request(
        "🗳 Vote", {"a": "v", "k": campaign.id, "c": first})))
    assert status == 200 and "one person's vote counts once" in texts(answer)[0]
    assert quick_reply(answer, "My number")["blockId"] == PHONE_BLOCK_ID
    status, answer = await ask(client, in_english(plugin_request(params={})))
    assert texts(answer)[0].startswith("⚠️ We did not receive a number")
    status, answer = await ask(client, in_english(plugin_request()))
    assert texts(answer)[0] == "✅ Your number is verified."

    other = await load(services, "code")  # the current campaign now counts codes
    status, answer = await ask(client, in_english(skill_request(
        "🗳 Vote", {"a": "v", "k": other.id, "c": (await approved(services, other))[0]},
        OTHER_USER)))
    assert "XXXX-XXXX-XXXX" in texts(answer)[0]
    assert quick_reply(answer, "Cancel")["extra"] == {"a": "m"}
    status, answer = await ask(client, in_english(skill_request("AAAA-AAAA-AAAA", None,
                                                                OTHER_USER)))
    assert texts(answer)[0].startswith("⚠️ That code is not right.")

"""Submitting a case on KakaoTalk, over HTTP against the real skill app: every step in Korean
and English, a wrong answer at each kind of step, stale and forged buttons, Back, Edit, Stop,
leaving the draft and coming back, a restart halfway through, the case in the moderation queue
with its reference number, and "my cases" with status and staff's reason."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from bot.campaign_file import parse_campaign
from bot.drafts import Step
from bot.services import Services
from handlers.kakao import CHANNEL
from handlers.kakao.models import QUICK_REPLY_LABEL_LENGTH, SkillResponse
from handlers.kakao.server import build_kakao_app
from storage.database import Database
from storage.tables import audit_log, cases
from tests.conftest import small_campaign
from tests.test_kakao_skill import SETTINGS, ask, quick_reply, skill_request, texts

SEOUL = ZoneInfo("Asia/Seoul")
SUBMITTING = datetime(2024, 11, 1, 10, 0, tzinfo=SEOUL)
SUBMISSION_ENDS = datetime(2024, 11, 24, 18, 0, tzinfo=SEOUL)
KIM = "kim-botuserkey"
SMITH = "smith-botuserkey"

TITLE = "우리 동네 어르신 반찬 나눔"
SUMMARY = "매주 목요일 이웃이 함께 반찬을 만들어 어르신 30가구에 전합니다."
BODY = ("2023년부터 주민 봉사자 20명이 매주 목요일 모여 반찬을 만들고, 홀로 사는 어르신 "
        "30가구를 찾아가 안부를 묻습니다. 고독사 예방에도 도움이 되었습니다.")
ERROR = "문제가 생겼습니다"


@pytest.fixture(autouse=True)
def submission_open(clock):
    clock.set(SUBMITTING)


async def start_client(services: Services) -> TestClient:
    client = TestClient(TestServer(build_kakao_app(services, SETTINGS)))
    await client.start_server()
    return client


@pytest.fixture
async def kakao(services, campaign):
    client = await start_client(services)
    yield client
    await client.close()


class Citizen:
    """One KakaoTalk user talking to the skill: every answer is checked against Kakao's
    models and limits, and kept as `answer`."""

    def __init__(self, client: TestClient, user: str, lang: str = "ko") -> None:
        self.client, self.user, self.lang = client, user, lang
        self.answer: dict = {}

    async def _ask(self, body: dict) -> list[str]:
        body["userRequest"]["lang"] = self.lang
        status, answer = await ask(self.client, body)
        assert status == 200
        SkillResponse.model_validate(answer)  # within every limit of Kakao's format
        assert len(answer["template"]["outputs"]) <= 3
        for reply in answer["template"].get("quickReplies", []):
            assert len(reply["label"]) <= QUICK_REPLY_LABEL_LENGTH
        self.answer = answer
        found = texts(answer)
        # no dead end: every answer has a way on (a quick reply, or a card's button)
        buttons = [b for o in answer["template"]["outputs"] for c in o.values()
                   for item in (c.get("items") or [c]) for b in item.get("buttons", [])]
        assert answer["template"].get("quickReplies") or buttons, found
        assert not any(ERROR in text or "went wrong" in text.lower() for text in found)
        assert not any("/mycases" in text or "/submit" in text for text in found)
        return found

    async def say(self, utterance: str) -> list[str]:
        """Typed: the fallback block, no clientExtra."""
        return await self._ask(skill_request(utterance, None, self.user))

    async def tap(self, label: str) -> list[str]:
        """A quick reply of the last answer."""
        target = quick_reply(self.answer, label)
        assert target["action"] == "block" and target["blockId"] == SETTINGS.chamyeo_kakao_block_id
        return await self._ask(skill_request(target["messageText"], target["extra"], self.user))

    async def send_extra(self, extra: dict) -> list[str]:
        return await self._ask(skill_request("버튼", extra, self.user))

    def labels(self) -> list[str]:
        return [r["label"] for r in self.answer["template"].get("quickReplies", [])]

    def extra_of(self, label: str) -> dict:
        return dict(quick_reply(self.answer, label)["extra"])


async def stored_cases(services) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(cases.select().where(cases.c.source == "chat"))
        return [dict(r) for r in rows.mappings()]


async def draft_of(services, user: str):
    citizen = await services.citizens.identify(CHANNEL, user, "ko")
    return await services.submissions.draft_of(citizen)


# --- the whole submission, in Korean --------------------------------------------------------


async def test_a_case_submitted_in_korean(kakao, services, campaign):
    kim = Citizen(kakao, KIM)
    await kim.say("시작")
    assert kim.labels()[0] == "✏️ 사례 보내기"
    assert "📂 내 사례" not in kim.labels()  # no case and no draft yet
    found = await kim.tap("사례 보내기")
    assert found == ["✍️ 사례 접수 (1/11)\n\n누가 내는 사례인가요?"]
    assert kim.labels() == ["🙋 개인", "🏢 기관·단체", "🏘 동 협의체", "✖ 그만두기"]

    # Text at a choice step: use the buttons; nothing changes.
    found = await kim.say("복지관입니다")
    assert found[0].startswith("⚠️ 아래 버튼 중에서 골라 주세요.")
    assert "(1/11)" in found[0]
    # A forged button (another step's, a choice out of range): the current step again.
    type_extra = kim.extra_of("기관·단체")
    found = await kim.send_extra({**type_extra, "s": "title", "o": "1"})
    assert found[0].startswith("지난 단계의 버튼입니다.") and "(1/11)" in found[0]
    found = await kim.send_extra({**type_extra, "o": "7"})
    assert found[0].startswith("지난 단계의 버튼입니다.") and "(1/11)" in found[0]
    found = await kim.send_extra({**type_extra, "o": "nonsense"})
    assert found[0].startswith("지난 단계의 버튼입니다.") and "(1/11)" in found[0]
    found = await kim.send_extra({**type_extra, "o": "../../etc"})  # not even a word
    assert found[0].startswith("지난 단계의 버튼입니다.") and "(1/11)" in found[0]
    found = await kim.send_extra({**type_extra, "k": campaign.id + 1})  # another campaign
    assert found[0].startswith("지난 단계의 버튼입니다.") and "(1/11)" in found[0]
    assert (await draft_of(services, KIM)).answers == {}

    found = await kim.tap("기관·단체")
    assert "기관·단체 이름을 써 주세요 (100자까지)." in found[0] and "(2/11)" in found[0]
    assert kim.labels() == ["◀ 이전", "✖ 그만두기"]
    found = await kim.say("가" * 101)  # too long
    assert found[0].startswith("⚠️ 너무 깁니다 (101자). 100자 이하로 줄여 주세요.")
    found = await kim.say("대전 행복 복지관")
    assert "(3/11)" in found[0] and "연락처를 남겨 주세요 (선택)." in found[0]
    assert kim.labels() == ["➡ 건너뛰기", "◀ 이전", "✖ 그만두기"]
    found = await kim.say("x" * 101)  # too long
    assert found[0].startswith("⚠️ 너무 깁니다 (101자). 100자 이하로 줄여 주세요.")
    found = await kim.say("010 1234")  # not a whole number
    assert found[0].startswith("⚠️ 전화번호나 이메일 주소로 써 주세요.")
    assert (await draft_of(services, KIM)).answer(Step.CONTACT) is None
    found = await kim.say(" Kim.Soon@Example.COM ")
    assert "사례가 있는 구를 고르세요." in found[0]
    assert (await draft_of(services, KIM)).answer(Step.CONTACT) == "Kim.Soon@example.com"
    assert kim.labels() == ["동구", "대덕구", "◀ 이전", "✖ 그만두기"]
    found = await kim.say("동구")  # a choice's label typed by hand
    assert "동구의 어느 동인가요?" in found[0]
    assert kim.labels() == ["효동", "판암1동", "◀ 이전", "✖ 그만두기"]
    await kim.tap("판암1동")
    found = await kim.tap("돌봄")
    assert "(7/11)" in found[0] and "제목을 써 주세요 (5~80자)." in found[0]
    found = await kim.say("반찬")  # too short
    assert found[0].startswith("⚠️ 너무 짧습니다 (2자). 5자 이상 써 주세요.")
    await kim.say(TITLE)
    found = await kim.say(SUMMARY)
    assert "자세히 써 주세요 (50~3000자)" in found[0]
    found = await kim.say(BODY)
    assert "카카오톡에서는 사진을 받을 수 없습니다" in found[0]
    assert kim.labels() == ["➡ 건너뛰기", "◀ 이전", "✖ 그만두기"]
    found = await kim.say("사진 보냈어요")  # text at the photo step
    assert found[0].startswith("⚠️ 이 단계에서는 글을 받지 않고, 카카오톡에서는 사진도")
    found = await kim.tap("건너뛰기")
    assert "두 가지에 동의해 주세요" in found[0]
    assert kim.labels() == ["✅ 동의합니다", "동의하지 않습니다", "◀ 이전", "✖ 그만두기"]
    found = await kim.tap("동의하지 않습니다")
    assert found[0].startswith("⚠️ 동의하지 않으면 사례를 접수할 수 없습니다.")
    found = await kim.tap("동의합니다")

    # The preview: the case as citizens will read it.
    outputs = kim.answer["template"]["outputs"]
    assert [list(o) for o in outputs] == [["simpleText"], ["textCard"], ["simpleText"]]
    assert found[0].startswith("👀 미리보기: 시민들에게 아래처럼 보입니다.")
    # Their own contact, said to be for staff only; not on the card citizens see.
    assert found[0].endswith("📞 연락처 (운영진만 봅니다): Kim.Soon@example.com")
    assert "Kim.Soon" not in str(outputs[1:])
    assert outputs[1]["textCard"]["title"] == TITLE
    assert outputs[1]["textCard"]["description"] == (
        f"🏢 대전 행복 복지관\n📍 동구 판암1동 · 🏷 돌봄\n\n{SUMMARY}")
    assert found[2] == BODY
    assert kim.labels() == ["📨 접수하기", "✏️ 고치기", "✖ 그만두기"]
    assert await stored_cases(services) == []  # nothing is sent in before Submit

    send = kim.extra_of("접수하기")
    found = await kim.tap("접수하기")
    [case] = await stored_cases(services)
    assert case["status"] == "submitted" and case["source"] == "chat"
    assert (case["title_ko"], case["summary_ko"], case["body_ko"], case["organization_ko"]) \
        == (TITLE, SUMMARY, BODY, "대전 행복 복지관")
    assert (case["district"], case["neighbourhood"], case["category"], case["image"]) \
        == ("dong", "판암1동", "care", None)
    assert case["submitter_type"] == "organization" and case["consented_at"] is not None
    assert case["contact"] == "Kim.Soon@example.com"
    assert found[0].startswith(f"📨 접수되었습니다.\n접수번호: {case['key']}\n제목: {TITLE}")
    assert await draft_of(services, KIM) is None
    # A second tap on Submit: nothing more is sent in.
    found = await kim.send_extra(send)
    assert found == ["쓰고 있는 사례가 없습니다."]
    assert len(await stored_cases(services)) == 1
    # Typed text is a search word again.
    found = await kim.say("반찬 나눔")
    assert found[0].startswith(("📋 사례 목록", "🔎 찾는 말: "))  # a search

    found = await kim.tap("처음으로")
    assert kim.labels()[:2] == ["✏️ 사례 보내기", "📂 내 사례"]
    assert len(kim.labels()) <= 10
    found = await kim.tap("내 사례")
    assert found == [f"📂 내가 낸 사례 (1/3건)\n\n{TITLE}\n접수번호 {case['key']} · "
                     "11월 1일(금) 10:00\n상태: ⏳ 검토 중\n\n사례를 누르면 내용을 볼 수 있습니다."]
    assert kim.labels() == ["📄 우리 동네 어르신 반…", "✏️ 사례 보내기", "🏠 처음으로"]


# --- in English, with Back, Edit and Stop ---------------------------------------------------


async def test_a_case_in_english_with_back_edit_and_stop(kakao, services, campaign):
    smith = Citizen(kakao, SMITH, "en")
    await smith.say("start")
    found = await smith.tap("Submit case")
    assert found == ["✍️ Submit a case (1/11)\n\nWho is submitting this case?"]
    assert smith.labels() == ["🙋 Individual", "🏢 Organization", "🏘 Council", "✖ Stop"]
    found = await smith.say("individual")  # typed, any case, without the emoji
    assert "Which name should the case show?" in found[0]
    found = await smith.say("Jane Smith")
    found = await smith.tap("Skip")
    found = await smith.say("Care")  # a label typed at the wrong choice step
    assert found[0].startswith("⚠️ Please choose one of the buttons below.")
    await smith.tap("Daedeok-gu")
    found = await smith.tap("Songchon-dong")
    assert "Which field is the case about?" in found[0]
    found = await smith.tap("Back")
    assert "Which neighbourhood of Daedeok-gu?" in found[0]
    assert smith.labels() == ["✓ Songchon-do…", "◀ Back", "✖ Stop"]  # the answer given
    await smith.tap("Songchon")
    await smith.tap("Seniors")
    await smith.say("Lunch club for seniors")
    found = await smith.tap("Back")
    assert "Your answer now: Lunch club for seniors" in found[0]
    found = await smith.tap("Keep as is")
    assert "Sum the case up" in found[0]
    await smith.say("Neighbours cook lunch together every Thursday.")
    found = await smith.say("short")
    assert found[0].startswith("⚠️ Too short (5 characters). Please write at least 50.")
    await smith.say("Every Thursday twenty volunteers cook lunch for thirty seniors who live "
                    "alone, and stay to talk with them.")
    found = await smith.say("skip")  # "Skip" typed at the photo step
    assert "Finally, please agree" in found[0]
    found = await smith.tap("I agree")
    assert found[0].startswith("👀 Preview: citizens will see your case like this.")
    assert smith.answer["template"]["outputs"][1]["textCard"]["title"] == \
        "Lunch club for seniors"

    # Edit the title from the preview, then back to the preview.
    found = await smith.tap("Edit")
    assert found == ["What would you like to change?"]
    assert "Photo" not in smith.labels() and smith.labels()[-1] == "👀 Preview"
    found = await smith.tap("Title")
    assert "Your answer now: Lunch club for seniors" in found[0]
    assert smith.labels() == ["➡ Keep as is", "👀 Preview", "✖ Stop"]
    found = await smith.say("Thursday lunch club")
    assert smith.answer["template"]["outputs"][1]["textCard"]["title"] == "Thursday lunch club"

    # Stop: asked first; "keep going" changes nothing; then thrown away.
    found = await smith.tap("Stop")
    assert found == ["Throw away the case you are writing? This cannot be undone."]
    assert smith.labels() == ["🗑 Yes, discard", "✍️ Keep going"]
    found = await smith.tap("Keep going")
    assert found[0].startswith("👀 Preview")
    await smith.tap("Stop")
    found = await smith.tap("Yes, discard")
    assert found == ["Stopped. Nothing was submitted."]
    assert await draft_of(services, SMITH) is None
    assert await stored_cases(services) == []
    found = await smith.say("lunch")  # a search word again
    assert found[0].startswith(("📋 ", "🔎 You searched for: "))  # a search


async def test_an_english_case_is_submitted_with_its_reference(kakao, services, campaign):
    smith = Citizen(kakao, SMITH, "en")
    await smith.say("start")
    await smith.tap("Submit case")
    await smith.tap("Individual")
    await smith.say("Jane Smith")
    await smith.tap("Skip")
    await smith.tap("Dong-gu")
    await smith.tap("Hyo-dong")
    await smith.tap("Care")
    await smith.say("Lunch club for seniors")
    await smith.say("Neighbours cook lunch together every Thursday.")
    await smith.say("Every Thursday twenty volunteers cook lunch for thirty seniors who live "
                    "alone, and stay to talk with them.")
    await smith.tap("Skip")
    await smith.tap("I agree")
    found = await smith.tap("Submit")
    [case] = await stored_cases(services)
    assert case["status"] == "submitted" and case["submitter_type"] == "individual"
    assert found[0].startswith(f"📨 Submitted.\nReference number: {case['key']}\n"
                               "Title: Lunch club for seniors")
    assert smith.labels() == ["📂 My cases", "🏠 Main menu"]
    found = await smith.tap("My cases")
    assert found[0].startswith("📂 My cases (1 case sent, up to 3)\n\nLunch club for seniors\n"
                               f"Reference {case['key']} · Fri 1 Nov 10:00\n"
                               "Status: ⏳ Under review")


# --- leaving the draft, and coming back ------------------------------------------------------


async def write_until_title(kim: Citizen) -> None:
    await kim.say("시작")
    await kim.tap("사례 보내기")
    await kim.tap("개인")
    await kim.say("김순자")
    await kim.tap("건너뛰기")
    await kim.tap("대덕구")
    await kim.tap("송촌동")
    await kim.tap("어르신")


async def test_another_button_leaves_the_draft_waiting(kakao, services, campaign):
    kim = Citizen(kakao, KIM)
    await write_until_title(kim)
    found = await kim.say("처음")  # the menu: the draft waits
    assert "시험 공모 2024" in found[0]
    assert kim.labels()[:2] == ["✏️ 이어 쓰기", "📂 내 사례"]
    found = await kim.tap("사례 보기")
    found = await kim.say(TITLE)  # now a search word, not the title; said so
    assert found[0].startswith("✍️ 보내신 글은 사례 찾기로 처리했습니다. 쓰던 사례에")
    assert found[1].startswith(("📋 사례 목록", "🔎 찾는 말: "))  # a search
    assert kim.labels()[0] == "✏️ 이어 쓰기"
    assert "title" not in (await draft_of(services, KIM)).answers
    found = await kim.tap("이어 쓰기")
    assert found[0].startswith("쓰던 사례를 이어서 씁니다.") and "(7/11)" in found[0]
    found = await kim.say(TITLE)
    assert "요약해 주세요" in found[0]
    # "My cases" (from the menu) shows the draft, with a button back to it.
    await kim.say("메뉴")
    found = await kim.tap("내 사례")
    assert found == ["📂 내가 낸 사례 (0/3건)\n\n아직 낸 사례가 없습니다.\n\n"
                     "✍️ 쓰다 만 사례가 있습니다 (8/11단계)."]
    assert kim.labels() == ["✏️ 이어 쓰기", "🏠 처음으로"]
    assert "summary" not in (await draft_of(services, KIM)).answers
    found = await kim.tap("이어 쓰기")
    assert "(8/11)" in found[0]
    # A button of the draft brings it back too: Back, from an earlier screen's extra.
    found = await kim.tap("이전")
    assert "(7/11)" in found[0] and f"지금 입력된 내용: {TITLE}" in found[0]


async def test_the_draft_survives_a_restart(database_url, services, clock, campaign):
    first = await start_client(services)
    try:
        kim = Citizen(first, KIM)
        await write_until_title(kim)
        await kim.say(TITLE)
        summary_step = kim.answer
    finally:
        await first.close()
    # Another process on the same database: nothing of the first is kept in memory.
    database = Database(database_url)
    try:
        restarted = Services.create(database, clock)
        second = await start_client(restarted)
        try:
            kim = Citizen(second, KIM)
            found = await kim.say(SUMMARY)  # typed text still answers the draft
            assert "자세히 써 주세요" in found[0]
            kim.answer = summary_step  # a button of the first process's answer
            found = await kim.tap("이전")
            assert "(7/11)" not in found[0] and "지난 단계의 버튼입니다." in found[0]
            assert "자세히 써 주세요" in found[0]
            await kim.say(BODY)
            await kim.tap("건너뛰기")
            await kim.tap("동의합니다")
            found = await kim.tap("접수하기")
            [case] = await stored_cases(restarted)
            assert case["title_ko"] == TITLE and case["summary_ko"] == SUMMARY
            assert f"접수번호: {case['key']}" in found[0]
        finally:
            await second.close()
    finally:
        await database.dispose()


# --- staff's decision, and every ending ----------------------------------------------------


async def submit_one(kim: Citizen, title: str = TITLE) -> None:
    await write_until_title(kim)
    await kim.say(title)
    await kim.say(SUMMARY)
    await kim.say(BODY)
    await kim.tap("건너뛰기")
    await kim.tap("동의합니다")
    await kim.tap("접수하기")


async def test_an_old_discard_does_not_delete_a_newer_draft(kakao, services, campaign, clock):
    """Stop pressed and the question ignored: the draft goes on, is sent in, a second one is
    begun; the old "Yes, throw it away" (same step) is stale and deletes nothing, as are one
    without the draft's token (made before buttons carried it) and a forged one."""
    kim = Citizen(kakao, KIM)
    await write_until_title(kim)
    await kim.tap("그만두기")
    old_discard = kim.extra_of("네, 버립니다")
    await kim.say(TITLE)  # goes on writing instead
    await kim.say(SUMMARY)
    await kim.say(BODY)
    await kim.tap("건너뛰기")
    await kim.tap("동의합니다")
    await kim.tap("접수하기")
    assert len(await stored_cases(services)) == 1
    clock.advance(timedelta(minutes=10))
    await write_until_title(kim)  # a second draft, at the same step
    second = await draft_of(services, KIM)
    for extra in (old_discard, {**old_discard, "o": "discard"},
                  {**old_discard, "o": "discard-00000000"}):
        found = await kim.send_extra(extra)
        assert found[0].startswith("지난 단계의 버튼입니다.") and "제목을 써 주세요" in found[0]
        assert await draft_of(services, KIM) == second
    # The second draft's own confirmation still throws it away.
    await kim.tap("그만두기")
    found = await kim.tap("네, 버립니다")
    assert "아무것도 접수되지 않았습니다" in found[0]
    assert await draft_of(services, KIM) is None
    assert len(await stored_cases(services)) == 1


async def test_my_cases_shows_a_rejection_with_staffs_reason(kakao, services, campaign):
    kim = Citizen(kakao, KIM)
    await submit_one(kim)
    [case] = await stored_cases(services)
    result = await services.moderation.reject(campaign, case["id"], "telegram:9001",
                                              "개인 정보가 들어 있습니다. 빼고 다시 내 주세요.")
    assert result.case is not None
    found = await kim.tap("내 사례")
    assert found == [f"📂 내가 낸 사례 (1/3건)\n\n{TITLE}\n접수번호 {case['key']} · "
                     "11월 1일(금) 10:00\n상태: ❌ 반려됨\n"
                     "사유: 개인 정보가 들어 있습니다. 빼고 다시 내 주세요.\n\n"
                     "사례를 누르면 내용을 볼 수 있습니다."]
    smith = Citizen(kakao, SMITH, "en")
    found = await smith.say("my cases")
    assert found[0].startswith(
        "📂 My cases (0 cases sent, up to 3)\n\nYou have not submitted a case yet.")
    assert smith.labels() == ["✏️ Submit case", "🏠 Main menu"]


async def test_the_limit_of_cases_per_citizen(kakao, services, campaign):
    raw = small_campaign(submission={"cases_per_citizen": 1})
    await services.campaigns.load(parse_campaign(raw))
    kim = Citizen(kakao, KIM)
    await submit_one(kim)
    await kim.tap("처음으로")
    found = await kim.tap("사례 보내기")
    assert found == ["한 사람이 낼 수 있는 사례는 1건까지입니다. 이미 1건을 냈습니다."]
    assert kim.labels() == ["📂 내 사례", "🏠 처음으로"]
    found = await kim.tap("내 사례")
    assert kim.labels() == ["📄 우리 동네 어르신 반…", "🏠 처음으로"]  # nothing more to start


async def test_submission_closing_mid_draft_and_not_open_yet(kakao, services, campaign,
                                                             clock):
    kim = Citizen(kakao, KIM)
    await write_until_title(kim)
    clock.set(SUBMISSION_ENDS)
    found = await kim.say(TITLE)
    assert found == ["사례 접수가 11월 24일(일) 18:00에 마감되어, 쓰던 사례는 접수되지 "
                     "않았습니다."]
    assert await draft_of(services, KIM) is None
    found = await kim.say("시작")
    assert "✏️ 사례 보내기" not in kim.labels()
    found = await kim.send_extra({"a": "sb", "k": campaign.id})
    assert found == ["사례 접수는 11월 24일(일) 18:00에 마감되었습니다."]
    clock.set(datetime(2024, 10, 1, 9, 0, tzinfo=SEOUL))
    found = await kim.send_extra({"a": "sb", "k": campaign.id})
    assert found == ["사례 접수는 10월 7일(월) 09:00에 시작합니다. 그때 다시 와 주세요."]
    found = await kim.send_extra({"a": "dr", "k": campaign.id, "s": "type", "o": "0"})
    assert found == ["쓰고 있는 사례가 없습니다."]
    found = await kim.send_extra({"a": "dr", "k": campaign.id, "s": "type", "o": "?"})
    assert found == ["이 버튼은 만료되었습니다. 처음 화면에서 다시 해 주세요."]
    assert await stored_cases(services) == []


async def test_many_districts_are_picked_a_page_at_a_time(kakao, services, campaign):
    raw = small_campaign()
    raw["districts"] += [{"key": f"d{i}", "ko": f"시험구{i:02d}",
                          "en": f"Gu {i:02d} with a long name"} for i in range(1, 11)]
    await services.campaigns.load(parse_campaign(raw))
    smith = Citizen(kakao, SMITH, "en")
    await smith.say("start")
    await smith.tap("Submit case")
    await smith.tap("Organization")
    await smith.say("Daejeon Welfare Centre")
    found = await smith.tap("Skip")
    # Labels cut to fit: the page's names in full under the question, then the page.
    assert found[0].endswith("In which district did it happen?\n\n• Dong-gu\n• Daedeok-gu\n"
                             "• Gu 01 with a long name\n• Gu 02 with a long name\n"
                             "• Gu 03 with a long name\n• Gu 04 with a long name\n"
                             "• Gu 05 with a long name\n(list page 1 of 2)")
    assert smith.labels() == ["Dong-gu", "Daedeok-gu", "Gu 01 with a…", "Gu 02 with a…",
                              "Gu 03 with a…", "Gu 04 with a…", "Gu 05 with a…", "Next ▶",
                              "◀ Back", "✖ Stop"]
    found = await smith.tap("Next")
    assert "(list page 2 of 2)" in found[0]
    assert smith.labels()[0] == "Gu 06 with a…" and smith.labels()[-3:] == [
        "Next ▶", "◀ Back", "✖ Stop"]
    found = await smith.say("gu 10 with a long name")  # typed in full: taken
    assert "Which field is the case about?" in found[0]  # d10 has no neighbourhoods
    assert (await draft_of(services, SMITH)).answers["district"] == "d10"
    found = await smith.tap("Back")
    assert "(list page 2 of 2)" in found[0]  # the page of the answer given
    assert "✓ Gu 10 with…" in smith.labels()


async def test_the_longest_answers_fit_kakaos_limits(kakao, services, campaign):
    """A 100-character name, an 80-character title, a 300-character summary and a
    3,000-character description: the preview is a card and the description in parts, each
    within Kakao's limits (checked on every answer), read with "read more"."""
    kim = Citizen(kakao, KIM)
    await kim.say("시작")
    await kim.tap("사례 보내기")
    await kim.tap("협의체")
    await kim.say("협" * 100)
    await kim.say("a" * 60 + "@" + "b" * 30 + ".kr")  # the longest contact
    await kim.tap("동구")
    await kim.tap("효동")
    await kim.tap("돌봄")
    await kim.say("제" * 80)
    await kim.say("요" * 300)
    body = ("이웃이 함께 반찬을 만들어 어르신께 전합니다. " * 120)[:3000]
    found = await kim.say(body)
    await kim.tap("건너뛰기")
    found = await kim.tap("동의합니다")
    card = kim.answer["template"]["outputs"][1]["textCard"]
    assert card["title"] == "제" * 49 + "…"
    assert found[2].startswith("(1/4)\n이웃이 함께")
    assert kim.labels() == ["📖 더 읽기", "📨 접수하기", "✏️ 고치기", "✖ 그만두기"]
    parts = [found[2].split("\n", 1)[1]]
    for number in (2, 3, 4):
        found = await kim.tap("더 읽기")
        assert len(kim.answer["template"]["outputs"]) == 1
        assert found[0].startswith(f"({number}/4)\n")
        parts.append(found[0].split("\n", 1)[1])
    assert "📖 더 읽기" not in kim.labels()
    assert "".join(parts).replace(" ", "") == body.replace(" ", "")  # all of it, in order
    await kim.tap("접수하기")
    [case] = await stored_cases(services)
    assert case["body_ko"] == body.strip() and case["organization_ko"] == "협" * 100


async def test_the_welcome_block_leaves_the_draft_waiting(services, campaign):
    welcome = "65a1b2c3d4e5f60718290000"
    settings = SETTINGS.model_copy(update={"chamyeo_kakao_welcome_block_id": welcome})
    client = TestClient(TestServer(build_kakao_app(services, settings)))
    await client.start_server()
    try:
        kim = Citizen(client, KIM)
        await write_until_title(kim)
        body = skill_request("반가워요", None, KIM)
        body["userRequest"]["block"] = {"id": welcome, "name": "웰컴 블록"}
        status, answer = await ask(client, body)
        assert "시험 공모 2024" in texts(answer)[0]
        kim.answer = answer
        assert kim.labels()[0] == "✏️ 이어 쓰기"
        found = await kim.say(TITLE)  # a search now
        assert found[1].startswith(("📋 사례 목록", "🔎 찾는 말: "))  # a search
        assert "title" not in (await draft_of(services, KIM)).answers
    finally:
        await client.close()


async def test_only_the_drafts_requests_take_the_accounts_turn(kakao, services, campaign):
    """Typed text and the draft's buttons take the account's turn (on PostgreSQL, two writes);
    any other press only reads the session, and writes it only to clear the writing mark."""
    from storage.tables import chat_sessions

    async def session_row(user: str) -> dict | None:
        async with services.db.read() as conn:
            row = (await conn.execute(chat_sessions.select().where(
                chat_sessions.c.channel == CHANNEL,
                chat_sessions.c.external_id == user))).mappings().first()
        return dict(row) if row else None

    browsing = Citizen(kakao, "browsing-only")
    await browsing.send_extra({"a": "l", "k": campaign.id})
    await browsing.tap("다음")
    assert await session_row("browsing-only") is None  # read, nothing written

    kim = Citizen(kakao, KIM)
    await write_until_title(kim)
    row = await session_row(KIM)
    assert row is not None and row["state"] == {"writing_case": True}
    if services.db.shared:  # the turn is taken, and ended, by the draft's requests
        assert row["turn_owner"] is None
    await kim.tap("그만두기")  # a draft's button: the mark stays
    await kim.send_extra({"a": "l", "k": campaign.id})  # another press clears the mark
    assert await session_row(KIM) is None  # an empty session is no row


async def test_a_bare_link_at_a_text_step_is_not_taken_for_the_answer(kakao, services,
                                                                      campaign):
    """KakaoTalk may hand a photo or a file to the skill as its address: at a text step that
    is not the text asked for."""
    kim = Citizen(kakao, KIM)
    await write_until_title(kim)
    found = await kim.say("https://dn-m.talk.kakao.com/talkm/bl4Xyz/abc/kakaotalk_1.jpg")
    assert found[0].startswith("⚠️ 여기에는 글을 써서 보내 주세요.") and "(7/11)" in found[0]
    assert "title" not in (await draft_of(services, KIM)).answers
    found = await kim.say(f"{TITLE} https://example.org/more")  # a title with a link in it
    assert "요약해 주세요" in found[0]


# --- my cases: open one, withdraw it while pending -------------------------------------------


async def case_status(services, case_id: int) -> str:
    async with services.db.read() as conn:
        return (await conn.execute(sa.select(cases.c.status).where(cases.c.id == case_id))
                ).scalar_one()


async def test_my_cases_opens_a_case_and_withdraws_it_while_pending(kakao, services, campaign):
    kim = Citizen(kakao, KIM)
    await submit_one(kim)
    [case] = await stored_cases(services)
    await kim.tap("내 사례")
    found = await kim.tap("📄 우리 동네")
    assert found[0].startswith(f"{TITLE}\n접수번호 {case['key']}")
    assert "상태: ⏳ 검토 중" in found[0] and SUMMARY in found[0] and BODY in found[0]
    assert found[-1].endswith("아직 검토 전이라 접수를 취소할 수 있습니다.")
    assert kim.labels() == ["↩️ 접수 취소하기", "📂 내 사례", "🏠 처음으로"]
    found = await kim.tap("접수 취소하기")
    assert found[0].startswith(f"「{TITLE}」 접수를 취소할까요?")
    assert kim.labels() == ["↩️ 네, 취소합니다", "◀ 아니요"]
    confirm = kim.extra_of("네, 취소합니다")
    assert await case_status(services, case["id"]) == "submitted"  # asked first
    found = await kim.tap("네, 취소합니다")
    assert found == [f"↩️ 「{TITLE}」 접수를 취소했습니다."]
    assert await case_status(services, case["id"]) == "withdrawn"
    assert await services.moderation.queue(campaign) == []
    async with services.db.read() as conn:
        actors = (await conn.execute(sa.select(audit_log.c.actor).where(
            audit_log.c.action == "case.withdrawn"))).scalars().all()
    assert actors == [f"kakao:{KIM}"]
    found = await kim.send_extra(confirm)  # a second tap: nothing more
    assert found[0].startswith("⚠️ 이 사례는 이제 접수를 취소할 수 없습니다.\n상태: ↩️ 접수 취소됨")
    found = await kim.tap("내 사례")
    assert found[0].startswith("📂 내가 낸 사례 (0/3건)") and "상태: ↩️ 접수 취소됨" in found[0]


async def test_withdrawing_on_kakao_is_refused_for_an_approved_case_and_anyone_elses(
        kakao, services, campaign):
    kim, lee = Citizen(kakao, KIM), Citizen(kakao, "lee-botuserkey")
    await submit_one(kim)
    [case] = await stored_cases(services)
    await lee.say("시작")
    for extra in ({"a": "mo", "k": campaign.id, "c": case["id"]},
                  {"a": "wd", "k": campaign.id, "c": case["id"], "on": False},
                  {"a": "wd", "k": campaign.id, "c": case["id"], "on": True}):
        found = await lee.send_extra(extra)
        assert found == ["찾을 수 없는 사례입니다. 목록을 다시 열어 주세요."]
    assert await case_status(services, case["id"]) == "submitted"
    # Incomplete or of another campaign: expired, nothing changes.
    for extra in ({"a": "wd", "k": campaign.id, "c": case["id"]},
                  {"a": "wd", "k": campaign.id, "on": True},
                  {"a": "mo", "k": campaign.id},
                  {"a": "wd", "k": campaign.id + 1, "c": case["id"], "on": True}):
        found = await kim.send_extra(extra)
        assert not any("취소했습니다" in text for text in found)
    assert await case_status(services, case["id"]) == "submitted"
    # Approved while the confirmation was on screen: it withdraws nothing.
    await kim.say("내 사례")
    await kim.tap("📄 우리 동네")
    await kim.tap("접수 취소하기")
    await services.moderation.approve(campaign, case["id"], "telegram:9001")
    found = await kim.tap("네, 취소합니다")
    assert found[0].startswith("⚠️ 이 사례는 이제 접수를 취소할 수 없습니다.\n상태: ✅ 승인됨")
    assert "↩️ 접수 취소하기" not in kim.labels()
    assert await case_status(services, case["id"]) == "approved"


async def test_a_typed_district_and_a_skipped_contact_on_kakao(kakao, services, campaign):
    kim = Citizen(kakao, KIM)
    await kim.say("시작")
    await kim.tap("사례 보내기")
    await kim.say("개인")
    await kim.say("김순자")
    found = await kim.say("건너뛰기")  # "skip" typed at the contact step
    assert "사례가 있는 구를 고르세요." in found[0]
    found = await kim.say(" DAEDEOK-GU ")  # the English name, any case
    assert "대덕구의 어느 동인가요?" in found[0]
    assert (await draft_of(services, KIM)).answers["contact"] == ""

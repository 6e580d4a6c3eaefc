"""Moderation from the chat: /moderate (approve, reject with a typed reason) and /hide; the
submitter is told in their language; hidden cases leave browsing but keep their votes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.domain import Case, CaseStatus, CaseText
from bot.services.catalog import ListQuery
from handlers.telegram.offline import TelegramUser
from storage.repositories import CaseRepository
from storage.tables import cases, votes
from tests.test_search import is_search_answer
from tests.test_staff_roles import ADMIN, HINT, KIM, LEE, audit

MOD = TelegramUser(1004, "박운영", "ko", username="mod_park")
SMITH = TelegramUser(1002, "Jane", "en")



async def submit(services, campaign, user: TelegramUser, title: str) -> int:
    citizen = await services.citizens.identify("telegram", str(user.id), user.language_code)
    case = Case(id=0, campaign_id=campaign.id, key=f"chat-{title}", status=CaseStatus.SUBMITTED,
                district="dong", neighbourhood="효동", category="care",
                ko=CaseText(title, f"{title} 요약", f"{title} 본문", "효동 협의체"),
                en=CaseText(f"{title} (en)", "Summary", "Body", "Hyo-dong council"))
    async with services.db.write() as conn:
        return await CaseRepository(conn).insert(case, "chat", services.clock.now(),
                                                 submitter_id=citizen.id)


async def listed_titles(services, campaign) -> list[str]:
    page = await services.catalog.list_cases(campaign, ListQuery(), None)
    titles = [c.ko.title for c in page.cases]
    for n in range(1, page.pages):
        more = await services.catalog.list_cases(campaign, ListQuery(page=n), None)
        titles += [c.ko.title for c in more.cases]
    return titles


async def told(staffbot, services, user: TelegramUser) -> list[str]:
    """What the submitter was sent, once the notices under way have gone out."""
    await services.broadcaster.idle()
    return [c.text for c in staffbot.request.calls
            if c.method == "sendMessage" and c.chat_id == user.id]


@pytest.fixture
async def moderator(staffbot):
    await staffbot.send(MOD, "/start")
    await staffbot.send(ADMIN, "/grant @mod_park moderator")
    return MOD


async def test_approve_puts_the_case_in_browsing_and_tells_the_submitter(
        staffbot, services, campaign, moderator):
    first = await submit(services, campaign, KIM, "골목 화단")
    await submit(services, campaign, SMITH, "경로당 점심")
    calls = await staffbot.send(MOD, "/moderate")
    card = calls[-1]
    assert f"#{first}" in card.text and "골목 화단" in card.text and "대기 2건" in card.text
    assert card.labels() == ["✅ 승인", "❌ 반려"]

    calls = await staffbot.press(MOD, "승인")
    assert "경로당 점심" in calls[-1].text  # the next case follows
    assert await told(staffbot, services, KIM) == [
        "✅ 보내 주신 사례 「골목 화단」이 승인되었습니다. 이제 시험 공모 2024에서 시민들이 "
        "볼 수 있습니다.\n접수번호 chat-골목 화단"]
    assert "골목 화단" in await listed_titles(services, campaign)
    [entry] = await audit(services, "case.approved")
    assert entry["actor"] == f"telegram:{MOD.id}"
    assert entry["detail"]["before"] == "submitted" and entry["detail"]["after"] == "approved"

    # The same button again: already decided, nothing changes.
    calls = await staffbot.press(MOD, data=f"Sm:ok:{campaign.id}:{first}")
    assert "검토 대기 중이 아닙니다" in calls[-1].text


async def test_reject_asks_for_a_reason_and_tells_the_submitter_in_english(
        staffbot, services, campaign, moderator):
    case_id = await submit(services, campaign, SMITH, "경로당 점심")
    await staffbot.send(MOD, "/moderate")
    calls = await staffbot.press(MOD, "반려")
    assert "이유를 한 메시지로" in calls[-1].text

    calls = await staffbot.send(MOD, "x" * 301)  # too long: asked again
    assert calls[-1].text == "이유는 1~300자로 써 주세요. 다시 보내 주세요."
    calls = await staffbot.send(MOD, "개인정보 <포함>")
    assert await told(staffbot, services, SMITH) == [
        "Your case “경로당 점심 (en)” was not accepted for Test competition 2024.\n"
        "Reason: 개인정보 &lt;포함&gt;\nReference chat-경로당 점심"]
    assert any("반려했습니다" in (c.text or "") for c in calls)
    assert calls[-1].text == "검토를 기다리는 사례가 없습니다. 👍"
    async with services.db.read() as conn:
        row = (await conn.execute(sa.select(cases.c.status, cases.c.status_reason)
                                  .where(cases.c.id == case_id))).one()
    assert tuple(row) == ("rejected", "개인정보 <포함>")
    [entry] = await audit(services, "case.rejected")
    assert entry["detail"]["reason"] == "개인정보 <포함>"
    assert "경로당 점심" not in await listed_titles(services, campaign)

    # After the decision, typed text is ordinary citizen text again.
    calls = await staffbot.send(MOD, "안녕하세요")  # a search, as for anyone
    assert is_search_answer(calls[-1].text)


async def test_cancel_a_rejection_changes_nothing(staffbot, services, campaign, moderator):
    case_id = await submit(services, campaign, KIM, "골목 화단")
    await staffbot.send(MOD, "/moderate")
    await staffbot.press(MOD, "반려")
    calls = await staffbot.press(MOD, "취소")
    assert calls[-1].text == "취소했습니다. 바뀐 것은 없습니다."
    calls = await staffbot.send(MOD, "이유")  # no reason awaited: a search
    assert is_search_answer(calls[-1].text)
    async with services.db.read() as conn:
        status = await conn.scalar(sa.select(cases.c.status).where(cases.c.id == case_id))
    assert status == "submitted"


async def test_hide_removes_from_browsing_and_keeps_votes(staffbot, services, campaign,
                                                          moderator):
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    case = (await services.catalog.list_cases(campaign, ListQuery(), None)).cases[0]
    assert (await services.voting.cast_vote(campaign, kim, case.id)).stored
    calls = await staffbot.send(MOD, f"/hide {case.id} 중복 제출된 사례")
    assert "숨겼습니다" in calls[-1].text
    assert case.ko.title not in await listed_titles(services, campaign)
    async with services.db.read() as conn:
        kept = await conn.scalar(sa.select(sa.func.count()).select_from(votes)
                                 .where(votes.c.case_id == case.id))
    assert kept == 1
    [entry] = await audit(services, "case.hidden")
    assert entry["detail"]["reason"] == "중복 제출된 사례"
    assert entry["detail"]["before"] == "approved" and entry["detail"]["after"] == "hidden"


@pytest.mark.parametrize("text, expected", [
    ("/hide", "쓰는 법"), ("/hide 3", "쓰는 법"), ("/hide abc 이유", "쓰는 법"),
    ("/hide 9999 이유", "없는 사례"),
])
async def test_hide_wrong_arguments(staffbot, services, campaign, moderator, text, expected):
    calls = await staffbot.send(MOD, text)
    assert expected in calls[-1].text
    assert await audit(services, "case.hidden") == []


async def test_only_approved_cases_can_be_hidden(staffbot, services, campaign, moderator):
    case_id = await submit(services, campaign, KIM, "골목 화단")
    calls = await staffbot.send(MOD, f"/hide {case_id} 이유")
    assert "승인된 사례가 아니라서" in calls[-1].text


async def test_an_admin_may_moderate_and_an_empty_queue_says_so(staffbot, campaign):
    calls = await staffbot.send(ADMIN, "/moderate")
    assert calls[-1].text == "검토를 기다리는 사례가 없습니다. 👍"


@pytest.mark.parametrize("command", ["/moderate", "/hide 1 이유"])
async def test_citizens_and_judges_are_refused(staffbot, services, campaign, command):
    await staffbot.send(LEE, "/start")
    await staffbot.send(ADMIN, "/grant @lee_judge judge")
    calls = await staffbot.send(KIM, command)
    assert calls[-1].text.startswith(HINT)  # citizens: the staff surface stays hidden
    calls = await staffbot.send(LEE, command)  # staff: told which role it needs
    assert calls[-1].text.startswith(command.split()[0] + " 명령은 ")
    assert calls[-1].text.endswith("만 쓸 수 있습니다.")
    refused = await audit(services, "staff.refused")
    assert [r["actor"] for r in refused] == [f"telegram:{KIM.id}", f"telegram:{LEE.id}"]


async def test_a_citizen_pressing_a_moderation_button_changes_nothing(staffbot, services,
                                                                      campaign):
    case_id = await submit(services, campaign, KIM, "골목 화단")
    calls = await staffbot.press(KIM, data=f"Sm:ok:{campaign.id}:{case_id}")
    assert calls[-1].method == "answerCallbackQuery"
    assert await audit(services, "case.approved") == []


async def test_a_command_after_reject_forgets_the_awaited_reason(staffbot, services, campaign):
    """Reject asks for a reason; if the moderator does something else first, their next
    typed word is not taken as the reason."""
    case_id = await submit(services, campaign, SMITH, "제출된 새 사례")
    await staffbot.send(ADMIN, "/moderate")
    await staffbot.press(ADMIN, "반려")
    await staffbot.send(ADMIN, "/search 돌봄")
    await staffbot.send(ADMIN, "중복")
    async with services.db.read() as conn:
        case = await CaseRepository(conn).get(case_id)
    assert case.status.value == "submitted"


async def test_the_card_names_the_neighbourhood_in_the_moderators_language(staffbot, services,
                                                                           campaign):
    await submit(services, campaign, KIM, "골목 화단")  # in 효동, which has an English name
    english_admin = TelegramUser(ADMIN.id, "Boss", "en", username="boss")
    card = (await staffbot.send(english_admin, "/moderate"))[-1].text
    assert "Hyo-dong" in card and "효동" not in card.split("\n\n")[0]

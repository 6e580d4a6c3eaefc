"""Phase control from the chat: /phase, /extend, /close with before/after and Confirm;
re-validation on Confirm, announcements replanned, voting closing at the new time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.domain import AnnouncementKind, PhaseName, VoteOutcome
from bot.services.catalog import ListQuery
from tests.conftest import DURING_VOTING, SEOUL, VOTING_CLOSES
from tests.test_search import is_search_answer
from tests.test_staff_roles import ADMIN, HINT, KIM, LEE, audit

NEW_END = datetime(2024, 12, 1, 20, 0, tzinfo=SEOUL)



async def voting_end(services, campaign):
    return (await services.campaigns.get(campaign.id)).phase(PhaseName.VOTING).end


async def test_admin_moves_the_end_of_voting_and_announcements_follow(staffbot, services,
                                                                     campaign, clock):
    calls = await staffbot.send(ADMIN, "/phase voting end 2024-12-01 20:00")
    screen = calls[-1]
    assert "시민 투표" in screen.text
    assert "12월 1일(일) 18:00" in screen.text and "12월 1일(일) 20:00" in screen.text
    assert screen.labels() == ["✅ 확인", "✖ 취소"]
    assert await voting_end(services, campaign) == VOTING_CLOSES  # nothing before Confirm

    calls = await staffbot.press(ADMIN, "확인")
    assert calls[-1].text.startswith("✅ <b>시민 투표</b>")
    assert await voting_end(services, campaign) == NEW_END

    plan = await services.announcements.plan(campaign)
    closes = {(a.due_at, a.status) for a in plan if a.kind is AnnouncementKind.VOTING_CLOSES}
    assert closes == {(VOTING_CLOSES, "cancelled"), (NEW_END, "planned")}
    reminders = {(a.due_at, a.status) for a in plan
                 if a.kind is AnnouncementKind.VOTING_REMINDER}
    assert (NEW_END - timedelta(hours=1), "planned") in reminders
    assert (VOTING_CLOSES - timedelta(hours=1), "cancelled") in reminders

    [entry] = await audit(services, "phase.changed")
    assert entry["actor"] == f"telegram:{ADMIN.id}"
    assert entry["campaign_id"] == campaign.id
    assert entry["detail"]["phase"] == "voting" and entry["detail"]["field"] == "end"
    assert datetime.fromisoformat(entry["detail"]["before"]["end"]) == VOTING_CLOSES
    assert datetime.fromisoformat(entry["detail"]["after"]["end"]) == NEW_END

    # Voting really closes at the new time, from the stored times alone.
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    current = await services.campaigns.get(campaign.id)
    case = (await services.catalog.list_cases(current, ListQuery(), None)).cases[0]
    clock.set(VOTING_CLOSES + timedelta(minutes=30))
    assert (await services.voting.cast_vote(current, kim, case.id)).outcome is \
        VoteOutcome.RECORDED
    clock.set(NEW_END + timedelta(seconds=1))
    assert (await services.voting.cast_vote(current, kim, case.id)).outcome is \
        VoteOutcome.CLOSED


async def test_iso_time_and_cancel_change_nothing(staffbot, services, campaign):
    calls = await staffbot.send(ADMIN, "/phase voting end 2024-12-01T20:00")
    assert "20:00" in calls[-1].text
    calls = await staffbot.press(ADMIN, "취소")
    assert calls[-1].text == "취소했습니다. 바뀐 것은 없습니다."
    assert await voting_end(services, campaign) == VOTING_CLOSES
    assert await audit(services, "phase.changed") == []


async def test_a_time_in_the_past_is_refused(staffbot, services, campaign):
    calls = await staffbot.send(ADMIN, "/phase voting end 2024-11-28 10:00")
    assert "이미 지났습니다" in calls[-1].text
    assert calls[-1].labels() == ["🏠 처음으로"]
    assert await voting_end(services, campaign) == VOTING_CLOSES


@pytest.mark.parametrize("text", ["/phase voting end 2024-12-02 10:00",
                                  "/phase review start 2024-12-01 12:00",
                                  "/phase awards at 2024-12-06 12:00"])
async def test_overlapping_a_neighbour_is_refused(staffbot, services, campaign, text):
    calls = await staffbot.send(ADMIN, text)
    assert "겹칩니다" in calls[-1].text
    assert await services.campaigns.get(campaign.id) == campaign


async def test_end_before_start_is_refused(staffbot, campaign):
    calls = await staffbot.send(ADMIN, "/phase review end 2024-12-02 08:00")
    assert "마감은 시작보다 뒤여야" in calls[-1].text


@pytest.mark.parametrize("text, expected", [
    ("/phase voting end", "새 시각을"),
    ("/phase voting end tomorrow", "날짜와 시각이 아닙니다"),
    ("/phase voting end 2024-12-01", "날짜와 시각이 아닙니다"),
    ("/phase voting middle 2024-12-01 20:00", "시작이나 마감을"),
    ("/phase awards end 2024-12-09 15:00", "시작이나 마감을"),
    ("/phase 투표 중간", "시작이나 마감을"),
    ("/phase 잔치", "없는 단계"),
    ("/phase party end 2024-12-01 20:00", "없는 단계"),
    ("/extend voting", "쓰는 법"),
    ("/extend voting 2x", "기간이 아닙니다"),
    ("/extend voting 0h", "0보다 길어야"),
    ("/extend awards 1h", "시작이나 마감을"),
    ("/close", "쓰는 법"),
    ("/close review", "마감할 수 없습니다"),
])
async def test_wrong_arguments_get_a_clear_answer(staffbot, services, campaign, text, expected):
    calls = await staffbot.send(ADMIN, text)
    assert expected in calls[-1].text
    assert await audit(services, "phase.changed") == []


async def test_confirm_validates_again_when_time_has_passed(staffbot, services, campaign,
                                                           clock):
    await staffbot.send(ADMIN, "/phase voting end 2024-11-28 15:00")
    clock.advance(timedelta(hours=2))  # now 16:00: the proposed end has passed
    calls = await staffbot.press(ADMIN, "확인")
    assert "이미 지났습니다" in calls[-1].text
    assert await voting_end(services, campaign) == VOTING_CLOSES


async def test_extend_and_close(staffbot, services, campaign, clock):
    calls = await staffbot.send(ADMIN, "/extend voting 2h")
    assert "20:00" in calls[-1].text
    await staffbot.press(ADMIN, "확인")
    assert await voting_end(services, campaign) == NEW_END

    await staffbot.send(ADMIN, "/close voting")
    clock.advance(timedelta(minutes=5))
    await staffbot.press(ADMIN, "확인")
    assert await voting_end(services, campaign) == DURING_VOTING + timedelta(minutes=5)
    assert len(await audit(services, "phase.changed")) == 2


@pytest.mark.parametrize("command", ["/phase voting end 2024-12-01 20:00", "/extend voting 2h",
                                     "/close voting"])
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
    assert await voting_end(services, campaign) == VOTING_CLOSES


async def test_a_forged_confirm_button_changes_nothing(staffbot, services, campaign):
    calls = await staffbot.press(KIM, data=f"Sp:ok:{campaign.id}:voting:end:now")
    assert calls[-1].method == "answerCallbackQuery"
    assert await voting_end(services, campaign) == VOTING_CLOSES
    calls = await staffbot.press(ADMIN, data=f"Sp:ok:{campaign.id}:voting:end:soon")
    assert calls[-1].method == "answerCallbackQuery"
    assert await voting_end(services, campaign) == VOTING_CLOSES


async def test_audit_tells_a_phase_change_as_a_sentence(staffbot, services, campaign):
    await staffbot.send(ADMIN, "/phase voting end 2024-12-01 20:00")
    await staffbot.press(ADMIN, "확인")
    text = (await staffbot.send(ADMIN, "/audit phases"))[-1].text
    assert ("11월 28일(목) 14:00 · <b>@boss</b>\n"
            "   시민 투표 마감 변경: 12월 1일(일) 18:00 → 12월 1일(일) 20:00") in text
    assert "telegram:" not in text and "before=" not in text


# --- the walk-through, Korean words ------------------------------------------------------------

async def test_phase_alone_walks_through_buttons_to_a_one_tap_time(staffbot, services,
                                                                  campaign):
    calls = await staffbot.send(ADMIN, "/phase")
    screen = calls[-1]
    assert screen.labels() == ["사례 접수", "시민 투표", "심사", "시상", "✖ 취소"]
    assert "• 시민 투표: 11월 28일(목) 09:00 ~ 12월 1일(일) 18:00" in screen.text
    assert "/phase 투표 마감 2024-12-01 20:00" in screen.text  # the typed shortcut, shown

    calls = await staffbot.press(ADMIN, "시민 투표")
    assert calls[-1].labels() == ["시작", "마감", "✖ 취소"]
    calls = await staffbot.press(ADMIN, "마감")
    screen = calls[-1]
    assert "지금: 12월 1일(일) 18:00" in screen.text
    assert "<code>2024-12-02 18:00</code>" in screen.text and "Asia/Seoul" in screen.text
    # Only choices the rules allow: a day later, or 18:00 next day, would overlap the review.
    assert screen.labels() == ["+1시간 → 12월 1일(일) 19:00",
                               "다음 날 아침 → 12월 2일(월) 09:00", "✖ 취소"]
    assert all(len(b["callback_data"].encode()) <= 64 for b in screen.buttons())
    assert await voting_end(services, campaign) == VOTING_CLOSES

    calls = await staffbot.press(ADMIN, "+1시간")
    assert "12월 1일(일) 19:00" in calls[-1].text and calls[-1].labels() == ["✅ 확인", "✖ 취소"]
    await staffbot.press(ADMIN, "확인")
    assert await voting_end(services, campaign) == VOTING_CLOSES + timedelta(hours=1)


async def test_the_time_can_be_typed_after_the_buttons(staffbot, services, campaign):
    await staffbot.send(ADMIN, "/phase 투표")  # the phase typed, the boundary by button
    await staffbot.press(ADMIN, "마감")
    calls = await staffbot.send(ADMIN, "내일 저녁")
    assert "날짜와 시각이 아닙니다" in calls[-1].text  # the format again, still waiting
    calls = await staffbot.send(ADMIN, "2024-11-27 20:00")
    assert "이미 지났습니다" in calls[-1].text
    calls = await staffbot.send(ADMIN, "2024-12-01 20:00")
    assert "12월 1일(일) 20:00" in calls[-1].text
    await staffbot.press(ADMIN, "확인")
    assert await voting_end(services, campaign) == NEW_END
    calls = await staffbot.send(ADMIN, "2024-12-01 21:00")  # nothing waits: a search now
    assert is_search_answer(calls[-1].text)
    assert await voting_end(services, campaign) == NEW_END


@pytest.mark.parametrize("text", ["/phase 투표 마감 2024-12-01 20:00",
                                  "/phase 시민투표 종료 2024-12-01T20:00",
                                  "/phase VOTING END 2024-12-01 20:00"])
async def test_korean_and_english_words_are_understood(staffbot, services, campaign, text):
    calls = await staffbot.send(ADMIN, text)
    assert "<b>시민 투표</b>: 마감" in calls[-1].text
    await staffbot.press(ADMIN, "확인")
    assert await voting_end(services, campaign) == NEW_END


async def test_korean_words_for_awards_extend_and_close(staffbot, services, campaign):
    calls = await staffbot.send(ADMIN, "/phase 시상 시작 2024-12-09 15:00")
    assert "<b>시상</b>: 시각" in calls[-1].text
    calls = await staffbot.send(ADMIN, "/extend 투표 2h")
    assert "12월 1일(일) 20:00" in calls[-1].text
    # (a day more would run into the review: understood, and refused for that)
    for korean, until in (("2시간", "20:00"), ("30분", "18:30"), ("1일", "심사 기간과 겹칩니다")):
        calls = await staffbot.send(ADMIN, f"/extend 투표 {korean}")  # Korean units too
        assert until in calls[-1].text, korean
    calls = await staffbot.send(ADMIN, "/extend 투표 2주")
    assert "30분, 2시간, 1일처럼" in calls[-1].text
    calls = await staffbot.send(ADMIN, "/close 투표")
    assert "✅ 확인" in calls[-1].labels()
    await staffbot.press(ADMIN, "확인")
    assert await voting_end(services, campaign) == DURING_VOTING


async def test_stale_and_forged_walk_buttons_change_nothing(staffbot, services, campaign,
                                                           clock):
    for data in (f"Sp:w:{campaign.id + 1}:voting", f"Sp:w:{campaign.id}:party",
                 f"Sp:f:{campaign.id}:awards:end", f"Sp:t:{campaign.id}:voting:end:x",
                 f"Sp:t:{campaign.id}:voting:end", f"Sp:f:{campaign.id}:voting:end:1:2"):
        calls = await staffbot.press(ADMIN, data=data)
        assert [c.method for c in calls] == ["answerCallbackQuery"], data
        assert calls[0].params["text"].startswith("이 버튼은 만료되었습니다"), data
    # A one-tap time that has passed since it was offered is refused as today.
    await staffbot.send(ADMIN, "/phase 투표 마감")
    clock.set(VOTING_CLOSES + timedelta(hours=2))
    calls = await staffbot.press(ADMIN, "+1시간")
    assert "이미 지났습니다" in calls[-1].text
    assert await voting_end(services, campaign) == VOTING_CLOSES
    # A citizen's press of a real walk button is refused like any staff button.
    calls = await staffbot.press(KIM, data=f"Sp:w:{campaign.id}:voting")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert await audit(services, "phase.changed") == []


async def test_english_walk_through(staffbot, services, campaign):
    from tests.conftest import SMITH
    await staffbot.send(SMITH, "/start")
    services.staff.add_bootstrap_admins("telegram", {str(ADMIN.id), str(SMITH.id)})
    calls = await staffbot.send(SMITH, "/phase voting")
    assert calls[-1].labels() == ["start", "end", "✖ Cancel"]


async def test_another_flow_started_by_button_is_not_taken_for_a_time(staffbot, services,
                                                                     campaign):
    await staffbot.send(ADMIN, "/admin")
    await staffbot.send(ADMIN, "/phase 투표 마감")  # a time is awaited...
    await staffbot.press(ADMIN, "📣 공지")  # ...until another button starts something else
    calls = await staffbot.send(ADMIN, "2024-12-01 20:00")
    assert "미리 보기" in calls[-1].text  # taken as the broadcast text, not as a phase time
    assert await voting_end(services, campaign) == VOTING_CLOSES

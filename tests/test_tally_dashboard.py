"""The live tally and the admin dashboard: correct counts from several citizens' votes, hourly
buckets in the campaign's local time, votes for hidden cases reported apart, and who may see
them (/admin for admins, /tally for moderators too; everyone else sees the usual hint)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from bot.domain import Case, CaseStatus, PhaseName, Role
from bot.services.tally import CaseCount, Tally
from handlers.telegram.offline import TelegramUser
from handlers.telegram.staff.dashboard import tally_screen
from storage.repositories import CaseRepository
from storage.repositories.cases import CaseFilter
from storage.tables import audit_log
from tests.conftest import ADMIN, SEOUL, VOTING_CLOSES

MOD = TelegramUser(9002, "운영자", "ko", username="mod_park")
LEE = TelegramUser(1003, "이영희", "ko", username="lee_judge")
KIM = TelegramUser(1001, "김순자", "ko")
HINT = "아래 버튼을 눌러 주세요."

# Citizens' Telegram ids: distinctive, so the export tests can look for them in the files.
VOTERS = ("7770001", "7770002", "7770003", "7770004")
NON_VOTER = "7770005"


def local(day: int, hour: int, minute: int = 0) -> datetime:
    month = 11 if day >= 28 else 12
    return datetime(2024, month, day, hour, minute, tzinfo=SEOUL)


async def approved_cases(services, campaign) -> list[Case]:
    async with services.db.read() as conn:
        found, _ = await CaseRepository(conn).page(campaign.id, CaseFilter(), 0, 50)
    return found


async def cast_votes(services, clock, campaign) -> list[Case]:
    """Four voters and one citizen who did not vote. Case 0 gets two votes (10:15, 10:40),
    case 1 one (13:05), case 2 one after local midnight (00:30 on the 29th, still the 28th in
    UTC); then case 2 is hidden."""
    cases = await approved_cases(services, campaign)
    plan = [(VOTERS[0], 0, local(28, 10, 15)), (VOTERS[1], 0, local(28, 10, 40)),
            (VOTERS[2], 1, local(28, 13, 5)), (VOTERS[3], 2, local(29, 0, 30))]
    for external_id, index, at in plan:
        clock.set(at)
        citizen = await services.citizens.identify("telegram", external_id, "ko")
        result = await services.voting.cast_vote(campaign, citizen, cases[index].id)
        assert result.stored, result
    await services.citizens.identify("telegram", NON_VOTER, "ko")
    async with services.db.write() as conn:
        await CaseRepository(conn).set_status(cases[2].id, CaseStatus.HIDDEN, clock.now())
    clock.set(local(29, 1, 0))
    return cases


async def test_tally_counts_turnout_and_local_buckets(services, clock, campaign):
    cases = await cast_votes(services, clock, campaign)
    tally = await services.tally.tally(campaign)
    assert [(c.case.id, c.votes) for c in tally.cases[:2]] == [(cases[0].id, 2),
                                                               (cases[1].id, 1)]
    assert len(tally.cases) == 9 and all(c.votes == 0 for c in tally.cases[2:])
    assert [(c.case.id, c.votes, c.case.status) for c in tally.set_aside] == [
        (cases[2].id, 1, CaseStatus.HIDDEN)]
    assert tally.total_votes == 4
    assert (tally.voters, tally.citizens) == (4, 5)
    assert tally.turnout == pytest.approx(0.8)
    assert tally.hourly == ((local(28, 10), 2), (local(28, 13), 1), (local(29, 0), 1))
    assert tally.daily == ((date(2024, 11, 28), 3), (date(2024, 11, 29), 1))
    assert [(option.key, n) for option, n in tally.districts] == [("dong", 3), ("daedeok", 1)]
    # Hours since voting opened (09:00) only, not a day of zeros from before it.
    recent = tally.last_hours(clock.now(), 24)
    assert len(recent) == 17 and recent[-1] == (local(29, 1), 0)
    assert recent[0] == (local(28, 9), 0)
    assert dict(recent)[local(28, 10)] == 2
    # Two days on, the last 24 hours only.
    recent = tally.last_hours(local(30, 12), 24)
    assert len(recent) == 24 and recent[0][0] == local(29, 13)


async def test_hours_before_voting_opens_are_none(services, clock, campaign):
    clock.set(local(28, 8, 30))
    assert (await services.tally.tally(campaign)).last_hours(clock.now(), 24) == []


async def test_dashboard_counts(services, clock, campaign):
    await cast_votes(services, clock, campaign)
    citizen = await services.citizens.identify("telegram", VOTERS[0], "ko")
    await services.subscriptions.set(campaign, citizen, True)
    # Staff who used the bot are not citizens: a judge, and an admin from the settings.
    for external_id in ("9002", "9003"):
        await services.citizens.identify("telegram", external_id, "ko")
    assert await services.staff.grant("cli:kim", "telegram", "9002", Role.JUDGE)
    services.staff.add_bootstrap_admins("telegram", {"9003"})
    board = await services.tally.dashboard(campaign)
    assert (board.citizens, board.subscribers, board.votes) == (5, 1, 4)
    assert (await services.tally.tally(campaign)).citizens == 5
    assert board.cases_by_status == {CaseStatus.APPROVED: 9, CaseStatus.HIDDEN: 1}
    assert board.daily == ((date(2024, 11, 28), 3), (date(2024, 11, 29), 1))
    assert board.current_phase.name is PhaseName.VOTING
    assert board.next_boundary == VOTING_CLOSES
    assert board.upcoming and all(a.due_at > clock.now() for a in board.upcoming)


def test_long_tally_fits_one_message():
    case = Case(1, 1, "k", CaseStatus.APPROVED, "d", "n", "c",
                __import__("bot.domain", fromlist=["CaseText"]).CaseText(
                    "아주 긴 사례 제목 " * 8, "s", "b", "o"))
    tally = Tally(cases=tuple(CaseCount(case, 1000 - i) for i in range(500)), set_aside=(),
                  total_votes=1, voters=1, citizens=1, hourly=((local(28, 10), 3),),
                  daily=(), timezone="Asia/Seoul")
    screen = tally_screen("시험", tally, local(28, 11), "ko")
    assert len(screen.text) <= 4096
    assert "… 외 사례" in screen.text



async def refusals(services) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            sa.select(audit_log).where(audit_log.c.action == "staff.refused"))
        return [dict(r) for r in rows.mappings()]


async def test_admin_sees_the_dashboard_and_its_buttons(staffbot, services, clock, campaign):
    cases = await cast_votes(services, clock, campaign)
    calls = await staffbot.send(ADMIN, "/admin")
    [reply] = [c for c in calls if c.method == "sendMessage"]
    assert "시험 공모 2024" in reply.text and "지금까지 4표" in reply.text
    assert "승인 9" in reply.text and "숨김 1" in reply.text
    assert "지금: <b>시민 투표</b> (12월 1일(일) 18:00까지)" in reply.text
    assert "• 2024년 11월 28일: 3표" in reply.text
    assert {"🗳 집계", "📥 내려받기", "🔎 검토"} <= set(reply.labels())

    calls = await staffbot.press(ADMIN, "집계")
    tally = next(c for c in calls if c.method == "sendMessage")
    assert cases[0].ko.title in tally.text

    # the other buttons open those functions themselves
    calls = await staffbot.press(ADMIN, "검토")
    assert any(c.method == "answerCallbackQuery" for c in calls)
    shown = [c for c in calls if c.method in ("sendMessage", "editMessageText")]
    assert shown, "the moderation queue is shown"
    await staffbot.send(ADMIN, "/admin")
    calls = await staffbot.press(ADMIN, "기록")
    audit_screen = next(c for c in calls if c.method in ("sendMessage", "editMessageText"))
    assert "감사 기록" in audit_screen.text
    await staffbot.send(ADMIN, "/admin")
    calls = await staffbot.press(ADMIN, "결과")
    assert any(c.method == "sendPhoto" for c in calls)


async def test_moderator_reads_the_tally(staffbot, services, clock, campaign):
    cases = await cast_votes(services, clock, campaign)
    await staffbot.send(MOD, "/start")
    await staffbot.send(ADMIN, "/grant @mod_park moderator")
    calls = await staffbot.send(MOD, "/tally")
    text = calls[-1].text
    assert len(text) <= 4096
    first, second = (f"1. {cases[0].ko.title} — 2표", f"2. {cases[1].ko.title} — 1표")
    assert first in text and second in text and text.index(first) < text.index(second)
    assert "총 4표 · 투표한 시민 4명 / 봇을 시작한 시민" in text and "참여율" in text
    assert f"• {cases[2].ko.title} (숨김) — 1표" in text
    assert "11월 28일(목) 10:00 ▇▇▇▇▇▇▇▇▇▇ 2" in text  # local (Seoul) hours
    assert "11월 29일(금) 00:00 ▇▇▇▇▇ 1" in text
    assert "11월 28일(목) 08:00" not in text  # before voting opened
    assert "11월 28일(목) 09:00 · 0" in text
    # Staff (the moderator, the admin) are not counted as citizens, and the basis is said.
    assert "투표한 시민 4명 / 봇을 시작한 시민 5명 (참여율 80.0%)" in text
    assert "참여율 기준: 봇을 한 번이라도 쓴 시민 가운데 투표한 분의 비율" in text
    assert "🏘 구별 득표\n• 동구: 3표 (75%)\n• 대덕구: 1표 (25%)" in text
    # A moderator is not an admin: the dashboard stays hidden.
    calls = await staffbot.send(MOD, "/admin")
    assert calls[-1].text == "/admin 명령은 관리자만 쓸 수 있습니다."


@pytest.mark.parametrize("command", ["/admin", "/tally", "/export"])
async def test_citizen_and_judge_are_refused(staffbot, services, command):
    await staffbot.send(LEE, "/start")
    await staffbot.send(ADMIN, "/grant @lee_judge judge")
    for user in (KIM, LEE):
        calls = await staffbot.send(user, command)
        assert [c.method for c in calls] == ["sendMessage"]
        assert calls[0].text.startswith(HINT if user is KIM else f"{command} 명령은 ")
    assert [(r["actor"], r["detail"]["attempt"]) for r in await refusals(services)] == [
        (f"telegram:{KIM.id}", command), (f"telegram:{LEE.id}", command)]


async def test_forged_dashboard_button_is_refused_for_a_citizen(staffbot, services):
    calls = await staffbot.press(KIM, data="Srp:export")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert not any(c.method == "sendDocument" for c in calls)
    assert len(await refusals(services)) == 1

"""Announcements: the plan a campaign load writes, each boundary announced exactly once to the
subscribers who want it, in their language; reloads that move a phase, restarts after downtime,
the announce chat and the admins' summary. The clock is set by hand; nothing sleeps."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from bot.app import build_application
from bot.campaign_file import parse_campaign
from bot.domain import CLOSE_NEWS_LIFETIME, AnnouncementKind, VoteOutcome
from bot.scheduler import Scheduler
from bot.services import AnnounceChat, Services
from bot.settings import Settings
from handlers.telegram import callbacks as cb
from handlers.telegram.offline import OfflineRequest, OfflineTelegram, TelegramUser
from storage.database import Database
from storage.repositories import CaseRepository
from storage.tables import broadcasts, deliveries, votes
from tests.conftest import (
    DAEJEON_FILE,
    KIM,
    SEOUL,
    SMITH,
    VOTING_CLOSES,
    VOTING_OPENS,
    small_campaign,
)

SECOND = timedelta(seconds=1)
SUBMISSION_OPENS = datetime(2024, 10, 7, 9, 0, tzinfo=SEOUL)
SUBMISSION_CLOSES = datetime(2024, 11, 24, 18, 0, tzinfo=SEOUL)
REMINDER_24H = VOTING_CLOSES - timedelta(hours=24)
REMINDER_1H = VOTING_CLOSES - timedelta(hours=1)

OPENS = AnnouncementKind.SUBMISSION_OPENS
CLOSES = AnnouncementKind.SUBMISSION_CLOSES
V_OPENS = AnnouncementKind.VOTING_OPENS
REMINDER = AnnouncementKind.VOTING_REMINDER
V_CLOSES = AnnouncementKind.VOTING_CLOSES

LEE = TelegramUser(1003, "이영희", "ko")
PARK = TelegramUser(1004, "박철수", "ko")
CHOI = TelegramUser(1005, "최민수", "ko")

ANNOUNCE_CHAT = -100123


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@asynccontextmanager
async def offline_bot(services: Services, clock, settings: Settings | None = None):
    """A real Application over `services`, offline (its Telegram sender is registered on
    `services.broadcaster` by build_application)."""
    request = OfflineRequest(clock=clock)
    application = build_application(settings or Settings(_env_file=None), services,
                                    request=request, rate_limited=False)
    async with application:
        yield OfflineTelegram(application, request, clock)


async def subscribe(telegram, user: TelegramUser) -> None:
    await telegram.send(user, "/start")
    await telegram.press(user, "네, 받을게요" if user.language_code == "ko" else "Yes, please")


async def fire(services: Services) -> list:
    fired = await services.announcements.tick()
    await services.broadcaster.idle()
    return fired


def messages(telegram, since: int = 0, chat_id: int | None = None) -> list:
    """Messages that reached Telegram (failed calls are left out)."""
    return [c for c in telegram.request.calls[since:]
            if c.method == "sendMessage" and "_failed" not in c.params
            and (chat_id is None or c.chat_id == chat_id)]


async def plan(services: Services, campaign) -> dict[tuple[AnnouncementKind, datetime], str]:
    return {(a.kind, a.due_at): a.status
            for a in await services.announcements.plan(campaign)}


async def broadcast_kinds(services: Services) -> Counter:
    async with services.db.read() as conn:
        return Counter((await conn.execute(sa.select(broadcasts.c.kind))).scalars().all())


async def case_id(services: Services, campaign, key: str) -> int:
    async with services.db.read() as conn:
        return (await CaseRepository(conn).from_file(campaign.id))[key].id


def moved_voting_end(end: str) -> dict:
    """The small campaign with voting closing at `end` (Seoul time) instead."""
    phases = small_campaign()["phases"]
    phases["voting"]["end"] = end
    return small_campaign(phases=phases)


# Voting closes 2024-12-01 18:00 Seoul = 09:00 UTC.
ORIGINAL_PLAN = {
    (OPENS, utc(2024, 10, 7, 0, 0)): "planned",
    (CLOSES, utc(2024, 11, 24, 9, 0)): "planned",
    (V_OPENS, utc(2024, 11, 28, 0, 0)): "planned",
    (REMINDER, utc(2024, 11, 30, 9, 0)): "planned",
    (REMINDER, utc(2024, 12, 1, 8, 0)): "planned",
    (V_CLOSES, utc(2024, 12, 1, 9, 0)): "planned",
}


# --- the plan -----------------------------------------------------------------------------


async def test_loading_a_campaign_plans_every_boundary_in_utc(services, campaign):
    rows = await services.announcements.plan(campaign)
    assert {(a.kind, a.due_at): a.status for a in rows} == ORIGINAL_PLAN
    assert len(rows) == 6
    assert all(a.due_at.utcoffset() == timedelta(0) for a in rows)
    assert [a.due_at for a in rows] == sorted(a.due_at for a in rows)
    assert all(a.broadcast_id is None for a in rows)


async def test_reminder_hours_come_from_the_campaign_file(services, tmp_path):
    text = DAEJEON_FILE.read_text(encoding="utf-8")
    assert "[voting]\nvotes_per_citizen = 1\n" in text
    path = tmp_path / "daejeon-2024.toml"
    path.write_text(text.replace("[voting]\n", "[voting]\nreminder_hours = [48, 2]\n", 1),
                    encoding="utf-8")
    report = await services.campaigns.load_file(path)
    campaign = await services.campaigns.get(report.campaign_id)
    assert campaign.rules.reminder_hours == (48, 2)
    reminders = {due: status for (kind, due), status in (await plan(services, campaign)).items()
                 if kind is REMINDER}
    # close 2024-12-01 09:00 UTC: 48 h and 2 h before
    assert reminders == {utc(2024, 11, 29, 9, 0): "planned", utc(2024, 12, 1, 7, 0): "planned"}


async def test_changing_reminder_hours_replans_the_reminders(services, campaign):
    rules = {"votes_per_citizen": 1, "allow_change": True, "show_running_tally": False,
             "reminder_hours": [48, 2]}
    await services.campaigns.load(parse_campaign(small_campaign(voting=rules)))
    assert await plan(services, campaign) == {
        **ORIGINAL_PLAN,
        (REMINDER, utc(2024, 11, 30, 9, 0)): "cancelled",
        (REMINDER, utc(2024, 12, 1, 8, 0)): "cancelled",
        (REMINDER, utc(2024, 11, 29, 9, 0)): "planned",
        (REMINDER, utc(2024, 12, 1, 7, 0)): "planned",
    }


async def test_loading_the_same_file_twice_does_not_duplicate_the_plan(services, campaign):
    before = await services.announcements.plan(campaign)
    await services.campaigns.load(parse_campaign(small_campaign()))
    await services.campaigns.load(parse_campaign(small_campaign()))
    assert await services.announcements.plan(campaign) == before


# --- each boundary, once ------------------------------------------------------------------

# (kind, instant, Korean fragments, English fragments, Korean buttons, English buttons)
BOUNDARIES = [
    (OPENS, SUBMISSION_OPENS,
     ["사례 접수가 시작되었습니다", "11월 24일(일) 18:00까지"],
     ["Case submission is open", "until Sun 24 Nov 18:00"],
     ["📋 사례 보기"], ["📋 Browse cases"]),
    (CLOSES, SUBMISSION_CLOSES,
     ["사례 접수가 마감되었습니다", "시민 투표는 11월 28일(목) 09:00에 시작합니다"],
     ["Case submission has closed", "Citizen voting starts on Thu 28 Nov 09:00"],
     ["🏠 처음으로"], ["🏠 Main menu"]),
    (V_OPENS, VOTING_OPENS,
     ["시민 투표가 시작되었습니다!", "12월 1일(일) 18:00까지"],
     ["Citizen voting is open!", "by Sun 1 Dec 18:00"],
     ["🗳 투표하러 가기"], ["🗳 Go and vote"]),
    (REMINDER, REMINDER_24H,
     ["투표가 12월 1일(일) 18:00에 마감됩니다"], ["Voting closes on Sun 1 Dec 18:00"],
     ["🗳 투표하러 가기"], ["🗳 Go and vote"]),
    (REMINDER, REMINDER_1H,
     ["투표가 12월 1일(일) 18:00에 마감됩니다"], ["Voting closes on Sun 1 Dec 18:00"],
     ["🗳 투표하러 가기"], ["🗳 Go and vote"]),
    (V_CLOSES, VOTING_CLOSES,
     ["시민 투표가 마감되었습니다", "시상: 12월 9일(월) 14:00"],
     ["Citizen voting has closed", "Awards: Mon 9 Dec 14:00"],
     ["🏠 처음으로"], ["🏠 Main menu"]),
]


async def test_each_boundary_is_announced_once_in_each_language(
    telegram, services, campaign, clock
):
    await subscribe(telegram, KIM)
    await subscribe(telegram, SMITH)
    for kind, instant, ko, en, ko_buttons, en_buttons in BOUNDARIES:
        start = len(telegram.request.calls)
        clock.set(instant + SECOND)
        fired = await fire(services)
        assert [a.kind for a in fired] == [kind], instant
        assert await fire(services) == []
        clock.advance(timedelta(minutes=30))
        assert await fire(services) == []

        new = messages(telegram, start)
        assert Counter(c.chat_id for c in new) == {KIM.id: 1, SMITH.id: 1}, kind
        korean, english = messages(telegram, start, KIM.id)[0], messages(telegram, start,
                                                                          SMITH.id)[0]
        assert korean.text.startswith(("📢", "🗳", "⏰", "✅"))
        assert "<b>시험 공모 2024</b>" in korean.text
        assert "<b>Test competition 2024</b>" in english.text
        assert korean.params["parse_mode"] == "HTML"
        for fragment in ko:
            assert fragment in korean.text, (kind, korean.text)
        for fragment in en:
            assert fragment in english.text, (kind, english.text)
        assert korean.labels() == ko_buttons and english.labels() == en_buttons
        if kind in (V_OPENS, REMINDER):
            button = korean.buttons()[0]
            assert cb.decode(button["callback_data"]) == cb.ShowList(campaign.id,
                                                                      cb.ListState())
            # the button takes the citizen to the list of cases
            calls = await telegram.press(KIM, "투표하러 가기")
            edit = next(c for c in calls if c.method == "editMessageText")
            assert "(1/2쪽, 모두 10건)" in edit.text
            calls = await telegram.press(SMITH, "Go and vote")
            edit = next(c for c in calls if c.method == "editMessageText")
            assert "page 1 of 2, 10 in all" in edit.text

    # long after: nothing more, ever
    total = len(messages(telegram))
    clock.set(VOTING_CLOSES + timedelta(days=30))
    assert await fire(services) == []
    assert len(messages(telegram)) == total
    assert await broadcast_kinds(services) == {
        "submission_opens": 1, "submission_closes": 1, "voting_opens": 1,
        "voting_reminder": 2, "voting_closes": 1,
    }
    rows = await services.announcements.plan(campaign)
    assert {a.status for a in rows} == {"sent"}
    assert len({a.broadcast_id for a in rows}) == 6


async def test_two_ticks_at_once_still_announce_once(telegram, services, campaign, clock):
    await subscribe(telegram, KIM)
    start = len(telegram.request.calls)
    clock.set(VOTING_OPENS + SECOND)
    results = await asyncio.gather(services.announcements.tick(),
                                   services.announcements.tick(), return_exceptions=True)
    fired = [a.kind for r in results if isinstance(r, list) for a in r]
    assert fired == [V_OPENS]
    await services.broadcaster.idle()
    assert len(messages(telegram, start, KIM.id)) == 1
    assert (await broadcast_kinds(services))["voting_opens"] == 1


async def test_nothing_fires_before_its_time(telegram, services, campaign, clock):
    await subscribe(telegram, KIM)
    start = len(telegram.request.calls)
    clock.set(VOTING_OPENS - SECOND)
    # the submission announcements are long past and stale: skipped, not sent
    assert await fire(services) == []
    assert messages(telegram, start) == []
    rows = await plan(services, campaign)
    assert rows[(V_OPENS, VOTING_OPENS)] == "planned"
    assert rows[(OPENS, SUBMISSION_OPENS)] == "skipped"
    assert rows[(CLOSES, SUBMISSION_CLOSES)] == "skipped"
    assert await broadcast_kinds(services) == {}

    clock.set(VOTING_OPENS)  # due exactly now: fires
    assert [a.kind for a in await fire(services)] == [V_OPENS]
    assert len(messages(telegram, start, KIM.id)) == 1


async def test_reminders_reach_only_subscribers_who_have_not_voted(
    telegram, services, campaign, clock
):
    await subscribe(telegram, KIM)
    await subscribe(telegram, SMITH)
    clock.set(VOTING_OPENS + SECOND)
    await fire(services)
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    result = await services.voting.cast_vote(campaign, kim,
                                             await case_id(services, campaign, "case-2"))
    assert result.outcome is VoteOutcome.RECORDED

    for reminder in (REMINDER_24H, REMINDER_1H):
        start = len(telegram.request.calls)
        clock.set(reminder + SECOND)
        assert [a.kind for a in await fire(services)] == [REMINDER]
        assert [c.chat_id for c in messages(telegram, start)] == [SMITH.id]

    # the close is news for everybody, voters included
    start = len(telegram.request.calls)
    clock.set(VOTING_CLOSES + SECOND)
    await fire(services)
    assert Counter(c.chat_id for c in messages(telegram, start)) == {KIM.id: 1, SMITH.id: 1}


async def test_only_citizens_who_said_yes_get_news(telegram, services, campaign, clock):
    await subscribe(telegram, KIM)
    await telegram.send(SMITH, "/start")
    await telegram.press(SMITH, "No, thanks")
    await telegram.send(LEE, "/start")  # asked, never answered
    await telegram.send(PARK, "/start")
    await telegram.press(PARK, "네, 받을게요")
    calls = await telegram.send(PARK, "/notify off")
    assert "알림을 받지 않습니다" in calls[-1].text
    await telegram.send(CHOI, "/start")
    await telegram.press(CHOI, "아니요, 괜찮아요")
    calls = await telegram.send(CHOI, "/notify on")
    assert "알림을 받습니다" in calls[-1].text
    # a citizen known to the bot who was never asked (e.g. from another channel)
    other = await services.citizens.identify("telegram", "1006", "ko")
    assert await services.subscriptions.status(campaign, other) is None

    start = len(telegram.request.calls)
    clock.set(VOTING_OPENS + SECOND)
    await fire(services)
    assert Counter(c.chat_id for c in messages(telegram, start)) == {KIM.id: 1, CHOI.id: 1}

    # KIM turns news off with the menu button, SMITH turns it on with /notify on
    await telegram.send(KIM, "/start")
    await telegram.press(KIM, "알림 끄기")
    await telegram.send(SMITH, "/notify on")
    start = len(telegram.request.calls)
    clock.set(REMINDER_24H + SECOND)
    await fire(services)
    assert Counter(c.chat_id for c in messages(telegram, start)) == {SMITH.id: 1, CHOI.id: 1}


# --- a reload that moves a phase ----------------------------------------------------------


async def test_a_reload_that_moves_the_close_moves_its_announcements(
    telegram, services, campaign, clock
):
    await subscribe(telegram, KIM)
    clock.set(VOTING_OPENS + SECOND)
    await fire(services)  # voting opens: out of the way
    ids_before = {(a.kind, a.due_at): a.id for a in await services.announcements.plan(campaign)}

    await services.campaigns.load(parse_campaign(moved_voting_end("2024-12-01T22:00")))
    # 22:00 Seoul = 13:00 UTC
    expected = {
        (OPENS, utc(2024, 10, 7, 0, 0)): "skipped",
        (CLOSES, utc(2024, 11, 24, 9, 0)): "skipped",
        (V_OPENS, utc(2024, 11, 28, 0, 0)): "sent",
        (REMINDER, utc(2024, 11, 30, 9, 0)): "cancelled",
        (REMINDER, utc(2024, 12, 1, 8, 0)): "cancelled",
        (V_CLOSES, utc(2024, 12, 1, 9, 0)): "cancelled",
        (REMINDER, utc(2024, 11, 30, 13, 0)): "planned",
        (REMINDER, utc(2024, 12, 1, 12, 0)): "planned",
        (V_CLOSES, utc(2024, 12, 1, 13, 0)): "planned",
    }
    assert await plan(services, campaign) == expected
    rows = await services.announcements.plan(campaign)
    assert {(a.kind, a.due_at): a.id for a in rows if (a.kind, a.due_at) in ids_before} \
        == ids_before  # the old rows are kept as history, not rewritten
    # the same edited file again: nothing new
    await services.campaigns.load(parse_campaign(moved_voting_end("2024-12-01T22:00")))
    assert await plan(services, campaign) == expected

    def sent_since(start):
        return [c.text for c in messages(telegram, start, KIM.id)]

    start = len(telegram.request.calls)
    clock.set(REMINDER_24H + SECOND)  # the old first reminder
    await fire(services)
    assert sent_since(start) == []
    clock.set(datetime(2024, 11, 30, 22, 0, 1, tzinfo=SEOUL))  # the new one
    await fire(services)
    [reminder] = sent_since(start)
    assert "투표가 12월 1일(일) 22:00에 마감됩니다" in reminder

    start = len(telegram.request.calls)
    clock.set(REMINDER_1H + SECOND)
    await fire(services)
    clock.set(VOTING_CLOSES + SECOND)  # the old close: voting is still open
    assert await fire(services) == []
    assert sent_since(start) == []
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    reloaded = await services.campaigns.get(campaign.id)
    result = await services.voting.cast_vote(reloaded, kim,
                                             await case_id(services, campaign, "case-1"))
    assert result.outcome is VoteOutcome.RECORDED

    clock.set(datetime(2024, 12, 1, 22, 0, 1, tzinfo=SEOUL))  # the new close
    assert [a.kind for a in await fire(services)] == [V_CLOSES]
    clock.advance(timedelta(minutes=5))
    assert await fire(services) == []
    [closed] = sent_since(start)  # KIM voted: no second reminder, one close
    assert "시민 투표가 마감되었습니다" in closed
    assert await broadcast_kinds(services) == {"voting_opens": 1, "voting_reminder": 1,
                                               "voting_closes": 1}


async def test_moving_a_phase_back_restores_the_original_rows(services, campaign):
    original = {(a.kind, a.due_at): a.id for a in await services.announcements.plan(campaign)}
    await services.campaigns.load(parse_campaign(moved_voting_end("2024-12-01T22:00")))
    await services.campaigns.load(parse_campaign(small_campaign()))
    rows = await services.announcements.plan(campaign)
    assert len(rows) == 9
    planned = {(a.kind, a.due_at): a.id for a in rows if a.status == "planned"}
    assert planned == original
    assert {a.status for a in rows if (a.kind, a.due_at) not in original} == {"cancelled"}


# --- restarts and downtime ----------------------------------------------------------------


async def test_a_boundary_missed_while_down_is_announced_late(
    telegram, services, campaign, clock
):
    await subscribe(telegram, KIM)
    start = len(telegram.request.calls)
    clock.set(VOTING_OPENS + timedelta(hours=7))  # down since before voting opened
    assert [a.kind for a in await fire(services)] == [V_OPENS]
    [message] = messages(telegram, start, KIM.id)
    assert "시민 투표가 시작되었습니다!" in message.text
    rows = await plan(services, campaign)
    assert rows[(OPENS, SUBMISSION_OPENS)] == "skipped"  # submission is no longer open
    assert rows[(CLOSES, SUBMISSION_CLOSES)] == "skipped"  # days late: no longer news
    assert rows[(V_OPENS, VOTING_OPENS)] == "sent"


async def test_after_downtime_only_the_latest_news_of_a_phase_is_sent(
    telegram, services, campaign, clock
):
    """Back 30 minutes before the close: "voting is open" and the 24-hour reminder are old
    news; the 1-hour reminder says what matters. One message, not three."""
    await subscribe(telegram, KIM)
    start = len(telegram.request.calls)
    clock.set(VOTING_CLOSES - timedelta(minutes=30))
    assert [a.kind for a in await fire(services)] == [REMINDER]
    [message] = messages(telegram, start, KIM.id)
    assert "투표가 12월 1일(일) 18:00에 마감됩니다." in message.text
    rows = await plan(services, campaign)
    assert rows[(V_OPENS, VOTING_OPENS)] == "skipped"
    assert rows[(REMINDER, REMINDER_24H)] == "skipped"
    assert rows[(REMINDER, REMINDER_1H)] == "sent"
    assert rows[(V_CLOSES, VOTING_CLOSES)] == "planned"


async def test_stale_announcements_are_skipped_after_long_downtime(
    telegram, services, campaign, clock
):
    await subscribe(telegram, KIM)
    start = len(telegram.request.calls)
    clock.set(VOTING_CLOSES + CLOSE_NEWS_LIFETIME + timedelta(minutes=1))
    assert await fire(services) == []
    assert messages(telegram, start) == []
    assert set((await plan(services, campaign)).values()) == {"skipped"}
    assert await broadcast_kinds(services) == {}


async def test_a_close_within_its_news_lifetime_is_still_sent_alone(
    telegram, services, campaign, clock
):
    await subscribe(telegram, KIM)
    start = len(telegram.request.calls)
    clock.set(VOTING_CLOSES + CLOSE_NEWS_LIFETIME - timedelta(minutes=1))
    assert [a.kind for a in await fire(services)] == [V_CLOSES]
    [message] = messages(telegram, start, KIM.id)
    assert "시민 투표가 마감되었습니다" in message.text
    rows = await plan(services, campaign)
    assert rows[(V_OPENS, VOTING_OPENS)] == "skipped"  # voting is over: no longer true
    assert rows[(REMINDER, REMINDER_24H)] == "skipped"
    assert rows[(REMINDER, REMINDER_1H)] == "skipped"


async def test_a_restarted_bot_fires_what_came_due_while_it_was_down(db, services, campaign,
                                                                     clock):
    async with offline_bot(services, clock) as first_life:
        await subscribe(first_life, KIM)
        await subscribe(first_life, SMITH)
    clock.set(VOTING_OPENS + timedelta(hours=2))

    database = Database(db.url)  # a new process: new objects over the same file
    try:
        revived = Services.create(database, clock)
        async with offline_bot(revived, clock) as second_life:
            scheduler = Scheduler(revived)
            await scheduler.start()
            await revived.broadcaster.idle()
            await scheduler.stop()
    finally:
        await database.dispose()
    assert not any("시민 투표가 시작" in (c.text or "") for c in messages(first_life))
    received = Counter(c.chat_id for c in messages(second_life))
    assert received == {KIM.id: 1, SMITH.id: 1}
    assert "Citizen voting is open!" in messages(second_life, 0, SMITH.id)[0].text
    assert (await plan(services, campaign))[(V_OPENS, VOTING_OPENS)] == "sent"


# --- the voting window does not wait for announcements ------------------------------------


async def test_a_vote_one_second_after_the_close_is_refused_before_the_announcement(
    telegram, services, campaign, clock
):
    case = await case_id(services, campaign, "case-2")
    clock.set(VOTING_CLOSES - timedelta(minutes=1))
    await telegram.send(KIM, f"/start case_{case}")
    await telegram.press(KIM, "투표하기")
    clock.set(VOTING_CLOSES + SECOND)
    assert (await plan(services, campaign))[(V_CLOSES, VOTING_CLOSES)] == "planned"
    calls = await telegram.press(KIM, "네, 투표합니다")
    edit = next(c for c in calls if c.method == "editMessageText")
    assert "투표는 <b>12월 1일(일) 18:00</b>에 마감되었습니다." in edit.text
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    result = await services.voting.cast_vote(campaign, kim, case)
    assert result.outcome is VoteOutcome.CLOSED
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(votes)) == 0
    assert (await plan(services, campaign))[(V_CLOSES, VOTING_CLOSES)] == "planned"


# --- the announce chat and the admins -----------------------------------------------------


async def test_the_announce_chat_gets_announcements_with_a_link_but_no_reminders(
    db, clock, campaign
):
    services = Services.create(db, clock,
                               announce_chat=AnnounceChat("telegram", str(ANNOUNCE_CHAT), "ko"))
    async with offline_bot(services, clock) as telegram:
        await subscribe(telegram, SMITH)
        start = len(telegram.request.calls)
        for instant in (VOTING_OPENS, REMINDER_24H, VOTING_CLOSES):
            clock.set(instant + SECOND)
            await fire(services)
        in_chat = messages(telegram, start, ANNOUNCE_CHAT)
        assert len(in_chat) == 2
        opens, closes = in_chat
        assert "시민 투표가 시작되었습니다!" in opens.text
        assert "시민 투표가 마감되었습니다" in closes.text
        for message in in_chat:
            [button] = message.buttons()
            assert button == {"text": "🤖 참여봇 열기",
                              "url": "https://t.me/chamyeo_test_bot?start=menu"}
        # the subscriber got all three, the reminder included
        assert len(messages(telegram, start, SMITH.id)) == 3
        # the deep link opens the main menu
        calls = await telegram.send(LEE, "/start menu")
        assert "시험 공모 2024" in calls[0].text
    async with db.read() as conn:
        chat_rows = (await conn.execute(
            sa.select(deliveries.c.citizen_id, deliveries.c.status)
            .where(deliveries.c.address == str(ANNOUNCE_CHAT)))).all()
    assert chat_rows == [(None, "sent"), (None, "sent")]


async def test_admins_get_a_summary_after_each_broadcast(db, clock, campaign):
    services = Services.create(db, clock)
    settings = Settings(_env_file=None, chamyeo_admin_ids=(5,))
    async with offline_bot(services, clock, settings) as telegram:
        await subscribe(telegram, KIM)
        await subscribe(telegram, SMITH)
        await subscribe(telegram, LEE)
        telegram.request.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
        start = len(telegram.request.calls)
        clock.set(VOTING_OPENS + SECOND)
        await fire(services)
        [summary] = messages(telegram, start, 5)
        assert messages(telegram, start)[-1] is summary  # after every delivery
        assert summary.text.startswith("📣 <b>발송 완료</b>: 투표 시작\n")
        assert "보냄 2 · 차단 1 · 실패 0 · 불확실 0" in summary.text
        assert summary.params["parse_mode"] == "HTML"

        start = len(telegram.request.calls)
        clock.set(REMINDER_24H + SECOND)
        await fire(services)
        [summary] = messages(telegram, start, 5)
        assert "투표 마감 전 알림" in summary.text and "보냄 2 · 차단 0" in summary.text


async def test_results_are_announced_on_demand_once_to_every_subscriber(
    telegram, services, campaign, clock
):
    """Not on the calendar: staff publishing results calls announce_now."""
    await subscribe(telegram, KIM)
    await subscribe(telegram, SMITH)
    clock.set(datetime(2024, 12, 9, 15, 0, tzinfo=SEOUL))
    start = len(telegram.request.calls)
    await services.announcements.announce_now(campaign, AnnouncementKind.RESULTS)
    await services.broadcaster.idle()
    sent = messages(telegram, start)
    assert sorted(m.chat_id for m in sent) == [KIM.id, SMITH.id]
    texts = {m.chat_id: m.text for m in sent}
    assert texts[KIM.id] == "🏆 <b>시험 공모 2024</b>\n결과가 발표되었습니다."
    assert texts[SMITH.id] == "🏆 <b>Test competition 2024</b>\nThe results are out."
    rows = await services.announcements.plan(campaign)
    assert [(a.kind, a.status) for a in rows if a.kind is AnnouncementKind.RESULTS] == [
        (AnnouncementKind.RESULTS, "sent")]
    assert await fire(services) == []  # recorded as sent: no tick sends it again

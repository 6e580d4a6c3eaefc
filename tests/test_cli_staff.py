"""The staff's command line for a city without a staff chat (KakaoTalk only): `chamyeo cases
list|show|approve|reject|hide` and `chamyeo results preview|publish`, run in-process with
`main([...])` on the test run's backend (SQLite, or PostgreSQL with
CHAMYEO_TEST_DATABASE_URL). The same services as the chat's staff commands, so the same
refusals and audit entries (actor `cli:<login name>`); the notices and the results
announcement they write are only recorded here (this process has no channel), and the
leader of the running bot sends them, once."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.cli import main
from bot.clock import SettableClock
from bot.domain import CASE_NOTICE_KIND
from bot.i18n import format_when
from bot.scheduler import Scheduler
from bot.services import Services
from bot.services.broadcasts import Broadcaster, SendResult, SendStatus
from bot.staff_cli import printable, table, width
from handlers.kakao.events import KakaoEventSender
from storage.database import Database
from storage.tables import audit_log, broadcasts, cases, deliveries
from tests.conftest import small_campaign
from tests.test_case_notices import submit
from tests.test_cli_settings import SETTING_PREFIXES
from tests.test_kakao_events import BOT_ID, EVENT, KEY, event_api_server

LOGIN = "moderator-kim"
ACTOR = f"cli:{LOGIN}"
SLUG = "test-2024"
REASON = "개인정보 & <b>전화번호</b>가 보여요 </i> &amp; 다시 보내 주세요"
KO_USER, EN_USER, TG_USER = "kakao-user-ko", "kakao-user-en", "4242"


@pytest.fixture
def clock() -> SettableClock:
    """The wall clock's time: the command runs on the system clock (the test campaign's
    voting closed in 2024), and the running bot's deliveries must be due when it looks."""
    return SettableClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def env(monkeypatch, tmp_path, database_url):
    """The command's environment: only the database, and a login name for the audit log."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CHAMYEO_DATABASE_URL", database_url)
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, LOGIN)
    return monkeypatch


@pytest.fixture
def chamyeo(env, capsys):
    """`chamyeo ARGS...` in-process (in a thread: it runs its own event loop): exit status,
    stdout and stderr."""

    async def run(*args: str) -> tuple[int, str, str]:
        code = await asyncio.to_thread(main, list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return run


@pytest.fixture
async def stub():
    async with event_api_server() as api:
        yield api


@pytest.fixture
async def kakao(stub):
    sender = KakaoEventSender(stub.url, BOT_ID, KEY, EVENT)
    yield sender
    await sender.close()


async def chat_cases(services: Services, campaign, clock: SettableClock) -> dict[str, int]:
    """Three cases sent in by chat, a minute apart: two on KakaoTalk, one on Telegram."""
    ids = {}
    for user, channel, language, title in ((KO_USER, "kakao", "ko", "골목 화단"),
                                           (EN_USER, "kakao", "en", "경로당 점심"),
                                           (TG_USER, "telegram", "ko", "마을 책방")):
        citizen = await services.citizens.identify(channel, user, language)
        ids[title] = await submit(services, campaign, citizen, title)
        clock.advance(timedelta(minutes=1))
    return ids


async def status_of(db: Database, case_id: int) -> tuple[str, str | None]:
    async with db.read() as conn:
        row = (await conn.execute(sa.select(cases.c.status, cases.c.status_reason)
                                  .where(cases.c.id == case_id))).one()
    return row[0], row[1]


async def audit_rows(db: Database) -> list[tuple[str, str, dict]]:
    async with db.read() as conn:
        rows = await conn.execute(sa.select(audit_log.c.actor, audit_log.c.action,
                                            audit_log.c.detail).order_by(audit_log.c.id))
        return [(a, b, c) for a, b, c in rows]


async def delivery_rows(db: Database) -> list[dict]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(broadcasts.c.id, broadcasts.c.kind, broadcasts.c.status.label("broadcast"),
                      deliveries.c.channel, deliveries.c.address, deliveries.c.status,
                      deliveries.c.attempts, deliveries.c.claimed_by, deliveries.c.error)
            .join(deliveries, deliveries.c.broadcast_id == broadcasts.c.id)
            .order_by(deliveries.c.id))
        return [dict(r) for r in rows.mappings()]


# --- cases list and show ------------------------------------------------------------------


async def test_list_is_the_queue_oldest_first_with_channels_and_no_chat_ids(
        services, campaign, clock, chamyeo):
    ids = await chat_cases(services, campaign, clock)
    code, out, err = await chamyeo("cases", "list", "--campaign", SLUG)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["id", "reference", "status", "district", "title",
                                "organisation", "entered", "channel"]
    rows = lines[1:4]
    assert [row.split()[0] for row in rows] == [str(ids["골목 화단"]), str(ids["경로당 점심"]),
                                                str(ids["마을 책방"])]
    first = rows[0]
    for part in ("REF-골목 화단", "submitted", "동구", "골목 화단", "효동 협의체", "kakao"):
        assert part in first
    assert rows[2].endswith("telegram")
    assert lines[4] == "3 case(s) waiting for a decision, oldest first; times in Asia/Seoul"
    for chat_id in (KO_USER, EN_USER, TG_USER):
        assert chat_id not in out
    # Aligned: every column starts at the same display column on every row.
    starts = {width(line[:line.index("kakao")]) for line in rows[:2]}
    assert len(starts) == 1

    code, out, _ = await chamyeo("cases", "list", "--campaign", SLUG, "--status", "approved")
    assert code == 0
    assert len(out.splitlines()) == 1 + 10 + 1  # the ten cases from the campaign file
    assert all(line.endswith("file") for line in out.splitlines()[1:11])
    assert "사례 제목 01번" in out

    code, out, _ = await chamyeo("cases", "list", "--campaign", SLUG, "--status", "rejected")
    assert (code, out) == (0, "no rejected cases in test-2024\n")
    code, out, _ = await chamyeo("cases", "list", "--campaign", SLUG, "--status", "withdrawn")
    assert (code, out) == (0, "no withdrawn cases in test-2024\n")


async def test_show_is_the_whole_case(services, campaign, clock, chamyeo):
    ids = await chat_cases(services, campaign, clock)
    code, out, err = await chamyeo("cases", "show", "--campaign", SLUG, str(ids["골목 화단"]))
    assert (code, err) == (0, "")
    for part in (f"case:           {ids['골목 화단']} · reference REF-골목 화단 · submitted",
                 "title:          골목 화단", "organisation:   효동 협의체",
                 "district:       동구 · 효동", "category:       돌봄",
                 "sent in by chat (kakao)", "summary:\n골목 화단 요약", "body:\n골목 화단 본문",
                 "in English: 골목 화단 (en)",
                 f"decide: chamyeo cases approve --campaign {SLUG} {ids['골목 화단']}"):
        assert part in out, part
    assert KO_USER not in out
    assert "staff's reason" not in out
    assert "contact:" not in out  # none was left
    async with services.db.write() as conn:
        await conn.execute(cases.update().where(cases.c.id == ids["골목 화단"])
                           .values(contact="010-1234-5678"))
    _, out, _ = await chamyeo("cases", "show", "--campaign", SLUG, str(ids["골목 화단"]))
    assert "contact:        010-1234-5678" in out  # for staff to call back


async def test_typed_text_cannot_drive_the_terminal():
    assert printable("골목\x1b[2J화단\n둘째 줄\u202e") == "골목\\x1b[2J화단\n둘째 줄\\u202e"
    assert printable("a\nb", keep_newlines=False) == "a\\x0ab"
    assert table([["id", "title"], ["1", "골목"], ["22", "x"]]) == [
        "id  title", "1   골목", "22  x"]


# --- decisions ----------------------------------------------------------------------------


async def test_decisions_refusals_and_the_audit_log(services, campaign, clock, chamyeo):
    ids = await chat_cases(services, campaign, clock)
    garden, lunch, books = ids["골목 화단"], ids["경로당 점심"], ids["마을 책방"]

    code, out, err = await chamyeo("cases", "approve", "--campaign", SLUG, str(garden))
    assert (code, err) == (0, "")
    assert out.startswith(f"case {garden} approved; the running bot tells the submitter on "
                          "kakao (notice ")
    code, out, err = await chamyeo("cases", "reject", "--campaign", SLUG, str(lunch),
                                   "--reason", REASON)
    assert (code, err) == (0, "")
    assert out.startswith(f"case {lunch} rejected; the running bot tells the submitter")
    assert await status_of(services.db, lunch) == ("rejected", REASON)  # exactly as typed
    _, shown, _ = await chamyeo("cases", "show", "--campaign", SLUG, str(lunch))
    assert f"staff's reason: {REASON}" in shown

    # A case from the campaign file: hidden, nobody to tell, votes stay.
    async with services.db.read() as conn:
        file_case = await conn.scalar(sa.select(cases.c.id).where(
            cases.c.campaign_id == campaign.id, cases.c.key == "case-1"))
    code, out, err = await chamyeo("cases", "hide", "--campaign", SLUG, str(file_case),
                                   "--reason", "중복 사례 <확인>")
    assert (code, err) == (0, "")
    assert out == (f"case {file_case} hidden (its votes stay recorded); from the campaign "
                   "file, so there is no submitter to tell\n")

    refusals = [
        (("approve", str(garden)), 1,
         f"chamyeo: case {garden} was already decided: it is approved; nothing changed"),
        (("reject", str(garden), "--reason", "늦었어요"), 1,
         f"chamyeo: case {garden} was already decided: it is approved; nothing changed"),
        (("hide", str(file_case), "--reason", "또"), 1,
         f"chamyeo: case {file_case} is hidden, not approved: only an approved case can be "
         "hidden; nothing changed"),
        (("reject", str(books), "--reason", "   "), 1,
         "chamyeo: bad reason: it must be 1–300 characters (it has 0); nothing changed"),
        (("reject", str(books), "--reason", "가" * 301), 1,
         "chamyeo: bad reason: it must be 1–300 characters (it has 301); nothing changed"),
        (("approve", "99999"), 1,
         "chamyeo: unknown case: no case 99999 in test-2024; nothing changed"),
        (("approve", "99999999999999"), 1,
         "chamyeo: unknown case: no case 99999999999999 in test-2024; nothing changed"),
        (("approve", "12a"), 2,
         "chamyeo: a case id is a number, as `chamyeo cases list` shows it, not '12a'"),
        (("show", "-1"), 2, None),  # argparse: an option it does not know
    ]
    for args, status, line in refusals:
        action, *rest = args
        code, out, err = await chamyeo("cases", action, "--campaign", SLUG, *rest)
        assert (code, out) == (status, ""), args
        if line is not None:
            assert err.splitlines() == [line], args
    code, out, err = await chamyeo("cases", "approve", "--campaign", "no-such", str(books))
    assert (code, out, err.splitlines()) == (
        1, "", ["chamyeo: no campaign 'no-such' (known: test-2024)"])
    code, out, err = await chamyeo("cases", "show", "--campaign", SLUG, "99999")
    assert (code, err.splitlines()) == (1, ["chamyeo: no case 99999 in test-2024"])
    assert await status_of(services.db, books) == ("submitted", None)  # nothing changed

    decided = [(a, action, d) for a, action, d in await audit_rows(services.db)
               if action.startswith("case.")]
    assert [(a, action, d["case_id"], d["before"], d["after"], d.get("reason"))
            for a, action, d in decided] == [
        (ACTOR, "case.approved", garden, "submitted", "approved", None),
        (ACTOR, "case.rejected", lunch, "submitted", "rejected", REASON),
        (ACTOR, "case.hidden", file_case, "approved", "hidden", "중복 사례 <확인>"),
    ]


async def test_an_unreachable_database_is_one_line(env, chamyeo, tmp_path):
    missing = tmp_path / "no" / "such"
    env.setenv("CHAMYEO_DATABASE_URL", f"sqlite+aiosqlite:///{missing / 'x.db'}")
    code, out, err = await chamyeo("cases", "list", "--campaign", SLUG)
    assert (code, out) == (2, "")
    [line] = err.splitlines()
    assert "cannot reach the database" in line and str(missing) in line


# --- the notices are recorded here and sent by the running bot ---------------------------


async def test_notices_are_only_recorded_and_the_running_bots_leader_sends_them_once(
        services, campaign, clock, chamyeo, stub, kakao):
    ids = await chat_cases(services, campaign, clock)
    for title in ("골목 화단", "경로당 점심", "마을 책방"):
        code, _, _ = await chamyeo("cases", "approve", "--campaign", SLUG, str(ids[title]))
        assert code == 0

    # The command sent nothing and marked nothing: every notice waits, unclaimed.
    rows = await delivery_rows(services.db)
    assert [(r["kind"], r["broadcast"], r["channel"], r["address"], r["status"], r["attempts"],
             r["claimed_by"], r["error"]) for r in rows] == [
        (CASE_NOTICE_KIND, "running", "kakao", KO_USER, "pending", 0, None, None),
        (CASE_NOTICE_KIND, "running", "kakao", EN_USER, "pending", 0, None, None),
        (CASE_NOTICE_KIND, "running", "telegram", TG_USER, "pending", 0, None, None),
    ]
    assert stub.calls == []

    # The running bot (another process's services, with the KakaoTalk sender): its scheduler
    # tick resumes the unfinished broadcasts and sends each notice once.
    services.broadcaster.register("kakao", kakao)
    telegram_sent: list[str] = []

    class TelegramStandIn:
        async def send(self, delivery, broadcast, campaign, handover):
            await handover()
            telegram_sent.append(delivery.address)
            return SendResult(SendStatus.SENT)

    services.broadcaster.register("telegram", TelegramStandIn())
    scheduler = Scheduler(services)
    await scheduler.tick()
    await services.broadcaster.idle()
    await scheduler.tick()  # a second tick finds nothing left to send
    await services.broadcaster.idle()

    assert stub.delivered() == {KO_USER: 1, EN_USER: 1}
    assert len(stub.calls) == 2
    assert telegram_sent == [TG_USER]
    assert [(r["broadcast"], r["status"]) for r in await delivery_rows(services.db)] == [
        ("done", "sent")] * 3


async def test_a_record_only_broadcaster_runs_nothing(services, campaign, clock):
    citizen = await services.citizens.identify("kakao", KO_USER, "ko")
    recorder = Broadcaster(services.db, clock, record_only=True)
    cli_services = Services.create(services.db, clock, broadcaster=recorder)
    case_id = await submit(services, campaign, citizen, "골목 화단")
    result = await cli_services.moderation.approve(campaign, case_id, ACTOR)
    assert result.notice_id is not None
    assert recorder.start(result.notice_id) is None
    assert await recorder.resume(exclusive=True) == []
    assert [r["status"] for r in await delivery_rows(services.db)] == ["pending"]


# --- results ------------------------------------------------------------------------------


async def test_results_preview_publish_and_its_guards(services, campaign, clock, chamyeo,
                                                      stub, kakao):
    fan = await services.citizens.identify("kakao", KO_USER, "ko")
    await services.subscriptions.set(campaign, fan, True)

    code, out, err = await chamyeo("results", "preview", "--campaign", SLUG)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "📊 시험 공모 2024 결과 미리 보기"
    assert "<b>" not in out and len([ln for ln in lines if ln[:1].isdigit()]) == 10
    code, out, _ = await chamyeo("results", "preview", "--campaign", SLUG, "--language", "en")
    assert code == 0 and out.startswith("📊 Test competition 2024: results preview\n")

    # Voting not closed yet: refused, nothing written.
    future = small_campaign(slug="future-2099", phases={
        "submission": {"start": "2099-10-07T09:00", "end": "2099-11-24T18:00"},
        "voting": {"start": "2099-11-28T09:00", "end": "2099-12-01T18:00"},
        "review": {"start": "2099-12-02T09:00", "end": "2099-12-06T18:00"},
        "awards": {"at": "2099-12-09T14:00"}})
    await services.campaigns.load(parse_campaign(future))
    code, out, err = await chamyeo("results", "publish", "--campaign", "future-2099")
    assert (code, out) == (1, "")
    closes = format_when(datetime(2099, 12, 1, 9, tzinfo=UTC), "Asia/Seoul", "en")
    assert err.splitlines() == [
        f"chamyeo: too early: voting has not closed yet (it closes {closes} (Asia/Seoul)); "
        "the results of future-2099 cannot be published"]
    assert await delivery_rows(services.db) == []

    # No judge has scored: refused, with the count and the flag that overrides.
    code, out, err = await chamyeo("results", "publish", "--campaign", SLUG)
    assert (code, out) == (1, "")
    assert err.splitlines()[:2] == [
        "chamyeo: judging incomplete: 10 approved cases have no judge's score; the results of "
        f"{SLUG} were not published (to publish anyway: --incomplete-ok)",
        "chamyeo: ⚠️ 10 of 10 approved cases have no judge's score yet. Published now, they "
        "would be ranked with 0 judge points."]
    assert "Case title 01" in err.splitlines()[2]  # the unscored cases by name
    assert await delivery_rows(services.db) == []
    assert [a for a in await audit_rows(services.db) if a[1] == "results.published"] == []

    code, out, err = await chamyeo("results", "publish", "--campaign", SLUG, "--incomplete-ok")
    assert (code, err) == (0, "")
    assert out.startswith(f"results of {SLUG} published at ")
    assert "with 10 approved cases unscored by the judges" in out
    assert "announced by the running bot to the subscribers" in out
    code, out, err = await chamyeo("results", "publish", "--campaign", SLUG)
    assert (code, out) == (1, "")
    assert err.startswith(f"chamyeo: already published: the results of {SLUG} were published "
                          "at ") and err.endswith("; not publishing again\n")
    code, out, _ = await chamyeo("results", "preview", "--campaign", SLUG)
    assert out.splitlines()[2].startswith("발표됨: ")

    published = [(a, action) for a, action, _ in await audit_rows(services.db)
                 if action == "results.published"]
    assert published == [(ACTOR, "results.published")]
    [detail] = [d for _, action, d in await audit_rows(services.db)
                if action == "results.published"]
    assert (detail["incomplete_ok"], detail["unscored"]) == (True, 10)
    rows = await delivery_rows(services.db)
    assert [(r["kind"], r["address"], r["status"], r["claimed_by"]) for r in rows] == [
        ("results", KO_USER, "pending", None)]

    services.broadcaster.register("kakao", kakao)
    await Scheduler(services).tick()
    await services.broadcaster.idle()
    assert stub.delivered() == {KO_USER: 1}
    assert [r["status"] for r in await delivery_rows(services.db)] == ["sent"]


def test_a_reader_that_stops_early_is_not_a_database_error(capsys, monkeypatch):
    """`chamyeo cases list | head`: the rest of the output has nowhere to go. Not "cannot
    reach the database: Broken pipe", not a traceback: status 1 and nothing said."""
    import builtins

    import bot.cli
    from bot.staff_cli import OutputClosed, say

    def closed(*args, **kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    with monkeypatch.context() as m:
        m.setattr(builtins, "print", closed)
        with pytest.raises(OutputClosed):
            say("1  REF  submitted")

    def listing() -> int:
        raise OutputClosed

    assert bot.cli._unless_unreachable("sqlite+aiosqlite:///x.db", listing) == 1
    assert capsys.readouterr() == ("", "")

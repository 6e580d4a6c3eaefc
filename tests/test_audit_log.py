"""The audit log under a flood: one person's refused staff commands within a minute are one
entry that counts them (an atomic upsert, so several workers count each press once), /audit
shows "×N" and keeps staff's own entries in view, and `/audit <kind>` narrows the list."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from bot.i18n import catalog, plain
from bot.services.audit_log import AUDIT_KINDS
from storage.database import Database
from storage.tables import audit_log
from tests.test_staff_roles import ADMIN, KIM, LEE

ROOT = Path(__file__).resolve().parent.parent
FLOOD = 2000  # presses by one citizen within one minute
THROUGH_THE_BOT = 50  # of which these go through the real Application, the rest to the service


async def audit_rows(db) -> list[dict]:
    async with db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))
        return [dict(r) for r in rows.mappings()]


async def refusals(db) -> list[dict]:
    return [r for r in await audit_rows(db) if r["action"] == "staff.refused"]


async def test_a_flood_of_refused_presses_is_one_counted_entry(staffbot, services, clock,
                                                               campaign):
    await staffbot.send(LEE, "/start")
    await staffbot.send(ADMIN, "/grant @lee_judge judge")
    minute = clock.now()  # 14:00:00 Seoul
    clock.advance(timedelta(seconds=5))
    for _ in range(THROUGH_THE_BOT):
        await staffbot.send(KIM, "/admin")
    for n in range(FLOOD - THROUGH_THE_BOT):
        await services.staff.refuse("telegram", str(KIM.id), f"/admin {n}")
        if n % 100 == 0:
            clock.advance(timedelta(milliseconds=500))  # still before 14:01
    assert clock.now() < minute + timedelta(minutes=1)  # the whole flood is within 14:00

    [row] = await refusals(services.db)
    assert row["actor"] == f"telegram:{KIM.id}" and row["repeats"] == FLOOD
    assert row["detail"] == {"attempt": "/admin"}  # the minute's first attempt
    assert len(await audit_rows(services.db)) == 3  # campaign.loaded, staff.granted, this

    calls = await staffbot.send(ADMIN, "/audit")
    text = calls[-1].text
    assert len(text) <= 4096
    # Sentences: who (by @username, else channel and number), what, when (Seoul time).
    assert (f"<b>텔레그램 사용자 {KIM.id}</b>\n   권한 없는 운영 명령 시도: /admin ×2,000"
            in text)
    assert "<b>@boss</b>\n   @lee_judge 님께 역할 부여: 심사위원" in text
    assert "<b>서버 명령줄</b>\n   공모 파일 올림: 사례 추가 10건" in text
    assert "telegram:" not in text and "staff.refused" not in text
    # how to narrow the list, in the reader's words
    assert "/audit 운영진 · 거절 · 투표 · 사례 · 일정" in text and "/audit 도움말" in text


async def test_refusals_in_two_minutes_are_two_entries(staffbot, services, clock, campaign):
    clock.set(clock.now().replace(second=59, microsecond=900_000))
    for _ in range(3):
        await staffbot.send(KIM, "/tally")
    clock.advance(timedelta(milliseconds=100))  # the next minute, to the microsecond
    for _ in range(2):
        await staffbot.send(KIM, "/tally")
    await staffbot.send(LEE, "/tally")  # another person: an entry of their own
    rows = await refusals(services.db)
    assert [(r["actor"], r["repeats"]) for r in rows] == [
        (f"telegram:{KIM.id}", 3), (f"telegram:{KIM.id}", 2), (f"telegram:{LEE.id}", 1)]
    assert rows[1]["at"] - rows[0]["at"] == timedelta(milliseconds=100)

    calls = await staffbot.send(ADMIN, "/audit refused")
    text = calls[-1].text
    assert text.startswith("🧾 <b>감사 기록 · 거절된 운영 명령</b>: 최근 3건")
    lines = [line for line in text.splitlines() if "권한 없는 운영 명령 시도" in line]
    assert [line.rsplit("/tally", 1)[1] for line in lines] == ["", " ×2", " ×3"]  # newest first


async def test_workers_sharing_the_database_count_every_press_once(database_url, services,
                                                                   clock):
    # Two Database objects are two workers: two connection pools, no shared Python lock.
    other = Database(database_url)
    try:
        presses = 60
        await asyncio.gather(*[_refuse(services.db if n % 2 else other, clock, n)
                               for n in range(presses)])
    finally:
        await other.dispose()
    [row] = await refusals(services.db)
    assert row["repeats"] == presses


async def _refuse(db: Database, clock, n: int) -> None:
    from bot.services.staff import StaffService

    await StaffService(db, clock).refuse("telegram", str(KIM.id), f"/admin {n}")


async def test_audit_by_kind(staffbot, services, clock, campaign):
    await staffbot.send(LEE, "/start")
    await staffbot.send(ADMIN, "/grant @lee_judge judge")
    citizen = await services.citizens.identify("telegram", str(KIM.id), "ko")
    listed = await services.tally.tally(campaign)
    first, second = (count.case.id for count in listed.cases[:2])
    assert (await services.voting.cast_vote(campaign, citizen, first)).stored
    assert (await services.voting.cast_vote(campaign, citizen, second)).stored  # vote.changed
    for n in range(30):  # 30 people, one refusal each: 30 entries
        await services.staff.refuse("telegram", str(5000 + n), "/admin")

    everything = (await staffbot.send(ADMIN, "/audit"))[-1].text
    assert "역할 부여" not in everything  # pushed out by 30 people's refusals...
    staff = (await staffbot.send(ADMIN, "/audit staff"))[-1].text
    assert staff.startswith("🧾 <b>감사 기록 · 운영진 활동</b>: 최근 2건")
    assert "역할 부여" in staff and "공모 파일 올림" in staff  # ...not out of this view
    assert "권한 없는" not in staff and "투표 옮김" not in staff

    votes = (await staffbot.send(ADMIN, "/audit VOTES"))[-1].text
    assert f"<b>시민 (익명 번호 {citizen.id})</b>" in votes
    assert f"투표 옮김: 사례 #{first} → 사례 #{second}" in votes
    assert "역할" not in votes and "권한 없는" not in votes
    roles = (await staffbot.send(ADMIN, "/audit roles"))[-1].text
    assert "역할 부여: 심사위원" in roles and "공모 파일" not in roles
    assert (await staffbot.send(ADMIN, "/audit broadcasts"))[-1].text == (
        "전체 공지 기록이 없습니다.")

    # the Korean word for a kind works as the English one does
    assert (await staffbot.send(ADMIN, "/audit 역할"))[-1].text == roles
    assert (await staffbot.send(ADMIN, "/audit ROLES"))[-1].text == roles

    for wrong in ("/audit everything", "/audit help", "/audit 도움말", "/audit staff votes"):
        usage = (await staffbot.send(ADMIN, wrong))[-1].text
        assert usage.startswith("쓰는 법: /audit"), wrong
        words = [plain("ko", f"staff.audit.word.{kind}") for kind in AUDIT_KINDS]
        assert all(f"<code>/audit {word}</code>" in usage for word in words)

    # Refused to anyone else, kind or not, like every staff command.
    calls = await staffbot.send(KIM, "/audit staff")
    assert "감사 기록" not in calls[-1].text


async def test_audit_stays_within_telegrams_limit_with_long_entries(staffbot, services,
                                                                     clock, campaign):
    for n in range(40):  # a minute apart: 40 entries, each with a long detail
        await staffbot.send(KIM, f"/grant {n} admin " + "x" * 150)
        clock.advance(timedelta(minutes=1))
    for kind in ("", " refused"):
        text = (await staffbot.send(ADMIN, "/audit" + kind))[-1].text
        assert len(text) <= 4096
        assert 10 <= text.count("권한 없는 운영 명령 시도") <= 20


def test_every_recorded_action_has_a_kind():
    """Each action name a service records is in some /audit kind, and each kind is explained
    in both catalogs."""
    literal = re.compile(r'"([a-z]+\.[a-z_]+)"')
    recorded = set()
    for path in (ROOT / "bot" / "services").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "AuditRepository" in text:
            recorded |= {name for name in literal.findall(text)
                         if name.split(".")[0] in {"vote", "staff", "case", "campaign",
                                                   "results", "phase", "score", "broadcast"}}
    assert {"staff.refused", "vote.changed", "case.hidden", "score.set"} <= recorded
    kinds = set().union(*AUDIT_KINDS.values())
    assert recorded - kinds == set()
    for language in ("ko", "en"):
        texts = catalog(language)
        for kind in AUDIT_KINDS:
            assert f"staff.audit.kind.{kind}" in texts and f"staff.audit.about.{kind}" in texts


def test_the_readme_names_every_kind():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"`{kind}`" in readme for kind in AUDIT_KINDS)

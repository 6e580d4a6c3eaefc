"""The submitter of a case sent in by chat is told of staff's decision (approved, rejected,
hidden) in their channel and language, through the broadcaster: written with the decision in
one transaction, sent once (a restart neither loses nor repeats it), staff's reason exactly as
typed, and no delivery summary for the admins. Kakao users get it from the Event API (a local
stub, as in tests/test_kakao_events.py), Telegram users from the offline Bot API."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from bot.domain import CASE_NOTICE_KIND, Case, CaseNotice, CaseStatus, CaseText, Citizen, Text
from bot.i18n import plain
from bot.services import Services
from bot.services.broadcasts import Broadcaster, BroadcastSummary
from bot.services.moderation import ModerationOutcome
from handlers.kakao.events import KakaoEventSender, event_text
from handlers.telegram.offline import TelegramUser
from storage.database import Database
from storage.repositories import BroadcastRepository, CaseRepository
from storage.tables import audit_log, broadcasts, cases, deliveries
from tests.conftest import ADMIN
from tests.test_kakao_events import BOT_ID, EVENT, KEY, event_api_server

REASON = "사진에 얼굴이 보여요 & <b>개인정보</b>가 </i>있습니다 &amp; 다시 보내 주세요"
KO_USER, EN_USER = "kakao-user-ko", "kakao-user-en"
KIM = TelegramUser(1001, "김순자", "ko")


@pytest.fixture
async def stub():
    async with event_api_server() as api:
        yield api


@pytest.fixture
async def kakao(stub):
    sender = KakaoEventSender(stub.url, BOT_ID, KEY, EVENT)
    yield sender
    await sender.close()


async def submit(services: Services, campaign, citizen: Citizen, title: str,
                 english: bool = True) -> int:
    """A case as the chat submission leaves it: submitted, with its submitter."""
    case = Case(id=0, campaign_id=campaign.id, key=f"REF-{title}", status=CaseStatus.SUBMITTED,
                district="dong", neighbourhood="효동", category="care",
                ko=CaseText(title, f"{title} 요약", f"{title} 본문", "효동 협의체"),
                en=CaseText(f"{title} (en)", "Summary", "Body", "Hyo-dong council")
                if english else None)
    async with services.db.write() as conn:
        return await CaseRepository(conn).insert(case, "chat", services.clock.now(),
                                                 submitter_id=citizen.id)


async def notice_rows(db: Database) -> list[dict]:
    async with db.read() as conn:
        rows = await conn.execute(
            sa.select(broadcasts.c.id, broadcasts.c.kind, broadcasts.c.payload,
                      broadcasts.c.status, deliveries.c.citizen_id, deliveries.c.channel,
                      deliveries.c.address, deliveries.c.language,
                      deliveries.c.status.label("delivery"))
            .join(deliveries, deliveries.c.broadcast_id == broadcasts.c.id)
            .where(broadcasts.c.kind == CASE_NOTICE_KIND).order_by(broadcasts.c.id))
        return [dict(r) for r in rows.mappings()]


def collect_summaries(services: Services) -> list[BroadcastSummary]:
    summaries: list[BroadcastSummary] = []

    async def listener(summary: BroadcastSummary) -> None:
        summaries.append(summary)

    services.broadcaster.on_finished(listener)
    return summaries


# --- KakaoTalk ----------------------------------------------------------------------------


async def test_kakao_submitters_are_told_each_decision_once_in_their_language(
        services, campaign, stub, kakao):
    services.broadcaster.register("kakao", kakao)
    summaries = collect_summaries(services)
    korean = await services.citizens.identify("kakao", KO_USER, "ko")
    english = await services.citizens.identify("kakao", EN_USER, "en")
    approved = await submit(services, campaign, korean, "골목 화단")
    rejected = await submit(services, campaign, english, "경로당 점심")

    result = await services.moderation.approve(campaign, approved, "telegram:9001")
    assert result.outcome is ModerationOutcome.DONE and result.notice_id is not None
    assert (await services.moderation.reject(campaign, rejected, "telegram:9001",
                                             REASON)).outcome is ModerationOutcome.DONE
    await services.broadcaster.idle()

    by_user = {call.users[0]: call for call in stub.calls}
    assert len(stub.calls) == 2 and all(len(c.users) == 1 for c in stub.calls)
    assert by_user[KO_USER].text == (
        "✅ 보내 주신 사례 「골목 화단」이 승인되었습니다. 이제 시험 공모 2024에서 시민들이 "
        "볼 수 있습니다.\n접수번호 REF-골목 화단")
    assert by_user[EN_USER].text == (
        "Your case “경로당 점심 (en)” was not accepted for Test competition 2024.\n"
        f"Reason: {REASON}\nReference REF-경로당 점심")
    assert {c.body["event"]["name"] for c in stub.calls} == {EVENT}
    assert stub.delivered() == {KO_USER: 1, EN_USER: 1}

    rows = await notice_rows(services.db)
    assert [(r["citizen_id"], r["channel"], r["address"], r["language"], r["delivery"],
             r["status"]) for r in rows] == [
        (korean.id, "kakao", KO_USER, "ko", "sent", "done"),
        (english.id, "kakao", EN_USER, "en", "sent", "done")]
    assert CaseNotice.from_payload(rows[1]["payload"]) == CaseNotice(
        CaseStatus.REJECTED, rejected, "REF-경로당 점심", Text("경로당 점심", "경로당 점심 (en)"),
        REASON)
    assert summaries == []  # nothing for the admins


async def test_hiding_an_approved_kakao_case_tells_its_submitter_too(
        services, campaign, stub, kakao):
    services.broadcaster.register("kakao", kakao)
    korean = await services.citizens.identify("kakao", KO_USER, "ko")
    case_id = await submit(services, campaign, korean, "골목 화단", english=False)
    await services.moderation.approve(campaign, case_id, "telegram:9001")
    # Each notice is a broadcast of its own: two decisions in the same instant may arrive in
    # either order, so this one waits for the first.
    await services.broadcaster.idle()
    await services.moderation.hide(campaign, case_id, "telegram:9001", "  중복 <제출>  ")
    await services.broadcaster.idle()
    assert [c.text for c in stub.calls][-1] == (
        "보내 주신 사례 「골목 화단」이 시험 공모 2024 목록에서 내려졌습니다.\n"
        "이유: 중복 <제출>\n접수번호 REF-골목 화단")
    assert stub.delivered() == {KO_USER: 2}


async def test_an_english_submitter_of_a_case_without_english_gets_the_korean_title(
        services, campaign):
    english = await services.citizens.identify("kakao", EN_USER, "en")
    case_id = await submit(services, campaign, english, "골목 화단", english=False)
    result = await services.moderation.approve(campaign, case_id, "telegram:9001")
    await services.broadcaster.idle()  # no Kakao sender here: rejected, nothing else
    async with services.db.read() as conn:
        notice = await BroadcastRepository(conn).get(result.notice_id)
    assert event_text("en", notice, campaign) == (
        "✅ Your case “골목 화단” has been approved. Citizens can now see it in "
        "Test competition 2024.\nReference REF-골목 화단")


# --- Telegram -----------------------------------------------------------------------------


async def test_a_telegram_submitter_gets_the_notice_as_html_with_a_home_button(
        staffbot, services, campaign):
    summaries = collect_summaries(services)
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    case_id = await submit(services, campaign, kim, "골목 <화단> & 길")
    await services.moderation.reject(campaign, case_id, f"telegram:{ADMIN.id}", REASON)
    await services.broadcaster.idle()

    [told] = [c for c in staffbot.request.calls if c.chat_id == KIM.id]
    assert told.method == "sendMessage" and told.params["parse_mode"] == "HTML"
    escaped = REASON.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert told.text == (
        "보내 주신 사례 「골목 &lt;화단&gt; &amp; 길」은 시험 공모 2024에 실리지 않게 "
        f"되었습니다.\n이유: {escaped}\n접수번호 REF-골목 &lt;화단&gt; &amp; 길")
    assert told.labels() == [plain("ko", "menu.home")]
    # The bootstrap admin hears nothing of it: a notice is not a broadcast to report.
    assert not [c for c in staffbot.request.calls if c.chat_id == ADMIN.id]
    assert summaries == []


async def test_staff_broadcasts_are_still_reported_to_the_admins(staffbot, services, campaign):
    """The other side of "no summary for notices": a staff message still gets its summary."""
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko")
    await services.subscriptions.set(campaign, kim, True)
    await services.staff_broadcasts.send(campaign, "안내", by=f"telegram:{ADMIN.id}")
    await services.broadcaster.idle()
    [summary] = [c for c in staffbot.request.calls if c.chat_id == ADMIN.id]
    assert "발송 완료" in summary.text


# --- once, and with the decision or not at all ----------------------------------------------


async def test_a_decision_refused_creates_no_notice(services, campaign):
    kim = await services.citizens.identify("kakao", KO_USER, "ko")
    case_id = await submit(services, campaign, kim, "골목 화단")
    hidden = await services.moderation.hide(campaign, case_id, "staff", "이유")
    assert hidden.outcome is ModerationOutcome.WRONG_STATUS  # not approved yet
    assert (await services.moderation.reject(campaign, case_id, "staff", "  ")).outcome \
        is ModerationOutcome.BAD_REASON
    assert await notice_rows(services.db) == []

    assert (await services.moderation.approve(campaign, case_id, "staff")).notice_id
    again = await services.moderation.approve(campaign, case_id, "staff")  # a second moderator
    assert again.outcome is ModerationOutcome.WRONG_STATUS and again.notice_id is None
    assert len(await notice_rows(services.db)) == 1


async def test_a_file_case_has_nobody_to_tell(services, campaign):
    result = await services.moderation.hide(campaign, 1, "staff", "중복")
    assert result.outcome is ModerationOutcome.DONE and result.notice_id is None
    assert await notice_rows(services.db) == []


async def test_when_the_notice_cannot_be_written_the_decision_is_not_made_either(
        services, campaign, monkeypatch):
    kim = await services.citizens.identify("kakao", KO_USER, "ko")
    case_id = await submit(services, campaign, kim, "골목 화단")

    async def broken(self, broadcast_id, citizen_id, now):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(BroadcastRepository, "add_citizen", broken)
    with pytest.raises(RuntimeError):
        await services.moderation.reject(campaign, case_id, "staff", "중복")
    async with services.db.read() as conn:
        status = await conn.scalar(sa.select(cases.c.status).where(cases.c.id == case_id))
        audited = await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)
                                    .where(audit_log.c.action == "case.rejected"))
        made = await conn.scalar(sa.select(sa.func.count()).select_from(broadcasts))
    assert (status, audited, made) == ("submitted", 0, 0)


class NotStarting(Broadcaster):
    """A process that stops right after the decision is committed, before the notice goes."""

    def __init__(self, db: Database, clock) -> None:
        super().__init__(db, clock)
        self.never_started: list[int] = []

    def start(self, broadcast_id: int):  # type: ignore[override]
        self.never_started.append(broadcast_id)


async def test_a_notice_left_by_a_stopped_process_goes_out_once_after_restart(
        db, clock, campaign, stub, kakao):
    stopped = Services.create(db, clock, broadcaster=NotStarting(db, clock))
    korean = await stopped.citizens.identify("kakao", KO_USER, "ko")
    case_id = await submit(stopped, campaign, korean, "골목 화단")
    result = await stopped.moderation.reject(campaign, case_id, "staff", REASON)
    assert stopped.broadcaster.never_started == [result.notice_id]
    assert stub.calls == []

    database = Database(db.url)  # the next process
    try:
        restarted = Services.create(database, clock)
        restarted.broadcaster.register("kakao", kakao)
        summaries = collect_summaries(restarted)
        assert await restarted.broadcaster.resume(exclusive=True) == [result.notice_id]
        await restarted.broadcaster.idle()
        assert stub.delivered() == {KO_USER: 1}
        assert f"이유: {REASON}\n" in stub.calls[0].text
        # Resumed again, and again in yet another process: nothing left, nothing sent twice.
        assert await restarted.broadcaster.resume(exclusive=True) == []
        again = Services.create(database, clock)
        again.broadcaster.register("kakao", kakao)
        assert await again.broadcaster.resume() == []
        await again.broadcaster.idle()
        assert summaries == []
    finally:
        await database.dispose()
    assert stub.delivered() == {KO_USER: 1}
    [row] = await notice_rows(db)
    assert (row["status"], row["delivery"]) == ("done", "sent")


async def test_a_notice_sent_before_a_restart_is_not_sent_again(
        services, db, clock, campaign, stub, kakao):
    services.broadcaster.register("kakao", kakao)
    english = await services.citizens.identify("kakao", EN_USER, "en")
    case_id = await submit(services, campaign, english, "경로당 점심")
    await services.moderation.approve(campaign, case_id, "staff")
    await services.broadcaster.idle()
    assert stub.delivered() == {EN_USER: 1}

    database = Database(db.url)
    try:
        restarted = Services.create(database, clock)
        restarted.broadcaster.register("kakao", kakao)
        assert await restarted.broadcaster.resume(exclusive=True) == []
        await restarted.broadcaster.idle()
    finally:
        await database.dispose()
    assert stub.delivered() == {EN_USER: 1}

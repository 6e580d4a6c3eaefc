"""Staff broadcast (/broadcast: write, preview, send once to each subscriber, summary to the
admin) and the audit log view (/audit)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from handlers.telegram.offline import TelegramUser
from storage.tables import broadcasts
from tests.test_search import is_search_answer
from tests.test_staff_roles import ADMIN, HINT, KIM, LEE, audit

SMITH = TelegramUser(1002, "Jane", "en")
MESSAGE = "<b>내일</b> 시상식 & 안내"



async def subscribe(services, campaign, *users: TelegramUser) -> None:
    for user in users:
        citizen = await services.citizens.identify("telegram", str(user.id), user.language_code)
        await services.subscriptions.set(campaign, citizen, True)


async def test_admin_broadcast_reaches_each_subscriber_once(staffbot, services, campaign):
    await subscribe(services, campaign, KIM, SMITH)
    calls = await staffbot.send(ADMIN, "/broadcast")
    assert "지금 2명" in calls[-1].text
    calls = await staffbot.send(ADMIN, MESSAGE)
    preview = calls[-1]
    assert "2명에게" in preview.text and "&lt;b&gt;내일&lt;/b&gt; 시상식 &amp; 안내" in preview.text
    assert preview.labels() == ["📣 보내기", "✖ 취소"]

    calls = await staffbot.press(ADMIN, "보내기")
    assert "2명에게 보내는 중" in calls[-1].text
    start = len(staffbot.request.calls)
    await services.broadcaster.idle()
    sent = [c for c in staffbot.request.calls[start:] if c.method == "sendMessage"]
    to_citizens = sorted((c.chat_id, c.text) for c in sent if c.chat_id != ADMIN.id)
    escaped = "&lt;b&gt;내일&lt;/b&gt; 시상식 &amp; 안내"
    assert to_citizens == [(KIM.id, escaped), (SMITH.id, escaped)]
    home = [c.labels() for c in sent if c.chat_id == SMITH.id]
    assert home == [["🏠 Main menu"]]
    [summary] = [c for c in sent if c.chat_id == ADMIN.id]
    assert "운영진 공지" in summary.text and "2" in summary.text
    [entry] = await audit(services, "broadcast.sent")
    assert entry["detail"]["recipients"] == 2 and entry["detail"]["text"] == MESSAGE

    # The Send button again: the draft is gone, nothing is sent twice.
    calls = await staffbot.press(ADMIN, data=f"Sb:send:{campaign.id}")
    assert any(c.method == "answerCallbackQuery" for c in calls)
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(broadcasts)) == 1


async def test_cancel_and_bad_text(staffbot, services, campaign):
    await subscribe(services, campaign, KIM)
    await staffbot.send(ADMIN, "/broadcast")
    calls = await staffbot.send(ADMIN, "가" * 1001)
    assert calls[-1].text == "글은 1~1000자로 써 주세요. 다시 보내 주세요."
    calls = await staffbot.send(ADMIN, "짧은 글")
    assert "미리 보기" in calls[-1].text
    calls = await staffbot.press(ADMIN, "취소")
    assert calls[-1].text == "취소했습니다. 바뀐 것은 없습니다."
    await services.broadcaster.idle()
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(broadcasts)) == 0
    assert await audit(services, "broadcast.sent") == []


async def test_no_subscribers_sends_nothing(staffbot, services, campaign):
    await staffbot.send(ADMIN, "/broadcast")
    await staffbot.send(ADMIN, "안내")
    calls = await staffbot.press(ADMIN, "보내기")
    assert calls[-1].text == "알림 받는 분이 없어 보내지 않았습니다."


@pytest.mark.parametrize("command", ["/broadcast", "/audit"])
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
    # A citizen's next message is not taken as a broadcast text: a search, as always.
    calls = await staffbot.send(KIM, "안녕하세요")
    assert is_search_answer(calls[-1].text)


async def test_audit_shows_the_latest_entries(staffbot, services, campaign):
    await staffbot.send(LEE, "/start")
    await staffbot.send(ADMIN, "/grant @lee_judge judge")
    calls = await staffbot.send(ADMIN, "/audit")
    text = calls[-1].text
    assert text.startswith("🧾 <b>감사 기록</b>")
    assert "Asia/Seoul" in text and "11월 28일(목) 14:00" in text
    assert "11월 28일(목) 14:00 · <b>@boss</b>\n   @lee_judge 님께 역할 부여: 심사위원" in text
    assert "공모 파일 올림" in text

    # 40 refused attempts in one minute are one entry: staff's own entries stay in view.
    # (Entries that do fill the message: tests/test_audit_log.py.)
    for n in range(40):
        await staffbot.send(KIM, f"/grant {n} admin " + "x" * 150)
    calls = await staffbot.send(ADMIN, "/audit")
    text = calls[-1].text
    assert len(text) <= 4096
    assert text.count("권한 없는 운영 명령 시도") == 1 and "… ×40" in text
    assert "역할 부여" in text


async def test_a_granted_admin_who_broadcasts_gets_the_summary_too(staffbot, services,
                                                                   campaign):
    second = TelegramUser(9002, "부관리자", "ko", username="second_admin")
    await subscribe(services, campaign, KIM)
    await staffbot.send(second, "/start")
    await staffbot.send(ADMIN, "/grant @second_admin admin")
    await staffbot.send(second, "/broadcast")
    await staffbot.send(second, "내일 시상식이 열립니다.")
    await staffbot.press(second, "보내기")
    start = len(staffbot.request.calls)
    await services.broadcaster.idle()
    summaries = [c.chat_id for c in staffbot.request.calls[start:]
                 if c.method == "sendMessage" and "발송 완료" in (c.text or "")]
    assert sorted(summaries) == sorted([ADMIN.id, second.id])


async def test_the_broadcast_summary_is_in_each_admins_language(staffbot, services, campaign):
    english = TelegramUser(9003, "Deputy", "en", username="deputy_admin")
    await subscribe(services, campaign, KIM)
    await staffbot.send(english, "/start")
    await staffbot.send(ADMIN, "/grant @deputy_admin admin")
    await staffbot.send(english, "/broadcast")
    await staffbot.send(english, "The awards are tomorrow.")
    await staffbot.press(english, "Send")
    start = len(staffbot.request.calls)
    await services.broadcaster.idle()
    summaries = {c.chat_id: c.text for c in staffbot.request.calls[start:]
                 if c.method == "sendMessage" and "📣" in (c.text or "")}
    assert "발송 완료" in summaries[ADMIN.id]
    assert "Broadcast done" in summaries[english.id]

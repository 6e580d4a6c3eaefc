"""The whole citizen journey through the real Application: start, browse, filter, open a
case, vote, vote again, change, see my vote."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from storage.tables import votes
from tests.conftest import KIM, SMITH


async def test_whole_journey_in_korean(telegram, services, campaign, clock):
    calls = await telegram.send(KIM, "/start")
    assert [c.method for c in calls] == ["sendMessage", "sendMessage"]
    greeting, question = calls
    assert "새 소식" in question.text
    assert question.labels() == ["🔔 네, 받을게요", "아니요, 괜찮아요"]
    assert greeting.chat_id == KIM.id
    assert "시험 공모 2024" in greeting.text
    assert "시민 투표" in greeting.text and "12월 1일(일) 18:00" in greeting.text
    assert greeting.labels() == ["📋 사례 보기", "🗳 내 투표", "📅 일정", "❓ 도움말",
                                 "🔔 알림 받기"]

    calls = await telegram.press(KIM, "사례 보기")
    edit = next(c for c in calls if c.method == "editMessageText")
    assert "(1/2쪽, 모두 10건)" in edit.text
    labels = edit.labels()
    assert labels[:8] == [f"사례 제목 {i:02d}번 · {'동구' if i % 2 else '대덕구'}"
                          for i in range(1, 9)]
    assert "다음 ▶" in labels and "◀ 이전" not in labels
    assert any(c.method == "answerCallbackQuery" for c in calls)

    calls = await telegram.press(KIM, "다음 ▶")
    edit = next(c for c in calls if c.method == "editMessageText")
    assert "(2/2쪽, 모두 10건)" in edit.text
    assert edit.labels()[:2] == ["사례 제목 09번 · 동구", "사례 제목 10번 · 대덕구"]

    # filter by district: 대덕구 has the even-numbered cases
    await telegram.press(KIM, "지역")
    calls = await telegram.press(KIM, "대덕구")
    edit = next(c for c in calls if c.method == "editMessageText")
    assert "모두 5건" in edit.text and "조건: 대덕구" in edit.text
    await telegram.press(KIM, "분야")
    calls = await telegram.press(KIM, "어르신")
    edit = next(c for c in calls if c.method == "editMessageText")
    assert "모두 3건" in edit.text and "조건: 대덕구 · 어르신" in edit.text

    calls = await telegram.press(KIM, "사례 제목 06번")
    card = next(c for c in calls if c.method == "editMessageText")
    assert card.text.startswith("<b>사례 제목 06번</b>")
    assert "송촌동 지역사회보장협의체" in card.text and "대덕구 송촌동 · 🏷 어르신" in card.text
    assert "🗳 이 사례에 투표하기" in card.labels()
    vote_button = next(b for b in card.buttons() if b["text"] == "🗳 이 사례에 투표하기")
    vote_button = vote_button["callback_data"]
    share = next(b for b in card.buttons() if b["text"] == "📤 공유하기")
    assert "start%3Dcase_" in share["url"]

    # back to the list keeps the filters
    calls = await telegram.press(KIM, "목록으로")
    edit = next(c for c in calls if c.method == "editMessageText")
    assert "조건: 대덕구 · 어르신" in edit.text

    await telegram.press(KIM, "사례 제목 06번")
    calls = await telegram.press(KIM, "투표하기")
    confirm = next(c for c in calls if c.method == "editMessageText")
    assert "한 표" in confirm.text and "사례 제목 06번" in confirm.text
    assert confirm.labels() == ["✅ 네, 투표합니다", "취소"]
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(votes)) == 0

    calls = await telegram.press(KIM, "네, 투표합니다")
    receipt = next(c for c in calls if c.method == "editMessageText")
    assert "투표가 기록되었습니다" in receipt.text
    assert "11월 28일(목) 14:00:00" in receipt.text
    code = receipt.text.split("<code>")[1].split("</code>")[0]
    assert len(code) == 9 and code[4] == "-"

    # the vote is marked in the list, on the case (no vote button there) and at home
    calls = await telegram.press(KIM, "목록으로")
    listed = next(c for c in calls if c.method == "editMessageText")
    assert "✅ 사례 제목 06번 · 대덕구" in listed.labels()
    assert "사례 제목 08번 · 대덕구" in listed.labels()
    calls = await telegram.press(KIM, "사례 제목 06번")
    voted_card = next(c for c in calls if c.method == "editMessageText")
    assert voted_card.text.startswith("✅ 내가 투표한 사례\n<b>사례 제목 06번</b>")
    assert "🗳 이 사례에 투표하기" not in voted_card.labels()
    calls = await telegram.press(KIM, "내 투표 보기")
    mine = next(c for c in calls if c.method == "editMessageText")
    assert "사례 제목 06번" in mine.text
    calls = await telegram.press(KIM, "처음으로")
    home = next(c for c in calls if c.method == "editMessageText")
    assert "✅ 투표하셨습니다" in home.text and "한 표를 주세요" not in home.text
    assert "12월 1일(일) 18:00까지는 다른 사례로 바꿀 수 있습니다" in home.text

    # an old vote button for the same case says so, and shows the receipt
    calls = await telegram.press(KIM, data=vote_button)
    same = next(c for c in calls if c.method == "editMessageText")
    assert "이미 이 사례에 투표하셨습니다" in same.text and code in same.text

    # a different case: confirm the change from A to B
    clock.advance(timedelta(minutes=30))
    await telegram.press(KIM, "목록으로")
    await telegram.press(KIM, "사례 제목 08번")
    calls = await telegram.press(KIM, "투표하기")
    change = next(c for c in calls if c.method == "editMessageText")
    assert "지금 <b>사례 제목 06번</b>에 투표하셨습니다" in change.text
    assert change.labels() == ["✅ 네, 바꿉니다", "취소"]
    calls = await telegram.press(KIM, "네, 바꿉니다")
    changed = next(c for c in calls if c.method == "editMessageText")
    assert "사례 제목 06번 → 사례 제목 08번" in changed.text

    calls = await telegram.send(KIM, "/myvote")
    mine = calls[-1]
    assert mine.method == "sendMessage"
    assert "사례 제목 08번" in mine.text and "11월 28일(목) 14:30:00" in mine.text
    async with services.db.read() as conn:
        rows = (await conn.execute(sa.select(votes.c.case_id))).all()
    assert len(rows) == 1


async def test_english_user_gets_english(telegram, campaign):
    calls = await telegram.send(SMITH, "/start")
    assert "Test competition 2024" in calls[0].text
    assert "Citizen voting" in calls[0].text and "Sun 1 Dec 18:00" in calls[0].text
    calls = await telegram.press(SMITH, "Browse cases")
    edit = next(c for c in calls if c.method == "editMessageText")
    assert "page 1 of 2, 10 in all" in edit.text
    # case 3 has no English text: its Korean title stands in
    assert "사례 제목 03번 · Dong-gu" in edit.labels()
    calls = await telegram.press(SMITH, "Case title 01")
    card = next(c for c in calls if c.method == "editMessageText")
    assert "효동 council" in card.text and "Dong-gu Hyo-dong · 🏷 Care" in card.text
    await telegram.press(SMITH, "Vote for this case")
    calls = await telegram.press(SMITH, "Yes, vote")
    assert "Your vote is recorded" in next(
        c for c in calls if c.method == "editMessageText").text

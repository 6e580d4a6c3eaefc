"""One person, one vote on Telegram: the phone step (notice first, then Telegram's own "share
my contact" button; a forwarded contact refused) and the voting code step, through the real
Application with real Update JSON. The services' rules are in test_identity.py; KakaoTalk's
flows in test_identity_kakao.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.services.identity import MAX_WRONG_CODES, WRONG_CODE_WINDOW
from handlers.telegram.offline import TelegramUser
from storage.tables import citizen_phones, metadata, votes
from tests.conftest import KIM, small_campaign

LEE = TelegramUser(1003, "이영희", "ko")
PARK = TelegramUser(1004, "박민수", "ko")


async def as_identity(services, identity: str, allow_change: bool = True):
    raw = small_campaign(voting={"votes_per_citizen": 1, "allow_change": allow_change,
                                 "identity": identity, "order": "file"})
    report = await services.campaigns.load(parse_campaign(raw))
    return await services.campaigns.get(report.campaign_id)


async def start_voting(telegram, user, title: str = "사례 제목 01번"):
    """From /start to the vote button of a case: the calls of that press."""
    await telegram.send(user, "/start")
    await telegram.press(user, "사례 보기")
    await telegram.press(user, title)
    return await telegram.press(user, "투표하기")


async def vote_rows(services) -> list[dict]:
    async with services.db.read() as conn:
        return [dict(r) for r in (await conn.execute(sa.select(votes))).mappings()]


async def every_text(services) -> str:
    parts = []
    async with services.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).all():
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


def sent_texts(calls) -> str:
    return "\n".join(c.text or "" for c in calls)


# --- phone --------------------------------------------------------------------------------


async def test_the_number_is_asked_after_saying_why_then_the_vote_goes_on(
        telegram, services, clock, caplog):
    campaign = await as_identity(services, "phone")
    calls = await start_voting(telegram, KIM)
    notice = next(c for c in calls if c.keyboard())
    assert "한 사람이 한 표만" in notice.text and "번호는 저장하지 않습니다" in notice.text
    assert f"{campaign.retention_days}일 뒤" in notice.text
    share, cancel = notice.keyboard()
    assert share == {"text": "📱 내 번호 보내기", "request_contact": True}
    assert cancel["text"] == "✖ 취소"
    assert await vote_rows(services) == []

    calls = await telegram.send_contact(KIM, "+82 10-1234-5678")
    assert "번호가 확인되었습니다" in calls[0].text
    assert "remove_keyboard" in str(calls[0].params["reply_markup"])  # the keyboard goes
    assert "사례 제목 01번" in calls[-1].text and "투표할까요" in calls[-1].text
    calls = await telegram.press(KIM, "네, 투표합니다")
    assert "투표가 기록되었습니다" in sent_texts(calls)
    [row] = await vote_rows(services)
    assert row["voter"].startswith("p:")
    dump = await every_text(services)
    for form in ("1234-5678", "12345678", "+821012345678"):
        assert form not in dump and form not in caplog.text


@pytest.mark.parametrize("owner", [555, None], ids=["forwarded", "no-telegram-account"])
async def test_someone_elses_contact_is_refused_and_nothing_kept(telegram, services, owner):
    await as_identity(services, "phone")
    await start_voting(telegram, KIM)
    calls = await telegram.send_contact(KIM, "010-9999-8888", owner_id=owner)
    assert "다른 사람의 연락처는 받을 수 없습니다" in calls[-1].text
    async with services.db.read() as conn:
        assert (await conn.execute(sa.select(citizen_phones))).all() == []
    # The own number still works afterwards, and the vote goes on for the same case.
    calls = await telegram.send_contact(KIM, "010-9999-8888")
    assert "사례 제목 01번" in calls[-1].text


async def test_a_contact_nobody_asked_for_is_not_kept(telegram, services):
    await as_identity(services, "phone")
    await telegram.send(KIM, "/start")
    calls = await telegram.send_contact(KIM, "010-1111-2222")
    assert "아무것도 저장하지 않았습니다" in calls[-1].text
    async with services.db.read() as conn:
        assert (await conn.execute(sa.select(citizen_phones))).all() == []


async def test_cancel_removes_the_keyboard_and_keeps_nothing(telegram, services):
    await as_identity(services, "phone")
    await start_voting(telegram, KIM)
    calls = await telegram.send(KIM, "✖ 취소")
    assert "번호 확인을 취소했습니다" in calls[0].text
    assert "remove_keyboard" in str(calls[0].params["reply_markup"])
    assert "사례 보기" in " ".join(calls[-1].labels())  # home
    calls = await telegram.send_contact(KIM, "010-1111-2222")  # too late: not kept
    async with services.db.read() as conn:
        assert (await conn.execute(sa.select(citizen_phones))).all() == []


@pytest.mark.parametrize("allow_change", [True, False])
async def test_two_accounts_with_one_number_are_one_voter(telegram, services, allow_change):
    await as_identity(services, "phone", allow_change=allow_change)
    await start_voting(telegram, KIM)
    await telegram.send_contact(KIM, "010-1234-5678")
    await telegram.press(KIM, "네, 투표합니다")

    await start_voting(telegram, LEE, "사례 제목 02번")
    calls = await telegram.send_contact(LEE, "+82 10 1234 5678")
    if allow_change:
        assert "바꿀까요" in calls[-1].text or "바꿉니다" in " ".join(calls[-1].labels())
        await telegram.press(LEE, "바꿉니다")
    else:
        assert "이미 투표하셨습니다" in calls[-1].text
    rows = await vote_rows(services)
    assert len(rows) == 1
    case_titles = {r.case.id: r.case.ko.title for r in await services.results.ranking(
        await services.campaigns.current())}
    assert case_titles[rows[0]["case_id"]] == ("사례 제목 02번" if allow_change
                                               else "사례 제목 01번")


# --- code ---------------------------------------------------------------------------------


async def test_a_code_votes_once_and_cannot_be_used_again(telegram, services):
    campaign = await as_identity(services, "code")
    codes = (await services.identity.issue_codes(campaign, 3, by="test")).codes
    calls = await start_voting(telegram, KIM)
    assert "투표 코드" in calls[-1].text and "XXXX-XXXX-XXXX" in calls[-1].text
    calls = await telegram.send(KIM, "돌봄")  # not a code: a hint, not a wrong try
    assert "영문과 숫자 12자" in calls[-1].text
    calls = await telegram.send(KIM, codes[0].lower().replace("-", " "))
    assert "코드가 확인되었습니다" in calls[0].text
    assert "투표할까요" in calls[-1].text
    calls = await telegram.press(KIM, "네, 투표합니다")
    assert "투표가 기록되었습니다" in sent_texts(calls)

    await start_voting(telegram, LEE)
    calls = await telegram.send(LEE, codes[0])
    assert "이미 다른 계정에서 쓰였습니다" in calls[-1].text
    assert len(await vote_rows(services)) == 1
    dump = await every_text(services)
    assert not any(c in dump or c.replace("-", "") in dump for c in codes)


async def test_wrong_codes_are_limited_then_allowed_again(telegram, services, clock):
    campaign = await as_identity(services, "code")
    [code] = (await services.identity.issue_codes(campaign, 1, by="test")).codes
    await start_voting(telegram, PARK)
    for _ in range(MAX_WRONG_CODES):
        calls = await telegram.send(PARK, "AAAA-AAAA-AAAA")
        assert "맞지 않는 코드입니다" in calls[-1].text
    calls = await telegram.send(PARK, code)  # right, but after too many wrong ones
    assert "부터 다시 보낼 수 있습니다" in calls[-1].text
    clock.advance(WRONG_CODE_WINDOW + timedelta(seconds=1))
    calls = await telegram.send(PARK, code)
    assert "코드가 확인되었습니다" in calls[0].text


async def test_another_button_stops_waiting_for_the_code(telegram, services):
    campaign = await as_identity(services, "code")
    await services.identity.issue_codes(campaign, 1, by="test")
    await start_voting(telegram, KIM)
    await telegram.press(KIM, "취소")
    calls = await telegram.send(KIM, "AAAA-AAAA-AAAA")  # now an ordinary message
    assert "맞지 않는 코드" not in sent_texts(calls)

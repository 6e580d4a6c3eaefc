"""One vote per person, at the service level: phone numbers normalised to E.164 and kept only
as keyed hashes, the same number on two channels is one voter, voting codes bind once and
wrong ones are rate-limited, and reminders skip a person who voted from another account. The
channels' flows are in test_identity_telegram.py and test_identity_kakao.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.campaign_file import parse_campaign
from bot.domain import AnnouncementKind, Identity, VoteOutcome
from bot.services import Services
from bot.services.identity import (
    MAX_WRONG_CODES,
    WRONG_CODE_WINDOW,
    CodeOutcome,
    IdentityKeyMissing,
    PhoneOutcome,
    normalize_code,
    normalize_phone,
)
from storage.tables import deliveries, metadata, votes
from tests.conftest import DURING_VOTING, small_campaign


@pytest.mark.parametrize("raw, e164", [
    ("010-1234-5678", "+821012345678"),
    ("01012345678", "+821012345678"),
    ("+82 10-1234-5678", "+821012345678"),
    ("+82 (0)10 1234 5678", "+821012345678"),
    ("82-10-1234-5678", "+821012345678"),
    ("(010) 1234 5678", "+821012345678"),
    ("0082 10 1234 5678", "+821012345678"),
    ("02-123-4567", "+8221234567"),
    ("+1 415 555 2671", "+14155552671"),
])
def test_phone_numbers_as_people_write_them_are_e164(raw, e164):
    assert normalize_phone(raw) == e164


@pytest.mark.parametrize("raw", ["", "hello", "1234", "010-1234-567a", "+0 10 1234 5678",
                                 "12345678901", "+82 1", "010" + "1" * 30])
def test_what_is_not_a_phone_number_is_refused(raw):
    assert normalize_phone(raw) is None


def test_codes_are_read_as_typed():
    assert normalize_code(" abcd-efgh-jkmn ") == "ABCDEFGHJKMN"
    assert normalize_code("ABCD EFGH JKMN") == "ABCDEFGHJKMN"
    assert normalize_code("ABCD-EFGH-JKM") is None  # too short
    assert normalize_code("ABCD-EFGH-JKM0") is None  # 0 is not in the alphabet


async def load(services: Services, identity: str, **voting):
    raw = small_campaign(voting={"votes_per_citizen": 1, "allow_change": True,
                                 "identity": identity, **voting})
    report = await services.campaigns.load(parse_campaign(raw))
    campaign = await services.campaigns.get(report.campaign_id)
    assert campaign is not None and campaign.rules.identity is Identity(identity)
    return campaign


async def approved(services, campaign) -> list[int]:
    return sorted(r.case.id for r in await services.results.ranking(campaign))


async def every_text(services) -> str:
    """Every value in every table, as text."""
    parts = []
    async with services.db.read() as conn:
        for table in metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).all():
                parts.extend(str(v) for v in row)
    return "\n".join(parts)


async def test_the_same_number_on_two_channels_is_one_voter(services, clock, caplog):
    campaign = await load(services, "phone")
    clock.set(DURING_VOTING)
    first, second = (await approved(services, campaign))[:2]
    on_telegram = await services.citizens.identify("telegram", "1001", "ko")
    on_kakao = await services.citizens.identify("kakao", "bot-user-key-1", "ko")

    refused = await services.voting.cast_vote(campaign, on_telegram, first)
    assert refused.outcome is VoteOutcome.NEEDS_PHONE and refused.vote is None
    intent = await services.voting.intent(campaign, on_kakao, first)
    assert intent.outcome is VoteOutcome.NEEDS_PHONE

    assert await services.identity.verify_phone(on_telegram, "010-9876-5432") \
        is PhoneOutcome.VERIFIED
    assert await services.identity.verify_phone(on_kakao, "+82 10-9876-5432") \
        is PhoneOutcome.VERIFIED
    cast = await services.voting.cast_vote(campaign, on_telegram, first)
    assert cast.outcome is VoteOutcome.RECORDED
    # The same person on KakaoTalk holds that vote, and voting again changes it.
    [held] = await services.voting.current_votes(campaign, on_kakao)
    assert held.case.id == first
    changed = await services.voting.cast_vote(campaign, on_kakao, second)
    assert changed.outcome is VoteOutcome.CHANGED and changed.vote.id == cast.vote.id
    async with services.db.read() as conn:
        rows = (await conn.execute(sa.select(votes))).mappings().all()
    assert [(r["case_id"], r["citizen_id"]) for r in rows] == [(second, on_kakao.id)]
    assert rows[0]["voter"].startswith("p:")
    # No form of the number anywhere: database, logs.
    dump = await every_text(services)
    for form in ("9876", "98765432", "+821098765432"):
        assert form not in dump and form not in caplog.text


async def test_without_changes_the_other_channel_is_refused(services, clock):
    campaign = await load(services, "phone", allow_change=False)
    clock.set(DURING_VOTING)
    first, second = (await approved(services, campaign))[:2]
    a = await services.citizens.identify("telegram", "1001", "ko")
    b = await services.citizens.identify("kakao", "key-b", "ko")
    for who in (a, b):
        await services.identity.verify_phone(who, "010-1111-2222")
    assert (await services.voting.cast_vote(campaign, a, first)).outcome is VoteOutcome.RECORDED
    again = await services.voting.cast_vote(campaign, b, second)
    assert again.outcome is VoteOutcome.ALREADY_VOTED
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(votes)) == 1


async def test_an_account_keeps_its_first_number(services):
    kim = await services.citizens.identify("telegram", "1001", "ko")
    assert await services.identity.verify_phone(kim, "010-1111-2222") is PhoneOutcome.VERIFIED
    assert await services.identity.verify_phone(kim, "01011112222") is PhoneOutcome.VERIFIED
    assert await services.identity.verify_phone(kim, "010-3333-4444") \
        is PhoneOutcome.OTHER_NUMBER
    assert await services.identity.verify_phone(kim, "not a number") is PhoneOutcome.INVALID


async def test_the_database_refuses_two_votes_of_one_voter(services, clock):
    campaign = await load(services, "phone")
    first, second = (await approved(services, campaign))[:2]
    a = await services.citizens.identify("telegram", "1", "ko")
    b = await services.citizens.identify("kakao", "2", "ko")
    row = {"campaign_id": campaign.id, "slot": 1, "cast_at": clock.now(), "voter": "p:same"}
    async with services.db.write() as conn:
        await conn.execute(votes.insert().values(citizen_id=a.id, case_id=first,
                                                 receipt="AAAA-AAAA", **row))
    with pytest.raises(IntegrityError):
        async with services.db.write() as conn:
            await conn.execute(votes.insert().values(citizen_id=b.id, case_id=second,
                                                     receipt="BBBB-BBBB", **row))


async def test_a_code_votes_once_across_accounts(services, clock):
    campaign = await load(services, "code")
    clock.set(DURING_VOTING)
    first, second = (await approved(services, campaign))[:2]
    issued = await services.identity.issue_codes(campaign, 3, by="cli")
    code = issued.codes[0]
    kim = await services.citizens.identify("telegram", "1001", "ko")
    lee = await services.citizens.identify("kakao", "lee", "ko")
    assert (await services.voting.cast_vote(campaign, kim, first)).outcome \
        is VoteOutcome.NEEDS_CODE
    assert (await services.identity.redeem_code(campaign, kim, code.lower())).outcome \
        is CodeOutcome.ACCEPTED
    assert (await services.identity.redeem_code(campaign, kim, code)).outcome \
        is CodeOutcome.ACCEPTED  # again: still theirs
    assert (await services.identity.redeem_code(campaign, lee, code)).outcome is CodeOutcome.USED
    assert (await services.identity.redeem_code(campaign, kim, issued.codes[1])).outcome \
        is CodeOutcome.HAS_OTHER
    assert (await services.voting.cast_vote(campaign, kim, first)).outcome \
        is VoteOutcome.RECORDED
    assert (await services.voting.cast_vote(campaign, lee, second)).outcome \
        is VoteOutcome.NEEDS_CODE
    dump = await every_text(services)
    assert not any(c in dump or c.replace("-", "") in dump for c in issued.codes)


async def test_wrong_codes_are_rate_limited_per_account(services, clock):
    campaign = await load(services, "code")
    clock.set(DURING_VOTING)
    [code] = (await services.identity.issue_codes(campaign, 1, by="cli")).codes
    kim = await services.citizens.identify("telegram", "1001", "ko")
    for _ in range(MAX_WRONG_CODES):
        wrong = await services.identity.redeem_code(campaign, kim, "AAAA-AAAA-AAAA")
        assert wrong.outcome is CodeOutcome.WRONG
    blocked = await services.identity.redeem_code(campaign, kim, code)  # right, but too late
    assert blocked.outcome is CodeOutcome.TOO_MANY
    assert blocked.retry_at == DURING_VOTING + WRONG_CODE_WINDOW
    # Another account is not held up by kim's tries.
    lee = await services.citizens.identify("telegram", "1002", "ko")
    assert (await services.identity.redeem_code(campaign, lee, "AAAA-AAAA-AAAB")).outcome \
        is CodeOutcome.WRONG
    clock.set(DURING_VOTING + WRONG_CODE_WINDOW + timedelta(seconds=1))
    assert (await services.identity.redeem_code(campaign, kim, code)).outcome \
        is CodeOutcome.ACCEPTED


async def test_without_the_key_phone_and_code_campaigns_say_so(db, clock):
    services = Services.create(db, clock)  # no CHAMYEO_IDENTITY_KEY
    campaign = await load(services, "phone")
    kim = await services.citizens.identify("telegram", "1001", "ko")
    [first] = (await approved(services, campaign))[:1]
    clock.set(DURING_VOTING)
    assert (await services.voting.cast_vote(campaign, kim, first)).outcome \
        is VoteOutcome.NEEDS_PHONE
    with pytest.raises(IdentityKeyMissing, match="CHAMYEO_IDENTITY_KEY"):
        await services.identity.verify_phone(kim, "010-1111-2222")
    await services.broadcaster.stop()


async def test_reminders_skip_a_person_who_voted_from_another_account(services, clock):
    campaign = await load(services, "phone")
    clock.set(DURING_VOTING)
    [first] = (await approved(services, campaign))[:1]
    # (All on Telegram: a channel with no sender wired here gets no deliveries.)
    voted_on_telegram = await services.citizens.identify("telegram", "1001", "ko")
    same_person = await services.citizens.identify("telegram", "1002", "ko")
    someone_else = await services.citizens.identify("telegram", "1003", "ko")
    for citizen in (voted_on_telegram, same_person, someone_else):
        await services.subscriptions.set(campaign, citizen, True)
    await services.identity.verify_phone(voted_on_telegram, "010-5555-6666")
    await services.identity.verify_phone(same_person, "01055556666")
    await services.voting.cast_vote(campaign, voted_on_telegram, first)

    broadcast_id = await services.announcements.announce_now(
        campaign, AnnouncementKind.VOTING_REMINDER)
    await services.broadcaster.stop()
    async with services.db.read() as conn:
        reminded = (await conn.execute(sa.select(deliveries.c.citizen_id).where(
            deliveries.c.broadcast_id == broadcast_id))).scalars().all()
    assert reminded == [someone_else.id]

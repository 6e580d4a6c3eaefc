"""Personal data (Korea's PIPA): /forgetme on Telegram and "내 정보 삭제" on KakaoTalk delete a
citizen's account data and keep their votes counted; `chamyeo purge` removes a campaign's
personal data after its retention period and keeps its tallies and receipts."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from bot import staff_cli
from bot.campaign_file import parse_campaign
from bot.domain import Identity, VoteOutcome
from bot.drafts import Draft, Step
from bot.services import Services
from bot.services.privacy import PurgeOutcome, purge_date
from bot.submission_texts import question_text
from handlers.telegram.callbacks import Forget, encode
from handlers.telegram.offline import TelegramUser
from storage.repositories import BroadcastRepository, DraftRepository
from storage.tables import (
    audit_log,
    cases,
    chat_sessions,
    citizen_phones,
    citizens,
    deliveries,
    identity_tries,
    metadata,
    submission_drafts,
    subscriptions,
    votes,
    voting_codes,
)
from tests.conftest import DURING_VOTING, small_campaign
from tests.test_kakao_skill import ask, press, quick_reply, skill_request, texts

KIM = TelegramUser(1001, "김순자", "ko", username="kim_soonja")
PHONE = "010-2468-1357"
CONTACT = "010-9753-1864"  # the contact left on a case for staff


async def snapshot(services: Services, campaign) -> tuple:
    """What the results stand on: votes per case, voters, and each receipt's case."""
    tally = await services.tally.tally(campaign)
    async with services.db.read() as conn:
        receipts = dict((await conn.execute(
            sa.select(votes.c.receipt, votes.c.case_id)
            .where(votes.c.campaign_id == campaign.id))).all())
    per_case = sorted((c.case.id, c.votes) for c in (*tally.cases, *tally.set_aside))
    return per_case, tally.total_votes, tally.voters, receipts


async def dump(services: Services, skip: tuple[str, ...] = ()) -> dict[str, list]:
    """Every row of every table."""
    async with services.db.read() as conn:
        return {table.name: sorted(map(tuple, (await conn.execute(sa.select(table))).all()),
                                   key=repr)
                for table in metadata.sorted_tables if table.name not in skip}


async def traces(services: Services, citizen_id: int, external_id: str,
                 names: tuple[str, ...] = ()) -> list[str]:
    """Where anything of this account is still found, table by table."""
    found = []
    async with services.db.read() as conn:
        async def any_of(name, query):
            if (await conn.execute(query)).first() is not None:
                found.append(name)

        await any_of("citizens.external_id", sa.select(citizens).where(
            citizens.c.external_id == external_id))
        for name in names:
            await any_of(f"name {name}", sa.select(citizens).where(sa.or_(
                citizens.c.username == name, citizens.c.alias == name)))
        for table in (citizen_phones, subscriptions, submission_drafts, identity_tries,
                      voting_codes):
            await any_of(table.name, sa.select(table).where(table.c.citizen_id == citizen_id))
        await any_of("chat_sessions", sa.select(chat_sessions).where(
            chat_sessions.c.external_id == external_id))
        await any_of("deliveries", sa.select(deliveries).where(sa.or_(
            deliveries.c.citizen_id == citizen_id, deliveries.c.address == external_id)))
        await any_of("cases.submitter_id", sa.select(cases).where(
            cases.c.submitter_id == citizen_id))
        await any_of("cases.contact", sa.select(cases).where(cases.c.contact == CONTACT))
    return found


async def give_data(services: Services, campaign, citizen) -> None:
    """Everything an account can leave: a phone hash, a subscription, a draft, a message
    waiting to go out, a case it sent in, and a vote."""
    await services.identity.verify_phone(citizen, PHONE)
    await services.subscriptions.set(campaign, citizen, True)
    now = services.clock.now()
    async with services.db.write() as conn:
        await DraftRepository(conn).save(
            Draft(campaign.id, citizen.id, Step.TITLE, {"type": "individual"}), now)
        broadcast = await BroadcastRepository(conn).create(campaign.id, "test", {}, now)
        await BroadcastRepository(conn).add_citizen(broadcast, citizen.id, now)
        await conn.execute(cases.update().where(cases.c.campaign_id == campaign.id,
                                                cases.c.key == "case-2")
                           .values(submitter_id=citizen.id, contact=CONTACT))
    first = min(c.case.id for c in (await services.tally.tally(campaign)).cases)
    assert (await services.voting.cast_vote(campaign, citizen, first)).outcome \
        is VoteOutcome.RECORDED


# --- Telegram -------------------------------------------------------------------------------


async def test_forgetme_on_telegram_deletes_the_account_and_keeps_the_vote(
        telegram, services, campaign):
    await telegram.send(KIM, "/start")
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko", KIM.username)
    await give_data(services, campaign, kim)
    someone = await services.citizens.identify("telegram", "2002", "ko")
    ids = sorted(c.case.id for c in (await services.tally.tally(campaign)).cases)
    await services.voting.cast_vote(campaign, someone, ids[1])
    before = await snapshot(services, campaign)
    assert before[1] == 2
    assert await traces(services, kim.id, str(KIM.id), (KIM.username,))  # all there

    calls = await telegram.send(KIM, "/forgetme")
    question = calls[-1]
    assert "지우는 것" in question.text and "남는 것" in question.text
    assert "두 번 투표하지 못하도록" in question.text
    assert question.labels() == ["🗑 네, 지워 주세요", "취소"]
    assert await traces(services, kim.id, str(KIM.id))  # asking deletes nothing

    calls = await telegram.press(KIM, "네, 지워 주세요")
    assert "지웠습니다" in next(c for c in calls if c.method == "editMessageText").text

    assert await snapshot(services, campaign) == before
    assert await traces(services, kim.id, str(KIM.id), (KIM.username,)) == []
    async with services.db.read() as conn:
        row = (await conn.execute(sa.select(citizens).where(citizens.c.id == kim.id))
               ).mappings().one()
        held = (await conn.execute(sa.select(votes).where(votes.c.citizen_id == kim.id))
                ).mappings().all()
        forgotten = (await conn.execute(sa.select(audit_log).where(
            audit_log.c.action == "citizen.forgotten"))).mappings().all()
    assert row["external_id"].startswith("forgotten:") and len(row["external_id"]) > 40
    assert row["username"] is None and row["alias"] is None
    # The receipt still finds the vote's case.
    [vote] = held
    assert before[3][vote["receipt"]] == vote["case_id"]
    assert [(e["actor"], e["detail"]) for e in forgotten] == [(f"citizen:{kim.id}", {})]

    # The same Telegram account writing again is a new citizen, with nothing of the old.
    calls = await telegram.send(KIM, "/start")
    assert "시험 공모 2024" in calls[0].text
    again = await services.citizens.identify("telegram", str(KIM.id), "ko", KIM.username)
    assert again.id != kim.id
    assert await services.voting.current_votes(campaign, again) == []
    # A second press of the old confirmation forgets the new account (it has nothing yet).
    await telegram.press(KIM, data=encode(Forget(True)))
    assert await snapshot(services, campaign) == before


async def test_forgetme_cancelled_keeps_everything(telegram, services, campaign):
    await telegram.send(KIM, "/start")
    kim = await services.citizens.identify("telegram", str(KIM.id), "ko", KIM.username)
    await give_data(services, campaign, kim)
    await telegram.send(KIM, "/forgetme")
    before = await dump(services, skip=("chat_sessions",))
    calls = await telegram.press(KIM, "취소")
    assert "지우지 않았습니다" in next(c for c in calls if c.method == "editMessageText").text
    assert await dump(services, skip=("chat_sessions",)) == before


async def test_forgetme_is_in_the_command_menu(telegram):
    [menu] = [c for c in telegram.request.calls
              if c.method == "setMyCommands" and "language_code" not in c.params]
    assert {"command": "forgetme", "description": "내 정보 삭제"} in menu.params["commands"]


# --- KakaoTalk ------------------------------------------------------------------------------

KAKAO_USER = "kakao-user-77"


@pytest.mark.parametrize("word", ["내 정보 삭제", "forget me"])
async def test_forget_me_on_kakao(kakao, services, campaign, word):
    await ask(kakao, skill_request("시작", user=KAKAO_USER))
    citizen = await services.citizens.identify("kakao", KAKAO_USER, "ko")
    assert citizen.alias == "pf-7788"
    await give_data(services, campaign, citizen)
    before = await snapshot(services, campaign)

    _, answer = await ask(kakao, skill_request(word, user=KAKAO_USER))
    assert "지우는 것" in texts(answer)[0]
    assert await traces(services, citizen.id, KAKAO_USER)  # asking deletes nothing
    _, answer = await press(kakao, quick_reply(answer, "네, 지워 주세요"), KAKAO_USER)
    assert "지웠습니다" in texts(answer)[0]

    assert await snapshot(services, campaign) == before
    assert await traces(services, citizen.id, KAKAO_USER, ("pf-7788",)) == []
    _, answer = await ask(kakao, skill_request("시작", user=KAKAO_USER))
    assert "시험 공모 2024" in texts(answer)[0]
    again = await services.citizens.identify("kakao", KAKAO_USER, "ko")
    assert again.id != citizen.id


async def test_forget_me_on_kakao_cancelled(kakao, services, campaign):
    await ask(kakao, skill_request("시작", user=KAKAO_USER))
    citizen = await services.citizens.identify("kakao", KAKAO_USER, "ko")
    await give_data(services, campaign, citizen)
    _, answer = await ask(kakao, skill_request("내 정보 삭제", user=KAKAO_USER))
    before = await dump(services, skip=("chat_sessions",))
    _, answer = await press(kakao, quick_reply(answer, "취소"), KAKAO_USER)
    assert "지우지 않았습니다" in texts(answer)[0]
    assert await dump(services, skip=("chat_sessions",)) == before


# --- one vote per person survives forgetting -----------------------------------------------


@pytest.mark.parametrize("allow_change", [True, False])
async def test_forgotten_phone_voter_cannot_vote_twice(services, clock, allow_change):
    raw = small_campaign(voting={"votes_per_citizen": 1, "allow_change": allow_change,
                                 "identity": "phone"})
    campaign = await services.campaigns.get(
        (await services.campaigns.load(parse_campaign(raw))).campaign_id)
    assert campaign.rules.identity is Identity.PHONE
    clock.set(DURING_VOTING)
    first, second = sorted(c.case.id for c in (await services.tally.tally(campaign)).cases)[:2]
    kim = await services.citizens.identify("telegram", "1001", "ko")
    await services.identity.verify_phone(kim, PHONE)
    cast = await services.voting.cast_vote(campaign, kim, first)
    assert cast.outcome is VoteOutcome.RECORDED

    assert await services.privacy.forget(kim)
    again = await services.citizens.identify("telegram", "1001", "ko")
    assert again.id != kim.id
    assert (await services.voting.cast_vote(campaign, again, second)).outcome \
        is VoteOutcome.NEEDS_PHONE
    await services.identity.verify_phone(again, PHONE)
    # The same number is the same voter: its vote is found, and a second one is not made.
    [held] = await services.voting.current_votes(campaign, again)
    assert held.case.id == first
    result = await services.voting.cast_vote(campaign, again, second)
    if allow_change:
        assert result.outcome is VoteOutcome.CHANGED and result.vote.id == cast.vote.id
    else:
        assert result.outcome is VoteOutcome.ALREADY_VOTED
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(votes)) == 1


async def test_forgetting_twice_does_nothing_more(services, campaign):
    kim = await services.citizens.identify("telegram", "1001", "ko")
    assert await services.privacy.forget(kim) is True
    before = await dump(services)
    assert await services.privacy.forget(kim) is False
    assert await dump(services) == before


async def test_a_forgotten_code_stays_used(services, clock):
    raw = small_campaign(voting={"votes_per_citizen": 1, "identity": "code"})
    campaign = await services.campaigns.get(
        (await services.campaigns.load(parse_campaign(raw))).campaign_id)
    [code] = (await services.identity.issue_codes(campaign, 1, by="test")).codes
    kim = await services.citizens.identify("telegram", "1001", "ko")
    wrong = await services.identity.redeem_code(campaign, kim, "AAAA-AAAA-AAAA")
    assert wrong.outcome.value == "wrong"  # a wrong try is counted for the account
    assert (await services.identity.redeem_code(campaign, kim, code)).outcome.value == "accepted"
    assert await traces(services, kim.id, "1001") == ["citizens.external_id", "identity_tries",
                                                      "voting_codes"]
    await services.privacy.forget(kim)
    assert await traces(services, kim.id, "1001") == []
    async with services.db.read() as conn:
        row = (await conn.execute(sa.select(voting_codes))).mappings().one()
    assert row["citizen_id"] is None and row["bound_at"] is not None
    again = await services.citizens.identify("telegram", "1001", "ko")
    assert (await services.identity.redeem_code(campaign, again, code)).outcome.value == "used"


# --- purge ----------------------------------------------------------------------------------


async def test_purge_after_the_retention_period(services, campaign, clock, capsys):
    other = await services.campaigns.get((await services.campaigns.load(parse_campaign(
        small_campaign(slug="other-2025")))).campaign_id)
    kim = await services.citizens.identify("telegram", "1001", "ko", "kim_soonja")
    lee = await services.citizens.identify("kakao", "kakao-lee", "ko", alias="pf-lee")
    park = await services.citizens.identify("telegram", "3003", "ko", "park")
    for citizen in (kim, lee):
        await give_data(services, campaign, citizen)
    ids = sorted(c.case.id for c in (await services.tally.tally(campaign)).cases)
    await services.voting.cast_vote(campaign, park, ids[3])
    await services.subscriptions.set(other, park, True)  # park is in another campaign too
    [code] = (await services.identity.issue_codes(campaign, 1, by="test")).codes
    before = await snapshot(services, campaign)
    assert before[1] == 3 and before[2] == 3
    people = (await services.tally.tally(campaign)).citizens

    # Before the retention period is over: refused, with the date, nothing changed.
    possible = purge_date(campaign)
    assert possible == campaign.span()[1] + timedelta(days=campaign.retention_days)
    unchanged = await dump(services)
    for now in (clock.now(), possible - timedelta(seconds=1)):
        clock.set(now)
        report = await services.privacy.purge(campaign, "test")
        assert report.outcome is PurgeOutcome.TOO_EARLY and report.possible_from == possible
    assert await staff_cli.purge(services, campaign.slug) == staff_cli.EXIT_INVALID
    assert "2025-03-09" in capsys.readouterr().err  # 2024-12-09 14:00 + 90 days, Seoul
    assert await dump(services) == unchanged

    clock.set(possible)
    dry = await services.privacy.purge(campaign, "test", dry_run=True)
    assert dry.outcome is PurgeOutcome.DRY_RUN
    assert dry.counts == {"subscriptions": 2, "drafts": 2, "voting_codes": 1,
                          "identity_tries": 0, "deliveries": 2, "votes": 3, "submitters": 1,
                          "accounts": 2}
    assert await dump(services) == unchanged

    assert await staff_cli.purge(services, campaign.slug) == 0
    assert "purged" in capsys.readouterr().out
    assert await snapshot(services, campaign) == before
    assert (await services.tally.tally(campaign)).citizens == people  # no one new
    for citizen, key, names in ((kim, "1001", ("kim_soonja",)), (lee, "kakao-lee", ("pf-lee",))):
        assert await traces(services, citizen.id, key, names) == []
    async with services.db.read() as conn:
        voters = (await conn.execute(sa.select(votes.c.voter, votes.c.citizen_id).where(
            votes.c.campaign_id == campaign.id))).all()
        left = {table.name: await conn.scalar(sa.select(sa.func.count()).select_from(table)
                                              .where(table.c.campaign_id == campaign.id))
                for table in (subscriptions, submission_drafts, voting_codes, identity_tries)}
        park_row = (await conn.execute(sa.select(citizens).where(citizens.c.id == park.id))
                    ).mappings().one()
        purged = await conn.scalar(sa.select(sa.func.count()).select_from(audit_log).where(
            audit_log.c.action == "campaign.purged"))
    assert all(voter.startswith("x:") for voter, _ in voters)
    assert {citizen_id for _, citizen_id in voters}.isdisjoint({kim.id, lee.id, park.id})
    assert left == dict.fromkeys(left, 0)
    # Park, still in another campaign, keeps the account; the vote here no longer names it.
    assert park_row["external_id"] == "3003" and park_row["username"] == "park"
    assert purged == 1

    # Again: nothing more to do, nothing changes but the audit log.
    after = await dump(services, skip=("audit_log",))
    report = await services.privacy.purge(campaign, "test")
    assert report.outcome is PurgeOutcome.PURGED and set(report.counts.values()) == {0}
    assert await dump(services, skip=("audit_log",)) == after
    assert await snapshot(services, campaign) == before


async def test_the_consent_says_what_is_kept_why_and_how_long(services):
    raw = small_campaign(privacy={"retention_days": 30})
    campaign = await services.campaigns.get(
        (await services.campaigns.load(parse_campaign(raw))).campaign_id)
    draft = Draft(campaign.id, 1, Step.CONSENT)
    korean = question_text("ko", campaign, draft)
    assert "동의해 주세요" in korean and "모으는 것: 이 채팅 계정" in korean
    assert "쓰는 곳" in korean and "30일 뒤에 계정 정보와 연락처를 지웁니다" in korean
    # The contact for staff: that it is kept, why, and that only staff see it.
    assert "연락처(남긴 경우)" in korean and "운영진이 사례 검토로 연락할 때" in korean
    assert "연락처는 운영진만 봅니다" in korean
    english = question_text("en", campaign, draft)
    assert "30 days after" in english and "your contact if you left one" in english

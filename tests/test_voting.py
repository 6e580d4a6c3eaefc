"""Voting against the real SQLite file: every outcome of the voting service, the window taken
from stored phase times, the database's own one-vote rule, and bursts of concurrent votes."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from bot.campaign_file import parse_campaign
from bot.domain import NO_VOTES, CaseStatus, VoteOutcome, votes_token
from bot.i18n import plain
from bot.services.identity import IdentityService
from bot.services.voting import RECEIPT_ALPHABET, VotingService
from handlers.telegram import callbacks as cb
from handlers.telegram.offline import TelegramUser
from handlers.telegram.processor import MAX_WAITING
from storage.database import Database
from storage.repositories import CaseRepository, VoteRepository
from storage.tables import audit_log, citizens, votes
from tests.conftest import KIM, VOTING_CLOSES, VOTING_OPENS, small_campaign

RECEIPT = re.compile(rf"^[{RECEIPT_ALPHABET}]{{4}}-[{RECEIPT_ALPHABET}]{{4}}$")
SECOND = timedelta(seconds=1)


async def load(services, **changes):
    report = await services.campaigns.load(parse_campaign(small_campaign(**changes)))
    return await services.campaigns.get(report.campaign_id)


async def case_ids(services, campaign) -> dict[str, int]:
    async with services.db.read() as conn:
        found = await CaseRepository(conn).from_file(campaign.id)
    return {key: case.id for key, case in found.items()}


async def citizen(services, number: int = 1):
    return await services.citizens.identify("telegram", str(number), "ko")


async def vote_rows(services) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(votes.select().order_by(votes.c.id))
        return [dict(r) for r in rows.mappings()]


async def vote_changes(services) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            audit_log.select().where(audit_log.c.action == "vote.changed").order_by(audit_log.c.id)
        )
        return [dict(r) for r in rows.mappings()]


async def set_status(services, case_id: int, status: CaseStatus) -> None:
    async with services.db.write() as conn:
        await CaseRepository(conn).set_status(case_id, status, services.clock.now())


# --- one citizen, one campaign: each outcome ---------------------------------------------


async def test_recorded_stores_one_row_with_a_receipt(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)

    result = await services.voting.cast_vote(campaign, kim, ids["case-4"])

    assert result.outcome is VoteOutcome.RECORDED
    assert result.stored
    assert result.case.id == ids["case-4"]
    assert result.previous_case is None and result.boundary is None
    assert RECEIPT.match(result.vote.receipt), result.vote.receipt
    assert result.vote.slot == 1
    assert result.vote.cast_at == clock.now()
    rows = await vote_rows(services)
    assert rows == [{
        "id": result.vote.id, "campaign_id": campaign.id, "citizen_id": kim.id,
        "case_id": ids["case-4"], "slot": 1, "cast_at": clock.now(),
        "receipt": result.vote.receipt, "voter": f"a:{kim.id}",
    }]
    held = await services.voting.current_votes(campaign, kim)
    assert [(h.vote, h.case.id) for h in held] == [(result.vote, ids["case-4"])]
    assert await vote_changes(services) == []


async def test_receipts_use_the_read_aloud_alphabet(services, campaign):
    ids = await case_ids(services, campaign)
    receipts = []
    for number in range(1, 21):
        result = await services.voting.cast_vote(
            campaign, await citizen(services, number), ids["case-1"]
        )
        receipts.append(result.vote.receipt)
    assert all(RECEIPT.match(r) for r in receipts), receipts
    assert not set("".join(receipts)) & set("01OIL")


async def test_same_case_again_changes_nothing(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    first = await services.voting.cast_vote(campaign, kim, ids["case-2"])
    before = await vote_rows(services)

    clock.advance(timedelta(minutes=5))
    again = await services.voting.cast_vote(campaign, kim, ids["case-2"])

    assert again.outcome is VoteOutcome.SAME_CASE
    assert not again.stored
    assert again.vote == first.vote
    assert again.case.id == ids["case-2"]
    assert await vote_rows(services) == before
    assert await vote_changes(services) == []


async def test_changed_moves_the_one_row_and_writes_the_audit_log(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    first = await services.voting.cast_vote(campaign, kim, ids["case-1"])

    clock.advance(timedelta(minutes=30))
    changed = await services.voting.cast_vote(campaign, kim, ids["case-2"])

    assert changed.outcome is VoteOutcome.CHANGED
    assert changed.stored
    assert changed.previous_case.id == ids["case-1"]
    assert changed.case.id == ids["case-2"]
    assert changed.vote.id == first.vote.id and changed.vote.slot == 1
    assert changed.vote.cast_at == clock.now()
    assert RECEIPT.match(changed.vote.receipt)
    rows = await vote_rows(services)
    assert rows == [{
        "id": first.vote.id, "campaign_id": campaign.id, "citizen_id": kim.id,
        "case_id": ids["case-2"], "slot": 1, "cast_at": clock.now(),
        "receipt": changed.vote.receipt, "voter": f"a:{kim.id}",
    }]
    log = await vote_changes(services)
    assert len(log) == 1
    entry = log[0]
    assert entry["at"] == clock.now()
    assert entry["actor"] == f"citizen:{kim.id}"
    assert entry["campaign_id"] == campaign.id
    assert entry["detail"] == {"from_case": ids["case-1"], "to_case": ids["case-2"],
                               "receipt": changed.vote.receipt}


async def test_not_open_yet_one_second_before_opening(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    clock.set(VOTING_OPENS - SECOND)

    result = await services.voting.cast_vote(campaign, kim, ids["case-1"])

    assert result.outcome is VoteOutcome.NOT_OPEN_YET
    assert result.boundary == VOTING_OPENS
    assert result.vote is None and not result.stored
    assert await vote_rows(services) == []

    clock.set(VOTING_OPENS)  # the start is inclusive
    opened = await services.voting.cast_vote(campaign, kim, ids["case-1"])
    assert opened.outcome is VoteOutcome.RECORDED
    assert len(await vote_rows(services)) == 1


@pytest.mark.parametrize("after_close", [timedelta(0), SECOND, timedelta(days=30)])
async def test_closed_at_and_after_the_end(services, campaign, clock, after_close):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    clock.set(VOTING_CLOSES + after_close)

    result = await services.voting.cast_vote(campaign, kim, ids["case-1"])

    assert result.outcome is VoteOutcome.CLOSED
    assert result.boundary == VOTING_CLOSES
    assert result.vote is None
    assert await vote_rows(services) == []


async def test_last_second_before_the_close_still_counts(services, campaign, clock):
    ids = await case_ids(services, campaign)
    clock.set(VOTING_CLOSES - SECOND)
    result = await services.voting.cast_vote(campaign, await citizen(services), ids["case-1"])
    assert result.outcome is VoteOutcome.RECORDED


async def test_a_vote_after_the_close_is_refused_without_any_scheduler(services, campaign, clock):
    """Nothing but the clock moves: no job closes the vote, the stored phase times do."""
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    first = await services.voting.cast_vote(campaign, kim, ids["case-1"])
    assert first.outcome is VoteOutcome.RECORDED

    clock.set(VOTING_CLOSES + SECOND)
    late = await services.voting.cast_vote(campaign, kim, ids["case-2"])
    intent = await services.voting.intent(campaign, kim, ids["case-2"])
    newcomer = await services.voting.cast_vote(campaign, await citizen(services, 2), ids["case-3"])

    assert late.outcome is VoteOutcome.CLOSED and late.boundary == VOTING_CLOSES
    assert intent.outcome is VoteOutcome.CLOSED and intent.boundary == VOTING_CLOSES
    assert newcomer.outcome is VoteOutcome.CLOSED
    rows = await vote_rows(services)
    assert [(r["citizen_id"], r["case_id"], r["receipt"]) for r in rows] == [
        (kim.id, ids["case-1"], first.vote.receipt)
    ]
    assert await vote_changes(services) == []


async def test_unknown_case_for_a_missing_id(services, campaign):
    kim = await citizen(services)
    for case_id in (999_999, 0, -1):
        result = await services.voting.cast_vote(campaign, kim, case_id)
        assert result.outcome is VoteOutcome.UNKNOWN_CASE
        assert result.vote is None and result.case is None
    assert await vote_rows(services) == []


async def test_unknown_case_for_a_case_of_another_campaign(services, campaign):
    other = await load(services, slug="other-2024",
                       title={"ko": "다른 공모 2024", "en": "Another competition 2024"})
    ours, theirs = await case_ids(services, campaign), await case_ids(services, other)
    assert set(ours) == set(theirs)  # the same keys: keys are per campaign
    assert not set(ours.values()) & set(theirs.values())
    kim = await citizen(services)

    result = await services.voting.cast_vote(campaign, kim, theirs["case-1"])
    intent = await services.voting.intent(campaign, kim, theirs["case-1"])

    assert result.outcome is VoteOutcome.UNKNOWN_CASE
    assert intent.outcome is VoteOutcome.UNKNOWN_CASE
    assert await vote_rows(services) == []
    # The other campaign's own case is fine in the other campaign.
    own = await services.voting.cast_vote(other, kim, theirs["case-1"])
    assert own.outcome is VoteOutcome.RECORDED
    rows = await vote_rows(services)
    assert [(r["campaign_id"], r["case_id"]) for r in rows] == [(other.id, theirs["case-1"])]


@pytest.mark.parametrize(
    "status",
    [CaseStatus.REMOVED, CaseStatus.HIDDEN, CaseStatus.REJECTED, CaseStatus.SUBMITTED],
)
async def test_unknown_case_when_not_approved(services, campaign, status):
    ids = await case_ids(services, campaign)
    await set_status(services, ids["case-5"], status)
    kim = await citizen(services)

    result = await services.voting.cast_vote(campaign, kim, ids["case-5"])
    intent = await services.voting.intent(campaign, kim, ids["case-5"])

    assert result.outcome is VoteOutcome.UNKNOWN_CASE
    assert intent.outcome is VoteOutcome.UNKNOWN_CASE
    assert await vote_rows(services) == []


async def test_changing_to_a_hidden_case_keeps_the_vote(services, campaign):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    first = await services.voting.cast_vote(campaign, kim, ids["case-1"])
    await set_status(services, ids["case-2"], CaseStatus.HIDDEN)

    result = await services.voting.cast_vote(campaign, kim, ids["case-2"])

    assert result.outcome is VoteOutcome.UNKNOWN_CASE
    assert [(r["case_id"], r["receipt"]) for r in await vote_rows(services)] == [
        (ids["case-1"], first.vote.receipt)
    ]


# --- campaign rules ---------------------------------------------------------------------


async def test_no_change_allowed_says_already_voted(services):
    campaign = await load(services, voting={"votes_per_citizen": 1, "allow_change": False})
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    first = await services.voting.cast_vote(campaign, kim, ids["case-1"])
    assert first.outcome is VoteOutcome.RECORDED

    intent = await services.voting.intent(campaign, kim, ids["case-2"])
    refused = await services.voting.cast_vote(campaign, kim, ids["case-2"])
    same = await services.voting.cast_vote(campaign, kim, ids["case-1"])

    assert intent.outcome is VoteOutcome.ALREADY_VOTED
    assert refused.outcome is VoteOutcome.ALREADY_VOTED and not refused.stored
    assert refused.vote == first.vote
    assert same.outcome is VoteOutcome.SAME_CASE
    rows = await vote_rows(services)
    assert [(r["case_id"], r["receipt"]) for r in rows] == [(ids["case-1"], first.vote.receipt)]
    assert await vote_changes(services) == []


async def test_three_votes_per_citizen(services):
    campaign = await load(services, voting={"votes_per_citizen": 3, "allow_change": True})
    ids = await case_ids(services, campaign)
    kim = await citizen(services)

    results = [
        await services.voting.cast_vote(campaign, kim, ids[key])
        for key in ("case-1", "case-2", "case-3")
    ]
    assert [r.outcome for r in results] == [VoteOutcome.RECORDED] * 3
    assert [r.vote.slot for r in results] == [1, 2, 3]
    assert len({r.vote.receipt for r in results}) == 3

    fourth = await services.voting.cast_vote(campaign, kim, ids["case-4"])
    assert fourth.outcome is VoteOutcome.NO_VOTES_LEFT and not fourth.stored
    assert (await services.voting.intent(campaign, kim, ids["case-4"])).outcome is (
        VoteOutcome.NO_VOTES_LEFT
    )

    again = await services.voting.cast_vote(campaign, kim, ids["case-2"])
    assert again.outcome is VoteOutcome.SAME_CASE
    assert again.vote == results[1].vote

    rows = await vote_rows(services)
    assert [(r["slot"], r["case_id"]) for r in rows] == [
        (1, ids["case-1"]), (2, ids["case-2"]), (3, ids["case-3"])
    ]
    held = await services.voting.current_votes(campaign, kim)
    assert [h.case.key for h in held] == ["case-1", "case-2", "case-3"]


# --- the database's own rule ------------------------------------------------------------


def second_worker(db, clock) -> VotingService:
    """The voting service of another process on the same database."""
    return VotingService(db, clock, IdentityService(db, clock, None))


def _vote_values(campaign_id, citizen_id, case_id, slot, now, receipt="AAAA-AAAA"):
    return {"campaign_id": campaign_id, "citizen_id": citizen_id, "case_id": case_id,
            "slot": slot, "cast_at": now, "receipt": receipt, "voter": f"a:{citizen_id}"}


async def test_database_refuses_a_second_vote_in_the_same_slot(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    async with services.db.write() as conn:
        await conn.execute(votes.insert().values(
            **_vote_values(campaign.id, kim.id, ids["case-1"], 1, clock.now())))

    with pytest.raises(IntegrityError):
        async with services.db.write() as conn:
            await conn.execute(votes.insert().values(
                **_vote_values(campaign.id, kim.id, ids["case-2"], 1, clock.now(), "BBBB-BBBB")))

    rows = await vote_rows(services)
    assert [(r["case_id"], r["slot"]) for r in rows] == [(ids["case-1"], 1)]


async def test_database_refuses_two_votes_for_one_case_and_slot_zero(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    async with services.db.write() as conn:
        await conn.execute(votes.insert().values(
            **_vote_values(campaign.id, kim.id, ids["case-1"], 1, clock.now())))
    for values in (
        _vote_values(campaign.id, kim.id, ids["case-1"], 2, clock.now()),  # same case
        _vote_values(campaign.id, kim.id, ids["case-2"], 0, clock.now()),  # slot must be >= 1
        _vote_values(campaign.id, kim.id, 999_999, 2, clock.now()),  # no such case
    ):
        with pytest.raises(IntegrityError):
            async with services.db.write() as conn:
                await conn.execute(votes.insert().values(**values))
    assert len(await vote_rows(services)) == 1


# --- concurrency -------------------------------------------------------------------------


async def test_hundred_concurrent_votes_by_one_citizen_leave_one_row(services, campaign):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    cases = [ids["case-1"], ids["case-2"], ids["case-3"]]

    results = await asyncio.gather(*(
        services.voting.cast_vote(campaign, kim, cases[i % len(cases)]) for i in range(100)
    ))

    outcomes = [r.outcome for r in results]
    assert outcomes.count(VoteOutcome.RECORDED) == 1
    assert set(outcomes) <= {VoteOutcome.RECORDED, VoteOutcome.CHANGED, VoteOutcome.SAME_CASE}
    rows = await vote_rows(services)
    assert len(rows) == 1
    assert rows[0]["slot"] == 1
    stored = {(r.vote.case_id, r.vote.receipt) for r in results if r.stored}
    assert (rows[0]["case_id"], rows[0]["receipt"]) in stored
    assert len(await vote_changes(services)) == outcomes.count(VoteOutcome.CHANGED)


async def test_concurrent_votes_without_change_record_exactly_one(services):
    campaign = await load(services, voting={"votes_per_citizen": 1, "allow_change": False})
    ids = sorted((await case_ids(services, campaign)).values())
    kim = await citizen(services)

    results = await asyncio.gather(*(
        services.voting.cast_vote(campaign, kim, ids[i % len(ids)]) for i in range(100)
    ))

    outcomes = [r.outcome for r in results]
    assert outcomes.count(VoteOutcome.RECORDED) == 1
    assert set(outcomes) <= {VoteOutcome.RECORDED, VoteOutcome.ALREADY_VOTED,
                             VoteOutcome.SAME_CASE}
    assert len(await vote_rows(services)) == 1


async def test_concurrent_votes_fill_exactly_the_allowed_slots(services):
    campaign = await load(services, voting={"votes_per_citizen": 3, "allow_change": True})
    ids = sorted((await case_ids(services, campaign)).values())
    kim = await citizen(services)

    results = await asyncio.gather(*(
        services.voting.cast_vote(campaign, kim, ids[i % len(ids)]) for i in range(100)
    ))

    assert [r.outcome for r in results].count(VoteOutcome.RECORDED) == 3
    rows = await vote_rows(services)
    assert sorted(r["slot"] for r in rows) == [1, 2, 3]
    assert len({r["case_id"] for r in rows}) == 3


async def test_hundred_citizens_at_once_leave_hundred_rows(services, campaign):
    ids = sorted((await case_ids(services, campaign)).values())
    people = await asyncio.gather(*(citizen(services, n) for n in range(1, 101)))
    assert len({p.id for p in people}) == 100

    results = await asyncio.gather(*(
        services.voting.cast_vote(campaign, person, ids[i % len(ids)])
        for i, person in enumerate(people)
    ))

    assert [r.outcome for r in results] == [VoteOutcome.RECORDED] * 100
    rows = await vote_rows(services)
    assert len(rows) == 100
    assert {r["citizen_id"] for r in rows} == {p.id for p in people}
    assert all(r["slot"] == 1 for r in rows)
    receipts = [r["receipt"] for r in rows]
    assert len(set(receipts)) == 100
    assert all(RECEIPT.match(r) for r in receipts)
    assert sorted(receipts) == sorted(r.vote.receipt for r in results)


async def test_two_processes_on_one_file_still_leave_one_row(services, campaign, clock):
    """Two Database objects (as two bot processes would have) share only the SQLite file, so
    only the database serialises them."""
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    second_db = Database(services.db.url)
    try:
        first, second = services.voting, second_worker(second_db, clock)
        calls = []
        for i in range(50):
            calls.append(first.cast_vote(campaign, kim, ids["case-1"] if i % 2 else ids["case-2"]))
            calls.append(second.cast_vote(campaign, kim, ids["case-3"] if i % 2 else ids["case-4"]))
        results = await asyncio.gather(*calls)
    finally:
        await second_db.dispose()

    assert [r.outcome for r in results].count(VoteOutcome.RECORDED) == 1
    rows = await vote_rows(services)
    assert len(rows) == 1
    changed = [r for r in results if r.outcome is VoteOutcome.CHANGED]
    assert len(await vote_changes(services)) == len(changed)


async def test_hundred_concurrent_confirm_presses_leave_one_row_and_all_are_answered(
    telegram, services, campaign
):
    ids = await case_ids(services, campaign)
    presses = [
        cb.encode(cb.ConfirmVote(campaign.id, ids["case-1" if i % 2 else "case-2"],
                                 cb.ListState(), NO_VOTES))
        for i in range(100)
    ]
    start = len(telegram.request.calls)

    await asyncio.gather(*(telegram.press(KIM, data=data) for data in presses))

    rows = await vote_rows(services)
    assert len(rows) == 1
    assert rows[0]["case_id"] in (ids["case-1"], ids["case-2"])
    async with services.db.read() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(citizens)) == 1
    calls = telegram.request.calls[start:]
    answers = [c for c in calls if c.method == "answerCallbackQuery"]
    assert len(answers) == 100  # every press is answered
    assert all("show_alert" not in c.params for c in answers)  # no error, no "expired"
    # One press runs, MAX_WAITING wait behind it; the rest are dropped (a bounded queue per
    # user) with a "wait a moment" answer instead of a screen.
    handled = 1 + MAX_WAITING
    too_fast = [c for c in answers if c.params.get("text") == plain("ko", "too_fast")]
    assert len(too_fast) == 100 - handled
    edits = [c for c in calls if c.method == "editMessageText"]
    assert len(edits) == handled
    assert sum("투표가 기록되었습니다" in c.text for c in edits) == 1
    assert all(c.chat_id == KIM.id for c in edits)
    assert not any("문제가 생겼습니다" in (c.text or "") for c in calls)


async def test_hundred_users_pressing_at_once_leave_hundred_rows(telegram, services, campaign):
    ids = sorted((await case_ids(services, campaign)).values())
    users = [TelegramUser(500_000 + n, f"시민{n}", "ko") for n in range(100)]

    await asyncio.gather(*(
        telegram.press(user, data=cb.encode(cb.ConfirmVote(campaign.id, ids[n % len(ids)],
                                                            cb.ListState(), NO_VOTES)))
        for n, user in enumerate(users)
    ))

    rows = await vote_rows(services)
    assert len(rows) == 100
    assert len({r["citizen_id"] for r in rows}) == 100
    assert len({r["receipt"] for r in rows}) == 100
    edits = [c for c in telegram.request.calls if c.method == "editMessageText"]
    assert sorted(c.chat_id for c in edits) == sorted(u.id for u in users)
    assert all("투표가 기록되었습니다" in c.text for c in edits)


# --- intent ------------------------------------------------------------------------------


async def _snapshot(services) -> tuple[list, list]:
    async with services.db.read() as conn:
        vote_list = (await conn.execute(votes.select().order_by(votes.c.id))).all()
        audit = (await conn.execute(audit_log.select().order_by(audit_log.c.id))).all()
    return vote_list, audit


async def test_intent_changes_nothing(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    before = await _snapshot(services)

    fresh = await services.voting.intent(campaign, kim, ids["case-1"])
    assert fresh.outcome is VoteOutcome.RECORDED
    assert fresh.case.id == ids["case-1"] and fresh.vote is None and fresh.previous_case is None
    assert await _snapshot(services) == before
    assert await vote_rows(services) == []

    first = await services.voting.cast_vote(campaign, kim, ids["case-1"])
    before = await _snapshot(services)

    change = await services.voting.intent(campaign, kim, ids["case-2"])
    assert change.outcome is VoteOutcome.CHANGED
    assert change.previous_case.id == ids["case-1"] and change.case.id == ids["case-2"]
    assert change.vote == first.vote
    same = await services.voting.intent(campaign, kim, ids["case-1"])
    assert same.outcome is VoteOutcome.SAME_CASE and same.vote == first.vote
    unknown = await services.voting.intent(campaign, kim, 999_999)
    assert unknown.outcome is VoteOutcome.UNKNOWN_CASE and unknown.case is None

    clock.set(VOTING_OPENS - SECOND)
    early = await services.voting.intent(campaign, kim, ids["case-2"])
    assert early.outcome is VoteOutcome.NOT_OPEN_YET and early.boundary == VOTING_OPENS

    assert await _snapshot(services) == before


# --- a confirmation made for other votes -----------------------------------------------------


async def test_a_cast_made_for_votes_since_changed_is_stale_and_changes_nothing(
        services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    asked_first = await services.voting.intent(campaign, kim, ids["case-1"])
    assert asked_first.held == NO_VOTES
    first = await services.voting.cast_vote(campaign, kim, ids["case-1"],
                                             made_for=asked_first.held)
    assert first.outcome is VoteOutcome.RECORDED
    asked_change = await services.voting.intent(campaign, kim, ids["case-2"])
    assert asked_change.held == votes_token([first.vote]) != NO_VOTES
    changed = await services.voting.cast_vote(campaign, kim, ids["case-2"],
                                              made_for=asked_change.held)
    assert changed.outcome is VoteOutcome.CHANGED
    before = await _snapshot(services)

    clock.advance(SECOND)
    for case, made_for in (("case-1", asked_first.held), ("case-3", asked_change.held),
                           ("case-2", asked_change.held), ("case-1", "0a1b2c3d")):
        stale = await services.voting.cast_vote(campaign, kim, ids[case], made_for=made_for)
        assert stale.outcome is VoteOutcome.STALE and not stale.stored, case
        assert stale.vote is None
    assert await _snapshot(services) == before

    # Asked again, for the votes as they are now: it goes through.
    again = await services.voting.intent(campaign, kim, ids["case-1"])
    assert again.held == votes_token([changed.vote])
    moved = await services.voting.cast_vote(campaign, kim, ids["case-1"], made_for=again.held)
    assert moved.outcome is VoteOutcome.CHANGED and moved.previous_case.id == ids["case-2"]


async def test_a_stale_cast_outside_the_window_says_the_window(services, campaign, clock):
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    await services.voting.cast_vote(campaign, kim, ids["case-1"])
    clock.set(VOTING_CLOSES)
    closed = await services.voting.cast_vote(campaign, kim, ids["case-2"], made_for=NO_VOTES)
    assert closed.outcome is VoteOutcome.CLOSED


async def test_one_confirmation_pressed_on_two_processes_at_once_moves_the_vote_once(
        services, campaign, clock, monkeypatch):
    """Two presses of confirmations made for the same vote, for two cases, on two processes,
    each trying to read the votes before either writes: exactly one moves the vote; the other
    decides on the vote as moved and changes nothing."""
    ids = await case_ids(services, campaign)
    kim = await citizen(services)
    first = await services.voting.cast_vote(campaign, kim, ids["case-1"])
    made_for = votes_token([first.vote])
    real_read = VoteRepository.of_voter
    reads, both_read = [], asyncio.Event()

    async def read_then_wait_for_the_other(self, campaign_id, voter, lock=False):
        held = await real_read(self, campaign_id, voter, lock)
        reads.append(held)
        if len(reads) >= 2:
            both_read.set()
        # The other may be waiting for our write (SQLite's one writer, PostgreSQL's row lock).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(both_read.wait(), 1.0)
        return held

    monkeypatch.setattr(VoteRepository, "of_voter", read_then_wait_for_the_other)
    second_db = Database(services.db.url)
    try:
        results = await asyncio.gather(
            services.voting.cast_vote(campaign, kim, ids["case-2"], made_for=made_for),
            second_worker(second_db, clock).cast_vote(campaign, kim, ids["case-3"],
                                                      made_for=made_for))
    finally:
        await second_db.dispose()

    assert sorted(r.outcome.value for r in results) == ["changed", "stale"]
    [winner] = [r for r in results if r.outcome is VoteOutcome.CHANGED]
    [row] = await vote_rows(services)
    assert (row["case_id"], row["receipt"]) == (winner.case.id, winner.vote.receipt)
    assert len(await vote_changes(services)) == 1

"""Sending in a case by chat (SubmissionService) against the real database: a draft stored at
every step, answers checked against the step the draft is at, the submission phase and the
per-citizen limit checked on every call, and the submitted case waiting for moderation."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.campaign_file import parse_campaign
from bot.domain import Case, CaseStatus, CaseText
from bot.drafts import CHOICE_STEPS, ProblemKind, Step, choices, draft_token
from bot.services.moderation import ModerationOutcome
from bot.services.submissions import (
    SubmissionOutcome,
    SubmissionService,
    WithdrawOutcome,
    WithdrawReply,
)
from storage.repositories import CaseRepository
from storage.tables import audit_log, cases, submission_drafts
from tests.conftest import SEOUL, small_campaign

SUBMISSION_OPENS = datetime(2024, 10, 7, 9, 0, tzinfo=SEOUL)
SUBMISSION_CLOSES = datetime(2024, 11, 24, 18, 0, tzinfo=SEOUL)
WRITING = datetime(2024, 11, 1, 10, 0, tzinfo=SEOUL)
REFERENCE = re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$")

Out = SubmissionOutcome
ANSWERS = {
    Step.TYPE: "organization",
    Step.NAME: "판암1동 주민자치회",
    Step.CONTACT: "010-2345-6789",
    Step.DISTRICT: "dong",
    Step.NEIGHBOURHOOD: "판암1동",
    Step.CATEGORY: "care",
    Step.TITLE: "골목 화단 가꾸기",
    Step.SUMMARY: "주민들이 함께 골목 화단을 가꿉니다.",
    Step.BODY: "버려진 골목 모퉁이에 주민 스무 명이 모여 꽃을 심고, 매주 토요일 아침에 "
               "돌아가며 물을 주고 쓰레기를 치웁니다.",
    Step.PHOTO: "AgACAgUAAxkBAAIB-photo",
    Step.CONSENT: "yes",
}


@pytest.fixture(autouse=True)
def writing(clock):
    """Every test starts inside the submission phase."""
    clock.set(WRITING)
    return clock


@pytest.fixture
async def kim(services):
    return await services.citizens.identify("telegram", "501", "ko")


@pytest.fixture
async def lee(services):
    return await services.citizens.identify("telegram", "502", "ko")


async def load(services, **changes):
    report = await services.campaigns.load(parse_campaign(small_campaign(**changes)))
    return await services.campaigns.get(report.campaign_id)


async def answer(services, campaign, who, value: str):
    """Answer the draft's current step the way a channel would: a button, text or a photo."""
    subs = services.submissions
    draft = await subs.draft_of(who)
    if draft.step in CHOICE_STEPS:
        index = choices(campaign, draft, draft.step).index(value)
        return await subs.choose(campaign, who, draft.step, index)
    if draft.step is Step.PHOTO:
        return await subs.attach_photo(campaign, who, value)
    return await subs.type_text(campaign, who, value)


async def fill(services, campaign, who, until: Step = Step.PREVIEW, **changes):
    """Start a draft and answer every step (ANSWERS, with `changes` by step value) up to
    `until`."""
    answers = {**ANSWERS, **{Step(k): v for k, v in changes.items()}}
    reply = await services.submissions.start(campaign, who)
    assert reply.outcome is Out.STEP, reply
    while reply.draft.step is not until:
        reply = await answer(services, campaign, who, answers[reply.draft.step])
        assert reply.outcome is Out.STEP, reply
    return reply


async def draft_rows(services) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(submission_drafts.select())
        return [dict(r) for r in rows.mappings()]


async def chat_cases(services, campaign) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(
            cases.select().where(cases.c.campaign_id == campaign.id, cases.c.source == "chat")
            .order_by(cases.c.id))
        return [dict(r) for r in rows.mappings()]


async def audited(services, action: str) -> list[dict]:
    async with services.db.read() as conn:
        rows = await conn.execute(sa.select(audit_log).where(audit_log.c.action == action))
        return [dict(r) for r in rows.mappings()]


async def unchanged_by(clock, services, call):
    """Run `call` a minute later and check the stored draft did not change (a save would at
    least move updated_at); returns the reply."""
    before = await draft_rows(services)
    clock.advance(timedelta(minutes=1))
    reply = await call()
    assert await draft_rows(services) == before
    return reply


# ------------------------------------------------------------------------------------------
# From start to submit
# ------------------------------------------------------------------------------------------


async def test_a_complete_draft_becomes_a_submitted_case(services, campaign, clock, kim):
    await fill(services, campaign, kim)
    clock.advance(timedelta(minutes=5))
    reply = await services.submissions.submit(campaign, kim, by="telegram:501")

    assert reply.outcome is Out.SUBMITTED and reply.ends
    reference = reply.case.key
    assert REFERENCE.match(reference), reference
    assert not set(reference) & set("01ILO")  # read aloud on a phone
    [row] = await chat_cases(services, campaign)
    assert row["id"] == reply.case.id
    assert row["key"] == reference
    assert row["status"] == "submitted" and row["source"] == "chat"
    assert row["submitter_id"] == kim.id and row["submitter_type"] == "organization"
    assert row["consented_at"] == clock.now() and row["created_at"] == clock.now()
    assert (row["district"], row["neighbourhood"], row["category"]) == ("dong", "판암1동", "care")
    assert (row["title_ko"], row["summary_ko"], row["body_ko"], row["organization_ko"]) == (
        ANSWERS[Step.TITLE], ANSWERS[Step.SUMMARY], ANSWERS[Step.BODY], ANSWERS[Step.NAME])
    assert row["image"] == ANSWERS[Step.PHOTO] and row["title_en"] is None
    assert row["status_reason"] is None

    [entry] = await audited(services, "case.submitted")
    assert entry["actor"] == "telegram:501" and entry["campaign_id"] == campaign.id
    assert entry["detail"] == {"case_id": row["id"], "key": reference}
    assert await draft_rows(services) == []
    assert [c.key for c in await services.moderation.queue(campaign)] == [reference]


async def test_a_skipped_photo_submits_a_case_without_a_picture(services, campaign, kim):
    await fill(services, campaign, kim, until=Step.PHOTO)
    reply = await services.submissions.skip_photo(campaign, kim)
    assert reply.outcome is Out.STEP and reply.draft.step is Step.CONSENT
    assert (await services.submissions.draft_of(kim)).answer(Step.PHOTO) == ""
    await answer(services, campaign, kim, "yes")
    assert (await services.submissions.submit(campaign, kim, "telegram:501")).outcome \
        is Out.SUBMITTED
    [row] = await chat_cases(services, campaign)
    assert row["image"] is None


async def test_the_draft_is_stored_at_every_step(services, campaign, clock, kim):
    reply = await services.submissions.start(campaign, kim)
    started = clock.now()
    seen = [reply.draft.step]
    while reply.draft.step is not Step.PREVIEW:
        clock.advance(timedelta(minutes=2))
        reply = await answer(services, campaign, kim, ANSWERS[reply.draft.step])
        elsewhere = SubmissionService(services.db, clock)  # as after a restart
        stored = await elsewhere.draft_of(kim)
        assert stored.step is reply.draft.step
        assert dict(stored.answers) == dict(reply.draft.answers)
        [row] = await draft_rows(services)
        assert row["updated_at"] == clock.now() and row["started_at"] == started
        seen.append(stored.step)
    assert seen == list(Step)
    assert dict(stored.answers) == {s.value: v for s, v in ANSWERS.items()}


async def test_start_again_goes_back_to_the_draft_under_way(services, campaign, kim):
    await fill(services, campaign, kim, until=Step.TITLE)
    reply = await services.submissions.start(campaign, kim)
    assert reply.outcome is Out.STEP and reply.resumed
    assert reply.draft.step is Step.TITLE
    assert reply.draft.answer(Step.NAME) == ANSWERS[Step.NAME]
    assert len(await draft_rows(services)) == 1


async def test_typed_text_is_stored_tidied(services, campaign, kim):
    await fill(services, campaign, kim, until=Step.TITLE)
    await services.submissions.type_text(campaign, kim, "  골목\n화단   가꾸기 ")
    assert (await services.submissions.draft_of(kim)).answer(Step.TITLE) == "골목 화단 가꾸기"


# ------------------------------------------------------------------------------------------
# Answers that are not taken
# ------------------------------------------------------------------------------------------


async def test_a_button_of_another_step_is_stale_and_changes_nothing(
        services, campaign, clock, kim):
    subs = services.submissions
    await fill(services, campaign, kim, until=Step.DISTRICT)
    for call in (lambda: subs.choose(campaign, kim, Step.TYPE, 0),
                 lambda: subs.choose(campaign, kim, Step.CONSENT, 0),
                 lambda: subs.skip_photo(campaign, kim),
                 lambda: subs.keep(campaign, kim, Step.NAME),
                 lambda: subs.back(campaign, kim, Step.NAME),
                 lambda: subs.edit(campaign, kim, Step.TITLE),  # not at the preview
                 lambda: subs.current(campaign, kim, Step.TYPE),
                 lambda: subs.submit(campaign, kim, "telegram:501")):
        reply = await unchanged_by(clock, services, call)
        assert reply.outcome is Out.STALE and reply.draft.step is Step.DISTRICT
    assert (await subs.draft_of(kim)).answer(Step.TYPE) == ANSWERS[Step.TYPE]
    assert await chat_cases(services, campaign) == []


@pytest.mark.parametrize("index", [2, 99, -1])
async def test_a_button_index_out_of_range_is_stale(services, campaign, clock, kim, index):
    await fill(services, campaign, kim, until=Step.DISTRICT)
    reply = await unchanged_by(clock, services, lambda: services.submissions.choose(
        campaign, kim, Step.DISTRICT, index))
    assert reply.outcome is Out.STALE and reply.draft.step is Step.DISTRICT
    assert (await services.submissions.draft_of(kim)).answer(Step.DISTRICT) is None


async def test_refusing_consent_is_asked_again(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.CONSENT)
    reply = await unchanged_by(clock, services, lambda: services.submissions.choose(
        campaign, kim, Step.CONSENT, 1))
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is ProblemKind.CONSENT_NEEDED
    stored = await services.submissions.draft_of(kim)
    assert stored.step is Step.CONSENT and stored.answer(Step.CONSENT) is None


async def test_typed_text_where_buttons_are_offered(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.CATEGORY)
    reply = await unchanged_by(clock, services, lambda: services.submissions.type_text(
        campaign, kim, "care"))
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is ProblemKind.USE_BUTTONS
    assert (await services.submissions.draft_of(kim)).answer(Step.CATEGORY) is None


async def test_a_photo_where_text_is_asked(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.SUMMARY)
    reply = await unchanged_by(clock, services, lambda: services.submissions.attach_photo(
        campaign, kim, "photo-id"))
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is ProblemKind.NOT_TEXT
    assert (await services.submissions.draft_of(kim)).answer(Step.PHOTO) is None


async def test_a_photo_where_buttons_are_offered(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.TYPE)
    reply = await unchanged_by(clock, services, lambda: services.submissions.attach_photo(
        campaign, kim, "photo-id"))
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is ProblemKind.USE_BUTTONS


@pytest.mark.parametrize("step, kind", [(Step.PHOTO, ProblemKind.NOT_A_PHOTO),
                                        (Step.BODY, ProblemKind.NOT_TEXT),
                                        (Step.DISTRICT, ProblemKind.USE_BUTTONS)])
async def test_a_message_of_the_wrong_kind(services, campaign, clock, kim, step, kind):
    await fill(services, campaign, kim, until=step)
    reply = await unchanged_by(clock, services, lambda: services.submissions.wrong_kind(
        campaign, kim))
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is kind
    assert reply.draft.step is step


async def test_typed_text_where_a_photo_is_asked(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.PHOTO)
    reply = await unchanged_by(clock, services, lambda: services.submissions.type_text(
        campaign, kim, "사진은 나중에"))
    # Not "a file cannot be taken": they typed text; the answer says a photo is expected.
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is ProblemKind.TEXT_AT_PHOTO


async def test_text_too_short_is_asked_again(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.BODY)
    reply = await unchanged_by(clock, services, lambda: services.submissions.type_text(
        campaign, kim, "짧아요"))
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is ProblemKind.TOO_SHORT
    assert (reply.problem.length, reply.problem.minimum) == (3, 50)
    assert (await services.submissions.draft_of(kim)).answer(Step.BODY) is None


async def test_answers_without_a_draft(services, campaign, kim):
    subs = services.submissions
    for reply in (await subs.type_text(campaign, kim, "안녕하세요"),
                  await subs.choose(campaign, kim, Step.TYPE, 0),
                  await subs.submit(campaign, kim, "telegram:501")):
        assert reply.outcome is Out.NO_DRAFT
    assert await draft_rows(services) == []
    assert await chat_cases(services, campaign) == []


# ------------------------------------------------------------------------------------------
# Back, keep, edit, cancel
# ------------------------------------------------------------------------------------------


async def test_back_and_keep(services, campaign, clock, kim):
    subs = services.submissions
    await fill(services, campaign, kim, until=Step.CATEGORY)
    reply = await subs.back(campaign, kim, Step.CATEGORY)
    assert reply.outcome is Out.STEP and reply.draft.step is Step.NEIGHBOURHOOD
    assert (await subs.draft_of(kim)).step is Step.NEIGHBOURHOOD
    reply = await subs.keep(campaign, kim, Step.NEIGHBOURHOOD)
    assert reply.draft.step is Step.CATEGORY
    stored = await subs.draft_of(kim)
    assert stored.step is Step.CATEGORY and stored.answer(Step.NEIGHBOURHOOD) == "판암1동"

    # Keeping a step that has no answer yet is stale.
    reply = await unchanged_by(clock, services, lambda: subs.keep(campaign, kim, Step.CATEGORY))
    assert reply.outcome is Out.STALE


async def test_back_to_the_district_and_a_new_one_forgets_the_neighbourhood(
        services, campaign, kim):
    subs = services.submissions
    await fill(services, campaign, kim, until=Step.CATEGORY)
    await subs.back(campaign, kim, Step.CATEGORY)
    await subs.back(campaign, kim, Step.NEIGHBOURHOOD)
    reply = await subs.choose(campaign, kim, Step.DISTRICT, 1)  # daedeok
    assert reply.draft.step is Step.NEIGHBOURHOOD
    stored = await subs.draft_of(kim)
    assert stored.answer(Step.DISTRICT) == "daedeok"
    assert stored.answer(Step.NEIGHBOURHOOD) is None


async def test_back_at_the_first_step_is_stale(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.TYPE)
    reply = await unchanged_by(clock, services, lambda: services.submissions.back(
        campaign, kim, Step.TYPE))
    assert reply.outcome is Out.STALE and reply.draft.step is Step.TYPE


async def test_edit_one_field_from_the_preview(services, campaign, kim):
    subs = services.submissions
    await fill(services, campaign, kim)
    reply = await subs.edit(campaign, kim, Step.TITLE)
    assert reply.outcome is Out.STEP and reply.draft.step is Step.TITLE
    stored = await subs.draft_of(kim)
    assert stored.step is Step.TITLE and stored.from_preview
    reply = await subs.type_text(campaign, kim, "모퉁이 꽃밭")
    assert reply.draft.step is Step.PREVIEW
    stored = await subs.draft_of(kim)
    assert stored.step is Step.PREVIEW and not stored.from_preview
    assert stored.answer(Step.TITLE) == "모퉁이 꽃밭"
    assert stored.answer(Step.SUMMARY) == ANSWERS[Step.SUMMARY]


async def test_edit_the_district_asks_for_the_neighbourhood_then_returns(
        services, campaign, kim):
    subs = services.submissions
    await fill(services, campaign, kim)
    await subs.edit(campaign, kim, Step.DISTRICT)
    reply = await subs.choose(campaign, kim, Step.DISTRICT, 1)  # daedeok
    assert reply.draft.step is Step.NEIGHBOURHOOD
    assert (await subs.draft_of(kim)).from_preview
    reply = await subs.choose(campaign, kim, Step.NEIGHBOURHOOD, 0)  # 송촌동
    assert reply.draft.step is Step.PREVIEW
    await subs.submit(campaign, kim, "telegram:501")
    [row] = await chat_cases(services, campaign)
    assert (row["district"], row["neighbourhood"]) == ("daedeok", "송촌동")


async def test_back_or_keep_while_editing_returns_to_the_preview_unchanged(
        services, campaign, kim):
    subs = services.submissions
    before = (await fill(services, campaign, kim)).draft
    await subs.edit(campaign, kim, Step.SUMMARY)
    reply = await subs.back(campaign, kim, Step.SUMMARY)
    assert reply.draft.step is Step.PREVIEW
    assert await subs.draft_of(kim) == before
    await subs.edit(campaign, kim, Step.CATEGORY)
    reply = await subs.keep(campaign, kim, Step.CATEGORY)
    assert reply.draft.step is Step.PREVIEW
    assert await subs.draft_of(kim) == before


async def test_back_while_editing_with_a_step_missing_goes_to_the_step_before(
        services, campaign, kim):
    """A new district forgets the neighbourhood: Back from it goes to the district, not to a
    preview with a gap; once answered, straight back to the preview."""
    subs = services.submissions
    await fill(services, campaign, kim)
    await subs.edit(campaign, kim, Step.DISTRICT)
    await subs.choose(campaign, kim, Step.DISTRICT, 1)  # daedeok, neighbourhood forgotten
    reply = await subs.back(campaign, kim, Step.NEIGHBOURHOOD)
    assert reply.draft.step is Step.DISTRICT and reply.draft.from_preview
    assert (await subs.draft_of(kim)).step is Step.DISTRICT
    await subs.choose(campaign, kim, Step.DISTRICT, 1)
    reply = await subs.choose(campaign, kim, Step.NEIGHBOURHOOD, 0)
    assert reply.draft.step is Step.PREVIEW
    assert await chat_cases(services, campaign) == []


async def test_edit_of_the_preview_itself_is_stale(services, campaign, clock, kim):
    await fill(services, campaign, kim)
    reply = await unchanged_by(clock, services, lambda: services.submissions.edit(
        campaign, kim, Step.PREVIEW))
    assert reply.outcome is Out.STALE


async def test_edit_of_a_step_the_draft_does_not_ask_is_stale(services, clock, kim):
    jung = {"key": "jung", "ko": "중구"}
    campaign = await load(services, districts=[*small_campaign()["districts"], jung])
    await fill(services, campaign, kim, district="jung")
    assert (await services.submissions.draft_of(kim)).answer(Step.NEIGHBOURHOOD) is None
    reply = await unchanged_by(clock, services, lambda: services.submissions.edit(
        campaign, kim, Step.NEIGHBOURHOOD))
    assert reply.outcome is Out.STALE


async def test_cancel_deletes_the_draft(services, campaign, kim, lee):
    await fill(services, campaign, kim, until=Step.BODY)
    await fill(services, campaign, lee, until=Step.NAME)
    reply = await services.submissions.cancel(campaign, kim)
    assert reply.outcome is Out.CANCELLED and reply.ends
    assert [r["citizen_id"] for r in await draft_rows(services)] == [lee.id]
    assert (await services.submissions.cancel(campaign, kim)).outcome is Out.NO_DRAFT
    assert (await services.submissions.cancel(None, kim)).outcome is Out.NO_DRAFT
    assert (await services.submissions.type_text(campaign, kim, "다시")).outcome is Out.NO_DRAFT
    # A new start begins from the first step.
    reply = await services.submissions.start(campaign, kim)
    assert reply.draft.step is Step.TYPE and not reply.resumed and reply.draft.answers == {}


async def test_discard_deletes_the_draft_it_was_made_for(services, campaign, kim, lee):
    await fill(services, campaign, kim, until=Step.BODY)
    await fill(services, campaign, lee, until=Step.NAME)
    token = draft_token(await services.submissions.draft_of(kim))
    reply = await services.submissions.discard(campaign, kim, Step.BODY, token)
    assert reply.outcome is Out.CANCELLED and reply.ends
    assert [r["citizen_id"] for r in await draft_rows(services)] == [lee.id]
    reply = await services.submissions.discard(campaign, kim, Step.BODY, token)
    assert reply.outcome is Out.NO_DRAFT


@pytest.mark.parametrize("token", [None, "00000000", "discard", ""])
async def test_discard_without_the_drafts_token_is_stale(services, campaign, clock, kim,
                                                          token):
    await fill(services, campaign, kim, until=Step.BODY)
    reply = await unchanged_by(clock, services, lambda: services.submissions.discard(
        campaign, kim, Step.BODY, token))
    assert reply.outcome is Out.STALE and reply.draft.step is Step.BODY


async def test_discard_of_another_step_is_stale(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.BODY)
    token = draft_token(await services.submissions.draft_of(kim))
    reply = await unchanged_by(clock, services, lambda: services.submissions.discard(
        campaign, kim, Step.TITLE, token))
    assert reply.outcome is Out.STALE and reply.draft.step is Step.BODY


async def test_discard_made_for_an_earlier_draft_keeps_the_new_one(services, campaign, clock,
                                                                    kim):
    await fill(services, campaign, kim)
    old = draft_token(await services.submissions.draft_of(kim))
    assert (await services.submissions.submit(campaign, kim, "test")).outcome is Out.SUBMITTED
    clock.advance(timedelta(minutes=5))
    await fill(services, campaign, kim)  # a second draft, at the same step
    assert draft_token(await services.submissions.draft_of(kim)) != old
    reply = await unchanged_by(clock, services, lambda: services.submissions.discard(
        campaign, kim, Step.PREVIEW, old))
    assert reply.outcome is Out.STALE and reply.draft.step is Step.PREVIEW


# ------------------------------------------------------------------------------------------
# The submission phase and the campaign
# ------------------------------------------------------------------------------------------


async def test_start_before_the_phase(services, campaign, clock, kim):
    clock.set(SUBMISSION_OPENS - timedelta(minutes=1))
    assert not services.submissions.is_open(campaign)
    reply = await services.submissions.start(campaign, kim)
    assert reply.outcome is Out.NOT_OPEN_YET and reply.boundary == SUBMISSION_OPENS
    assert await draft_rows(services) == []
    clock.set(SUBMISSION_OPENS)
    assert services.submissions.is_open(campaign)
    assert (await services.submissions.start(campaign, kim)).outcome is Out.STEP


async def test_start_after_the_phase(services, campaign, clock, kim):
    clock.set(SUBMISSION_CLOSES - timedelta(seconds=1))
    assert services.submissions.is_open(campaign)
    clock.set(SUBMISSION_CLOSES)
    assert not services.submissions.is_open(campaign)
    reply = await services.submissions.start(campaign, kim)
    assert reply.outcome is Out.CLOSED and reply.boundary == SUBMISSION_CLOSES
    assert await draft_rows(services) == []


async def test_a_campaign_without_a_submission_phase_takes_no_cases(services, kim):
    phases = {k: v for k, v in small_campaign()["phases"].items() if k != "submission"}
    campaign = await load(services, phases=phases)
    reply = await services.submissions.start(campaign, kim)
    assert reply.outcome is Out.CLOSED
    assert await draft_rows(services) == []


async def test_the_phase_closing_mid_way_drops_the_draft(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.BODY)
    clock.set(SUBMISSION_CLOSES)
    reply = await answer(services, campaign, kim, ANSWERS[Step.BODY])
    assert reply.outcome is Out.CLOSED and reply.boundary == SUBMISSION_CLOSES and reply.ends
    assert await draft_rows(services) == []
    assert await chat_cases(services, campaign) == []
    assert (await services.submissions.start(campaign, kim)).outcome is Out.CLOSED


async def test_the_phase_closing_before_submit_stores_no_case(services, campaign, clock, kim):
    await fill(services, campaign, kim)
    clock.set(SUBMISSION_CLOSES + timedelta(minutes=3))
    reply = await services.submissions.submit(campaign, kim, "telegram:501")
    assert reply.outcome is Out.CLOSED and reply.boundary == SUBMISSION_CLOSES
    assert await draft_rows(services) == []
    assert await chat_cases(services, campaign) == []
    assert await audited(services, "case.submitted") == []


async def test_a_draft_from_another_campaign_is_dropped(services, campaign, kim, lee):
    other = await load(services, slug="other-2024")
    assert other.id != campaign.id
    await fill(services, campaign, kim, until=Step.TITLE)
    await fill(services, campaign, lee, until=Step.TITLE)

    # An answer meant for the other campaign finds no draft there, and the old one goes.
    reply = await services.submissions.type_text(other, kim, ANSWERS[Step.TITLE])
    assert reply.outcome is Out.NO_DRAFT
    assert [r["citizen_id"] for r in await draft_rows(services)] == [lee.id]

    # Starting in the other campaign begins afresh there.
    reply = await services.submissions.start(other, lee)
    assert reply.outcome is Out.STEP and not reply.resumed and reply.draft.step is Step.TYPE
    [row] = await draft_rows(services)
    assert (row["citizen_id"], row["campaign_id"], row["answers"]) == (lee.id, other.id, {})


async def test_a_draft_from_another_campaign_is_dropped_even_when_start_is_refused(
        services, campaign, kim):
    phases = {k: v for k, v in small_campaign()["phases"].items() if k != "submission"}
    closed = await load(services, slug="other-2024", phases=phases)
    await fill(services, campaign, kim, until=Step.TITLE)
    assert (await services.submissions.start(closed, kim)).outcome is Out.CLOSED
    assert await draft_rows(services) == []


# ------------------------------------------------------------------------------------------
# The per-citizen limit
# ------------------------------------------------------------------------------------------


@pytest.fixture
async def one_each(services, campaign):
    """The test campaign, reloaded with one case per citizen."""
    return await load(services, submission={"cases_per_citizen": 1})


async def test_the_limit_stops_a_second_draft(services, one_each, kim, lee):
    assert one_each.submission.cases_per_citizen == 1
    await fill(services, one_each, kim)
    assert (await services.submissions.submit(one_each, kim, "x")).outcome is Out.SUBMITTED
    [case] = await chat_cases(services, one_each)
    # Even a rejected case counts.
    await services.moderation.reject(one_each, case["id"], "staff", "중복입니다")

    reply = await services.submissions.start(one_each, kim)
    assert reply.outcome is Out.LIMIT_REACHED and reply.ends
    assert await draft_rows(services) == []
    # Someone else still can.
    assert (await services.submissions.start(one_each, lee)).outcome is Out.STEP


async def test_the_limit_holds_at_submit_time(services, one_each, clock, kim):
    await fill(services, one_each, kim)
    elsewhere = Case(id=0, campaign_id=one_each.id, key="sent-meanwhile",
                     status=CaseStatus.SUBMITTED, district="dong", neighbourhood="효동",
                     category="care", ko=CaseText("다른 창에서 보낸 사례", "요약", "본문", "김"))
    async with services.db.write() as conn:
        await CaseRepository(conn).insert(elsewhere, "chat", clock.now(), submitter_id=kim.id)

    reply = await services.submissions.submit(one_each, kim, "telegram:501")
    assert reply.outcome is Out.LIMIT_REACHED and reply.ends
    assert await draft_rows(services) == []
    assert [c["key"] for c in await chat_cases(services, one_each)] == ["sent-meanwhile"]
    assert await audited(services, "case.submitted") == []


# ------------------------------------------------------------------------------------------
# mine, steps_on
# ------------------------------------------------------------------------------------------


async def send(services, campaign, clock, who, title: str) -> int:
    clock.advance(timedelta(hours=1))
    await fill(services, campaign, who, title=title)
    reply = await services.submissions.submit(campaign, who, "telegram:" + who.external_id)
    assert reply.outcome is Out.SUBMITTED
    return reply.case.id


async def test_mine_lists_my_cases_oldest_first_with_staffs_reasons(
        services, campaign, clock, kim, lee):
    moderation = services.moderation
    rejected = await send(services, campaign, clock, kim, "첫째 사례입니다")
    await send(services, campaign, clock, lee, "다른 사람 사례")
    hidden = await send(services, campaign, clock, kim, "둘째 사례입니다")
    waiting = await send(services, campaign, clock, kim, "셋째 사례입니다")
    await moderation.reject(campaign, rejected, "staff", "개인정보가 들어 있습니다")
    await moderation.approve(campaign, hidden, "staff")
    await moderation.hide(campaign, hidden, "staff", "중복 제출")
    # A reason left on a case in any other status is not shown.
    async with services.db.write() as conn:
        await conn.execute(cases.update().where(cases.c.id == waiting)
                           .values(status_reason="메모"))

    mine = await services.submissions.mine(campaign, kim)
    assert [m.case.id for m in mine] == [rejected, hidden, waiting]
    assert [m.case.ko.title for m in mine] == ["첫째 사례입니다", "둘째 사례입니다",
                                               "셋째 사례입니다"]
    assert [m.case.status for m in mine] == [CaseStatus.REJECTED, CaseStatus.HIDDEN,
                                             CaseStatus.SUBMITTED]
    assert [m.reason for m in mine] == ["개인정보가 들어 있습니다", "중복 제출", None]
    assert [m.sent_at for m in mine] == [WRITING + timedelta(hours=h) for h in (1, 3, 4)]
    assert [m.case.ko.title for m in await services.submissions.mine(campaign, lee)] == [
        "다른 사람 사례"]


async def test_mine_is_empty_for_someone_who_sent_nothing(services, campaign, kim):
    assert await services.submissions.mine(campaign, kim) == []


async def test_steps_on_a_channel(services, campaign, clock, kim, lee):
    web = await services.citizens.identify("web", "501", "ko")
    done = await services.citizens.identify("telegram", "503", "ko")
    await fill(services, campaign, kim, until=Step.BODY)
    await fill(services, campaign, lee)
    await fill(services, campaign, web, until=Step.NAME)
    await send(services, campaign, clock, done, "보낸 사례입니다")

    assert await services.submissions.steps_on("telegram") == {
        "501": Step.BODY, "502": Step.PREVIEW}
    assert await services.submissions.steps_on("web") == {"501": Step.NAME}
    assert await services.submissions.steps_on("kakao") == {}


# ------------------------------------------------------------------------------------------
# A campaign reloaded while a draft is under way
# ------------------------------------------------------------------------------------------


async def test_an_answer_the_reloaded_campaign_no_longer_offers_is_asked_again(
        services, campaign, kim):
    subs = services.submissions
    await fill(services, campaign, kim, district="daedeok", hood="송촌동")
    raw = small_campaign()
    reloaded = await load(services, districts=raw["districts"][:1],
                          cases=[c for c in raw["cases"] if c["district"] == "dong"])
    assert [d.key for d in reloaded.districts] == ["dong"]

    reply = await subs.submit(reloaded, kim, "telegram:501")
    assert reply.outcome is Out.STALE and reply.draft.step is Step.DISTRICT
    stored = await subs.draft_of(kim)
    assert stored.step is Step.DISTRICT and stored.from_preview
    assert await chat_cases(services, reloaded) == []

    # Answered again, and the neighbourhood of the new district, it goes back to the preview.
    assert (await subs.choose(reloaded, kim, Step.DISTRICT, 0)).draft.step \
        is Step.NEIGHBOURHOOD
    assert (await subs.choose(reloaded, kim, Step.NEIGHBOURHOOD, 0)).draft.step is Step.PREVIEW
    assert (await subs.submit(reloaded, kim, "telegram:501")).outcome is Out.SUBMITTED
    [row] = await chat_cases(services, reloaded)
    assert (row["district"], row["neighbourhood"]) == ("dong", "효동")


async def test_a_step_the_reloaded_campaign_no_longer_asks_is_skipped(services, campaign,
                                                                       kim):
    """A draft waiting for a neighbourhood of a district that lost its neighbourhoods moves
    on to the first step still to answer instead of being stuck."""
    await fill(services, campaign, kim, until=Step.NEIGHBOURHOOD)
    raw = small_campaign()
    raw["districts"][0]["neighbourhoods"] = []
    reloaded = await load(services, districts=raw["districts"],
                          cases=[c for c in raw["cases"] if c["district"] != "dong"])
    reply = await services.submissions.back(reloaded, kim, Step.NEIGHBOURHOOD)
    assert reply.outcome is Out.STALE and reply.draft.step is Step.CATEGORY
    assert (await services.submissions.draft_of(kim)).step is Step.CATEGORY
    reply = await services.submissions.back(reloaded, kim, Step.CATEGORY)
    assert reply.outcome is Out.STEP and reply.draft.step is Step.DISTRICT


# ------------------------------------------------------------------------------------------
# The contact, typed choices, and withdrawing a pending case
# ------------------------------------------------------------------------------------------


async def submitted(services, campaign, who, **changes) -> int:
    await fill(services, campaign, who, **changes)
    reply = await services.submissions.submit(campaign, who, "test")
    assert reply.outcome is Out.SUBMITTED
    return reply.case.id


async def test_the_contact_is_stored_on_the_case_for_staff(services, campaign, kim):
    case_id = await submitted(services, campaign, kim, contact="042 123 4567")
    [row] = await chat_cases(services, campaign)
    assert row["contact"] == "042-123-4567"
    async with services.db.read() as conn:
        case = await CaseRepository(conn).get(case_id)
    submitter = await services.moderation.submitter(case)
    assert submitter is not None and submitter.contact == "042-123-4567"


async def test_a_skipped_contact_stores_none(services, campaign, kim):
    reply = await fill(services, campaign, kim, until=Step.CONTACT)
    reply = await services.submissions.skip(campaign, kim, Step.CONTACT)
    assert reply.outcome is Out.STEP and reply.draft.step is Step.DISTRICT
    # "skip" at a step that is not optional: stale, nothing changes.
    reply = await services.submissions.skip(campaign, kim, Step.DISTRICT)
    assert reply.outcome is Out.STALE and reply.draft.answer(Step.DISTRICT) is None
    await fill_rest(services, campaign, kim)
    [row] = await chat_cases(services, campaign)
    assert row["contact"] is None


async def fill_rest(services, campaign, who):
    draft = await services.submissions.draft_of(who)
    while draft.step is not Step.PREVIEW:
        reply = await answer(services, campaign, who, ANSWERS[draft.step])
        assert reply.outcome is Out.STEP, reply
        draft = reply.draft
    assert (await services.submissions.submit(campaign, who, "test")).outcome is Out.SUBMITTED


async def test_a_bad_contact_changes_nothing(services, campaign, clock, kim):
    await fill(services, campaign, kim, until=Step.CONTACT)
    for typed, kind in (("전화 주세요", ProblemKind.BAD_CONTACT),
                        ("x" * 101, ProblemKind.TOO_LONG)):
        reply = await unchanged_by(clock, services, lambda t=typed: services.submissions
                                   .type_text(campaign, kim, t))
        assert reply.outcome is Out.PROBLEM and reply.problem.kind is kind


async def test_a_typed_choice_is_taken_inside_the_transaction(services, campaign, kim):
    await fill(services, campaign, kim, until=Step.DISTRICT)
    reply = await services.submissions.type_text(campaign, kim, "동구", lambda draft: 0)
    assert reply.outcome is Out.STEP and reply.draft.answer(Step.DISTRICT) == "dong"
    # A channel's match out of range (the list changed): stale, nothing taken.
    reply = await services.submissions.type_text(campaign, kim, "?", lambda draft: 99)
    assert reply.outcome is Out.STALE
    # No match: "use the buttons".
    reply = await services.submissions.type_text(campaign, kim, "?", lambda draft: None)
    assert reply.outcome is Out.PROBLEM and reply.problem.kind is ProblemKind.USE_BUTTONS


async def test_withdrawing_a_pending_case(services, campaign, kim, lee):
    case_id = await submitted(services, campaign, kim)
    subs = services.submissions
    assert (await subs.one_of_mine(campaign, lee, case_id)) is None  # not lee's
    assert (await subs.withdraw(campaign, lee, case_id, "test")).outcome \
        is WithdrawOutcome.UNKNOWN
    assert (await subs.withdraw(campaign, kim, 999_999, "test")).outcome \
        is WithdrawOutcome.UNKNOWN
    mine = await subs.one_of_mine(campaign, kim, case_id)
    assert mine is not None and mine.withdrawable and mine.contact == ANSWERS[Step.CONTACT]
    result = await subs.withdraw(campaign, kim, case_id, "telegram:501")
    assert result.outcome is WithdrawOutcome.WITHDRAWN
    assert result.item.case.status is CaseStatus.WITHDRAWN and not result.item.withdrawable
    [row] = await audited(services, "case.withdrawn")
    assert (row["actor"], row["campaign_id"]) == ("telegram:501", campaign.id)
    assert row["detail"] == {"case_id": case_id}
    assert await services.moderation.queue(campaign) == []
    # Again: nothing more happens, nothing more is audited.
    again = await subs.withdraw(campaign, kim, case_id, "telegram:501")
    assert again.outcome is WithdrawOutcome.NOT_PENDING
    assert len(await audited(services, "case.withdrawn")) == 1
    # A moderator cannot approve it any more.
    decided = await services.moderation.approve(campaign, case_id, "telegram:9001")
    assert decided.outcome is ModerationOutcome.WRONG_STATUS
    # It does not count against the limit.
    assert await subs.count_mine(campaign, kim) == 0


async def test_an_approved_case_cannot_be_withdrawn(services, campaign, kim):
    case_id = await submitted(services, campaign, kim)
    await services.moderation.approve(campaign, case_id, "telegram:9001")
    result = await services.submissions.withdraw(campaign, kim, case_id, "test")
    assert result.outcome is WithdrawOutcome.NOT_PENDING
    assert result.item.case.status is CaseStatus.APPROVED
    assert await audited(services, "case.withdrawn") == []


async def test_withdrawing_races_a_moderator_and_one_wins(services, campaign, kim):
    """The submitter withdraws while a moderator approves, at the same moment: the
    conditional UPDATEs decide, exactly one of them wins, and the case ends in that one's
    status."""
    campaign = await load(services, submission={"cases_per_citizen": 10})
    for round in range(4):
        case_id = await submitted(services, campaign, kim, title=f"골목 화단 가꾸기 {round}")
        calls = [services.submissions.withdraw(campaign, kim, case_id, "telegram:501"),
                 services.moderation.approve(campaign, case_id, "telegram:9001")]
        if round % 2:
            calls.reverse()
        results = await asyncio.gather(*calls)
        withdrew = next(r for r in results if isinstance(r, WithdrawReply))
        approved = next(r for r in results if not isinstance(r, WithdrawReply))
        won = (withdrew.outcome is WithdrawOutcome.WITHDRAWN,
               approved.outcome is ModerationOutcome.DONE)
        assert sorted(won) == [False, True], won
        row = next(r for r in await chat_cases(services, campaign) if r["id"] == case_id)
        assert row["status"] == ("withdrawn" if won[0] else "approved")
        await services.broadcaster.idle()

"""The guided steps of sending in a case by chat, as pure rules (bot/drafts.py): step order and
the steps a campaign skips, moving on and back, editing from the preview, tidying typed text,
and when the submission phase lets a case in. Also the [submission] table of campaign files."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.campaign_file import CampaignFileError, parse_campaign
from bot.domain import Campaign, CaseStatus, PhaseName, PhaseStatus, SubmissionRules
from bot.drafts import (
    DISCARD,
    STEPS,
    AnswerProblem,
    Draft,
    ProblemKind,
    Step,
    answered,
    applies,
    as_case,
    choices,
    clean_contact,
    clean_text,
    contact_of,
    discard_choice,
    discard_token,
    draft_token,
    is_discard,
    match_choice,
    missing,
    next_step,
    previous_step,
    submission_refusal,
)
from bot.services.campaigns import campaign_from_spec
from tests.conftest import SEOUL, small_campaign

BODY = "우리 동네 어르신들이 함께 모여 점심을 드시고 안부를 나누는 자리를 만들었습니다. " * 2

# A complete set of answers, keyed like Draft.answers.
FULL = {
    Step.TYPE: "council",
    Step.NAME: "효동 지역사회보장협의체",
    Step.CONTACT: "010-1234-5678",
    Step.DISTRICT: "dong",
    Step.NEIGHBOURHOOD: "효동",
    Step.CATEGORY: "seniors",
    Step.TITLE: "경로당 함께 점심",
    Step.SUMMARY: "어르신 점심 모임",
    Step.BODY: BODY.strip(),
    Step.PHOTO: "photo-file-id",
    Step.CONSENT: "yes",
}

# A district without neighbourhoods, added to the small campaign.
JUNG = {"key": "jung", "ko": "중구", "en": "Jung-gu"}


def build(**changes) -> Campaign:
    return campaign_from_spec(parse_campaign(small_campaign(**changes)), campaign_id=7)


def with_jung() -> Campaign:
    return build(districts=[*small_campaign()["districts"], JUNG])


def without_categories() -> Campaign:
    # A campaign file must list categories, so a campaign without them is made by hand.
    return replace(build(), categories=())


def draft(step: Step = Step.TYPE, from_preview: bool = False, **answers: str) -> Draft:
    """A draft at `step`; answers by step value, e.g. hood="효동"."""
    return Draft(7, 42, step, dict(answers), from_preview=from_preview)


def full(step: Step = Step.PREVIEW, from_preview: bool = False, **changes: str | None) -> Draft:
    """A complete draft; a change to None removes that answer."""
    answers = {s.value: v for s, v in FULL.items()}
    answers.update(changes)
    return draft(step, from_preview, **{k: v for k, v in answers.items() if v is not None})


def walk(campaign: Campaign, answers: dict[Step, str]) -> tuple[list[Step], Draft]:
    """Answer every step from the first, as asked, until the preview."""
    current = draft()
    visited = [current.step]
    while current.step is not Step.PREVIEW:
        assert len(visited) <= len(STEPS), f"no way to the preview: {visited}"
        current = answered(campaign, current, answers[current.step])
        visited.append(current.step)
    return visited, current


# ------------------------------------------------------------------------------------------
# Step order
# ------------------------------------------------------------------------------------------


def test_every_step_in_order_for_a_district_with_neighbourhoods():
    visited, done = walk(build(), FULL)
    assert visited == [Step.TYPE, Step.NAME, Step.CONTACT, Step.DISTRICT, Step.NEIGHBOURHOOD,
                       Step.CATEGORY, Step.TITLE, Step.SUMMARY, Step.BODY, Step.PHOTO, Step.CONSENT,
                       Step.PREVIEW]
    assert done.answers == {s.value: v for s, v in FULL.items()}
    assert missing(build(), done) is None


def test_a_district_without_neighbourhoods_skips_the_neighbourhood_step():
    campaign = with_jung()
    visited, done = walk(campaign, {**FULL, Step.DISTRICT: "jung"})
    assert Step.NEIGHBOURHOOD not in visited
    assert visited[visited.index(Step.DISTRICT) + 1] is Step.CATEGORY
    assert Step.NEIGHBOURHOOD.value not in done.answers
    assert not applies(campaign, done, Step.NEIGHBOURHOOD)
    assert missing(campaign, done) is None
    assert as_case(done).neighbourhood == ""


def test_a_campaign_without_categories_skips_the_category_step():
    campaign = without_categories()
    visited, done = walk(campaign, FULL)
    assert Step.CATEGORY not in visited
    assert visited[visited.index(Step.NEIGHBOURHOOD) + 1] is Step.TITLE
    assert not applies(campaign, done, Step.CATEGORY)
    assert missing(campaign, done) is None
    assert as_case(done).category == ""


def test_choices_are_the_campaigns_lists_in_order():
    campaign = build()
    assert choices(campaign, draft(), Step.TYPE) == ("individual", "organization", "council")
    assert choices(campaign, draft(), Step.DISTRICT) == ("dong", "daedeok")
    assert choices(campaign, draft(district="dong"), Step.NEIGHBOURHOOD) == ("효동", "판암1동")
    assert choices(campaign, draft(district="daedeok"), Step.NEIGHBOURHOOD) == ("송촌동",)
    assert choices(campaign, draft(), Step.NEIGHBOURHOOD) == ()  # no district chosen yet
    assert choices(campaign, draft(), Step.CATEGORY) == ("care", "seniors")
    assert choices(campaign, draft(), Step.CONSENT) == ("yes", "no")
    assert choices(campaign, draft(), Step.TITLE) == ()


# ------------------------------------------------------------------------------------------
# Answering, and editing from the preview
# ------------------------------------------------------------------------------------------


def test_an_answer_is_kept_and_moves_to_the_next_step_without_changing_the_old_draft():
    before = draft(Step.NAME, type="council")
    after = answered(build(), before, "효동 협의체")
    assert after.step is Step.CONTACT
    assert dict(after.answers) == {"type": "council", "name": "효동 협의체"}
    assert dict(before.answers) == {"type": "council"} and before.step is Step.NAME


def test_a_new_district_forgets_the_neighbourhood_and_the_same_one_keeps_it():
    campaign = build()
    at_district = draft(Step.DISTRICT, district="dong", hood="효동", category="care")

    changed = answered(campaign, at_district, "daedeok")
    assert changed.answer(Step.DISTRICT) == "daedeok"
    assert changed.answer(Step.NEIGHBOURHOOD) is None
    assert changed.answer(Step.CATEGORY) == "care"
    assert changed.step is Step.NEIGHBOURHOOD

    same = answered(campaign, at_district, "dong")
    assert same.answer(Step.NEIGHBOURHOOD) == "효동"
    assert same.step is Step.NEIGHBOURHOOD


def test_editing_one_field_returns_to_the_preview():
    edited = answered(build(), full(Step.TITLE, from_preview=True), "골목 화단 가꾸기")
    assert edited.step is Step.PREVIEW
    assert edited.from_preview is False
    assert edited.answer(Step.TITLE) == "골목 화단 가꾸기"


def test_editing_the_district_asks_for_the_new_neighbourhood_then_returns_to_the_preview():
    campaign = build()
    edited = answered(campaign, full(Step.DISTRICT, from_preview=True), "daedeok")
    assert edited.step is Step.NEIGHBOURHOOD
    assert edited.from_preview is True  # still editing: after the neighbourhood, the preview
    assert edited.answer(Step.NEIGHBOURHOOD) is None

    done = answered(campaign, edited, "송촌동")
    assert done.step is Step.PREVIEW and done.from_preview is False
    assert (done.answer(Step.DISTRICT), done.answer(Step.NEIGHBOURHOOD)) == ("daedeok", "송촌동")


def test_editing_the_district_to_one_without_neighbourhoods_returns_to_the_preview():
    edited = answered(with_jung(), full(Step.DISTRICT, from_preview=True), "jung")
    assert edited.step is Step.PREVIEW
    assert edited.answer(Step.NEIGHBOURHOOD) is None


def test_editing_the_district_to_the_same_one_keeps_the_neighbourhood():
    edited = answered(build(), full(Step.DISTRICT, from_preview=True), "dong")
    assert edited.step is Step.PREVIEW
    assert edited.answer(Step.NEIGHBOURHOOD) == "효동"


def test_next_step_while_editing_goes_to_the_first_missing_step():
    campaign = build()
    assert next_step(campaign, full(Step.TITLE, from_preview=True)) is Step.PREVIEW
    assert next_step(campaign, full(Step.TITLE, from_preview=True, name=None)) is Step.NAME
    assert next_step(campaign, full(Step.TITLE, from_preview=False, name=None)) is Step.SUMMARY


def test_previous_step():
    campaign = build()
    assert previous_step(campaign, draft(Step.TYPE)) is None
    assert previous_step(campaign, draft(Step.NAME)) is Step.TYPE
    assert previous_step(campaign, draft(Step.CATEGORY, district="dong")) is Step.NEIGHBOURHOOD
    assert previous_step(campaign, full(Step.TITLE)) is Step.CATEGORY
    assert previous_step(campaign, full(Step.PREVIEW)) is Step.CONSENT
    assert previous_step(campaign, full(Step.TITLE, from_preview=True)) is Step.PREVIEW
    assert previous_step(campaign, full(Step.TYPE, from_preview=True)) is Step.PREVIEW


def test_previous_step_skips_the_steps_a_campaign_does_not_ask():
    at_category = draft(Step.CATEGORY, district="jung")
    assert previous_step(with_jung(), at_category) is Step.DISTRICT
    at_title = full(Step.TITLE, category=None)
    assert previous_step(without_categories(), at_title) is Step.NEIGHBOURHOOD


# ------------------------------------------------------------------------------------------
# missing
# ------------------------------------------------------------------------------------------


def test_missing_is_the_first_step_without_an_answer():
    campaign = build()
    assert missing(campaign, draft()) is Step.TYPE
    assert missing(campaign, full()) is None
    assert missing(campaign, full(title=None, body=None)) is Step.TITLE
    assert missing(campaign, full(district="daedeok", hood=None)) is Step.NEIGHBOURHOOD


def test_missing_counts_a_skipped_photo_but_not_a_refused_consent():
    campaign = build()
    assert missing(campaign, full(photo="")) is None
    assert missing(campaign, full(photo=None)) is Step.PHOTO
    assert missing(campaign, full(consent="no")) is Step.CONSENT
    assert missing(campaign, full(consent=None)) is Step.CONSENT


def test_missing_ignores_steps_the_campaign_does_not_ask():
    assert missing(with_jung(), full(district="jung", hood=None)) is None
    assert missing(without_categories(), full(category=None)) is None
    assert missing(build(), full(category=None)) is Step.CATEGORY


def test_missing_counts_a_choice_the_campaign_no_longer_offers():
    campaign = build()
    assert missing(campaign, full(district="gone")) is Step.DISTRICT
    assert missing(campaign, full(hood="송촌동")) is Step.NEIGHBOURHOOD  # of another district
    assert missing(campaign, full(category="youth")) is Step.CATEGORY
    assert missing(campaign, full(type="company")) is Step.TYPE


def test_as_case_is_the_case_citizens_will_see():
    case = as_case(full(photo=""), key="ABCD-EFGH", case_id=5)
    assert (case.id, case.campaign_id, case.key, case.status) == (5, 7, "ABCD-EFGH",
                                                                  CaseStatus.SUBMITTED)
    assert (case.district, case.neighbourhood, case.category) == ("dong", "효동", "seniors")
    assert (case.ko.title, case.ko.summary, case.ko.organization) == (
        FULL[Step.TITLE], FULL[Step.SUMMARY], FULL[Step.NAME])
    assert case.ko.body == FULL[Step.BODY]
    assert case.image is None  # a skipped photo
    assert case.en is None
    assert as_case(full()).image == "photo-file-id"


# ------------------------------------------------------------------------------------------
# clean_text
# ------------------------------------------------------------------------------------------


def problem(step: Step, text: str) -> AnswerProblem:
    value, found = clean_text(step, text)
    assert value is None and found is not None, (step, text, value)
    return found


def cleaned(step: Step, text: str) -> str:
    value, found = clean_text(step, text)
    assert found is None, found
    return value


LIMITS = {Step.NAME: (1, 100), Step.TITLE: (5, 80), Step.SUMMARY: (1, 300),
          Step.BODY: (50, 3000)}


@pytest.mark.parametrize("step", list(LIMITS))
@pytest.mark.parametrize("text", ["", "   ", " \n\t \r\n "])
def test_empty_or_blank_text_is_refused(step, text):
    assert problem(step, text) == AnswerProblem(ProblemKind.EMPTY)


@pytest.mark.parametrize("step", list(LIMITS))
def test_length_limits_are_inclusive(step):
    low, high = LIMITS[step]
    assert cleaned(step, "가" * low) == "가" * low
    assert cleaned(step, "가" * high) == "가" * high
    assert problem(step, "가" * (high + 1)) == AnswerProblem(ProblemKind.TOO_LONG, high + 1,
                                                             low, high)
    if low > 1:
        assert problem(step, "가" * (low - 1)) == AnswerProblem(ProblemKind.TOO_SHORT, low - 1,
                                                                low, high)


def test_length_is_counted_after_tidying():
    assert problem(Step.TITLE, "  가나다라  \n ") == AnswerProblem(ProblemKind.TOO_SHORT, 4, 5, 80)
    assert cleaned(Step.TITLE, "  가나다라마" + " " * 100) == "가나다라마"
    assert cleaned(Step.TITLE, "가 " * 40) == ("가 " * 40).strip()  # 79 characters once tidied
    body = "가" * 25 + "\n\n\n\n" + "나" * 23  # 50 once the blank lines are reduced
    assert cleaned(Step.BODY, body) == "가" * 25 + "\n\n" + "나" * 23


@pytest.mark.parametrize("step", [Step.TITLE, Step.NAME])
def test_titles_and_names_are_put_on_one_line(step):
    assert cleaned(step, "  골목\n화단 \r\n\n 가꾸기\t모임  ") == "골목 화단 가꾸기 모임"


def test_the_body_keeps_paragraphs_but_at_most_one_blank_line():
    text = ("  첫 문단입니다.   \r\n둘째 줄입니다.\n\n\n\n   \n셋째 문단입니다.\n\n"
            + "가" * 40 + "\n\n")
    assert cleaned(Step.BODY, text) == (
        "첫 문단입니다.\n둘째 줄입니다.\n\n셋째 문단입니다.\n\n" + "가" * 40)


def test_two_blank_lines_become_one():
    assert cleaned(Step.SUMMARY, "위\n\n\n아래") == "위\n\n아래"
    assert cleaned(Step.SUMMARY, "위\n\n아래") == "위\n\n아래"


def test_the_summary_keeps_its_lines_too():
    assert cleaned(Step.SUMMARY, "한 줄\n두 줄\n\n\n\n세 줄 ") == "한 줄\n두 줄\n\n세 줄"


# ------------------------------------------------------------------------------------------
# submission_refusal
# ------------------------------------------------------------------------------------------


def test_submission_refusal_before_during_and_after_the_phase():
    campaign = build()
    phase = campaign.phase(PhaseName.SUBMISSION)
    opens, closes = phase.start, phase.end
    assert opens.astimezone(SEOUL).isoformat() == "2024-10-07T09:00:00+09:00"
    assert closes.astimezone(SEOUL).isoformat() == "2024-11-24T18:00:00+09:00"

    second = timedelta(seconds=1)
    assert submission_refusal(campaign, opens - second) == (PhaseStatus.UPCOMING, opens)
    assert submission_refusal(campaign, opens) is None
    assert submission_refusal(campaign, closes - second) is None
    assert submission_refusal(campaign, closes) == (PhaseStatus.CLOSED, closes)
    assert submission_refusal(campaign, closes + timedelta(days=30)) == (PhaseStatus.CLOSED,
                                                                         closes)


def test_no_submission_phase_means_no_cases_by_chat():
    phases = {k: v for k, v in small_campaign()["phases"].items() if k != "submission"}
    campaign = build(phases=phases)
    voting = campaign.phases[0].start
    for now in (voting - timedelta(days=60), voting, voting + timedelta(days=60)):
        assert submission_refusal(campaign, now) == (PhaseStatus.CLOSED, None)


# ------------------------------------------------------------------------------------------
# Campaign files: [submission]
# ------------------------------------------------------------------------------------------


def refusals(submission) -> list[str]:
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign(small_campaign(submission=submission))
    return [p.field for p in caught.value.problems]


def test_cases_per_citizen_defaults_to_three():
    assert parse_campaign(small_campaign()).submission == SubmissionRules(cases_per_citizen=3)
    assert parse_campaign(small_campaign(submission={})).submission.cases_per_citizen == 3
    assert build().submission.cases_per_citizen == 3


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_cases_per_citizen_can_be_set(limit):
    spec = parse_campaign(small_campaign(submission={"cases_per_citizen": limit}))
    assert spec.submission.cases_per_citizen == limit
    assert campaign_from_spec(spec).submission.cases_per_citizen == limit


@pytest.mark.parametrize("limit", [0, -1, 51, "3", True, False, 2.5])
def test_cases_per_citizen_must_be_a_number_from_1_to_50(limit):
    assert refusals({"cases_per_citizen": limit}) == ["submission.cases_per_citizen"]


def test_unknown_keys_in_submission_are_refused():
    assert refusals({"cases_per_citizen": 2, "per_person": 2}) == ["submission.per_person"]


def test_submission_must_be_a_table():
    assert refusals(3) == ["submission"]


def test_a_discard_button_carries_its_drafts_token():
    started = datetime(2024, 11, 1, 10, 0, tzinfo=UTC)
    first = replace(draft(Step.TITLE), started_at=started)
    word = discard_choice(first)
    assert re.fullmatch(r"[a-z0-9-]{1,16}", word)  # Telegram's and KakaoTalk's word shape
    assert is_discard(word) and discard_token(word) == draft_token(first)
    # The same draft, later, at another step or in another zone: the same token.
    assert draft_token(replace(first, step=Step.BODY, answers={"title": "x"})) \
        == draft_token(replace(first, started_at=started.astimezone(timezone(
            timedelta(hours=9)))))
    # Another draft (begun later, or another citizen's): another token.
    assert draft_token(replace(first, started_at=started + timedelta(microseconds=1))) \
        != draft_token(first)
    assert draft_token(replace(first, citizen_id=43)) != draft_token(first)
    # A button made before buttons carried a token, or a forged one, carries none.
    assert is_discard(DISCARD) and discard_token(DISCARD) is None
    for forged in ("discard-", "discard-zzzzzzzz", "discard-0000000", "discard-000000000",
                   "discard-ABCDEF12", "keep"):
        assert discard_token(forged) is None


# ------------------------------------------------------------------------------------------
# The contact for staff, and choices typed by hand
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed, kept", [
    ("010-1234-5678", "010-1234-5678"),
    ("01012345678", "010-1234-5678"),
    (" 010 1234 5678 ", "010-1234-5678"),
    ("010.123.4567", "010-123-4567"),
    ("+82 10 1234 5678", "010-1234-5678"),
    ("+82-010-1234-5678", "010-1234-5678"),
    ("(042) 123-4567", "042-123-4567"),
    ("02-123-4567", "02-123-4567"),
    ("0212345678", "02-1234-5678"),
    ("070-1234-5678", "070-1234-5678"),
    ("1588-1234", "1588-1234"),
    ("Kim.Soon@Example.COM", "Kim.Soon@example.com"),
    ("a+b@mail.daejeon.go.kr", "a+b@mail.daejeon.go.kr"),
])
def test_a_contact_is_kept_normalised(typed, kept):
    assert clean_contact(typed) == (kept, None)


@pytest.mark.parametrize("typed, kind", [
    ("", ProblemKind.EMPTY),
    ("   ", ProblemKind.EMPTY),
    ("x" * 101, ProblemKind.TOO_LONG),
    ("전화 주세요", ProblemKind.BAD_CONTACT),
    ("010-1234", ProblemKind.BAD_CONTACT),
    ("010-1234-56789", ProblemKind.BAD_CONTACT),
    ("099-123-4567", ProblemKind.BAD_CONTACT),
    ("+1 202 555 0100", ProblemKind.BAD_CONTACT),
    ("kim@", ProblemKind.BAD_CONTACT),
    ("kim@example", ProblemKind.BAD_CONTACT),
    ("kim@@example.com", ProblemKind.BAD_CONTACT),
    ("kim soon@example.com", ProblemKind.BAD_CONTACT),
    ("kim..soon@example.com", ProblemKind.BAD_CONTACT),
    ("<b>kim</b>@example.com", ProblemKind.BAD_CONTACT),
])
def test_a_contact_that_is_neither_phone_nor_email_is_refused(typed, kind):
    value, problem = clean_contact(typed)
    assert value is None and problem.kind is kind


def test_the_contact_step_comes_after_the_name_and_is_optional():
    campaign = build()
    assert next_step(campaign, draft(Step.NAME, type="individual", name="김")) is Step.CONTACT
    skipped = full(contact="")
    assert missing(campaign, skipped) is None and contact_of(skipped) is None
    assert missing(campaign, full(contact=None)) is Step.CONTACT
    assert contact_of(full()) == "010-1234-5678"


@pytest.mark.parametrize("typed, index", [
    ("서구", 1), (" 서구 ", 1), ("SEO-GU", 1), ("seo-gu", 1), ("✓ 서구", 1), ("동구", 0),
    ("서", None), ("서구청", None), ("", None),
])
def test_a_typed_choice_matches_a_label_in_either_language(typed, index):
    labels = [["동구", "서구"], ["Dong-gu", "Seo-gu"]]
    assert match_choice(typed, labels) == index


def test_a_typed_choice_matches_a_label_without_its_emoji():
    assert match_choice("개인", [["🙋 개인", "🏢 기관·단체"]]) == 0
    assert match_choice("🏢 기관·단체", [["🙋 개인", "🏢 기관·단체"]]) == 1
    assert match_choice("🙋", [["🙋 개인"]]) is None

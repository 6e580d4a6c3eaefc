"""Campaign files: the shipped Daejeon file parses, and every mistake a staff member can make
is reported with the field it concerns, all of them at once."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.campaign_file import (
    CampaignFileError,
    Problem,
    parse_campaign,
    parse_campaign_file,
)
from bot.domain import PhaseName, VotingRules
from tests.conftest import DAEJEON_FILE, SEOUL, VOTING_CLOSES, VOTING_OPENS, small_campaign

# Field labels the validator gives to the cases of small_campaign().
CASE1 = "cases[0] (case-1)"
CASE2 = "cases[1] (case-2)"


def problems_of(raw: dict) -> list[Problem]:
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign(raw)
    assert caught.value.problems, "a CampaignFileError must carry at least one problem"
    return caught.value.problems


def only_problem(raw: dict, field: str, *message_parts: str) -> Problem:
    """The single problem a one-mistake campaign gives, checked for its field and message."""
    problems = problems_of(raw)
    assert [p.field for p in problems] == [field], problems
    for part in message_parts:
        assert part in problems[0].message, problems[0]
    return problems[0]


def by_field(problems: list[Problem]) -> dict[str, str]:
    return {p.field: p.message for p in problems}


def phase(spec, name: PhaseName):
    return next(p for p in spec.phases if p.name is name)


# ------------------------------------------------------------------------------------------
# The shipped sample: campaigns/daejeon-2024.toml
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def daejeon():
    return parse_campaign_file(DAEJEON_FILE)


def test_daejeon_file_identity(daejeon):
    assert daejeon.slug == "daejeon-2024"
    assert daejeon.timezone == "Asia/Seoul"
    assert daejeon.title.ko == "2024 대전을 바꾸는 시간"
    assert daejeon.title.en == "Time to Change Daejeon 2024"
    assert daejeon.sample_data is True


def test_daejeon_file_has_the_five_districts_and_82_neighbourhoods(daejeon):
    assert [d.name.ko for d in daejeon.districts] == ["동구", "중구", "서구", "유성구", "대덕구"]
    assert [d.key for d in daejeon.districts] == ["dong", "jung", "seo", "yuseong", "daedeok"]
    assert [len(d.neighbourhoods) for d in daejeon.districts] == [16, 17, 24, 13, 12]


def test_daejeon_file_phases_follow_the_news(daejeon):
    assert [p.name for p in daejeon.phases] == [
        PhaseName.SUBMISSION, PhaseName.VOTING, PhaseName.REVIEW, PhaseName.AWARDS
    ]
    submission = phase(daejeon, PhaseName.SUBMISSION)
    assert submission.start.astimezone(SEOUL).date() == date(2024, 10, 7)
    assert submission.end.astimezone(SEOUL).date() == date(2024, 11, 24)
    voting = phase(daejeon, PhaseName.VOTING)
    assert voting.start.astimezone(SEOUL).date() == date(2024, 11, 28)
    assert voting.end.astimezone(SEOUL).date() == date(2024, 12, 1)
    # Naive times in the file are Seoul times: 09:00 KST is 00:00 UTC.
    assert voting.start == VOTING_OPENS
    assert voting.end == VOTING_CLOSES
    assert voting.start.astimezone(UTC) == datetime(2024, 11, 28, 0, 0, tzinfo=UTC)
    awards = phase(daejeon, PhaseName.AWARDS)
    assert awards.start.astimezone(SEOUL).date() == date(2024, 12, 9)
    assert awards.end is None


def test_daejeon_file_voting_rules(daejeon):
    assert daejeon.rules == VotingRules(votes_per_citizen=1, allow_change=True,
                                        show_running_tally=False)


def test_daejeon_file_cases(daejeon):
    assert len(daejeon.cases) >= 14
    keys = [c.key for c in daejeon.cases]
    assert len(set(keys)) == len(keys)
    districts = {c.district for c in daejeon.cases}
    assert districts == {"dong", "jung", "seo", "yuseong", "daedeok"}, "a district has no case"
    category_keys = {c.key for c in daejeon.categories}
    for case in daejeon.cases:
        assert case.category in category_keys
        hoods = {h.ko for h in next(d for d in daejeon.districts
                                    if d.key == case.district).neighbourhoods}
        assert case.neighbourhood in hoods, case.key
        assert case.en is not None, f"{case.key} has no English text"


def test_daejeon_file_has_both_grand_prize_cases(daejeon):
    cases = {c.key: c for c in daejeon.cases}
    equal = cases["daedeok-equal-everyday"]
    assert equal.district == "daedeok"
    assert equal.category == "gender-equality"
    assert equal.ko.title == "일상이 평등한 성평등 도시 대덕 만들기"
    assert equal.ko.organization == "대덕구청 가족친화과"
    assert "Equal for Both Genders" in equal.en.title
    sounds = cases["daedeok-bright-sounds"]
    assert sounds.district == "daedeok"
    assert sounds.ko.title.startswith("나에게 온 봄날")
    assert sounds.en.title.startswith("Spring Day That Came to Me")


# ------------------------------------------------------------------------------------------
# The fixture campaign itself is valid, so every test below changes exactly what it names.
# ------------------------------------------------------------------------------------------


def test_small_campaign_is_valid():
    spec = parse_campaign(small_campaign())
    assert spec.slug == "test-2024"
    assert len(spec.cases) == 10
    assert spec.cases[2].en is None  # case-3 is Korean only, which is allowed


# ------------------------------------------------------------------------------------------
# Phases
# ------------------------------------------------------------------------------------------


def test_end_before_start():
    raw = small_campaign()
    raw["phases"]["voting"] = {"start": "2024-11-28T09:00", "end": "2024-11-27T18:00"}
    only_problem(raw, "phases.voting.end", "after start")


def test_end_equal_to_start():
    raw = small_campaign()
    raw["phases"]["review"]["end"] = raw["phases"]["review"]["start"]
    only_problem(raw, "phases.review.end", "after start")


def test_voting_starting_before_submission_ends_overlaps():
    raw = small_campaign()
    raw["phases"]["voting"]["start"] = "2024-11-24T12:00"  # submission ends 18:00 that day
    only_problem(raw, "phases.voting", "submission", "overlap")


def test_phases_that_touch_do_not_overlap():
    # Phases are half-open: voting may start the instant submission ends.
    raw = small_campaign()
    raw["phases"]["voting"]["start"] = raw["phases"]["submission"]["end"]
    spec = parse_campaign(raw)
    assert phase(spec, PhaseName.VOTING).start == phase(spec, PhaseName.SUBMISSION).end


def test_review_before_voting_is_out_of_order():
    raw = small_campaign()
    raw["phases"]["review"] = {"start": "2024-11-01T09:00", "end": "2024-11-05T18:00"}
    only_problem(raw, "phases.review", "voting", "in order")


def test_awards_before_review_ends():
    raw = small_campaign()
    raw["phases"]["awards"]["at"] = "2024-12-05T14:00"
    only_problem(raw, "phases.awards", "review")


def test_voting_phase_is_required():
    raw = small_campaign()
    del raw["phases"]["voting"]
    only_problem(raw, "phases.voting", "missing")


def test_only_voting_phase_is_enough():
    raw = small_campaign(phases={"voting": {"start": "2024-11-28T09:00",
                                            "end": "2024-12-01T18:00"}})
    spec = parse_campaign(raw)
    assert [p.name for p in spec.phases] == [PhaseName.VOTING]


def test_missing_phases_table():
    raw = small_campaign()
    del raw["phases"]
    only_problem(raw, "phases", "missing")


def test_unknown_phase_name():
    raw = small_campaign()
    raw["phases"]["votin"] = {"start": "2024-11-28T09:00", "end": "2024-12-01T18:00"}
    only_problem(raw, "phases.votin", "unknown field")


def test_unknown_field_in_a_phase():
    raw = small_campaign()
    raw["phases"]["voting"]["ends"] = "2024-12-01T18:00"
    only_problem(raw, "phases.voting.ends", "unknown field")


def test_a_date_without_time_in_toml_is_refused():
    raw = small_campaign()
    raw["phases"]["voting"]["end"] = date(2024, 12, 1)  # TOML: end = 2024-12-01
    only_problem(raw, "phases.voting.end", "time")


def test_a_quoted_date_without_time_is_refused():
    # The shipped file writes times as quoted strings. `end = "2024-12-01"` must not silently
    # become midnight: voting would close 18 hours early on its last day.
    raw = small_campaign()
    raw["phases"]["voting"]["end"] = "2024-12-01"
    only_problem(raw, "phases.voting.end", "time")


def test_a_time_that_is_not_iso():
    raw = small_campaign()
    raw["phases"]["voting"]["start"] = "next Thursday 9am"
    only_problem(raw, "phases.voting.start", "ISO-8601")


def test_a_missing_start():
    raw = small_campaign()
    del raw["phases"]["voting"]["start"]
    only_problem(raw, "phases.voting.start", "missing")


def test_naive_times_are_in_the_campaign_timezone():
    spec = parse_campaign(small_campaign())
    voting = phase(spec, PhaseName.VOTING)
    assert voting.start == datetime(2024, 11, 28, 0, 0, tzinfo=UTC)  # 09:00 KST
    assert voting.end == datetime(2024, 12, 1, 9, 0, tzinfo=UTC)  # 18:00 KST

    berlin = parse_campaign(small_campaign(timezone="Europe/Berlin"))
    voting = phase(berlin, PhaseName.VOTING)
    assert voting.start == datetime(2024, 11, 28, 8, 0, tzinfo=UTC)  # 09:00 CET
    assert voting.start.utcoffset() == ZoneInfo("Europe/Berlin").utcoffset(
        datetime(2024, 11, 28, 9, 0))


def test_times_with_an_offset_are_respected():
    raw = small_campaign()
    raw["phases"]["voting"] = {"start": "2024-11-28T09:00+00:00", "end": "2024-12-01T18:00Z"}
    voting = phase(parse_campaign(raw), PhaseName.VOTING)
    assert voting.start == datetime(2024, 11, 28, 9, 0, tzinfo=UTC)
    assert voting.start.astimezone(SEOUL).hour == 18
    assert voting.end == datetime(2024, 12, 1, 18, 0, tzinfo=UTC)


def test_native_toml_datetimes(tmp_path):
    text = DAEJEON_FILE.read_text(encoding="utf-8")
    text = text.replace('start = "2024-11-28T09:00"', "start = 2024-11-28T09:00:00+09:00", 1)
    text = text.replace('end = "2024-12-01T18:00"', "end = 2024-12-01T18:00:00", 1)
    path = tmp_path / "native.toml"
    path.write_text(text, encoding="utf-8")
    voting = phase(parse_campaign_file(path), PhaseName.VOTING)
    assert voting.start == VOTING_OPENS
    assert voting.end == VOTING_CLOSES  # local TOML datetime: the campaign's timezone


# ------------------------------------------------------------------------------------------
# Campaign settings
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("slug", ["Daejeon-2024", "daejeon 2024", "", "-daejeon", "a" * 41,
                                  "대전-2024", 2024])
def test_invalid_slug(slug):
    only_problem(small_campaign(slug=slug), "slug", "lowercase")


def test_missing_slug():
    raw = small_campaign()
    del raw["slug"]
    only_problem(raw, "slug")


@pytest.mark.parametrize("zone", ["Nowhere/City", "", "KST+9", 9])
def test_unknown_timezone(zone):
    only_problem(small_campaign(timezone=zone), "timezone", "unknown timezone", repr(zone))


def test_timezone_defaults_to_seoul():
    raw = small_campaign()
    del raw["timezone"]
    assert parse_campaign(raw).timezone == "Asia/Seoul"


@pytest.mark.parametrize("votes", [0, -1, 21, "two", "2", 1.5, True])
def test_invalid_votes_per_citizen(votes):
    only_problem(small_campaign(voting={"votes_per_citizen": votes}),
                 "voting.votes_per_citizen", "1-20")


@pytest.mark.parametrize("votes", [1, 3, 20])
def test_valid_votes_per_citizen(votes):
    spec = parse_campaign(small_campaign(voting={"votes_per_citizen": votes}))
    assert spec.rules.votes_per_citizen == votes


@pytest.mark.parametrize("flag", ["allow_change", "show_running_tally"])
def test_voting_flags_must_be_booleans(flag):
    only_problem(small_campaign(voting={flag: "yes"}), f"voting.{flag}", "true or false")


def test_voting_rules_default_when_voting_table_is_absent():
    raw = small_campaign()
    del raw["voting"]
    assert parse_campaign(raw).rules == VotingRules(
        votes_per_citizen=1, allow_change=True, show_running_tally=False
    )


def test_voting_rules_default_field_by_field():
    rules = parse_campaign(small_campaign(voting={"votes_per_citizen": 2})).rules
    assert (rules.votes_per_citizen, rules.allow_change, rules.show_running_tally) == (
        2, True, False)
    rules = parse_campaign(small_campaign(voting={"allow_change": False,
                                                  "show_running_tally": True})).rules
    assert (rules.votes_per_citizen, rules.allow_change, rules.show_running_tally) == (
        1, False, True)


def test_unknown_voting_field():
    only_problem(small_campaign(voting={"votes_per_citzen": 2}),
                 "voting.votes_per_citzen", "unknown field")


def test_unknown_top_level_field():
    only_problem(small_campaign(titel={"ko": "제목"}), "titel", "unknown field")


def test_sample_data_defaults_to_false_and_must_be_boolean():
    assert parse_campaign(small_campaign()).sample_data is False
    assert parse_campaign(small_campaign(sample_data=True)).sample_data is True
    only_problem(small_campaign(sample_data="yes"), "sample_data", "true or false")


def test_campaign_title_needs_korean():
    only_problem(small_campaign(title={"en": "Only English"}), "title.ko", "missing")
    only_problem(small_campaign(title="시험 공모"), "title", "ko")


def test_category_and_district_lists_are_required():
    raw = small_campaign(categories=[])
    assert "categories" in by_field(problems_of(raw))
    raw = small_campaign()
    del raw["districts"]
    assert "districts" in by_field(problems_of(raw))


def test_duplicate_district_key():
    raw = small_campaign()
    raw["districts"].append({"key": "dong", "ko": "동구2"})
    only_problem(raw, "districts[2].key", "duplicate", "'dong'")


def test_duplicate_neighbourhood_in_a_district():
    raw = small_campaign()
    raw["districts"][0]["neighbourhoods"].append("효동")
    only_problem(raw, "districts[0].neighbourhoods", "duplicate", "효동")


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------


def test_unknown_district():
    raw = small_campaign()
    raw["cases"][0]["district"] = "seo"
    only_problem(raw, f"{CASE1}.district", "unknown district", "'seo'")


def test_district_of_the_wrong_type_is_a_problem_not_a_crash():
    # TOML allows `district = ["dong"]`; validation must report it, not raise TypeError.
    raw = small_campaign()
    raw["cases"][0]["district"] = ["dong"]
    raw["cases"][1]["category"] = ["care"]
    fields = by_field(problems_of(raw))
    assert f"{CASE1}.district" in fields
    assert f"{CASE2}.category" in fields


def test_unknown_category():
    raw = small_campaign()
    raw["cases"][1]["category"] = "sports"
    only_problem(raw, f"{CASE2}.category", "unknown category", "'sports'")


def test_neighbourhood_not_in_the_district():
    raw = small_campaign()
    raw["cases"][0]["neighbourhood"] = "송촌동"  # a neighbourhood of daedeok, not dong
    only_problem(raw, f"{CASE1}.neighbourhood", "'송촌동'", "'dong'")


def test_missing_neighbourhood():
    raw = small_campaign()
    del raw["cases"][0]["neighbourhood"]
    only_problem(raw, f"{CASE1}.neighbourhood", "missing")


def test_district_without_a_neighbourhood_list_accepts_any_neighbourhood():
    raw = small_campaign()
    del raw["districts"][0]["neighbourhoods"]
    raw["cases"][0]["neighbourhood"] = "아무동"
    assert parse_campaign(raw).cases[0].neighbourhood == "아무동"


def test_duplicate_korean_titles():
    raw = small_campaign()
    raw["cases"][1]["ko"]["title"] = raw["cases"][0]["ko"]["title"]
    only_problem(raw, f"{CASE2}.ko.title", "duplicate title", "cases[0]")


def test_duplicate_english_titles_ignore_case():
    raw = small_campaign()
    raw["cases"][1]["en"]["title"] = raw["cases"][0]["en"]["title"].upper()
    only_problem(raw, f"{CASE2}.en.title", "duplicate title", "cases[0]")


def test_duplicate_case_keys():
    raw = small_campaign()
    raw["cases"][1]["key"] = "case-1"
    only_problem(raw, "cases[1] (case-1).key", "duplicate key", "cases[0]")


@pytest.mark.parametrize("key", ["Case-1", "case_1", "", "-case", "c" * 41, None])
def test_invalid_case_key(key):
    raw = small_campaign()
    if key is None:
        del raw["cases"][0]["key"]
        field = "cases[0].key"
    else:
        raw["cases"][0]["key"] = key
        field = f"cases[0] ({key}).key"
    only_problem(raw, field, "lowercase")


def test_case_without_korean_text():
    raw = small_campaign()
    del raw["cases"][0]["ko"]
    only_problem(raw, f"{CASE1}.ko", "missing", "Korean")


def test_case_without_korean_title():
    raw = small_campaign()
    del raw["cases"][0]["ko"]["title"]
    only_problem(raw, f"{CASE1}.ko.title", "missing")


def test_english_text_is_optional_but_complete_when_given():
    raw = small_campaign()
    del raw["cases"][0]["en"]
    assert parse_campaign(raw).cases[0].en is None
    raw = small_campaign()
    del raw["cases"][0]["en"]["body"]
    only_problem(raw, f"{CASE1}.en.body", "missing")


@pytest.mark.parametrize(
    ("name", "limit"), [("title", 80), ("summary", 300), ("body", 3000), ("organization", 100)]
)
def test_over_long_case_text(name, limit):
    raw = small_campaign()
    raw["cases"][0]["ko"][name] = "가" * (limit + 1)
    only_problem(raw, f"{CASE1}.ko.{name}", "too long", f"{limit + 1} > {limit}")


@pytest.mark.parametrize(
    ("name", "limit"), [("title", 80), ("summary", 300), ("body", 3000), ("organization", 100)]
)
def test_case_text_at_the_limit_is_accepted(name, limit):
    raw = small_campaign()
    raw["cases"][0]["ko"][name] = "가" * limit
    assert getattr(parse_campaign(raw).cases[0].ko, name) == "가" * limit


def test_over_long_english_text():
    raw = small_campaign()
    raw["cases"][0]["en"]["title"] = "x" * 81
    only_problem(raw, f"{CASE1}.en.title", "too long")


def test_too_short_body():
    raw = small_campaign()
    raw["cases"][0]["ko"]["body"] = "가" * 49
    only_problem(raw, f"{CASE1}.ko.body", "too short", "49 < 50")
    raw["cases"][0]["ko"]["body"] = "가" * 50
    assert parse_campaign(raw).cases[0].ko.body == "가" * 50


def test_length_is_counted_after_trimming():
    raw = small_campaign()
    raw["cases"][0]["ko"]["body"] = "  " + "가" * 49 + "\n\n"
    only_problem(raw, f"{CASE1}.ko.body", "too short")


def test_empty_summary():
    raw = small_campaign()
    raw["cases"][0]["ko"]["summary"] = "   "
    only_problem(raw, f"{CASE1}.ko.summary", "empty")


def test_text_that_is_not_a_string():
    raw = small_campaign()
    raw["cases"][0]["ko"]["title"] = 2024
    only_problem(raw, f"{CASE1}.ko.title", "text")


def test_unknown_field_typo_in_case_text():
    raw = small_campaign()
    raw["cases"][0]["ko"]["titel"] = raw["cases"][0]["ko"].pop("title")
    fields = by_field(problems_of(raw))
    assert fields == {f"{CASE1}.ko.titel": "unknown field", f"{CASE1}.ko.title": "missing"}


def test_unknown_field_in_a_case():
    raw = small_campaign()
    raw["cases"][0]["distrcit"] = "dong"
    only_problem(raw, f"{CASE1}.distrcit", "unknown field")


# ------------------------------------------------------------------------------------------
# All problems at once
# ------------------------------------------------------------------------------------------


def test_all_problems_are_reported_at_once():
    raw = small_campaign(slug="Test 2024", voting={"votes_per_citizen": 0})
    raw["phases"]["voting"]["end"] = "2024-11-27T18:00"
    raw["cases"][0]["district"] = "seo"
    raw["cases"][4]["ko"]["title"] = "가" * 81
    raw["cases"][9]["key"] = "case-9"
    fields = by_field(problems_of(raw))
    assert set(fields) == {
        "slug",
        "voting.votes_per_citizen",
        "phases.voting.end",
        f"{CASE1}.district",
        "cases[4] (case-5).ko.title",
        "cases[9] (case-9).key",
    }
    assert "duplicate key" in fields["cases[9] (case-9).key"]


def test_each_case_is_checked_even_after_a_bad_one():
    raw = small_campaign()
    for case in raw["cases"]:
        case["category"] = "sports"
    problems = problems_of(raw)
    assert [p.field for p in problems] == [
        f"cases[{i}] (case-{i + 1}).category" for i in range(10)
    ]


def test_problems_of_a_file_are_all_reported(tmp_path):
    text = DAEJEON_FILE.read_text(encoding="utf-8")
    for old, new in [
        ('slug = "daejeon-2024"', 'slug = "Daejeon 2024"'),
        ('votes_per_citizen = 1', 'votes_per_citizen = "two"'),
        ('district = "daedeok"', 'district = "daedeok-gu"'),
        ('title = "일상이 평등한', 'titel = "일상이 평등한'),
    ]:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(path)
    assert caught.value.path == str(path)
    fields = by_field(caught.value.problems)
    case = "cases[0] (daedeok-equal-everyday)"
    assert set(fields) == {
        "slug", "voting.votes_per_citizen", f"{case}.district", f"{case}.ko.titel",
        f"{case}.ko.title",
    }
    assert str(len(caught.value.problems)) in str(caught.value)
    assert str(caught.value.problems[0]) == f"slug: {fields['slug']}"


# ------------------------------------------------------------------------------------------
# Reading the file
# ------------------------------------------------------------------------------------------


def test_toml_syntax_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('slug = "daejeon-2024\ntimezone = "Asia/Seoul"\n', encoding="utf-8")
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(path)
    assert caught.value.path == str(path)
    [problem] = caught.value.problems
    assert problem.field == "file"
    assert "not valid TOML" in problem.message
    assert "line 1" in problem.message


def test_file_not_in_utf8(tmp_path):
    path = tmp_path / "euc-kr.toml"
    path.write_bytes('slug = "대전"\n'.encode("euc-kr"))
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(path)
    assert [p.field for p in caught.value.problems] == ["file"]


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(path)
    assert caught.value.path == str(path)
    assert caught.value.problems == [Problem("file", "not found")]


def test_a_directory_is_a_problem_not_a_crash(tmp_path):
    # `chamyeo campaign load campaigns/` must answer with a clear line, not a traceback.
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(tmp_path)
    assert [p.field for p in caught.value.problems] == ["file"]


DEEP = 5000
DEEPLY_NESTED = {
    "arrays": "a = " + "[" * DEEP + "]" * DEEP + "\n",
    "inline tables": "a = " + "{ b = " * DEEP + "1" + " }" * DEEP + "\n",
    "arrays of inline tables": "a = " + "[{ b = " * DEEP + "1" + " }]" * DEEP + "\n",
}


@pytest.mark.parametrize("text", DEEPLY_NESTED.values(), ids=DEEPLY_NESTED.keys())
def test_a_deeply_nested_file_is_a_problem_not_a_crash(tmp_path, text):
    # tomllib parses nesting by recursion: without care this is a RecursionError traceback.
    path = tmp_path / "deep.toml"
    path.write_text('slug = "deep-2024"\n' + text, encoding="utf-8")
    with pytest.raises(CampaignFileError) as caught:
        parse_campaign_file(path)
    assert caught.value.path == str(path)
    assert caught.value.problems == [
        Problem("file", "too deeply nested (arrays or inline tables inside each other)")]


# --- judging, ranking, awards -------------------------------------------------------------


def test_judging_ranking_and_awards_default_and_parse():
    spec = parse_campaign(small_campaign())
    assert (spec.judging.scale_min, spec.judging.scale_max, spec.judging.criteria) == (0, 100, ())
    assert (spec.ranking.citizen_weight, spec.ranking.judge_weight) == (0.3, 0.7)
    assert spec.awards == ()
    spec = parse_campaign(small_campaign(
        judging={"scale_min": 1, "scale_max": 5,
                 "criteria": [{"ko": "효과", "en": "Impact"}, {"ko": "확산"}]},
        ranking={"citizen_weight": 0.5, "judge_weight": 0.5},
        awards=[{"ko": "대상", "en": "Grand prize", "count": 2}, {"ko": "우수상", "count": 3}],
    ))
    assert spec.judging.scale_max == 5 and [c.ko for c in spec.judging.criteria] == ["효과", "확산"]
    assert spec.ranking.citizen_weight == 0.5
    assert [(a.name.ko, a.count) for a in spec.awards] == [("대상", 2), ("우수상", 3)]


def test_daejeon_file_has_the_award_tiers():
    spec = parse_campaign_file(DAEJEON_FILE)
    assert [(a.name.ko, a.count) for a in spec.awards] == [
        ("대상", 2), ("최우수상", 3), ("우수상", 5)]


@pytest.mark.parametrize(("changes", "field"), [
    ({"ranking": {"citizen_weight": 0.5, "judge_weight": 0.7}}, "ranking"),
    ({"ranking": {"citizen_weight": -1, "judge_weight": 2}}, "ranking"),
    ({"judging": {"scale_min": 10, "scale_max": 5}}, "judging.scale_max"),
    ({"judging": {"scale_max": "백"}}, "judging.scale_max"),
    ({"awards": [{"ko": "대상", "count": 0}]}, "awards[0].count"),
    ({"awards": [{"en": "Grand", "count": 1}]}, "awards[0].ko"),
    ({"awards": [{"ko": "대상", "count": 1, "money": 5}]}, "awards[0].money"),
])
def test_bad_judging_ranking_or_awards_are_reported(changes, field):
    assert field in [p.field for p in problems_of(small_campaign(**changes))]

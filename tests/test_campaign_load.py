"""Loading campaign files into the real database: created once, reloaded in place, votes never
touched, an invalid file changes nothing; and where each campaign stands at a given time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from bot.campaign_file import CampaignFileError, parse_campaign, parse_campaign_file
from bot.domain import CaseStatus, PhaseName
from bot.services.catalog import ListQuery
from storage.repositories import CaseRepository
from storage.tables import audit_log, campaigns, cases, citizens, phases, votes
from tests.conftest import (
    DAEJEON_FILE,
    DURING_VOTING,
    SEOUL,
    VOTING_CLOSES,
    VOTING_OPENS,
    small_campaign,
)

TABLES = {"campaigns": campaigns, "phases": phases, "cases": cases, "citizens": citizens,
          "votes": votes, "audit_log": audit_log}


async def counts(db) -> dict[str, int]:
    async with db.read() as conn:
        return {
            name: await conn.scalar(sa.select(sa.func.count()).select_from(table))
            for name, table in TABLES.items()
        }


async def rows(db, table, order_by=None) -> list[dict]:
    async with db.read() as conn:
        query = table.select().order_by(order_by if order_by is not None else table.c.id)
        return [dict(r) for r in (await conn.execute(query)).mappings()]


async def case_row(db, key: str) -> dict:
    async with db.read() as conn:
        row = (await conn.execute(cases.select().where(cases.c.key == key))).mappings().one()
        return dict(row)


async def audit_actions(db) -> list[str]:
    return [r["action"] for r in await rows(db, audit_log)]


def edited_campaign() -> dict:
    """small_campaign with one case retitled and the voting phase two hours longer."""
    raw = small_campaign()
    raw["cases"][3]["ko"]["title"] = "새로 고친 사례 제목"
    raw["phases"]["voting"]["end"] = "2024-12-01T20:00"
    return raw


async def cast(services, campaign_id: int, key: str, user: str = "1"):
    campaign = await services.campaigns.get(campaign_id)
    citizen = await services.citizens.identify("telegram", user, "ko")
    case_id = (await case_row(services.db, key))["id"]
    result = await services.voting.cast_vote(campaign, citizen, case_id)
    assert result.stored, result.outcome
    return result.vote


# ------------------------------------------------------------------------------------------
# First load
# ------------------------------------------------------------------------------------------


async def test_load_creates_campaign_phases_and_cases(services, db, clock):
    report = await services.campaigns.load(parse_campaign(small_campaign()))

    assert report.created is True
    assert report.changed is True
    assert report.slug == "test-2024"
    assert report.added == [f"case-{i}" for i in range(1, 11)]
    assert (report.updated, report.removed, report.unchanged) == ([], [], 0)
    assert await counts(db) == {"campaigns": 1, "phases": 4, "cases": 10, "citizens": 0,
                                "votes": 0, "audit_log": 1}

    campaign = await services.campaigns.get(report.campaign_id)
    assert campaign.slug == "test-2024"
    assert campaign.title.ko == "시험 공모 2024"
    assert [p.name for p in campaign.phases] == [
        PhaseName.SUBMISSION, PhaseName.VOTING, PhaseName.REVIEW, PhaseName.AWARDS
    ]
    voting = campaign.phase(PhaseName.VOTING)
    assert (voting.start, voting.end) == (VOTING_OPENS, VOTING_CLOSES)
    assert campaign.phase(PhaseName.AWARDS).end is None
    assert [d.key for d in campaign.districts] == ["dong", "daedeok"]
    assert [h.ko for h in campaign.district("dong").neighbourhoods] == ["효동", "판암1동"]

    case_rows = await rows(db, cases)
    assert {r["status"] for r in case_rows} == {"approved"}
    assert {r["source"] for r in case_rows} == {"file"}
    assert {r["campaign_id"] for r in case_rows} == {report.campaign_id}
    assert {r["created_at"] for r in case_rows} == {clock.now()}
    case3 = await case_row(db, "case-3")
    assert case3["title_ko"] == "사례 제목 03번" and case3["title_en"] is None

    [entry] = await rows(db, audit_log)
    assert entry["action"] == "campaign.loaded"
    assert entry["campaign_id"] == report.campaign_id
    assert entry["actor"] == "cli"
    assert entry["at"] == clock.now()
    assert entry["detail"]["created"] is True
    assert entry["detail"]["added"] == report.added


async def test_loaded_cases_are_listed_for_citizens(services, campaign):
    page = await services.catalog.list_cases(campaign, ListQuery(), None)
    assert page.total == 10


async def test_phase_times_are_stored_in_utc(services, db):
    await services.campaigns.load(parse_campaign(small_campaign()))
    voting = next(r for r in await rows(db, phases) if r["name"] == "voting")
    assert voting["starts_at"] == VOTING_OPENS
    assert voting["starts_at"].utcoffset() == timedelta(0)
    assert voting["starts_at"].hour == 0  # 09:00 in Seoul


# ------------------------------------------------------------------------------------------
# Loading the same spec again
# ------------------------------------------------------------------------------------------


async def test_loading_the_same_spec_twice_changes_nothing(services, db, clock):
    spec = parse_campaign(small_campaign())
    first = await services.campaigns.load(spec)
    before_counts = await counts(db)
    before_cases = await rows(db, cases)
    before_campaigns = await rows(db, campaigns)
    before_phases = await rows(db, phases)

    clock.advance(timedelta(hours=1))  # an update would now show a new updated_at
    second = await services.campaigns.load(parse_campaign(small_campaign()))

    assert second.changed is False
    assert second.created is False and second.settings_changed is False
    assert (second.added, second.updated, second.removed) == ([], [], [])
    assert second.unchanged == 10
    assert second.campaign_id == first.campaign_id
    assert await counts(db) == before_counts
    assert await audit_actions(db) == ["campaign.loaded"]
    assert await rows(db, cases) == before_cases
    assert await rows(db, campaigns) == before_campaigns
    assert await rows(db, phases) == before_phases


async def test_loading_the_daejeon_file_twice_changes_nothing(services, db, clock):
    await services.campaigns.load_file(DAEJEON_FILE)
    before = (await counts(db), await rows(db, cases), await rows(db, campaigns))
    clock.advance(timedelta(days=1))
    report = await services.campaigns.load_file(DAEJEON_FILE)
    assert report.changed is False
    assert report.unchanged == len(parse_campaign_file(DAEJEON_FILE).cases)
    assert (await counts(db), await rows(db, cases), await rows(db, campaigns)) == before


# ------------------------------------------------------------------------------------------
# Loading an edited file
# ------------------------------------------------------------------------------------------


async def test_edited_file_updates_in_place_and_keeps_votes(services, db, clock):
    first = await services.campaigns.load(parse_campaign(small_campaign()))
    vote_for_edited = await cast(services, first.campaign_id, "case-4", user="1")
    vote_for_other = await cast(services, first.campaign_id, "case-7", user="2")
    before_votes = await rows(db, votes)
    before_case4 = await case_row(db, "case-4")
    before_case5 = await case_row(db, "case-5")
    before_counts = await counts(db)

    clock.advance(timedelta(minutes=10))
    report = await services.campaigns.load(parse_campaign(edited_campaign()))

    assert report.changed is True
    assert report.created is False
    assert report.settings_changed is True
    assert report.updated == ["case-4"]
    assert (report.added, report.removed, report.unchanged) == ([], [], 9)
    assert report.campaign_id == first.campaign_id

    after_case4 = await case_row(db, "case-4")
    assert after_case4["id"] == before_case4["id"]
    assert after_case4["title_ko"] == "새로 고친 사례 제목"
    assert after_case4["status"] == "approved"
    assert after_case4["created_at"] == before_case4["created_at"]
    assert after_case4["updated_at"] == clock.now()
    assert await case_row(db, "case-5") == before_case5

    campaign = await services.campaigns.get(first.campaign_id)
    assert campaign.phase(PhaseName.VOTING).end == datetime(2024, 12, 1, 20, 0, tzinfo=SEOUL)

    # The votes are the same rows, with the same receipts, still pointing at the same cases.
    after_votes = await rows(db, votes)
    assert after_votes == before_votes
    assert {v["id"]: v["receipt"] for v in after_votes} == {
        vote_for_edited.id: vote_for_edited.receipt, vote_for_other.id: vote_for_other.receipt
    }
    assert next(v for v in after_votes if v["id"] == vote_for_edited.id)["case_id"] == \
        before_case4["id"]

    after_counts = await counts(db)
    assert after_counts == {**before_counts, "audit_log": before_counts["audit_log"] + 1}
    entry = (await rows(db, audit_log))[-1]
    assert entry["action"] == "campaign.loaded"
    assert entry["detail"]["updated"] == ["case-4"]
    assert entry["detail"]["settings_changed"] is True


async def test_only_settings_changed(services, db):
    await services.campaigns.load(parse_campaign(small_campaign()))
    before_cases = await rows(db, cases)
    report = await services.campaigns.load(parse_campaign(
        small_campaign(voting={"votes_per_citizen": 2, "allow_change": True,
                               "show_running_tally": False})))
    assert report.settings_changed is True
    assert (report.added, report.updated, report.removed) == ([], [], [])
    assert await rows(db, cases) == before_cases
    assert (await services.campaigns.all())[0].rules.votes_per_citizen == 2


async def test_a_case_moved_to_another_category_is_updated(services, db):
    await services.campaigns.load(parse_campaign(small_campaign()))
    raw = small_campaign()
    raw["cases"][0]["category"] = "seniors"
    report = await services.campaigns.load(parse_campaign(raw))
    assert report.updated == ["case-1"]
    assert report.settings_changed is False
    assert (await case_row(db, "case-1"))["category"] == "seniors"


async def test_a_new_case_in_the_file_is_added(services, db):
    first = await services.campaigns.load(parse_campaign(small_campaign()))
    raw = small_campaign()
    extra = {**raw["cases"][0], "key": "case-11"}
    extra["ko"] = {**extra["ko"], "title": "사례 제목 11번"}
    del extra["en"]
    raw["cases"].append(extra)
    report = await services.campaigns.load(parse_campaign(raw))
    assert report.added == ["case-11"]
    assert report.unchanged == 10
    assert (await case_row(db, "case-11"))["campaign_id"] == first.campaign_id
    assert (await counts(db))["cases"] == 11


# ------------------------------------------------------------------------------------------
# Cases dropped from the file
# ------------------------------------------------------------------------------------------


async def test_a_removed_case_is_hidden_and_comes_back(services, db, clock):
    first = await services.campaigns.load(parse_campaign(small_campaign()))
    vote = await cast(services, first.campaign_id, "case-10")
    case10 = await case_row(db, "case-10")

    raw = small_campaign()
    raw["cases"] = [c for c in raw["cases"] if c["key"] != "case-10"]
    clock.advance(timedelta(minutes=1))
    report = await services.campaigns.load(parse_campaign(raw))

    assert report.removed == ["case-10"]
    assert (report.added, report.updated, report.unchanged) == ([], [], 9)
    removed = await case_row(db, "case-10")
    assert removed["status"] == "removed"
    assert removed["id"] == case10["id"]
    assert removed["title_ko"] == case10["title_ko"]
    campaign = await services.campaigns.get(first.campaign_id)
    page = await services.catalog.list_cases(campaign, ListQuery(), None)
    assert page.total == 9
    assert "case-10" not in {c.key for c in page.cases}
    assert await services.catalog.get_case(campaign, case10["id"]) is None
    [kept] = await rows(db, votes)
    assert (kept["id"], kept["case_id"], kept["receipt"]) == (vote.id, case10["id"], vote.receipt)

    # Loading the shorter file again reports nothing new.
    again = await services.campaigns.load(parse_campaign(raw))
    assert again.changed is False

    # Back in the file: approved again, same row, the vote still there.
    report = await services.campaigns.load(parse_campaign(small_campaign()))
    assert report.changed is True
    assert report.added == []
    assert report.updated == ["case-10"]
    back = await case_row(db, "case-10")
    assert back["status"] == "approved"
    assert back["id"] == case10["id"]
    page = await services.catalog.list_cases(campaign, ListQuery(), None)
    assert page.total == 10
    assert await rows(db, votes) == [kept]
    assert (await counts(db))["cases"] == 10


async def test_a_case_hidden_by_staff_stays_hidden_on_reload(services, db, clock):
    first = await services.campaigns.load(parse_campaign(small_campaign()))
    case2 = await case_row(db, "case-2")
    async with db.write() as conn:
        await CaseRepository(conn).set_status(case2["id"], CaseStatus.HIDDEN, clock.now())
    report = await services.campaigns.load(parse_campaign(small_campaign()))
    assert report.changed is False
    assert (await case_row(db, "case-2"))["status"] == "hidden"
    campaign = await services.campaigns.get(first.campaign_id)
    assert (await services.catalog.list_cases(campaign, ListQuery(), None)).total == 9


# ------------------------------------------------------------------------------------------
# Invalid files
# ------------------------------------------------------------------------------------------


async def test_an_invalid_file_changes_nothing(services, db, clock, tmp_path):
    await services.campaigns.load_file(DAEJEON_FILE)
    before = (await counts(db), await rows(db, cases), await rows(db, campaigns),
              await rows(db, phases), await rows(db, audit_log))

    # Valid edits (a new title, a new voting end) next to one mistake: none of it is loaded.
    text = DAEJEON_FILE.read_text(encoding="utf-8")
    for old, new in [
        ('en = "Time to Change Daejeon 2024"', 'en = "Renamed"'),
        ('end = "2024-12-01T18:00"', 'end = "2024-12-01T20:00"'),
        ('title = "일상이 평등한 성평등 도시 대덕 만들기"', 'title = "바뀐 제목입니다"'),
        ('category = "gender-equality"', 'category = "equality"'),
    ]:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "daejeon-edited.toml"
    path.write_text(text, encoding="utf-8")

    clock.advance(timedelta(hours=1))
    with pytest.raises(CampaignFileError) as caught:
        await services.campaigns.load_file(path)
    assert [p.field for p in caught.value.problems] == [
        "cases[0] (daedeok-equal-everyday).category"
    ]
    after = (await counts(db), await rows(db, cases), await rows(db, campaigns),
             await rows(db, phases), await rows(db, audit_log))
    assert after == before


async def test_an_invalid_first_file_creates_nothing(services, db, tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('slug = "x"\n[phases\n', encoding="utf-8")
    before = await counts(db)
    with pytest.raises(CampaignFileError):
        await services.campaigns.load_file(path)
    with pytest.raises(CampaignFileError):
        await services.campaigns.load_file(tmp_path / "missing.toml")
    assert await counts(db) == before
    assert await services.campaigns.all() == []


# ------------------------------------------------------------------------------------------
# The shipped file, as `chamyeo campaign load campaigns/daejeon-2024.toml` loads it
# ------------------------------------------------------------------------------------------


async def test_the_daejeon_file_loads(services, db):
    spec = parse_campaign_file(DAEJEON_FILE)
    report = await services.campaigns.load_file(DAEJEON_FILE)

    assert report.created is True
    assert report.slug == "daejeon-2024"
    assert report.added == [c.key for c in spec.cases]
    assert len(report.added) >= 14
    assert "daedeok-equal-everyday" in report.added
    assert "daedeok-bright-sounds" in report.added

    campaign = await services.campaigns.get(report.campaign_id)
    assert campaign.sample_data is True
    assert [d.name.ko for d in campaign.districts] == ["동구", "중구", "서구", "유성구", "대덕구"]
    assert sum(len(d.neighbourhoods) for d in campaign.districts) == 82
    voting = campaign.phase(PhaseName.VOTING)
    assert (voting.start, voting.end) == (VOTING_OPENS, VOTING_CLOSES)

    page = await services.catalog.list_cases(campaign, ListQuery(), None)
    assert page.total == len(spec.cases)
    for district in campaign.districts:
        in_district = await services.catalog.list_cases(campaign,
                                                        ListQuery(district=district.key), None)
        assert in_district.total >= 1, district.key
    [entry] = await rows(db, audit_log)
    assert entry["detail"]["source"] == str(DAEJEON_FILE)


async def test_two_campaigns_live_side_by_side(services, db):
    await services.campaigns.load_file(DAEJEON_FILE)
    await services.campaigns.load(parse_campaign(small_campaign()))
    assert sorted(c.slug for c in await services.campaigns.all()) == ["daejeon-2024",
                                                                      "test-2024"]
    # Reloading one leaves the other's cases alone.
    raw = small_campaign()
    raw["cases"] = raw["cases"][:5]
    report = await services.campaigns.load(parse_campaign(raw))
    assert report.removed == [f"case-{i}" for i in range(6, 11)]
    async with db.read() as conn:
        statuses = dict((await conn.execute(
            sa.select(campaigns.c.slug, sa.func.count())
            .select_from(cases.join(campaigns))
            .where(cases.c.status == "removed")
            .group_by(campaigns.c.slug))).all())
    assert statuses == {"test-2024": 5}


# ------------------------------------------------------------------------------------------
# Where each campaign stands
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("instant", "current", "upcoming"),
    [
        (datetime(2024, 10, 1, 12, 0, tzinfo=SEOUL), None, PhaseName.SUBMISSION),
        (datetime(2024, 10, 7, 9, 0, tzinfo=SEOUL), PhaseName.SUBMISSION, PhaseName.VOTING),
        (datetime(2024, 11, 26, 12, 0, tzinfo=SEOUL), None, PhaseName.VOTING),
        (VOTING_OPENS - timedelta(seconds=1), None, PhaseName.VOTING),
        (VOTING_OPENS, PhaseName.VOTING, PhaseName.REVIEW),
        (DURING_VOTING, PhaseName.VOTING, PhaseName.REVIEW),
        (VOTING_CLOSES - timedelta(seconds=1), PhaseName.VOTING, PhaseName.REVIEW),
        (VOTING_CLOSES, None, PhaseName.REVIEW),
        (datetime(2024, 12, 3, 12, 0, tzinfo=SEOUL), PhaseName.REVIEW, PhaseName.AWARDS),
        (datetime(2024, 12, 9, 13, 59, tzinfo=SEOUL), None, PhaseName.AWARDS),
    ],
)
async def test_listing_at_different_instants(services, clock, instant, current, upcoming):
    await services.campaigns.load(parse_campaign(small_campaign()))
    clock.set(instant)
    [(campaign, moment)] = await services.campaigns.listing()
    assert campaign.slug == "test-2024"
    assert (moment.current.name if moment.current else None) == current
    assert (moment.next.name if moment.next else None) == upcoming
    assert moment.finished is False


@pytest.mark.parametrize("instant", [datetime(2024, 12, 9, 14, 0, tzinfo=SEOUL),
                                     datetime(2025, 1, 1, tzinfo=SEOUL)])
async def test_listing_after_awards_is_finished(services, clock, instant):
    await services.campaigns.load(parse_campaign(small_campaign()))
    clock.set(instant)
    [(_, moment)] = await services.campaigns.listing()
    assert moment.finished is True
    assert moment.current is None and moment.next is None


async def test_listing_follows_a_reloaded_phase(services, clock):
    await services.campaigns.load(parse_campaign(small_campaign()))
    clock.set(datetime(2024, 12, 1, 19, 0, tzinfo=SEOUL))  # after 18:00: voting has closed
    [(_, moment)] = await services.campaigns.listing()
    assert moment.current is None
    await services.campaigns.load(parse_campaign(edited_campaign()))  # now ends at 20:00
    [(_, moment)] = await services.campaigns.listing()
    assert moment.current.name is PhaseName.VOTING


async def test_listing_is_empty_without_campaigns(services):
    assert await services.campaigns.listing() == []

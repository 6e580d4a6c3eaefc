
"""Small pieces on their own: callback codes, message catalogs, text splitting, domain rules,
and the migration agreeing with the tables module."""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.domain import (
    NO_VOTES,
    Campaign,
    Phase,
    PhaseName,
    PhaseStatus,
    Text,
    Vote,
    VoteOutcome,
    is_votes_token,
    pick_current_campaign,
    votes_token,
    window_refusal,
)
from bot.i18n import Safe, catalog, format_when, plain, t
from bot.text import shorten, split_text
from handlers.telegram import callbacks as cb
from handlers.telegram.menus import COMMANDS
from storage.migrate import alembic_config, current_revision
from storage.tables import metadata

SEOUL = ZoneInfo("Asia/Seoul")

# --- callbacks ----------------------------------------------------------------------------

STATES = [
    cb.ListState(),
    cb.ListState(page=3, district=1, category=0),
    cb.ListState(page=0, district=None, category=4, search=1),
    cb.ListState(page=12, district=0, category=None, search=999_999),
    cb.ListState(page=999_999_999, district=999_999_999, category=999_999_999),
]

SIMPLE_ACTIONS = [cb.Menu(), cb.MyVote(), cb.Schedule(), cb.Help(), cb.SetLanguage("ko"),
                  cb.SetLanguage("en"), cb.AskSearch(1), cb.AskSearch(999_999_999),
                  cb.Subscribe(1, True), cb.Subscribe(999_999_999, False),
                  cb.ShowResults(1), cb.ShowResults(999_999_999), cb.MyCases(),
                  cb.StartSubmission(1), cb.StartSubmission(999_999_999),
                  cb.DraftButton(1, "type", "0"), cb.DraftButton(999_999_999, "consent", "1"),
                  cb.DraftButton(7, "preview", "e-category"),
                  cb.DraftButton(7, "hood", "back"), cb.DraftButton(7, "photo", "skip"),
                  cb.Forget(True), cb.Forget(False), cb.AskReceipt(1),
                  cb.MyCase(1, 2), cb.MyCase(999_999_999, 999_999_999),
                  cb.Withdraw(1, 2, False), cb.Withdraw(999_999_999, 999_999_999, True),
                  cb.AskReceipt(999_999_999), cb.ReceiptList(1), cb.ReceiptList(999_999_999)]


def all_actions() -> list[cb.Action]:
    actions: list[cb.Action] = list(SIMPLE_ACTIONS)
    for state in STATES:
        for kind in (cb.ShowList, cb.PickDistrict, cb.PickCategory):
            actions.append(kind(7, state))
        for kind in (cb.AskVote, cb.CancelVote):
            actions.append(kind(7, 123_456, state))
        actions.append(cb.ConfirmVote(7, 123_456, state, NO_VOTES))
        actions.append(cb.ConfirmVote(7, 123_456, state, "0a1b2c3d"))
        actions.append(cb.ShowCase(7, 123_456, state))
        actions.append(cb.ShowCase(7, 123_456, state, part=2))
    return actions


def test_every_action_type_is_covered():
    covered = {type(a) for a in all_actions()}
    assert covered == set(cb.Action.__args__)


@pytest.mark.parametrize("action", all_actions(), ids=repr)
def test_encode_decode_round_trip(action):
    data = cb.encode(action)
    assert len(data.encode()) <= cb.MAX_BYTES
    assert cb.decode(data) == action


def test_codes_are_distinct_per_action_type():
    codes = {}
    for action in all_actions():
        codes.setdefault(type(action), set()).add(cb.encode(action).split(":")[0])
    firsts = [next(iter(c)) for c in codes.values()]
    assert all(len(c) == 1 for c in codes.values())
    assert len(firsts) == len(set(firsts))


def test_the_largest_list_state_fits_with_the_largest_ids():
    """A search is a number in the button (its words are in the chat session): with the
    largest ids and a list's largest page, district, category and search number, every
    button that carries a list fits in 64 bytes, whole."""
    big = 999_999_999
    state = cb.ListState(page=9_999, district=999, category=999, search=999_999)
    actions = [
        cb.ShowList(big, state), cb.PickDistrict(big, state), cb.PickCategory(big, state),
        cb.AskVote(big, big, state), cb.ConfirmVote(big, big, state, "0a1b2c3d"),
        cb.CancelVote(big, big, state), cb.ShowCase(big, big, state, part=9_999),
    ]
    for action in actions:
        data = cb.encode(action)
        assert len(data.encode()) <= cb.MAX_BYTES, data
        assert cb.decode(data) == action


@pytest.mark.parametrize("data", ["c:7:5:0:0:::돌봄", "l:7:0:::방 안에만 머물던 청년이 또래",
                                  "v:7:5:0:::a:b", "yv:7:5:0a1b2c3d:0:::돌봄"])
def test_a_button_that_carried_the_search_words_is_stale(data):
    """Buttons made before searches were kept in the session carried the words: taken as
    stale (the polite "expired"), never as a search cut short."""
    assert cb.decode(data) is None


def test_a_confirmation_carries_the_votes_it_was_made_for():
    state = cb.ListState(1, 0, 1, 42)
    assert (cb.encode(cb.ConfirmVote(12, 345, state, "0a1b2c3d"))
            == "yv:12:345:0a1b2c3d:1:0:1:42")
    # As made before confirmations carried the votes: decoded, with no votes, taken as stale.
    assert cb.decode("y:12:345:1:0:1:42") == cb.ConfirmVote(12, 345, state, None)
    for forged in ("yv:12:345:0A1B2C3D:1:0:1:", "yv:12:345:zz:1:0:1:", "yv:12:345:1:0:1:",
                   "yv:12:345::1:0:1:", "yv:12:345:0a1b2c3d0:1:0:1:"):
        assert cb.decode(forged) is None, forged
    with pytest.raises(ValueError):
        cb.encode(cb.ConfirmVote(12, 345, state, "x:y"))


def test_votes_token_changes_with_every_vote():
    def vote(case_id: int, receipt: str, slot: int = 1) -> Vote:
        return Vote(1, 1, 1, case_id, slot, datetime(2024, 11, 28, tzinfo=UTC), receipt)

    tokens = [votes_token([]), votes_token([vote(1, "AAAA-BBBB")]),
              votes_token([vote(20, "CCCC-DDDD")]), votes_token([vote(1, "EEEE-FFFF")]),
              votes_token([vote(1, "AAAA-BBBB"), vote(2, "CCCC-DDDD", 2)])]
    assert tokens[0] == NO_VOTES
    assert len(set(tokens)) == len(tokens)
    assert all(is_votes_token(token) for token in tokens)
    assert votes_token([vote(2, "CCCC-DDDD", 2), vote(1, "AAAA-BBBB")]) == tokens[4]


def test_a_search_number_survives_whole():
    action = cb.ShowCase(12, 345, cb.ListState(1, 0, 1, 123_456))
    assert cb.decode(cb.encode(action)).state.search == 123_456


BAD_DATA = [
    None, "", " ", "garbage", "x" * 64, "x" * 65, "m:1", "sc:x", "h:1", "M",
    "lg:", "lg:fr", "lg:KO", "lg:ko:en", "s:", "s:-1", "s:1:2", "s:1e3", "s:0x10", "s: 1",
    "s:+1", "s:1.0", "s:1000000000", "s:99999999999999999999",
    "c:1", "c:1:2", "c:1:2:0:0::", "c:1:2:0:0", "c:-1:2:0:0:::", "c:1:-2:0:0:::",
    "c:1:2:-1:0:::", "c:1:2:0:-1:::", "c:1:2:0:0:-1::", "c:1:2:0:0::-1:",
    "c:1:2:0:0:x::", "c:a:b:c:d:::", "c:1000000000:2:0:0:::",
    "y", "y:1", "y:1:abc", "y:1:2:0::", "y:1:2:0", "y:1:2::::", "y:-1:2:0:::",
    "v:1:2:x:::", "n:1:2:0:1.5::", "y:1:2:0:::" + "k" * 60,
    "l", "l:1", "l:1:0::", "l:1:-3:::", "l:1:0:a::", "fd:1", "fc:x:0:::",
    "zz:1:2", "C:1:2:0:0:::", "Y:1:2:0:::", "y :1:2:0:::", ":", "::::::", "c::::::",
    "투표", "y:일:2:0:::", "s:일", "\x00", "y:1:2:0:::" + "\ufffd" * 20,
    "s:²", "l:1:²:::",
    "mo", "mo:1", "mo:1:", "mo:1:x", "mo:1:2:3", "mo:-1:2", "wd:1:2", "wd:1:2:2", "wd:1:2:",
    "wd:1:x:1", "wd:1:2:1:1", "wd::2:1",
]


@pytest.mark.parametrize("data", BAD_DATA, ids=repr)
def test_decode_refuses_malformed_data(data):
    assert cb.decode(data) is None


def test_decode_refuses_non_ascii_digits():
    """str.isdigit() is true for Arabic-Indic and full-width digits and int() reads them, so
    "s:١٢" would be taken as AskSearch(12): a second spelling of a button that encode never
    makes. Only ASCII digits are button data."""
    forged = ["s:١٢", "s:１２", "y:1:２:0:::", "l:1:٣:::", "c:１:２:0:0:::"]
    assert {data: cb.decode(data) for data in forged} == dict.fromkeys(forged)


def test_encode_refuses_what_is_not_an_action():
    with pytest.raises(TypeError):
        cb.encode("m")  # type: ignore[arg-type]


# --- catalogs -----------------------------------------------------------------------------


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def test_catalogs_have_the_same_keys():
    ko, en = catalog("ko"), catalog("en")
    assert sorted(set(ko) - set(en)) == []
    assert sorted(set(en) - set(ko)) == []


def test_catalogs_have_the_same_placeholders_per_key():
    ko, en = catalog("ko"), catalog("en")
    different = {
        key: (placeholders(ko[key]), placeholders(en[key]))
        for key in ko if placeholders(ko[key]) != placeholders(en.get(key, ""))
    }
    assert different == {}


def test_catalog_texts_are_non_empty_strings_with_balanced_tags():
    tag = re.compile(r"</?([a-z]+)(?: [^>]*)?>")
    for language in ("ko", "en"):
        for key, template in catalog(language).items():
            assert isinstance(template, str) and template.strip(), (language, key)
            stack = []
            for match in tag.finditer(template):
                name = match.group(1)
                assert name in ("b", "i", "code", "a"), (language, key, name)
                if match.group(0).startswith("</"):
                    assert stack and stack.pop() == name, (language, key)
                else:
                    stack.append(name)
            assert stack == [], (language, key)


def test_catalogs_cover_every_command_phase_and_status():
    for language in ("ko", "en"):
        texts = catalog(language)
        for name in COMMANDS:
            assert f"command.{name}" in texts
            assert len(texts[f"command.{name}"]) <= 256  # Telegram's limit for a description
        for phase in PhaseName:
            assert f"phase.name.{phase.value}" in texts
        for phase in (PhaseName.SUBMISSION, PhaseName.VOTING, PhaseName.REVIEW):
            assert f"phase.open_{phase.value}" in texts
        for status in PhaseStatus:
            assert f"phase.status.{status.value}" in texts


def test_t_escapes_html_in_values():
    text = t("ko", "vote.same", receipt="<b>A&B</b>")
    assert text == ("이미 이 사례에 투표하셨습니다.\n"
                    "확인 번호: <code>&lt;b&gt;A&amp;B&lt;/b&gt;</code>")
    assert t("en", "list.keyword", keyword='"x"') == "“\"x\"”"  # quotes are not HTML here


def test_safe_values_are_not_escaped():
    text = t("ko", "start.greeting", title="A&B", status=Safe("<i>열림</i>"))
    assert text == "안녕하세요! 👋\n<b>A&amp;B</b>\n\n<i>열림</i>"


def test_plain_does_not_escape_and_unknown_language_falls_back_to_korean():
    assert plain("ko", "case.share_text", title="<A&B>") == "「<A&B>」 사례를 보고 투표해 주세요!"
    assert t("fr", "menu.home") == "🏠 처음으로"
    assert plain("xx", "expired") == catalog("ko")["expired"]
    assert t("en", "menu.home") == "🏠 Main menu"


def test_format_when_in_korean_and_english():
    opening = datetime(2024, 11, 28, 9, 0, tzinfo=SEOUL)
    same_in_utc = datetime(2024, 11, 28, 0, 0, tzinfo=UTC)
    assert format_when(opening, "Asia/Seoul", "ko") == "11월 28일(목) 09:00"
    assert format_when(same_in_utc, "Asia/Seoul", "ko") == "11월 28일(목) 09:00"
    assert format_when(opening, "Asia/Seoul", "en") == "Thu 28 Nov 09:00"
    assert format_when(opening, "Asia/Seoul", "ko", seconds=True) == "11월 28일(목) 09:00:00"
    assert format_when(opening + timedelta(seconds=7), "Asia/Seoul", "en", seconds=True) == (
        "Thu 28 Nov 09:00:07")
    closing = datetime(2024, 12, 1, 9, 0, tzinfo=UTC)  # 18:00 in Seoul
    assert format_when(closing, "Asia/Seoul", "ko") == "12월 1일(일) 18:00"
    assert format_when(closing, "Asia/Seoul", "en") == "Sun 1 Dec 18:00"
    assert format_when(closing, "Europe/London", "en") == "Sun 1 Dec 09:00"
    # just before midnight UTC is already the next day in Seoul
    assert format_when(datetime(2024, 12, 31, 23, 30, tzinfo=UTC), "Asia/Seoul", "ko") == (
        "1월 1일(수) 08:30")


# --- text splitting -----------------------------------------------------------------------


def words_text(count: int) -> str:
    return " ".join(f"낱말{i}" for i in range(count))


def test_split_short_text_is_one_part():
    assert split_text("짧은 글입니다.", 100) == ["짧은 글입니다."]
    assert split_text("  앞뒤 공백  ", 100) == ["앞뒤 공백"]
    assert split_text("", 100) == [""]


def test_split_refuses_a_non_positive_limit():
    for limit in (0, -1):
        with pytest.raises(ValueError):
            split_text("글", limit)


@pytest.mark.parametrize("limit", [20, 57, 100, 333, 1500])
def test_split_parts_fit_and_keep_every_word(limit):
    text = words_text(800)
    parts = split_text(text, limit)
    assert all(0 < len(p) <= limit for p in parts)
    assert " ".join(parts).split() == text.split()
    assert len(parts) >= len(text) // limit


def test_split_prefers_paragraph_breaks():
    paragraphs = [f"{n}번 문단. " + "문장입니다. " * 60 for n in range(1, 7)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    parts = split_text(text, 1500)
    assert len(parts) > 1
    whole = [p.strip() for p in paragraphs]
    for part in parts:
        assert all(chunk in whole for chunk in part.split("\n\n")), part[:40]
        assert len(part) <= 1500
    assert "\n\n".join(parts) == text


def test_split_falls_back_to_sentences_then_words_then_hard_cuts():
    sentences = "이것은 한 문장입니다. " * 40
    for part in split_text(sentences, 100)[:-1]:
        assert part.endswith("다.")
    unbroken = "가" * 2500
    assert split_text(unbroken, 1000) == ["가" * 1000, "가" * 1000, "가" * 500]


def test_split_does_not_cut_early_at_a_break_in_the_first_half():
    text = "앞\n\n" + "가나다라 " * 60
    parts = split_text(text, 100)
    assert len(parts[0]) > 50  # the paragraph break at 1 is too early to be worth it


def test_shorten():
    assert shorten("짧은 제목", 40) == "짧은 제목"
    assert shorten("  줄\n바꿈과   공백  ", 40) == "줄 바꿈과 공백"
    long = "가나다라마바사 " * 10
    cut = shorten(long, 20)
    assert len(cut) <= 20 and cut.endswith("…")
    assert cut[:-1] == " ".join(long.split())[:19].rstrip()
    assert shorten("x" * 40, 40) == "x" * 40
    assert shorten("x" * 41, 40) == "x" * 39 + "…"


# --- domain -------------------------------------------------------------------------------


def at(day: int, hour: int = 0, month: int = 11, second: int = 0) -> datetime:
    return datetime(2024, month, day, hour, 0, second, tzinfo=SEOUL)


def make_campaign(campaign_id: int = 1, year_shift: int = 0, phases=None) -> Campaign:
    def shift(d: datetime) -> datetime:
        return d.replace(year=d.year + year_shift)

    phases = phases or (
        Phase(PhaseName.SUBMISSION, shift(at(7, 9, month=10)), shift(at(24, 18))),
        Phase(PhaseName.VOTING, shift(at(28, 9)), shift(at(1, 18, month=12))),
        Phase(PhaseName.REVIEW, shift(at(2, 9, month=12)), shift(at(6, 18, month=12))),
        Phase(PhaseName.AWARDS, shift(at(9, 14, month=12))),
    )
    return Campaign(id=campaign_id, slug=f"c{campaign_id}", title=Text("제목"),
                    description=Text("설명"), timezone="Asia/Seoul", phases=tuple(phases))


def test_phase_status_start_inclusive_end_exclusive():
    voting = Phase(PhaseName.VOTING, at(28, 9), at(1, 18, month=12))
    tick = timedelta(microseconds=1)
    assert voting.status_at(at(28, 9) - tick) is PhaseStatus.UPCOMING
    assert voting.status_at(at(28, 9)) is PhaseStatus.OPEN
    assert voting.status_at(at(1, 18, month=12) - tick) is PhaseStatus.OPEN
    assert voting.status_at(at(1, 18, month=12)) is PhaseStatus.CLOSED
    assert voting.status_at(at(1, 18, month=12) + tick) is PhaseStatus.CLOSED
    # the same instant in another zone is the same instant
    assert voting.status_at(datetime(2024, 11, 28, 0, 0, tzinfo=UTC)) is PhaseStatus.OPEN


def test_an_instant_phase_is_never_open():
    awards = Phase(PhaseName.AWARDS, at(9, 14, month=12))
    assert awards.status_at(at(9, 13, month=12)) is PhaseStatus.UPCOMING
    assert awards.status_at(at(9, 14, month=12)) is PhaseStatus.CLOSED


def test_campaign_moment():
    campaign = make_campaign()
    before = campaign.moment(at(1, 0, month=9))
    assert before.current is None and before.next.name is PhaseName.SUBMISSION
    assert not before.finished

    during = campaign.moment(at(29, 12))
    assert during.current.name is PhaseName.VOTING and during.next.name is PhaseName.REVIEW

    gap = campaign.moment(at(26, 12))  # between submission and voting
    assert gap.current is None and gap.next.name is PhaseName.VOTING and not gap.finished

    waiting = campaign.moment(at(8, 12, month=12))  # after review, before awards
    assert waiting.current is None and waiting.next.name is PhaseName.AWARDS

    after = campaign.moment(at(9, 14, month=12))
    assert after.current is None and after.next is None and after.finished


def test_voting_window_and_refusal():
    campaign = make_campaign()
    assert campaign.voting_window(at(28, 8)) is PhaseStatus.UPCOMING
    assert window_refusal(campaign, at(28, 8)) == (VoteOutcome.NOT_OPEN_YET, at(28, 9))
    assert window_refusal(campaign, at(28, 9)) is None
    assert window_refusal(campaign, at(1, 18, month=12)) == (
        VoteOutcome.CLOSED, at(1, 18, month=12))
    no_voting = make_campaign(phases=(Phase(PhaseName.SUBMISSION, at(1), at(2)),))
    assert no_voting.voting_window(at(1)) is PhaseStatus.CLOSED
    assert window_refusal(no_voting, at(1))[0] is VoteOutcome.CLOSED


def test_campaign_span():
    assert make_campaign().span() == (at(7, 9, month=10), at(9, 14, month=12))


def test_pick_current_campaign():
    this_year, next_year = make_campaign(1), make_campaign(2, year_shift=1)
    last_year = make_campaign(3, year_shift=-1)
    campaigns = [next_year, last_year, this_year]
    assert pick_current_campaign([], at(1)) is None
    # under way
    assert pick_current_campaign(campaigns, at(28, 12)) is this_year
    # the span's ends are inclusive
    assert pick_current_campaign(campaigns, at(7, 9, month=10)) is this_year
    assert pick_current_campaign(campaigns, at(9, 14, month=12)) is this_year
    # between campaigns: the next one to start
    assert pick_current_campaign(campaigns, at(20, 0, month=12)) is next_year
    assert pick_current_campaign([last_year, this_year], at(1, 0, month=1)) is this_year
    # all over: the latest to end
    assert pick_current_campaign([this_year, last_year], at(31, 0, month=12)) is this_year
    # two under way: the one that started first
    overlapping = make_campaign(4, phases=(
        Phase(PhaseName.VOTING, at(20, 9), at(30, 18)),
    ))
    assert pick_current_campaign([this_year, overlapping], at(28, 12)) is this_year


# --- migrations ---------------------------------------------------------------------------


def _json_default(text: str | None) -> object:
    """A column default as the database or the metadata renders it: "'[24, 1]'::json" and
    "'[24, 1]'" are the same value."""
    import json

    raw = (text or "").split("::")[0].strip("'")
    return json.loads(raw) if raw else None


async def test_migration_matches_the_tables_module(db):
    def same_default(context, inspected_column, metadata_column, inspected_default,
                     metadata_default, rendered_metadata_default):
        # PostgreSQL cannot compare two JSON values with "=" (Alembic's way of comparing
        # defaults): compare their text instead. None: let Alembic compare the rest.
        if isinstance(metadata_column.type, sa.JSON) and inspected_default is not None:
            return _json_default(inspected_default) != _json_default(rendered_metadata_default)
        return None

    def compare(connection):
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": same_default}
        )
        return compare_metadata(context, metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(compare)
    assert differences == []
    head = ScriptDirectory.from_config(alembic_config(db.url)).get_current_head()
    assert await current_revision(db) == head


async def test_migration_creates_every_table(db):
    def table_names(connection):
        import sqlalchemy as sa

        return set(sa.inspect(connection).get_table_names())

    async with db.engine.connect() as conn:
        names = await conn.run_sync(table_names)
    assert set(metadata.tables) <= names
    assert names - set(metadata.tables) == {"alembic_version"}

"""Search over the sample campaign's real texts (campaigns/daejeon-2024.toml): every word must
match, anywhere in a case (title, summary, organisation, body, district, neighbourhood), title
hits first; typed text searches on Telegram; "back to the list" brings back the whole search
(kept in the chat session, not in the 64 bytes of a button); KakaoTalk carries it whole too.
Run on SQLite and on PostgreSQL (CHAMYEO_TEST_DATABASE_URL): both must find the same."""

from __future__ import annotations

import logging

import pytest

from bot.campaign_file import parse_campaign_file
from bot.domain import Case, CaseStatus, CaseText
from bot.search import MAX_CHARS, MAX_WORDS, clean_search
from bot.services.catalog import ListQuery
from handlers.telegram import callbacks as cb
from storage.repositories import CaseRepository
from tests.conftest import DAEJEON_FILE, KIM, SMITH
from tests.test_kakao_skill import (
    ask,
    card_button,
    press,
    quick_reply,
    skill_request,
    texts,
)

LUNCH_BOX = "panam2-knock-lunchbox"  # 도시락 들고 안부 묻는 ‘똑똑 도시락’
YOUNG_CARERS = "gayang2-young-carers"  # 가족을 돌보는 청년에게 쉼표를
RECLUSIVE_YOUTH = "gasuwon-reclusive-youth"  # 방문 밖으로 한 걸음, 은둔 청년과 다시 잇기
GENERATIONS = "oncheon2-generations-table"  # in 온천2동
CAFE = "munhwa2-together-cafe"  # The Together Café
# Words of one sentence of the reclusive-youth case's body: 80 bytes and more in a button.
LONG_PHRASE = "청년 상담 기관과 함께 은둔 청년 지원을 시작했습니다"


def is_search_answer(text: str | None) -> bool:
    """Typed text taken as a search (Korean): a list, or "nothing found", maybe after a note
    that it was cut."""
    return any(mark in (text or "") for mark in ("📋 <b>사례 목록</b>", "🔎 찾는 말: "))


@pytest.fixture
async def campaign(services):
    """The Daejeon 2024 sample (its own random order while voting is open)."""
    report = await services.campaigns.load(parse_campaign_file(DAEJEON_FILE))
    return await services.campaigns.get(report.campaign_id)


@pytest.fixture
def errors_logged(caplog):
    caplog.set_level(logging.ERROR, logger="handlers.telegram.errors")
    return lambda: [r for r in caplog.records if r.name == "handlers.telegram.errors"]


async def keys_by_id(services, campaign) -> dict[int, str]:
    async with services.db.read() as conn:
        found = await CaseRepository(conn).from_file(campaign.id)
    return {case.id: key for key, case in found.items()}


async def search(services, campaign, words: str, citizen=None) -> list[str]:
    """Every case the search finds, in order, by key."""
    keys = await keys_by_id(services, campaign)
    found, page = [], 0
    while True:
        listed = await services.catalog.list_cases(campaign, ListQuery(page, keyword=words),
                                                   citizen)
        found += [keys.get(c.id, f"#{c.id}") for c in listed.cases]
        page += 1
        if page >= listed.pages:
            return found


async def add_case_in_oncheon1(services, campaign) -> int:
    """An approved case sent in by chat, located in 온천1동, with no 온천 in its texts."""
    text = CaseText("동네 책방 나눔", "책을 함께 읽습니다.", "주민이 모여 책을 읽습니다.",
                    "책 읽는 모임")
    case = Case(id=0, campaign_id=campaign.id, key="chat-books", status=CaseStatus.APPROVED,
                district="yuseong", neighbourhood="온천1동", category="community", ko=text,
                en=None)
    async with services.db.write() as conn:
        return await CaseRepository(conn).insert(case, "chat", services.clock.now())


# --- matching -----------------------------------------------------------------------------


async def test_every_word_must_match_anywhere_in_the_case(services, campaign):
    assert LUNCH_BOX in await search(services, campaign, "어르신")
    assert LUNCH_BOX in await search(services, campaign, "도시락")
    both = await search(services, campaign, "어르신 도시락")
    assert both[0] == LUNCH_BOX  # and first: 도시락 is in its title
    # a word only in the body
    assert await search(services, campaign, "보드게임") == [RECLUSIVE_YOUTH]
    assert await search(services, campaign, "쉼표 모임") == [YOUNG_CARERS]
    # one word missing: nothing
    assert await search(services, campaign, "쉼표 하우스") == []
    # the organisation, in English
    assert await search(services, campaign, "gayang 2-dong council") == [YOUNG_CARERS]


async def test_a_long_phrase_matches_word_by_word(services, campaign):
    assert await search(services, campaign, LONG_PHRASE) == [RECLUSIVE_YOUTH]


async def test_neighbourhoods_and_districts_by_name_in_either_language(services, campaign):
    other = await add_case_in_oncheon1(services, campaign)
    for word in ("온천동", "Oncheon-dong", "oncheon"):
        found = await search(services, campaign, word)
        assert sorted(found, key=str) == sorted([GENERATIONS, f"#{other}"], key=str), word
    assert await search(services, campaign, "온천1동") == [f"#{other}"]
    yuseong = await search(services, campaign, "유성구")
    assert len(yuseong) == 5 and GENERATIONS in yuseong and f"#{other}" in yuseong
    assert sorted(await search(services, campaign, "Yuseong-gu")) == sorted(yuseong)
    assert sorted(await search(services, campaign, "YUSEONG")) == sorted(yuseong)
    # the district and another word
    found = await search(services, campaign, "유성구 대학생")
    assert found == [GENERATIONS, "gwanpyeong-homework-friends"]  # the title hit first


@pytest.mark.parametrize("word", ["CAFÉ", "café", "ＣＡＦÉ", "together CAFÉ"])
async def test_case_is_ignored_beyond_ascii_on_both_backends(services, campaign, word):
    # the Together Café by its title first; the reclusive youth met "at a café near home"
    assert await search(services, campaign, word) == [CAFE, RECLUSIVE_YOUTH]


@pytest.mark.parametrize("word", ["%", "_", "\\", "'", "' OR 1=1 --", "%%", "a_b", "😀",
                                  "<b>", "70%"])
async def test_user_words_are_plain_letters(services, campaign, word):
    """A word finds the cases whose texts hold it as it is: no pattern, no SQL."""
    async with services.db.read() as conn:
        cases = await CaseRepository(conn).from_file(campaign.id)
    holding = {key for key, case in cases.items()
               if all(any(w in value.casefold()
                          for text in (case.ko, case.en) if text is not None
                          for value in (text.title, text.summary, text.body, text.organization))
                      for w in word.casefold().split())}
    assert set(await search(services, campaign, word)) == holding
    if word in ("_", "\\", "' OR 1=1 --", "%%", "a_b", "😀", "<b>"):
        assert holding == set()


async def test_title_hits_come_first_each_group_in_the_citizens_order(services, campaign):
    """도시락 is in the lunch-box case's title and only in another case's body: for every
    citizen, the title hit first; the sample's order is random per citizen while voting is
    open, and stays so within each group."""
    seen = set()
    for n in range(1, 6):
        citizen = await services.citizens.identify("telegram", str(70_000 + n), "ko")
        found = await search(services, campaign, "도시락", citizen)
        assert found[0] == LUNCH_BOX and len(found) == 2
        everything = await search(services, campaign, "", citizen)
        rest = [k for k in everything if k in found[1:]]
        assert found[1:] == rest
        seen.add(tuple(everything))
    assert len(seen) > 1  # the citizens' orders differ


def test_a_long_text_is_cut_to_its_first_words():
    assert clean_search("  돌봄\t 어르신\n") == clean_search("돌봄 어르신")
    assert clean_search("돌봄 어르신").cut is False
    many = clean_search(" ".join(f"낱말{n}" for n in range(50)))
    assert many.cut and len(many.text.split()) == MAX_WORDS
    huge = clean_search("가" * 5000)
    assert huge.cut and huge.text == "가" * MAX_CHARS
    assert clean_search("돌봄 " * 2500).text.split() == ["돌봄"] * MAX_WORDS
    assert clean_search("   ") is None and clean_search("\x00\x01") is None


# --- Telegram -----------------------------------------------------------------------------


def listing_of(calls):
    return [c for c in calls if c.method in ("sendMessage", "editMessageText")][-1]


async def test_a_typed_word_searches_on_telegram(telegram, campaign):
    calls = await telegram.send(KIM, "어르신 도시락")
    listing = listing_of(calls)
    assert listing.text.startswith("📋 <b>사례 목록</b> (1/1쪽,")
    assert "조건: 「어르신 도시락」" in listing.text
    assert listing.labels()[0] == "도시락 들고 안부 묻는 ‘똑똑 도시락’ · 동구"


async def test_back_to_the_list_keeps_the_whole_search(telegram, campaign):
    calls = await telegram.send(KIM, LONG_PHRASE)
    first = listing_of(calls)
    assert f"조건: 「{LONG_PHRASE}」" in first.text and "모두 1건" in first.text
    assert all(len(b["callback_data"].encode()) <= 64 and "청년" not in b["callback_data"]
               for b in first.buttons() if "callback_data" in b)
    calls = await telegram.press(KIM, "방문 밖으로 한 걸음")
    assert listing_of(calls).text.startswith("<b>방문 밖으로 한 걸음")
    card_message = telegram.last_message_with_buttons(KIM.id)
    # another search, and a command, in between
    await telegram.send(KIM, "/search 돌봄")
    await telegram.send(KIM, "/myvote")
    calls = await telegram.press(KIM, "목록으로", message=card_message)
    back = listing_of(calls)
    assert back.text == first.text
    assert back.labels() == first.labels()


async def test_a_stale_list_button_shows_the_list_without_its_search(telegram, campaign):
    await telegram.send(KIM, "도시락")
    forged = cb.encode(cb.ShowList(campaign.id, cb.ListState(search=4242)))
    calls = await telegram.press(KIM, data=forged)
    listing = listing_of(calls)
    assert listing.text.startswith("지난 검색의 버튼이라, 검색어 없이 목록을 보여 드립니다.\n\n"
                                   "📋 <b>사례 목록</b> (1/3쪽, 모두 18건)")
    # its district filter still holds
    district = cb.encode(cb.ShowList(campaign.id, cb.ListState(page=5, district=0,
                                                                search=4242)))
    listing = listing_of(await telegram.press(KIM, data=district))
    assert "(1/1쪽, 모두 3건)" in listing.text and "조건: 동구" in listing.text
    # a button made when the words rode in the button: expired, nothing else
    calls = await telegram.press(KIM, data=f"l:{campaign.id}:0:::도시락")
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert calls[0].params["show_alert"]


@pytest.mark.parametrize("text,found", [
    ("돌봄 " * 2500, True),  # 5000 characters: its first words are searched
    ("가" * 5000, False),
    ("어르신 도시락 " + "😀" * 3000, False),
])
async def test_a_very_long_text_is_searched_by_its_first_words_and_says_so(
        telegram, campaign, text, found, errors_logged):
    calls = await telegram.send(KIM, text[:4096])
    listing = listing_of(calls)
    assert listing.text.startswith("✂️ 글이 길어 앞부분만 찾았습니다.\n\n")
    assert len(listing.text) < 1000
    if found:
        assert "📋 <b>사례 목록</b>" in listing.text
    else:
        assert "맞는 사례가 없습니다." in listing.text
        assert listing.labels() == ["📋 모든 사례 보기", "🔎 다시 찾기", "🏠 처음으로"]
    assert errors_logged() == []


@pytest.mark.parametrize("text", ["😀🎉", "_%_", "'; DROP TABLE cases; --", "_"])
async def test_odd_typed_text_gets_a_clear_answer(telegram, campaign, text, errors_logged):
    listing = listing_of(await telegram.send(KIM, text))
    assert "맞는 사례가 없습니다." in listing.text
    assert errors_logged() == []


async def test_commands_and_awaited_answers_are_not_searches(telegram, campaign):
    calls = await telegram.send(KIM, "/도시락")
    assert listing_of(calls).text.startswith("아래 버튼을 눌러 주세요.")


async def test_english_list_shows_the_district_and_most_of_the_title(telegram, campaign):
    listing = listing_of(await telegram.send(SMITH, "pause"))
    assert listing.labels()[0] == "A Pause for Young People Who Care for Their Families · Dong-gu"
    listing = listing_of(await telegram.send(SMITH, "/search Daedeok-gu equal"))
    label = listing.labels()[0]
    # 73 characters of title: cut at 60, the district kept
    assert label == ("Making Daedeok-gu a Place Where Everyday Life Is Equal for…"
                     " · Daedeok-gu")


async def test_korean_list_shows_the_district(telegram, campaign):
    listing = listing_of(await telegram.send(KIM, "쉼표"))
    assert listing.labels()[0] == "가족을 돌보는 청년에게 쉼표를 · 동구"


# --- KakaoTalk ----------------------------------------------------------------------------


async def test_kakao_back_to_the_list_keeps_the_whole_search(kakao, campaign):
    status, answer = await ask(kakao, skill_request(LONG_PHRASE))
    assert status == 200
    assert f"「{LONG_PHRASE}」" in texts(answer)[0] and "모두 1건" in texts(answer)[0]
    status, answer = await press(kakao, card_button(answer, "자세히"))
    assert texts(answer)[0].startswith("방문 밖으로 한 걸음")
    back = quick_reply(answer, "목록")
    assert back["extra"]["q"] == LONG_PHRASE
    status, answer = await press(kakao, back)
    assert f"「{LONG_PHRASE}」" in texts(answer)[0] and "모두 1건" in texts(answer)[0]


async def test_kakao_a_long_text_and_nothing_found(kakao, campaign):
    status, answer = await ask(kakao, skill_request("가" * 1000))
    assert status == 200
    assert texts(answer)[0].startswith("✂️ 글이 길어 앞부분만 찾았습니다.")
    assert "맞는 사례가 없습니다." in texts(answer)[0]
    labels = [r["label"] for r in answer["template"]["quickReplies"]]
    assert labels[0] == "📋 모든 사례 보기"
    status, answer = await press(kakao, quick_reply(answer, "모든 사례"))
    assert texts(answer)[0].startswith("📋 사례 목록 (1/3쪽, 모두 18건)")


async def test_kakao_every_word_must_match(kakao, campaign):
    status, answer = await ask(kakao, skill_request("어르신 도시락"))
    assert "도시락 들고 안부 묻는" in texts(answer)[1]



def test_recent_searches_are_numbered_bounded_and_reused():
    from handlers.telegram.browse import (
        SEARCH_NUMBERS,
        SEARCHES,
        SEARCHES_KEPT,
        recall_search,
        remember_search,
    )

    data: dict = {}
    first = remember_search(data, "돌봄")
    assert remember_search(data, "어르신 도시락") != first
    assert remember_search(data, "돌봄") == first  # the same search, the same number
    for n in range(SEARCHES_KEPT * 3):
        remember_search(data, f"낱말 {n}")
    assert len(data[SEARCHES]) == SEARCHES_KEPT
    assert recall_search(data, first) is None  # gone: an old button shows the plain list
    newest = remember_search(data, "새 낱말")
    assert recall_search(data, newest) == "새 낱말"
    # numbers wrap before they outgrow six digits
    data = {SEARCHES: [[SEARCH_NUMBERS - 1, "끝"]]}
    assert remember_search(data, "처음") == 1
    assert remember_search(data, "다음") == 2
    # a session written by hand or by an older version: ignored, not a crash
    assert recall_search({SEARCHES: [["x"], [3, None]]}, 3) is None

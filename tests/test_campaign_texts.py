"""Campaign text is plain text, shown exactly as the campaign file says on every channel: on
KakaoTalk (plain text) as written, line breaks and all; on Telegram (HTML parse mode) escaped,
so that what Telegram shows is again exactly as written."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import pytest

from bot.campaign_file import parse_campaign
from bot.domain import AnnouncementKind, Broadcast
from handlers.kakao.events import event_text
from handlers.kakao.models import (
    BASIC_CARD_DESCRIPTION_LENGTH,
    CARD_TITLE_LENGTH,
    SIMPLE_TEXT_LENGTH,
    TEXT_CARD_CAROUSEL_DESCRIPTION_LENGTH,
    TEXT_CARD_DESCRIPTION_LENGTH,
)
from tests.conftest import KIM, small_campaign
from tests.test_kakao_skill import ask, skill_request

# Markup-like text that is not markup, entities that are not entities, and line breaks.
TITLE = "R&amp;D <주의> <b>굵게</b> A & B"
SUMMARY = "첫 줄: R&amp;D 와 <주의>\n둘째 줄: <b>굵게</b> A & B"
BODY = ("본문 첫 문단입니다. R&amp;D 연구와 <주의> 표시가 그대로 보여야 합니다.\n\n"
        "둘째 문단: <b>굵게</b> 쓴 글자와 A & B 협력.\n셋째 줄입니다 &lt;끝&gt;.")
ORGANIZATION = "R&amp;D <협의체> & 이웃"
CAMPAIGN_TITLE = "시험 공모 <2024> R&amp;D & 이웃"


def written_campaign(image: str | None = None) -> dict:
    raw = small_campaign()
    raw["title"]["ko"] = CAMPAIGN_TITLE
    case = raw["cases"][0]
    case["ko"] = {"title": TITLE, "summary": SUMMARY, "body": BODY,
                  "organization": ORGANIZATION}
    case.pop("en", None)
    if image:
        for n, other in enumerate(raw["cases"]):
            other["image"] = f"{image}{n}.jpg"
    return raw


@pytest.fixture
async def campaign(services):
    report = await services.campaigns.load(parse_campaign(written_campaign()))
    return await services.campaigns.get(report.campaign_id)


# --- KakaoTalk -------------------------------------------------------------------------------


def components(answer: dict) -> list[tuple[str, dict]]:
    """Every card and text of an answer, a carousel's cards one by one."""
    found = []
    for output in answer["template"]["outputs"]:
        for kind, component in output.items():
            if kind == "carousel":
                found += [(component["type"], item) for item in component["items"]]
            else:
                found.append((kind, component))
    return found


def case_one_card(answer: dict) -> dict:
    return next(item for _, item in components(answer) if item.get("title") == TITLE)


async def open_case(kakao, card: dict) -> dict:
    detail = next(b for b in card["buttons"] if "자세히" in b["label"])
    status, answer = await ask(kakao, skill_request(detail["messageText"], detail["extra"]))
    assert status == 200
    return answer


async def test_kakao_shows_the_campaign_text_as_written(kakao, services, campaign):
    status, welcome = await ask(kakao, skill_request("시작"))
    assert f"\n{CAMPAIGN_TITLE}\n" in components(welcome)[0][1]["text"]
    status, listing = await ask(kakao, skill_request("사례 보기"))
    card = case_one_card(listing)  # the title as written
    assert card["description"] == f"동구 · {ORGANIZATION}\n{SUMMARY}"

    answer = await open_case(kakao, case_one_card(listing))
    (kind, detail), (_, body) = components(answer)
    assert kind == "textCard" and detail["title"] == TITLE
    assert f"🏢 {ORGANIZATION}\n📍 동구 효동 · 🏷 돌봄\n\n{SUMMARY}" in detail["description"]
    assert body["text"] == BODY

    vote = next(b for b in detail["buttons"] if "투표하기" in b["label"])
    status, answer = await ask(kakao, skill_request(vote["messageText"], vote["extra"]))
    [(_, question)] = components(answer)
    assert f"\n{TITLE}\n" in question["description"]
    yes = next(b for b in question["buttons"] if "네" in b["label"])
    status, answer = await ask(kakao, skill_request(yes["messageText"], yes["extra"]))
    [(_, receipt)] = components(answer)
    assert TITLE in receipt["text"]
    status, answer = await ask(kakao, skill_request("내 투표"))
    assert TITLE in components(answer)[0][1]["text"]


async def test_kakao_picture_cards_keep_the_text_and_its_line_breaks(kakao, services):
    await services.campaigns.load(parse_campaign(written_campaign(image="https://example.org/")))
    status, listing = await ask(kakao, skill_request("사례 보기"))
    assert listing["template"]["outputs"][1]["carousel"]["type"] == "basicCard"
    assert case_one_card(listing)["description"] == f"동구 · {ORGANIZATION}"
    answer = await open_case(kakao, case_one_card(listing))
    kind, detail = components(answer)[0]
    assert kind == "basicCard" and detail["title"] == TITLE
    assert detail["description"] == (f"🏢 {ORGANIZATION}\n📍 동구 효동 · 🏷 돌봄\n\n{SUMMARY}")


async def test_kakao_cuts_long_text_to_its_limits_keeping_line_breaks(kakao, services):
    raw = written_campaign()
    long_title = ("긴 제목 & <표시> " + "가" * 80)[:80]  # the campaign file's longest
    long_summary = "\n".join(["요약 R&amp;D <b>줄</b> & 끝"] * 14)[:300]
    raw["cases"][0]["ko"] |= {"title": long_title, "summary": long_summary}
    await services.campaigns.load(parse_campaign(raw))

    def long_card(listing: dict) -> dict:
        return next(item for _, item in components(listing)
                    if item.get("title", "").startswith("긴 제목"))

    status, listing = await ask(kakao, skill_request("사례 보기"))
    card = long_card(listing)
    assert len(card["title"]) <= CARD_TITLE_LENGTH and card["title"].endswith("…")
    assert long_title.startswith(card["title"][:-1])
    assert len(card["description"]) <= TEXT_CARD_CAROUSEL_DESCRIPTION_LENGTH
    assert card["description"].endswith("…") and card["description"].count("\n") >= 2
    assert f"동구 · {ORGANIZATION}\n{long_summary}".startswith(card["description"][:-1])
    answer = await open_case(kakao, card)
    detail = components(answer)[0][1]
    assert len(detail["description"]) <= TEXT_CARD_DESCRIPTION_LENGTH
    assert detail["description"].endswith(f"🏢 {ORGANIZATION}\n📍 동구 효동 · 🏷 돌봄\n\n"
                                           f"{long_summary}")
    assert all(len(c.get("text", "")) <= SIMPLE_TEXT_LENGTH for _, c in components(answer))

    for case in raw["cases"]:
        case["image"] = "https://example.org/p.jpg"
    await services.campaigns.load(parse_campaign(raw))
    status, listing = await ask(kakao, skill_request("사례 보기"))
    answer = await open_case(kakao, long_card(listing))
    detail = components(answer)[0][1]
    assert len(detail["description"]) <= BASIC_CARD_DESCRIPTION_LENGTH
    assert detail["description"].endswith("…") and detail["description"].count("\n") >= 5
    assert f"🏢 {ORGANIZATION}\n📍 동구 효동 · 🏷 돌봄\n\n{long_summary}".startswith(
        detail["description"][:-1])


# --- Telegram --------------------------------------------------------------------------------

TELEGRAM_TAG = re.compile(r"</?(b|strong|i|em|u|ins|s|strike|del|code|pre|a|tg-spoiler)"
                          r"( [^<>]*)?>")
TELEGRAM_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


def telegram_shows(text: str) -> str:
    """What Telegram shows for a message in HTML parse mode, after checking it would accept
    it: only tags it supports, and every other <, > and & written as an entity."""
    bare = TELEGRAM_TAG.sub("", text)
    assert "<" not in bare and ">" not in bare, f"Telegram refuses this HTML: {text!r}"
    assert TELEGRAM_ENTITY.sub("", bare).count("&") == 0, f"a bare & in {text!r}"
    return html.unescape(bare)


async def test_telegram_shows_the_campaign_text_as_written(telegram, campaign):
    calls = await telegram.send(KIM, "/start")
    assert CAMPAIGN_TITLE in telegram_shows(calls[0].text)
    calls = await telegram.press(KIM, "사례 보기")
    listing = next(c for c in calls if c.method == "editMessageText")
    telegram_shows(listing.text)
    assert f"{TITLE} · 동구" in listing.labels()  # button labels are plain text

    calls = await telegram.press(KIM, "R&amp;D <주의>")
    card = next(c for c in calls if c.method == "editMessageText")
    assert card.params["parse_mode"] == "HTML"
    shown = telegram_shows(card.text)
    assert shown.startswith(f"{TITLE}\n🏢 {ORGANIZATION}\n📍 동구 효동 · 🏷 돌봄\n\n")
    assert f"\n\n{SUMMARY}\n\n{BODY}" in shown

    calls = await telegram.press(KIM, "투표하기")
    confirm = next(c for c in calls if c.method == "editMessageText")
    assert f"\n{TITLE}\n" in telegram_shows(confirm.text)
    calls = await telegram.press(KIM, "네, 투표합니다")
    receipt = next(c for c in calls if c.method == "editMessageText")
    assert TITLE in telegram_shows(receipt.text)
    calls = await telegram.send(KIM, "/myvote")
    assert any(TITLE in telegram_shows(c.text) for c in calls if c.method == "sendMessage")


def test_kakao_announcements_name_the_campaign_as_written(campaign):
    broadcast = Broadcast(1, campaign.id, AnnouncementKind.VOTING_OPENS.value, {}, "running",
                          datetime(2024, 11, 28, tzinfo=UTC))
    assert CAMPAIGN_TITLE in event_text("ko", broadcast, campaign)


async def test_a_case_without_neighbourhood_or_field_leaves_no_stray_marks(services):
    from dataclasses import replace

    from handlers.kakao.screens import case_about

    report = await services.campaigns.load(parse_campaign(small_campaign()))
    campaign = await services.campaigns.get(report.campaign_id)
    case = (await services.catalog.list_cases(campaign, _all_cases(), None)).cases[0]
    full = case_about("ko", campaign, case)
    assert full.splitlines()[:2] == [f"🏢 {case.ko.organization}", "📍 동구 효동 · 🏷 돌봄"]
    bare = replace(case, neighbourhood="", category="")
    assert case_about("ko", campaign, bare).splitlines()[:2] == [
        f"🏢 {case.ko.organization}", "📍 동구"]
    nothing = replace(bare, district="", ko=replace(case.ko, organization=""))
    assert case_about("ko", campaign, nothing) == case.ko.summary


def _all_cases():
    from bot.services.catalog import ListQuery

    return ListQuery(0, None, None, None)

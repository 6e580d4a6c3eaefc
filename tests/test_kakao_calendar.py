"""The whole calendar on KakaoTalk alone, over HTTP against the real skill app, in Korean and
in English: welcome, browse, submit a case (a mistake at each kind of step, Back, Edit, Stop,
a restart halfway through), staff approve it and the submitter is told through the Event API
in their language, the case is listed when voting opens, vote, change the vote, my vote, and
the published results with the chart fetched back from our own server."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.campaign_file import parse_campaign
from bot.i18n import plain
from bot.services import Services
from handlers.kakao import CHANNEL
from handlers.kakao.events import KakaoEventSender
from handlers.kakao.server import build_kakao_app
from storage.database import Database
from tests.conftest import DURING_VOTING, VOTING_CLOSES, small_campaign
from tests.test_kakao_events import EVENT, KEY, stub  # noqa: F401  (the Event API stub)
from tests.test_kakao_skill import SETTINGS, card_button, skill_request
from tests.test_kakao_submission import Citizen, stored_cases

SEOUL = ZoneInfo("Asia/Seoul")
SUBMITTING = datetime(2024, 11, 1, 10, 0, tzinfo=SEOUL)
PUBLIC = "https://chamyeo.example.org"
AWARDS = [{"ko": "대상", "en": "Grand prize", "count": 1},
          {"ko": "우수상", "en": "Excellence", "count": 2}]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Words:
    """What a citizen types, in their language; every label they press comes from the
    catalogs."""

    lang: str
    hello: str
    organization: str
    district: str
    neighbourhood: str
    category: str
    title: str
    summary: str
    body: str
    awards: str


KOREAN = Words(
    "ko", "시작", "대전 행복 복지관", "동구", "판암1동", "돌봄",
    "우리 동네 어르신 반찬 나눔",
    "매주 목요일 이웃이 함께 반찬을 만들어 어르신 30가구에 전합니다.",
    "2023년부터 주민 봉사자 20명이 매주 목요일 모여 반찬을 만들고, 홀로 사는 어르신 "
    "30가구를 찾아가 안부를 묻습니다. 고독사 예방에도 도움이 되었습니다.",
    "대상",
)
ENGLISH = Words(
    "en", "start", "Daejeon Happy Welfare Centre", "Dong-gu", "Hyo-dong", "Care",
    "Thursday lunch club for seniors",
    "Neighbours cook lunch together every Thursday.",
    "Every Thursday twenty volunteers cook lunch for thirty seniors who live alone, and stay "
    "to talk with them about their week.",
    "Grand prize",
)


def label(lang: str, key: str) -> str:
    """A quick reply's label without its emoji, as a citizen reads it."""
    return plain(lang, key).split(" ", 1)[-1]


async def kakao_app(services: Services) -> TestClient:
    settings = SETTINGS.model_copy(update={"chamyeo_public_url": PUBLIC})
    client = TestClient(TestServer(build_kakao_app(services, settings)))
    await client.start_server()
    return client


def with_event_api(services: Services, url: str) -> KakaoEventSender:
    sender = KakaoEventSender(url, SETTINGS.chamyeo_kakao_bot_id or "", KEY, EVENT)
    services.broadcaster.register(CHANNEL, sender)
    return sender


@pytest.mark.parametrize("words", [KOREAN, ENGLISH], ids=["ko", "en"])
async def test_the_whole_calendar_on_kakaotalk(words, db, database_url, clock,
                                                stub):  # noqa: F811
    lang = words.lang
    clock.set(SUBMITTING)
    services = Services.create(db, clock)
    report = await services.campaigns.load(parse_campaign(small_campaign(awards=AWARDS)))
    campaign = await services.campaigns.get(report.campaign_id)
    sender = with_event_api(services, stub.url)
    client = await kakao_app(services)
    user = f"{lang}-botuserkey"
    citizen = Citizen(client, user, lang)
    restarted: list = []
    try:
        # Welcome and browse.
        found = await citizen.say(words.hello)
        assert campaign.title.get(lang) in found[0]
        found = await citizen.tap(label(lang, "kakao.reply.browse"))
        assert "carousel" in citizen.answer["template"]["outputs"][1]

        # Submit, with a mistake at each kind of step.
        await citizen.tap(label(lang, "kakao.reply.home"))
        await citizen.tap(label(lang, "kakao.reply.submit"))
        found = await citizen.say(words.title)  # text where buttons are offered
        assert found[0].startswith("⚠️")
        await citizen.tap(label(lang, "kakao.draft.type.organization"))
        found = await citizen.say("x" * 101)  # too long
        assert found[0].startswith("⚠️") and "101" in found[0]
        await citizen.say(words.organization)
        await citizen.tap(label(lang, "submission.button.skip_contact"))  # the contact: optional
        await citizen.tap(words.district)
        await citizen.tap(words.neighbourhood)
        found = await citizen.tap(label(lang, "submission.button.back"))  # Back: hood again
        assert words.neighbourhood in " ".join(citizen.labels())
        await citizen.tap(words.neighbourhood)
        await citizen.tap(words.category)
        found = await citizen.say("ab")  # too short
        assert found[0].startswith("⚠️") and "2" in found[0]
        await citizen.say(words.title)

        # The bot restarts halfway: a new process on the same database carries on.
        await client.close()
        await sender.close()
        restarted.append(Database(database_url))
        services = Services.create(restarted[-1], clock)
        sender = with_event_api(services, stub.url)
        client = await kakao_app(services)
        citizen = Citizen(client, user, lang)
        await citizen.say(words.summary)
        await citizen.say(words.body)
        found = await citizen.say("photo")  # text at the photo step
        assert found[0].startswith("⚠️")
        await citizen.tap(label(lang, "kakao.draft.button.skip"))
        found = await citizen.tap(label(lang, "submission.button.disagree"))  # no consent
        assert found[0].startswith("⚠️")
        await citizen.tap(label(lang, "submission.button.agree"))
        card = citizen.answer["template"]["outputs"][1]["textCard"]
        assert card["title"] == words.title

        # Edit the title from the preview; Stop, then keep going.
        await citizen.tap(label(lang, "submission.button.edit"))
        await citizen.tap(label(lang, "submission.field.title"))
        await citizen.say(words.title + "!")
        assert citizen.answer["template"]["outputs"][1]["textCard"]["title"] == \
            words.title + "!"
        await citizen.tap(label(lang, "submission.button.cancel"))
        await citizen.tap(label(lang, "kakao.draft.button.continue"))
        found = await citizen.tap(label(lang, "submission.button.send"))
        [case] = await stored_cases(services)
        assert case["key"] in found[0] and case["status"] == "submitted"
        assert case["title_ko"] == words.title + "!"

        # Staff approve it; the submitter is told once, in their language, by the Event API.
        result = await services.moderation.approve(campaign, case["id"], "telegram:9001")
        assert result.case is not None
        await services.broadcaster.idle()
        [told] = [call for call in stub.calls if user in call.users]
        assert words.title + "!" in told.text
        assert told.text == told.text.strip() and "<" not in told.text
        approved_word = {"ko": "승인되었습니다", "en": "approved"}[lang]
        assert approved_word in told.text
        found = await citizen.say(words.hello)
        await citizen.tap(label(lang, "kakao.reply.mine"))
        assert plain(lang, "submission.status.approved") in citizen.answer["template"][
            "outputs"][0]["simpleText"]["text"]

        # Voting opens: the case is listed; vote for it, then change to another case.
        clock.set(DURING_VOTING)
        found = await citizen.say(words.title)  # a search finds it
        assert any(words.title in text for text in found)
        vote = card_button(citizen.answer, plain(lang, "kakao.button.vote"))
        found = await citizen._ask(skill_request(vote["messageText"], vote["extra"], user))
        yes = card_button(citizen.answer, plain(lang, "kakao.button.yes"))
        await citizen._ask(skill_request(yes["messageText"], yes["extra"], user))
        held = await services.voting.current_votes(
            campaign, await services.citizens.identify(CHANNEL, user, lang))
        assert [v.case.id for v in held] == [case["id"]]

        other = (await services.catalog.list_cases(campaign, _first_page(), None)).cases[0]
        await citizen.send_extra({"a": "v", "k": campaign.id, "c": other.id})
        change = card_button(citizen.answer, plain(lang, "kakao.button.yes_change"))
        await citizen._ask(skill_request(change["messageText"], change["extra"], user))
        found = await citizen.tap(label(lang, "kakao.reply.myvote"))
        assert other.text(lang).title in found[0]
        assert words.title not in found[0]

        # Voting closes, staff publish; the results with the chart from our own server.
        clock.set(VOTING_CLOSES)
        published = await services.results.publish(campaign, "telegram:9001", incomplete_ok=True)
        assert published.published_at is not None
        await services.broadcaster.idle()
        await citizen.say(words.hello)
        assert citizen.labels()[0] == plain(lang, "kakao.reply.results")
        await citizen.tap(label(lang, "kakao.reply.results"))
        outputs = citizen.answer["template"]["outputs"]
        chart = outputs[0]["simpleImage"]["imageUrl"]
        assert chart.startswith(PUBLIC + "/media/results/")
        ranking = "\n".join(o["simpleText"]["text"] for o in outputs[1:-1])
        assert f"[{words.awards}]" in ranking
        web_link = outputs[-1]["textCard"]["buttons"][0]  # the public results page
        assert web_link["webLinkUrl"].startswith(PUBLIC + "/c/")
        response = await client.get(urlsplit(chart).path)
        assert response.status == 200
        assert (await response.read()).startswith(PNG_MAGIC)
        assert "immutable" in response.headers["Cache-Control"]
    finally:
        await client.close()
        await sender.close()
        await services.broadcaster.idle()
        for database in restarted:
            await database.dispose()


def _first_page():
    from bot.services.catalog import ListQuery

    return ListQuery(0, None, None, None)

"""Admission control on the skill server: votes being confirmed are worked on a few at a time,
in their own lane; one that cannot start while there is time to answer is told "busy" at once
and nothing is done for it; reading (the welcome, the list) never waits behind votes."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from bot.i18n import t
from bot.text import plain_text
from handlers.kakao import server as kakao_server
from handlers.kakao.admission import Admission, NoRoom
from handlers.kakao.models import SimpleText, output
from handlers.kakao.server import build_kakao_app
from handlers.kakao.skill import response
from tests.test_kakao_skill import SETTINGS, ask, skill_request, texts

CONFIRM = {"a": "y", "k": 1, "c": 1}


class Answers:
    """A skill that answers at once and counts what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def answer(self, request):
        self.asked.append(request.user_request.utterance)
        return response([output(SimpleText(text="답했습니다"))], [])


async def test_a_vote_with_no_room_is_told_busy_and_nothing_is_done(services):
    # A budget too short to wait in a queue: a full lane means "busy" at once.
    app = build_kakao_app(services, SETTINGS, time_budget=0.4)
    skill = app[kakao_server.SKILL] = Answers()
    admission = app[kakao_server.ADMISSION] = Admission(vote_lane=1)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        await admission.votes.places.acquire()  # another vote is being recorded
        _, busy = await ask(client, skill_request("네, 투표합니다", CONFIRM))
        assert texts(busy) == [plain_text(t("ko", "kakao.busy"))] and skill.asked == []
        # Reading does not wait behind it.
        _, welcome = await ask(client, skill_request("시작"))
        assert texts(welcome) == ["답했습니다"] and skill.asked == ["시작"]
        admission.votes.places.release()
        _, voted = await ask(client, skill_request("네, 투표합니다", CONFIRM))
        assert texts(voted) == ["답했습니다"] and skill.asked == ["시작", "네, 투표합니다"]
    finally:
        await client.close()


async def test_places_are_given_back_whatever_the_answer_did(services):
    app = build_kakao_app(services, SETTINGS, time_budget=0.0)  # every answer cut short
    admission = app[kakao_server.ADMISSION] = Admission(vote_lane=1, read_lane=1)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        for _ in range(3):
            await ask(client, skill_request("네, 투표합니다", CONFIRM))
            await ask(client, skill_request("시작"))
        assert not admission.votes.places.locked() and not admission.reads.places.locked()
    finally:
        await client.close()


async def test_a_queue_longer_than_the_budget_is_refused_at_once():
    """Answers have been taking 0.5 s and two places are busy with four waiting: a fifth
    would wait about 1.5 s, more than a 1.5 s budget leaves (1.0 s): refused without waiting."""
    admission = Admission(vote_lane=2)
    lane = admission.votes
    lane.seconds = 0.5
    for _ in range(2):
        await lane.places.acquire()
    lane.waiting = 4
    assert lane.expected_wait() == 1.5
    try:
        async with admission.turn(CONFIRM, budget=1.5):
            raise AssertionError("admitted")
    except NoRoom:
        pass
    assert lane.waiting == 4  # it never joined the queue
    lane.waiting = 0  # none waiting: about 0.5 s, within the budget (it would queue)
    assert lane.expected_wait() == 0.5

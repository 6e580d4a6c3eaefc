"""The rate limiter on the Bot (handlers/telegram/rate_limiter.py): messages wait their turn in
the shared pace; a 429 (RetryAfter) holds the pace for every worker and a reply is tried again
until REPLY_DEADLINE, then dropped with one warning; a broadcast message is not tried again
here; callback answers are not paced, but their 429 is waited out.

First with a fake Bot API call (`callback`), then through a real PTB Application offline.
Time is fake: nothing waits."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from typing import Any

import pytest
from telegram.error import RetryAfter

from bot.app import build_application
from bot.services.outbound import CHAT_INTERVAL, OutboundPace
from bot.settings import Settings
from handlers.telegram.offline import OfflineRequest, OfflineTelegram, TelegramUser
from handlers.telegram.rate_limiter import (
    BROADCAST,
    MESSAGE_METHODS,
    REPLY_DEADLINE,
    PacedRateLimiter,
)
from storage.database import Database
from storage.repositories.pace import PaceRepository
from tests.conftest import KIM

T0 = 1_733_000_000.0
LEE = TelegramUser(1003, "이영희", "ko")


class FakeTime:
    def __init__(self) -> None:
        self.t = T0
        self.naps: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.t += max(seconds, 0.0)
        await asyncio.sleep(0)


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


class FloodedCall:
    """A Bot API call that Telegram answers with 429 `floods` times, then accepts."""

    def __init__(self, fake: FakeTime, floods: int, retry_after: int) -> None:
        self.fake = fake
        self.floods = floods
        self.retry_after = retry_after
        self.times: list[float] = []

    async def __call__(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.times.append(self.fake.now())
        if len(self.times) <= self.floods:
            raise RetryAfter(self.retry_after)
        return {"message_id": 1}


class SpyPace:
    """Stands in for the pace where only the calls to it matter."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str | None, bool]] = []
        self.holds: list[float] = []

    async def acquire(self, chat: str | None, broadcast: bool = False,
                      before_send=None) -> None:
        self.acquired.append((chat, broadcast))
        if before_send is not None:
            await before_send()

    async def hold_off(self, seconds: float) -> None:
        self.holds.append(seconds)


def limiter_on(pace, fake: FakeTime, **options) -> PacedRateLimiter:
    return PacedRateLimiter(pace, monotonic=fake.now, sleep=fake.sleep, **options)


async def call(limiter: PacedRateLimiter, callback, endpoint: str = "sendMessage",
               chat: Any = 1001, broadcast: bool = False):
    data = {"chat_id": chat, "text": "안녕하세요"} if chat is not None else {"text": "…"}
    return await limiter.process_request(
        callback=callback, args=(), kwargs={}, endpoint=endpoint, data=data,
        rate_limit_args={BROADCAST: True} if broadcast else None,
    )


def records(caplog, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == level]


# --- replies are tried again, behind a hold every worker keeps -----------------------------


async def test_a_reply_told_to_wait_is_tried_again_after_the_hold_and_returns(
    db, fake, caplog
):
    caplog.set_level(logging.INFO)
    pace = OutboundPace(db, "telegram", now=fake.now, sleep=fake.sleep)
    callback = FloodedCall(fake, floods=2, retry_after=5)
    assert await call(limiter_on(pace, fake), callback) == {"message_id": 1}
    first, second, third = callback.times
    assert second >= first + 5
    assert third >= second + 5
    assert records(caplog, logging.WARNING) == []
    assert records(caplog, logging.ERROR) == []


async def test_a_hold_from_one_worker_makes_the_other_wait(db, database_url, fake):
    other = Database(database_url)
    try:
        flooded = OutboundPace(db, "telegram", now=fake.now, sleep=fake.sleep)
        elsewhere = OutboundPace(other, "telegram", now=fake.now, sleep=fake.sleep)
        hold_off = flooded.hold_off
        booked_elsewhere: list[float | None] = []

        async def hold_then_the_other_worker_books(seconds: float) -> None:
            await hold_off(seconds)
            booked_elsewhere.append(await elsewhere.book("2002"))

        flooded.hold_off = hold_then_the_other_worker_books  # type: ignore[method-assign]
        callback = FloodedCall(fake, floods=1, retry_after=7)
        await call(limiter_on(flooded, fake), callback)
        [slot] = booked_elsewhere
        assert slot is not None and slot >= T0 + 7
        assert callback.times[1] > slot  # the retry queued behind it, in the one pace
    finally:
        await other.dispose()


async def test_a_reply_past_the_deadline_is_dropped_with_one_warning(db, fake, caplog):
    caplog.set_level(logging.INFO)
    pace = OutboundPace(db, "telegram", now=fake.now, sleep=fake.sleep)
    callback = FloodedCall(fake, floods=100, retry_after=50)
    with pytest.raises(RetryAfter):
        await call(limiter_on(pace, fake), callback, chat=1001)
    # Tried at 0, 50 and 100 s: after the third, 50 s more would pass the 120 s deadline.
    assert len(callback.times) == 3
    [warning] = records(caplog, logging.WARNING)
    assert "sendMessage" in warning.getMessage()
    assert "1001" in warning.getMessage()
    assert records(caplog, logging.ERROR) == []
    assert fake.t - T0 <= REPLY_DEADLINE


async def test_a_reply_told_to_wait_longer_than_the_deadline_is_dropped_at_once(db, fake):
    pace = OutboundPace(db, "telegram", now=fake.now, sleep=fake.sleep)
    callback = FloodedCall(fake, floods=1, retry_after=int(REPLY_DEADLINE) + 1)
    with pytest.raises(RetryAfter):
        await call(limiter_on(pace, fake), callback)
    assert len(callback.times) == 1
    assert fake.naps == []


# --- broadcasts are not tried again here ---------------------------------------------------


async def test_a_broadcast_told_to_wait_raises_at_once_after_holding_the_pace(db, fake, caplog):
    caplog.set_level(logging.INFO)
    pace = OutboundPace(db, "telegram", now=fake.now, sleep=fake.sleep)
    callback = FloodedCall(fake, floods=1, retry_after=9)
    with pytest.raises(RetryAfter):
        await call(limiter_on(pace, fake), callback, broadcast=True)
    assert len(callback.times) == 1
    assert fake.naps == []
    async with db.read() as conn:
        assert await PaceRepository(conn).next_at("telegram") >= T0 + 9
    assert records(caplog, logging.WARNING) == []
    assert records(caplog, logging.ERROR) == []


async def test_a_broadcast_asks_the_pace_for_a_broadcast_turn(fake):
    spy = SpyPace()
    callback = FloodedCall(fake, floods=0, retry_after=0)
    await call(limiter_on(spy, fake), callback, chat=1001, broadcast=True)
    assert spy.acquired == [("1001", True)]


# --- what is paced, and how ------------------------------------------------------------------


async def test_a_callback_answer_is_not_paced_but_its_flood_wait_is_kept(fake):
    spy = SpyPace()
    callback = FloodedCall(fake, floods=1, retry_after=3)
    result = await call(limiter_on(spy, fake), callback, endpoint="answerCallbackQuery",
                        chat=None)
    assert result == {"message_id": 1}
    assert spy.acquired == []
    assert spy.holds == [3]
    assert fake.naps == [3]
    assert callback.times == [T0, T0 + 3]


@pytest.mark.parametrize("endpoint", ["sendMessage", "editMessageText", "sendPhoto",
                                      "editMessageReplyMarkup"])
async def test_messages_and_edits_wait_for_their_chat_turn(fake, endpoint):
    spy = SpyPace()
    callback = FloodedCall(fake, floods=0, retry_after=0)
    await call(limiter_on(spy, fake), callback, endpoint=endpoint, chat=1001)
    await call(limiter_on(spy, fake), callback, endpoint=endpoint, chat=-1001234567890)
    await call(limiter_on(spy, fake), callback, endpoint=endpoint, chat="@chamyeo_news")
    assert spy.acquired == [("1001", False), ("-1001234567890", False),
                            ("@chamyeo_news", False)]


async def test_an_inline_edit_without_a_chat_waits_on_the_channel_lane(fake):
    spy = SpyPace()
    await call(limiter_on(spy, fake), FloodedCall(fake, 0, 0), endpoint="editMessageText",
               chat=None)
    assert spy.acquired == [(None, False)]


@pytest.mark.parametrize("endpoint", ["getMe", "setMyCommands", "answerCallbackQuery",
                                      "getUpdates", "deleteWebhook"])
async def test_calls_that_are_not_messages_are_not_paced(fake, endpoint):
    spy = SpyPace()
    await call(limiter_on(spy, fake), FloodedCall(fake, 0, 0), endpoint=endpoint, chat=None)
    assert spy.acquired == []


def test_every_method_that_sends_or_edits_a_message_is_paced():
    for method in ("sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup",
                   "copyMessage", "forwardMessage", "editMessageText", "editMessageCaption",
                   "editMessageMedia", "editMessageReplyMarkup"):
        assert method in MESSAGE_METHODS
    assert "answerCallbackQuery" not in MESSAGE_METHODS


# --- through a real Application ---------------------------------------------------------------


@asynccontextmanager
async def paced_bot(services, clock, fake: FakeTime, request: OfflineRequest | None = None):
    """The real Application as `chamyeo run` builds it (rate limiter on), offline, with the
    pace and the limiter on fake time."""
    request = request or OfflineRequest(clock=clock)
    application = build_application(Settings(_env_file=None), services, request=request,
                                    rate_limited=True)
    limiter = application.bot.rate_limiter
    assert isinstance(limiter, PacedRateLimiter)
    limiter.pace.now = fake.now
    limiter.pace.sleep = fake.sleep
    limiter.sleep = fake.sleep
    limiter.monotonic = fake.now
    async with application:
        yield OfflineTelegram(application, request, clock)


def delivered(request: OfflineRequest, chat_id: int) -> list[str]:
    return [c.text or "" for c in request.calls
            if c.method == "sendMessage" and c.chat_id == chat_id and "_failed" not in c.params]


async def test_a_start_whose_message_gets_a_429_once_reaches_the_citizen_exactly_once(
    services, clock, campaign, fake, caplog
):
    caplog.set_level(logging.INFO)
    async with paced_bot(services, clock, fake) as telegram:
        await telegram.send(KIM, "/start")  # as it goes without flood control
        expected = delivered(telegram.request, KIM.id)
        assert expected
        telegram.request.fail_next("sendMessage", 429, "Too Many Requests: retry after 5",
                                   retry_after=5)
        start = len(telegram.request.calls)
        before = fake.now()
        await telegram.send(LEE, "/start")
        calls = telegram.request.calls[start:]
    failed = [c for c in calls if "_failed" in c.params]
    assert [c.params["_failed"] for c in failed] == [429]
    got = delivered(telegram.request, LEE.id)
    assert len(got) == len(expected)
    assert got.count(failed[0].params["text"]) == 1
    assert fake.now() >= before + 5  # it waited as Telegram asked
    assert records(caplog, logging.ERROR) == []


async def test_replies_through_the_application_keep_the_chat_interval(
    services, clock, campaign, fake
):
    async with paced_bot(services, clock, fake) as telegram:
        sent_at: list[float] = []
        request = telegram.request
        do_request = request.do_request

        async def timed(url, method, *args, **kwargs):
            if url.endswith("/sendMessage") or url.endswith("/editMessageText"):
                sent_at.append(fake.now())
            return await do_request(url, method, *args, **kwargs)

        request.do_request = timed  # type: ignore[method-assign]
        await telegram.send(KIM, "/start")
        await telegram.send(KIM, "/help")
    assert len(sent_at) >= 2
    gaps = [b - a for a, b in zip(sent_at, sent_at[1:], strict=False)]
    assert all(gap >= CHAT_INTERVAL - 1e-4 for gap in gaps), gaps


async def test_a_reply_dropped_by_flood_control_is_one_warning_and_no_error(
    services, clock, campaign, fake, caplog
):
    """Telegram asks for longer than a reply may wait: the reply is dropped, and the log says
    so once, as a warning. Flood control is not a bug of ours: no error, no traceback."""
    caplog.set_level(logging.INFO)
    async with paced_bot(services, clock, fake) as telegram:
        wait = int(REPLY_DEADLINE) + 30
        for _ in range(5):  # the error message, if one is tried, is refused as well
            telegram.request.fail_next("sendMessage", 429, f"Too Many Requests: retry after "
                                       f"{wait}", retry_after=wait)
        await telegram.send(KIM, "/start")
    assert records(caplog, logging.ERROR) == [], [r.getMessage() for r in caplog.records
                                                  if r.levelno >= logging.WARNING]
    warnings = records(caplog, logging.WARNING)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "sendMessage" in warnings[0].getMessage()
    assert str(KIM.id) in warnings[0].getMessage()

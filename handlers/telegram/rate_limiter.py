"""Every Bot API call goes through here (PTB's rate-limiter hook): messages wait for their turn
in the outbound pace every worker shares (bot/services/outbound.py), and a 429 is waited out
and tried again, for every worker at once, instead of failing.

A reply is tried until it is delivered or REPLY_DEADLINE has passed (then it is dropped with
a log line that says why; never silently). A broadcast message is not retried here: its
delivery goes back to pending and the broadcaster waits (bot/services/broadcasts.py)."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter
from telegram.warnings import PTBDeprecationWarning

from bot.services.outbound import OutboundPace

log = logging.getLogger(__name__)

# Methods that put a message in a chat, or change one: Telegram's limits count these (about
# 30 a second overall, one a second per chat), so each waits for its turn in the pace.
# Callback answers are not messages and must come within seconds of the press: they are not
# paced, but a 429 on them is waited out all the same.
MESSAGE_METHODS = frozenset({
    "sendMessage", "sendPhoto", "sendDocument", "sendMediaGroup", "sendAnimation",
    "sendVideo", "sendAudio", "sendVoice", "sendVideoNote", "sendSticker", "sendLocation",
    "sendVenue", "sendContact", "sendPoll", "sendDice", "copyMessage", "forwardMessage",
    "editMessageText", "editMessageCaption", "editMessageMedia", "editMessageReplyMarkup",
})
REPLY_DEADLINE = 120.0  # seconds a reply may wait for flood control before it is dropped
BROADCAST = "broadcast"  # rate_limit_args key: the broadcaster's own messages
HANDOVER = "handover"  # rate_limit_args key: awaited when the message's turn has come


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():  # PTB 22 warns that this becomes a timedelta
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


class PacedRateLimiter(BaseRateLimiter[dict[str, Any]]):
    def __init__(
        self,
        pace: OutboundPace,
        deadline: float = REPLY_DEADLINE,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.pace = pace
        self.deadline = deadline
        self.monotonic = monotonic
        self.sleep = sleep

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        broadcast = bool(rate_limit_args and rate_limit_args.get(BROADCAST))
        chat = data.get("chat_id")
        paced = endpoint in MESSAGE_METHODS
        started = self.monotonic()
        while True:
            handover = (rate_limit_args or {}).get(HANDOVER)  # it leaves this process now
            if paced:
                await self.pace.acquire(None if chat is None else str(chat), broadcast=broadcast,
                                        before_send=handover)
            elif handover is not None:
                await handover()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                await self.pace.hold_off(seconds)  # every worker waits, not only this call
                if broadcast:
                    raise
                waited = self.monotonic() - started
                if waited + seconds > self.deadline:
                    log.warning("flood control: dropped %s to chat %s after waiting %.0f s "
                                "(Telegram asked for %.0f s more)", endpoint, chat, waited,
                                seconds)
                    raise
                log.info("flood control: %s to chat %s waits %.1f s as asked", endpoint, chat,
                         seconds)
                if not paced:  # a paced message waits in acquire(), behind the hold
                    await self.sleep(seconds)

"""Updates of different users run concurrently; each user's updates run one at a time, in the
order they came. A vote opening brings a burst: one slow request must not hold up everyone, and
a double tap must not race with itself."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger(__name__)


class PerUserUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        # user id -> updates waiting behind the one that is running for that user
        self._waiting: dict[int, deque[Awaitable[Any]]] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        waiting = self._waiting.get(user.id)
        if waiting is not None:
            # The user's earlier update is running and will run this one after it. Returning
            # now frees the concurrency slot, so a user who sends many updates at once cannot
            # take every slot and stall other users.
            waiting.append(coroutine)
            return
        waiting = self._waiting[user.id] = deque()
        try:
            await _run(coroutine)
            while waiting:
                await _run(waiting.popleft())
        finally:
            del self._waiting[user.id]  # forget idle users: memory stays flat

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


async def _run(coroutine: Awaitable[Any]) -> None:
    # Application.process_update hands errors to the error handler; this is a last guard so
    # that one failure never strands the updates queued behind it.
    try:
        await coroutine
    except Exception:
        log.exception("update processing failed")

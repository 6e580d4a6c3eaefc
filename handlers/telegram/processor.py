"""Updates of different users run concurrently; each user's updates run one at a time, in the
order they came. A vote opening brings a burst: one slow request must not hold up everyone, and
a double tap must not race with itself."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


class PerUserUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._holders: dict[int, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        user = update.effective_user if isinstance(update, Update) else None
        if user is None:
            await coroutine
            return
        lock = self._locks.setdefault(user.id, asyncio.Lock())
        self._holders[user.id] = self._holders.get(user.id, 0) + 1
        try:
            async with lock:  # asyncio.Lock wakes waiters in arrival order
                await coroutine
        finally:
            self._holders[user.id] -= 1
            if self._holders[user.id] == 0:  # forget idle users: memory stays flat
                del self._holders[user.id]
                del self._locks[user.id]

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

"""Admission control for the skill, so that a burst is served in order instead of all at once
until the budget cuts everyone short. Answers are worked on a few at a time in two lanes:
votes being confirmed (writes, which queue for the database's lock) and everything else (the
welcome, the list, a case: reads), so reading never waits behind a burst of votes. The others
wait their turn in arrival order. One that cannot start while there is still time to finish
is told "busy, tap again" at once, having changed nothing, rather than starting work the
budget would cut short and roll back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from handlers.kakao.extra import Act

VOTE_LANE = 64  # confirms worked on at once (bench.kakao_burst: 16 cost PostgreSQL a third)
READ_LANE = 64
TIME_TO_ANSWER = 0.5  # seconds an admitted answer is given at least, under load
SMOOTHING = 0.2  # weight of the newest answer's time in a lane's running average


class NoRoom(Exception):
    """The request could not start in time: answer "busy" (nothing was done)."""


class Lane:
    """Places for `size` answers at once, and how long an answer has been taking."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.places = asyncio.Semaphore(size)
        self.waiting = 0
        self.seconds = 0.0  # running average of the time an answer holds a place

    def expected_wait(self) -> float:
        """Roughly how long a request arriving now waits for a place."""
        if not self.places.locked():
            return 0.0
        return (self.waiting // self.size + 1) * self.seconds

    def took(self, seconds: float) -> None:
        self.seconds += SMOOTHING * (seconds - self.seconds)


class Admission:
    def __init__(self, vote_lane: int = VOTE_LANE, read_lane: int = READ_LANE) -> None:
        self.votes = Lane(vote_lane)
        self.reads = Lane(read_lane)

    @asynccontextmanager
    async def turn(self, extra: dict | None, budget: float) -> AsyncIterator[None]:
        """A place in the request's lane, waited for at most until `budget` less the time an
        answer needs: NoRoom at once when the queue ahead is already longer than that (from
        how long answers have been taking), or when no place came in time."""
        lane = self.votes if (extra or {}).get("a") == Act.CONFIRM_VOTE.value else self.reads
        patience = max(0.0, budget - TIME_TO_ANSWER)
        if lane.places.locked():
            if lane.expected_wait() > patience:
                raise NoRoom
            lane.waiting += 1
            try:
                await asyncio.wait_for(lane.places.acquire(), patience)
            except TimeoutError:
                raise NoRoom from None
            finally:
                lane.waiting -= 1
        else:
            await lane.places.acquire()  # a free place: taken at once
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            yield
        finally:
            lane.took(loop.time() - started)
            lane.places.release()

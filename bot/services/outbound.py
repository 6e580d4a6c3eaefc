"""One outbound pace for a channel, shared by every worker through the database.

Telegram takes about 30 messages a second from a bot, and one a second in each chat (20 a
minute in a group); past that it answers 429 and makes the bot wait. Every message any worker
sends books an instant first: the next free one on the channel's lane, and not before its
chat's lane allows. Instants are evenly spaced, `1 / per_second` apart, so no rolling second
ever holds more than `per_second` + 1 of them. Replies to citizens book as they come; a
broadcast books only while the lane is free (not booked further than `broadcast_slack`
ahead), so it takes the capacity replies leave and never makes a reply wait behind it.

A broadcast's workers wait for room often (each of its messages, and again whenever the lane
is full). Each process remembers how far it booked the lane itself: lanes only move forward,
so that is a floor of the truth (give or take the one turn a broadcast's booking takes in
memory as it sets out, so that its fellow workers do not all try for the same room), and
while it already says the lane is full a worker sleeps without asking the database. Only when
it says the lane may be free does the worker read the lane (another worker may have booked
it) or try to book.

Time here is the wall clock (Unix seconds) of the machines that share the database: keep them
synchronised (NTP). A lane booked far ahead of the clock (the clock stepped back) is reset.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from storage.database import Database
from storage.repositories.pace import PaceRepository

log = logging.getLogger(__name__)

# Under Telegram's ~30/s with room to spare: a busy machine sends some messages late, and a
# late one bunches with the next on Telegram's rolling one-second window.
PER_SECOND = 26.0
CHAT_INTERVAL = 1.1  # seconds between two messages to one private chat (1, with room)
GROUP_INTERVAL = 3.0  # ... to one group or channel (20 a minute)
BROADCAST_SLACK = 0.25  # a broadcast books only if the lane is free within this many seconds
# A lane booked this far ahead is stale (the clock stepped back): longer than any wait
# Telegram asks for. A step the scheduler notices moves the lanes with it (shift()).
FORGET_AFTER = 86_400.0
IDLE_LANES_KEPT = 3600.0  # a chat's lane is forgotten after an hour without messages
LATE_TOLERANCE = 0.05  # seconds after its turn a message may still go out
LATE_TRIES = 3  # turns booked at most for one message before it goes, late or not
# How far ahead this process's own bookings are trusted to say the lane is full. Beyond, the
# database is asked: after a clock step another worker may have moved the lanes back.
OWN_BOOKINGS_TRUSTED = 5.0


class OutboundPace:
    def __init__(
        self,
        db: Database,
        channel: str,
        per_second: float = PER_SECOND,
        now: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.db = db
        self.lane = channel
        self.interval = 1.0 / per_second
        self.now = now
        self.sleep = sleep
        # The channel's lane is booked at least until this instant (None: not known).
        self._booked_until: float | None = None

    def _chat_lane(self, chat: str) -> str:
        return f"{self.lane}:{chat}"

    @staticmethod
    def _chat_interval(chat: str) -> float:
        # Telegram: users have positive ids, groups and channels negative ones (or @names).
        return CHAT_INTERVAL if chat.isdigit() else GROUP_INTERVAL

    async def book(self, chat: str | None, broadcast: bool = False) -> float | None:
        """Book the channel's next free instant from now for a message to `chat`, and keep the
        chat's next turn at least its interval after it. None for a broadcast while replies
        fill the lane (nothing booked: ask again later)."""
        if broadcast:
            now = self.now()
            if self._surely_full(now) is not None:
                return None  # this process's own bookings say so: no write to learn it
            # The turn it will most likely get, taken now: the workers looking while its
            # write is under way see the room it leaves, and only as many as fit try.
            self._booked_at_least(max(self._known(now) or now, now) + self.interval)
        async with self.db.write() as conn:
            pace = PaceRepository(conn)
            now = self.now()  # (the write may have waited for its turn)
            slot = await pace.book(self.lane, now, self.interval, FORGET_AFTER,
                                   only_within=BROADCAST_SLACK if broadcast else None)
            if slot is not None and chat is not None:
                await pace.hold(self._chat_lane(chat), slot + self._chat_interval(chat))
        if slot is not None:
            self._booked_at_least(slot + self.interval)
        else:  # full past the slack: by a turn more, near enough (the wait is a turn at least)
            self._booked_at_least(now + BROADCAST_SLACK + self.interval)
        return slot

    async def acquire(self, chat: str | None, broadcast: bool = False,
                      before_send: Callable[[], Awaitable[None]] | None = None) -> None:
        """Wait until a message to `chat` may go out (a broadcast, until replies leave room).

        First the chat's own turn (one message a second per chat) is taken; only when it has
        come is the channel's next instant booked, so a chat that must wait holds up no other
        chat. A turn this process wakes up for too late (a busy machine) is given up for a new
        one: sent late, it would bunch with the instants after it. `before_send` is awaited
        once when the first turn comes, and counts toward being late (it is on the way)."""
        if chat is not None:
            async with self.db.write() as conn:
                turn = await PaceRepository(conn).book(
                    self._chat_lane(chat), self.now(), self._chat_interval(chat), FORGET_AFTER)
            assert turn is not None  # booked without a condition
            await self._sleep_until(turn)
        for attempt in range(1, LATE_TRIES + 1):
            slot = await self.book(chat, broadcast)
            while slot is None:
                await self.wait_for_room()
                slot = await self.book(chat, broadcast)
            await self._sleep_until(slot)
            if before_send is not None:
                await before_send()
                before_send = None
            late = self.now() - slot
            if late <= LATE_TOLERANCE or attempt == LATE_TRIES:
                return
            log.debug("woke %.0f ms after our turn: booking another", late * 1000)

    async def _sleep_until(self, instant: float) -> None:
        delay = instant - self.now()
        if delay > 0:
            await self.sleep(delay)

    async def wait_for_room(self) -> None:
        """Wait until the lane is free within BROADCAST_SLACK: a broadcast's turn."""
        while True:
            now = self.now()
            booked = self._surely_full(now)
            if booked is None:
                async with self.db.read() as conn:
                    booked = await PaceRepository(conn).next_at(self.lane)
                self._booked_until = booked  # the truth now: it replaces what was known
                if booked is None or booked <= now + BROADCAST_SLACK \
                        or booked > now + FORGET_AFTER:
                    return
            await self.sleep(max(booked - now - BROADCAST_SLACK, self.interval))

    def _surely_full(self, now: float) -> float | None:
        """Until when this process's own bookings say the lane is full for a broadcast, if
        they do (and are near enough to trust)."""
        until = self._known(now)
        return until if until is not None and until > now + BROADCAST_SLACK else None

    def _known(self, now: float) -> float | None:
        """How far this process knows the lane booked, if near enough to trust."""
        until = self._booked_until
        return until if until is not None and until <= now + OWN_BOOKINGS_TRUSTED else None

    def _booked_at_least(self, instant: float) -> None:
        if self._booked_until is None or instant > self._booked_until:
            self._booked_until = instant

    async def hold_off(self, seconds: float) -> None:
        """Flood control: nothing goes out on this channel, from any worker, for `seconds`."""
        until = self.now() + seconds
        async with self.db.write() as conn:
            await PaceRepository(conn).hold(self.lane, until)
        self._booked_at_least(until)

    async def shift(self, seconds: float) -> None:
        """The clock stepped by `seconds`: every lane's instants move with it, so a hold
        Telegram asked for keeps its length, and nothing waits for a time that is now far
        off."""
        self._booked_until = None  # moved back, perhaps
        async with self.db.write() as conn:
            await PaceRepository(conn).shift(seconds)

    async def prune(self) -> int:
        """Forget the lanes of chats that got nothing for an hour (the leader, now and then)."""
        async with self.db.write() as conn:
            return await PaceRepository(conn).prune(self.now() - IDLE_LANES_KEPT, {self.lane})

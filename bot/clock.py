"""Where "now" comes from. Every rule that depends on the time takes a Clock, so tests and
the demo can set it."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SettableClock:
    """A clock that only moves when told to: for tests."""

    def __init__(self, start: datetime) -> None:
        self._now = to_utc(start)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = to_utc(instant)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class RunningClock:
    """Starts at a chosen instant and runs forward in real time: for the demo, which can also
    jump ahead."""

    def __init__(self, start: datetime) -> None:
        self._start = to_utc(start)
        self._started = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._started)

    def set(self, instant: datetime) -> None:
        self._start = to_utc(instant)
        self._started = time.monotonic()

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)


def to_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("naive datetime: give a timezone")
    return instant.astimezone(UTC)

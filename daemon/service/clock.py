"""Where ``now`` comes from: the wall clock in production, event time in replays."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of the current time in epoch seconds."""

    def now(self) -> float:
        """Current time, epoch seconds."""

    def observe(self, event_time: float) -> None:
        """Tell the clock the event time of an item just read."""

    @property
    def started(self) -> bool:
        """Whether ``now`` tells the time yet (an event clock: once it has seen an event)."""


class WallClock:
    """The system clock; event times are ignored."""

    def now(self) -> float:
        return time.time()

    def observe(self, event_time: float) -> None:
        return None

    @property
    def started(self) -> bool:
        return True


class EventClock:
    """Now is the latest event time seen, so replays are deterministic and fast.

    Until the first event it reads ``start`` and is not ``started``: its time is then no
    time of the stream (a restarted replay's clock would jump from 0 to the stream's time).

    >>> c = EventClock(); c.observe(10.0); c.observe(5.0); c.now()
    10.0
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._started = False

    def now(self) -> float:
        return self._now

    def observe(self, event_time: float) -> None:
        self._now = max(self._now, event_time)
        self._started = True

    @property
    def started(self) -> bool:
        return self._started

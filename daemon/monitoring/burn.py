"""Budget burn rate over a trailing time window, and when the budget runs out at that rate."""

from __future__ import annotations

import math
from collections import deque


class BurnRate:
    """Cost charged per second over the last ``window_seconds``, in one-minute buckets.

    Buckets keep memory constant whatever the query rate.

    >>> b = BurnRate(window_seconds=600)
    >>> for t in range(0, 600, 60):
    ...     b.add(t, 6.0)
    >>> b.rate(600)
    0.1
    """

    def __init__(self, window_seconds: float = 3600.0, bucket_seconds: float = 60.0) -> None:
        self.window_seconds = window_seconds
        self.bucket_seconds = bucket_seconds
        self._buckets: deque[list[float]] = deque()
        self._first: float | None = None

    def add(self, now: float, cost: float) -> None:
        """Record a charge at time ``now``."""
        start = math.floor(now / self.bucket_seconds) * self.bucket_seconds
        if self._first is None:
            self._first = now
        if self._buckets and self._buckets[-1][0] == start:
            self._buckets[-1][1] += cost
        else:
            self._buckets.append([start, cost])
        self._trim(now)

    def _trim(self, now: float) -> None:
        while self._buckets and self._buckets[0][0] < now - self.window_seconds:
            self._buckets.popleft()

    def rate(self, now: float) -> float:
        """Cost units per second over the window (or since the first charge, if shorter)."""
        self._trim(now)
        if not self._buckets or self._first is None:
            return 0.0
        span = min(self.window_seconds, max(self.bucket_seconds, now - self._first))
        return sum(b[1] for b in self._buckets) / span


def seconds_to_exhaustion(remaining: float | None, rate: float) -> float | None:
    """Seconds until ``remaining`` is spent at ``rate``; None without a limit or without spending.

    >>> seconds_to_exhaustion(10.0, 0.5)
    20.0
    """
    if remaining is None or rate <= 0.0:
        return None
    return remaining / rate

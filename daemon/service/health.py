"""Liveness and readiness that mean something."""

from __future__ import annotations

import time


class Health:
    """Liveness: the poll loop ran recently. Readiness: assigned and state restored.

    Uses the monotonic clock: wall-clock jumps must not kill a healthy pod.
    """

    def __init__(self, heartbeat_timeout: float) -> None:
        self.heartbeat_timeout = heartbeat_timeout
        self._beat = time.monotonic()
        self.restored = False
        self.assigned = False
        self.stopping = False

    def beat(self) -> None:
        """Record that the poll loop is alive."""
        self._beat = time.monotonic()

    def heartbeat_age(self) -> float:
        """Seconds since the last beat."""
        return time.monotonic() - self._beat

    @property
    def live(self) -> bool:
        """The loop is not stuck."""
        return self.heartbeat_age() <= self.heartbeat_timeout

    @property
    def ready(self) -> bool:
        """Worth sending traffic/alerts to: state restored, partitions assigned, not stopping."""
        return self.restored and self.assigned and not self.stopping and self.live

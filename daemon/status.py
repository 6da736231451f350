"""A snapshot of the daemon's state, refreshed by the loop and read by metrics and /status.

The loop thread writes a fresh immutable snapshot once per batch; the HTTP thread only reads the
reference, so no lock is needed and scrapes never touch live (mutable) state.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One expert queue: outstanding requests against capacity."""

    outstanding: int
    capacity: int
    oldest_age_seconds: float
    ttl_seconds: float


@dataclass(frozen=True, slots=True)
class Status:
    """What operators ask about: budget, queue, model, lag."""

    budget_spent: float = 0.0
    budget_limit: float | None = None
    budget_remaining: float | None = None
    budget_fraction_target: float = 0.0
    budget_fraction_estimate: float | None = None
    period_start: float | None = None
    period_end: float | None = None
    pending: int = 0
    pending_capacity: int = 0
    oldest_pending_age_seconds: float = 0.0
    queues: dict[str, QueueStatus] = field(default_factory=dict)
    last_commit: float | None = None
    model_version: int = 0
    classes_seen: int = 0
    policy: str = ""
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    items: int = 0

    @property
    def exhausted(self) -> bool:
        """True when an absolute budget has nothing left for this period."""
        return self.budget_remaining is not None and self.budget_remaining < 1.0

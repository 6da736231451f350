"""A snapshot of the daemon's state, refreshed by the loop and read by metrics and /status.

The loop thread writes a fresh immutable snapshot once per batch; the HTTP thread only reads the
reference, so no lock is needed and scrapes never touch live (mutable) state.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from daemon.monitoring.feedback import FeedbackSnapshot


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """One expert queue: outstanding requests against capacity."""

    outstanding: int
    capacity: int
    oldest_age_seconds: float
    ttl_seconds: float
    agreement: float | None = None


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
    burn_rate: float = 0.0
    exhaustion_forecast_seconds: float | None = None
    feedback: FeedbackSnapshot = field(default_factory=FeedbackSnapshot)
    model_version: int = 0
    classes_seen: int = 0
    model_nonfinite_scores: int = 0
    model_recoveries: int = 0
    model_uncrossed_items: int = 0
    policy: str = ""
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    items: int = 0
    clock: float | None = None  # the daemon's clock: event time when clock=event, else wall

    @property
    def exhausted(self) -> bool:
        """True when an absolute budget has nothing left for this period."""
        return self.budget_remaining is not None and self.budget_remaining < 1.0


def _plain(value: Any) -> Any:
    """JSON-friendly: tuple keys joined with '/', non-finite floats as None."""
    if isinstance(value, dict):
        return {
            "/".join(map(str, k)) if isinstance(k, tuple) else str(k): _plain(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def status_document(status: Status) -> dict[str, Any]:
    """The /status JSON: the snapshot with tuple keys flattened and infinities as null."""
    doc: dict[str, Any] = _plain(asdict(status))
    doc["budget_exhausted"] = status.exhausted
    return doc

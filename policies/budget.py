"""Budget managers: how many labels may still be spent, decided before and charged after."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class BudgetSnapshot:
    """Budget state at one moment, for evidence records and metrics.

    ``limit`` and ``remaining`` are ``None`` for budgets without an absolute cap.
    """

    spent: float
    limit: float | None
    remaining: float | None
    fraction: float | None
    period_start: float | None
    period_end: float | None


@runtime_checkable
class BudgetManager(Protocol):
    """Decide-then-commit budget protocol.

    ``observe`` is called once per streamed item, ``allows`` before deciding to query and
    ``charge`` only once the query has really been made (a query refused downstream, e.g. by a
    full queue, is never charged).
    """

    def observe(self, now: float) -> None:
        """Count one streamed item."""

    def allows(self, cost: float, now: float) -> bool:
        """Whether a query of this cost fits now."""

    def charge(self, cost: float, now: float) -> None:
        """Record a query that was made."""

    def snapshot(self, now: float) -> BudgetSnapshot:
        """The current state, for reporting."""

    def state_dict(self) -> dict[str, float]:
        """Durable state to persist across restarts."""

    def load_state(self, state: dict[str, float]) -> None:
        """Restore what ``state_dict`` returned."""


class FractionBudget:
    """Spend at most ``fraction`` of the stream, estimated over a window of ``window`` items.

    The spend estimate is the exponentially forgetting count of Zliobaite et al. (2014):
    ``u <- u * (w - 1) / w`` per item plus the cost of each query; the estimated fraction is
    ``u / w``. The estimate starts *on budget* (``u = fraction * w``) so the first items do not
    burst ``fraction * w`` queries at once, and bursts after a quiet spell are bounded by the same
    window.

    >>> b = FractionBudget(fraction=0.1, window=100)
    >>> spent = 0
    >>> for t in range(1000):
    ...     b.observe(t)
    ...     if b.allows(1.0, t):
    ...         b.charge(1.0, t)
    ...         spent += 1
    >>> 90 <= spent <= 110
    True
    """

    def __init__(self, fraction: float, window: int = 1000) -> None:
        if not 0.0 < fraction <= 1.0:
            raise ValueError("fraction must be in (0, 1]")
        if window < 1:
            raise ValueError("window must be >= 1")
        self.fraction = fraction
        self.window = window
        self._decay = (window - 1) / window
        self._u = fraction * window
        self._spent = 0.0

    def observe(self, now: float) -> None:
        self._u *= self._decay

    def allows(self, cost: float, now: float) -> bool:
        return self._u / self.window < self.fraction

    def charge(self, cost: float, now: float) -> None:
        self._u += cost
        self._spent += cost

    @property
    def estimate(self) -> float:
        """Estimated share of recent items that were queried."""
        return self._u / self.window

    def snapshot(self, now: float) -> BudgetSnapshot:
        return BudgetSnapshot(self._spent, None, None, self.estimate, None, None)

    def state_dict(self) -> dict[str, float]:
        return {"u": self._u, "spent": self._spent}

    def load_state(self, state: dict[str, float]) -> None:
        self._u = float(state["u"])
        self._spent = float(state["spent"])


class AbsoluteBudget:
    """At most ``limit`` cost units per period of ``period_seconds``; never overshoots.

    Periods are aligned to ``origin`` (epoch seconds), e.g. 0 with 86400 gives UTC days. The
    spend resets when a new period starts.

    >>> b = AbsoluteBudget(limit=2, period_seconds=10)
    >>> [b.allows(1, 0) and (b.charge(1, 0) or True) for _ in range(3)]
    [True, True, False]
    >>> b.allows(1, 10)
    True
    """

    def __init__(self, limit: float, period_seconds: float = 86400.0, origin: float = 0.0) -> None:
        if limit < 0:
            raise ValueError("limit must be >= 0")
        if period_seconds <= 0:
            raise ValueError("period_seconds must be > 0")
        self.limit = limit
        self.period_seconds = period_seconds
        self.origin = origin
        self._period = -math.inf
        self._spent = 0.0

    def _roll(self, now: float) -> None:
        period = math.floor((now - self.origin) / self.period_seconds)
        if period > self._period:
            self._period = period
            self._spent = 0.0

    def observe(self, now: float) -> None:
        self._roll(now)

    def allows(self, cost: float, now: float) -> bool:
        self._roll(now)
        return self._spent + cost <= self.limit

    def charge(self, cost: float, now: float) -> None:
        self._roll(now)
        if self._spent + cost > self.limit:
            raise ValueError("charge would overshoot the absolute budget")
        self._spent += cost

    def snapshot(self, now: float) -> BudgetSnapshot:
        self._roll(now)
        start = self.origin + self._period * self.period_seconds
        return BudgetSnapshot(
            self._spent,
            self.limit,
            max(0.0, self.limit - self._spent),
            None,
            start,
            start + self.period_seconds,
        )

    def state_dict(self) -> dict[str, float]:
        return {"period": self._period, "spent": self._spent}

    def load_state(self, state: dict[str, float]) -> None:
        self._period = float(state["period"])
        self._spent = float(state["spent"])


class CombinedBudget:
    """All of several budgets at once, e.g. a pacing fraction under a hard daily cap."""

    def __init__(self, *budgets: BudgetManager) -> None:
        if not budgets:
            raise ValueError("at least one budget is required")
        self.budgets = budgets

    def observe(self, now: float) -> None:
        for b in self.budgets:
            b.observe(now)

    def allows(self, cost: float, now: float) -> bool:
        return all(b.allows(cost, now) for b in self.budgets)

    def charge(self, cost: float, now: float) -> None:
        for b in self.budgets:
            b.charge(cost, now)

    def snapshot(self, now: float) -> BudgetSnapshot:
        snaps = [b.snapshot(now) for b in self.budgets]
        capped = [s for s in snaps if s.limit is not None]
        fractions = [s.fraction for s in snaps if s.fraction is not None]
        head = capped[0] if capped else snaps[0]
        return BudgetSnapshot(
            head.spent,
            head.limit,
            head.remaining,
            fractions[0] if fractions else None,
            head.period_start,
            head.period_end,
        )

    def state_dict(self) -> dict[str, float]:
        state: dict[str, float] = {}
        for i, b in enumerate(self.budgets):
            for k, v in b.state_dict().items():
                state[f"{i}.{k}"] = v
        return state

    def load_state(self, state: dict[str, float]) -> None:
        for i, b in enumerate(self.budgets):
            prefix = f"{i}."
            b.load_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})

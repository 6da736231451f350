"""Budget managers: how many labels may still be spent, decided before and charged after."""

from __future__ import annotations

import math
from collections import deque
from typing import Any, NamedTuple, Protocol, runtime_checkable


class BudgetSnapshot(NamedTuple):
    """Budget state at one moment, for evidence records and metrics.

    ``limit`` and ``remaining`` are ``None`` for budgets without an absolute cap. A named tuple
    rather than a frozen dataclass: one is taken for every item (its evidence records the
    budget), and a tuple is built several times faster.
    """

    spent: float
    limit: float | None
    remaining: float | None
    fraction: float | None
    period_start: float | None
    period_end: float | None


def snapshot(
    spent: float,
    limit: float | None,
    remaining: float | None,
    fraction: float | None,
    period_start: float | None,
    period_end: float | None,
) -> BudgetSnapshot:
    """A :class:`BudgetSnapshot`, built without the named tuple's keyword-handling ``__new__``
    (one is taken per item).

    >>> s = snapshot(1.0, None, None, 0.5, None, None)
    >>> s == BudgetSnapshot(1.0, None, None, 0.5, None, None), type(s).__name__
    (True, 'BudgetSnapshot')
    """
    return _new_tuple(BudgetSnapshot, (spent, limit, remaining, fraction, period_start, period_end))


_new_tuple = tuple.__new__


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

    def state_dict(self) -> dict[str, Any]:
        """Durable state (JSON-compatible) to persist across restarts."""

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


@runtime_checkable
class UtilityBudget(BudgetManager, Protocol):
    """A budget that also ranks utilities, such as the balanced incremental quantile filter.

    :class:`~policies.policy.Policy` calls ``admits`` exactly once per item that reached the
    strategy, with the strategy's utility, after ``allows``; a query whose utility is not admitted
    is refused (reason ``below_quantile``). Budgets without it are unaffected.
    """

    def admits(self, utility: float, cost: float, now: float) -> bool:
        """Record the item's utility and say whether it is high enough to spend on."""


class SpendWindow:
    """Spend over the last ``size`` observed items, for hard sliding-window caps.

    Memory is one float per item in the window; the running total is re-summed exactly once per
    window so floating-point drift cannot accumulate.

    >>> w = SpendWindow(3)
    >>> for cost in (1.0, 0.0, 2.0, 0.0):
    ...     w.observe()
    ...     w.charge(cost)
    >>> w.total
    2.0
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("window must be >= 1")
        self.size = size
        self._spends: deque[float] = deque(maxlen=size)
        self._total = 0.0
        self._since_resum = 0

    @property
    def total(self) -> float:
        """Spend over the items in the window."""
        return self._total

    def __len__(self) -> int:
        return len(self._spends)

    def observe(self) -> None:
        """Open the slot of a new item (dropping the oldest when full)."""
        spends = self._spends
        size = self.size
        if len(spends) == size:
            self._total -= spends[0]
        spends.append(0.0)
        since = self._since_resum + 1
        if since >= size:
            since = 0
            self._total = math.fsum(spends)
        self._since_resum = since

    def charge(self, cost: float) -> None:
        """Add a spend to the newest item."""
        if not self._spends:
            self._spends.append(0.0)
        self._spends[-1] += cost
        self._total += cost

    def state(self) -> list[float]:
        """The per-item spends, oldest first."""
        return list(self._spends)

    def load(self, spends: list[float]) -> None:
        """Restore what ``state`` returned."""
        self._spends = deque((float(s) for s in spends), maxlen=self.size)
        self._total = math.fsum(self._spends)
        self._since_resum = 0


class FractionBudget:
    """Spend at most ``fraction`` of the stream, estimated over a window of ``window`` items.

    The spend estimate is the exponentially forgetting count of Zliobaite et al. (2014):
    ``u <- u * (w - 1) / w`` per item plus the cost of each query; the estimated fraction is
    ``u / w``. The estimate starts *on budget* (``u = fraction * w``) so the first items do not
    burst ``fraction * w`` queries at once.

    An exponential estimate forgets a quiet spell only gradually and then lets a strategy catch
    up in a burst; so a hard cap also holds: a query is allowed only while the spend over the last
    ``window`` items is at most ``fraction * window``, so that spend never exceeds
    ``fraction * window`` plus one query's cost. The one-label slack is there because a window
    holds a whole number of labels: evenly paced queries never meet the cap, and a budget too
    small for one label per window still asks once per window.

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
        self._cap = fraction * window
        self._u = fraction * window
        self._spent = 0.0
        self._recent = SpendWindow(window)

    def observe(self, now: float) -> None:
        self._u *= self._decay
        self._recent.observe()

    def allows(self, cost: float, now: float) -> bool:
        # Comparing the estimate after half the query's cost centres it on the target; comparing
        # before any of it over-spends by cost / (2 * window), which matters for small budgets.
        if (self._u + cost / 2) / self.window >= self.fraction:
            return False
        return self._recent.total <= self._cap + 1e-9

    def charge(self, cost: float, now: float) -> None:
        self._u += cost
        self._spent += cost
        self._recent.charge(cost)

    @property
    def estimate(self) -> float:
        """Estimated share of recent items that were queried."""
        return self._u / self.window

    def snapshot(self, now: float) -> BudgetSnapshot:
        return snapshot(self._spent, None, None, self._u / self.window, None, None)

    def state_dict(self) -> dict[str, Any]:
        return {"u": self._u, "spent": self._spent, "recent": self._recent.state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self._u = float(state["u"])
        self._spent = float(state["spent"])
        # States saved before the hard cap existed have no window; start it empty.
        self._recent.load(state.get("recent", []))


class AbsoluteBudget:
    """At most ``limit`` cost units per period of ``period_seconds``; never overshoots.

    Periods are aligned to ``origin`` (epoch seconds), e.g. 0 with 86400 gives UTC days. The
    spend resets when a new period starts. ``share`` scales the limit, so that replicas which
    split a stream between them split its budget too (see :func:`set_share`).

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
        self._cap = limit

    @property
    def cap(self) -> float:
        """The limit that applies to this instance: ``limit`` times its share."""
        return self._cap

    def set_share(self, share: float) -> None:
        """Own ``share`` (in [0, 1]) of the limit, e.g. the share of partitions assigned."""
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be in [0, 1]")
        self._cap = self.limit * share

    def set_cap(self, cap: float) -> None:
        """Own exactly ``cap`` (in [0, limit]) of the limit, e.g. one partition's integral part."""
        if not 0.0 <= cap <= self.limit:
            raise ValueError("cap must be in [0, limit]")
        self._cap = cap

    def _roll(self, now: float) -> None:
        period = math.floor((now - self.origin) / self.period_seconds)
        if period > self._period:
            self._period = period
            self._spent = 0.0

    def observe(self, now: float) -> None:
        self._roll(now)

    def allows(self, cost: float, now: float) -> bool:
        self._roll(now)
        return self._spent + cost <= self._cap

    def charge(self, cost: float, now: float) -> None:
        self._roll(now)
        if self._spent + cost > self._cap:
            raise ValueError("charge would overshoot the absolute budget")
        self._spent += cost

    def snapshot(self, now: float) -> BudgetSnapshot:
        self._roll(now)
        start = self.origin + self._period * self.period_seconds
        return BudgetSnapshot(
            self._spent,
            self._cap,
            max(0.0, self._cap - self._spent),
            None,
            start,
            start + self.period_seconds,
        )

    def state_dict(self) -> dict[str, Any]:
        # No period seen yet is -inf, which JSON cannot carry: persist it as None.
        period = None if math.isinf(self._period) else self._period
        return {"period": period, "spent": self._spent}

    def load_state(self, state: dict[str, float]) -> None:
        period = state.get("period")
        self._period = -math.inf if period is None else float(period)
        self._spent = float(state["spent"])


class CombinedBudget:
    """All of several budgets at once, e.g. a pacing fraction under a hard daily cap.

    Ranking members (:class:`UtilityBudget`) all have to admit an item's utility.
    """

    def __init__(self, *budgets: BudgetManager) -> None:
        if not budgets:
            raise ValueError("at least one budget is required")
        self.budgets = budgets
        self._rankers = tuple(b for b in budgets if isinstance(b, UtilityBudget))

    def admits(self, utility: float, cost: float, now: float) -> bool:
        # Every ranker must see every utility, so no short-circuit.
        verdicts = [r.admits(utility, cost, now) for r in self._rankers]
        return all(verdicts)

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

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for i, b in enumerate(self.budgets):
            for k, v in b.state_dict().items():
                state[f"{i}.{k}"] = v
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        for i, b in enumerate(self.budgets):
            prefix = f"{i}."
            b.load_state({k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)})


def set_share(budget: BudgetManager, share: float) -> None:
    """Give every absolute limit inside ``budget`` this share (a no-op for pacing budgets).

    >>> b = CombinedBudget(FractionBudget(0.1), AbsoluteBudget(limit=90))
    >>> set_share(b, 1 / 3); b.snapshot(0.0).limit
    30.0
    """
    for cap in absolute_members(budget):
        cap.set_share(share)


def absolute_members(budget: BudgetManager) -> list[AbsoluteBudget]:
    """The absolute limits inside ``budget`` (itself, or members of a combined budget)."""
    if isinstance(budget, AbsoluteBudget):
        return [budget]
    if isinstance(budget, CombinedBudget):
        return [cap for member in budget.budgets for cap in absolute_members(member)]
    return []

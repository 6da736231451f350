"""The balanced incremental quantile filter (Kottke et al. 2015), with a bounded carry-over."""

from __future__ import annotations

import bisect
from collections import deque
from typing import Any

from policies.budget import BudgetSnapshot, SpendWindow, snapshot


class BalancedIncrementalQuantileFilter:
    """Spend on the items whose utility is in the top ``budget`` share of recent utilities.

    The filter keeps the utilities of the last ``window`` items and admits an item when its
    utility ``u`` satisfies ``u >= theta - range * carry / w_tol``, where ``theta`` is the
    ``1 - budget`` quantile of the window, ``range`` the spread of the window and ``carry`` the
    labels the filter is behind (positive) or ahead (negative) of ``budget`` per item.

    The published filter lets ``carry`` grow without limit, so after an outage (or any long spell
    of refusals) it pays the whole debt back in one burst. Here ``carry`` is clipped to
    ``max_carry`` labels, and ``allows`` enforces a hard cap: the spend over the last ``window``
    items never exceeds ``budget * window + max_carry``. Spending ahead is never forgiven:
    ``allows`` refuses while the filter is more than ``max_carry`` labels ahead of budget, so
    ``carry`` stays above ``-max_carry`` minus one query's cost. Where the quantile cannot rank
    (many equal utilities, e.g. a saturated model) every item is admitted, and without that
    check the stream would be overspent up to the hard cap.

    A fresh model learns most from its first labels, so the filter can lend itself a
    ``head_start``: it starts ``head_start`` labels behind (spending them on the first uncertain
    items) and repays the loan by accruing only half of ``budget`` per item until it is paid back.
    The loan keeps the long-run spend at ``budget`` per item (no overshoot); while it is
    outstanding the hard cap is ``budget * window`` plus the larger of ``max_carry`` and the
    outstanding loan.

    It is a :class:`~policies.budget.UtilityBudget`: :class:`~policies.policy.Policy` passes the
    strategy's utility to ``admits`` for every item, and refuses a query whose utility is not
    admitted. Pair it with a strategy that asks whenever allowed (e.g.
    ``FixedUncertainty(threshold=1.0)``) to get the filter's own selection, or with a selective
    one to require both.

    Parameters
    ----------
    budget
        Share of the stream to label, in (0, 1].
    window
        How many recent utilities the quantile is taken over; also the hard-cap window.
    w_tol
        Tolerance window of the balancing term: larger reacts more gently to a deficit.
    max_carry
        Bound on the carry-over, in labels; larger catches up more after a quiet spell.
    head_start
        Labels lent to a fresh filter, repaid at half the budget rate; larger front-loads more.

    Examples
    --------
    >>> import random
    >>> rng = random.Random(0)
    >>> f = BalancedIncrementalQuantileFilter(budget=0.1, window=100, w_tol=50, max_carry=2)
    >>> spent = 0
    >>> for t in range(2000):
    ...     f.observe(t)
    ...     ok = f.allows(1.0, t)
    ...     if f.admits(rng.random(), 1.0, t) and ok:
    ...         f.charge(1.0, t)
    ...         spent += 1
    >>> 180 <= spent <= 220
    True
    """

    def __init__(
        self,
        budget: float,
        window: int = 300,
        w_tol: float = 50.0,
        max_carry: float = 5.0,
        head_start: float = 0.0,
    ) -> None:
        if not 0.0 < budget <= 1.0:
            raise ValueError("budget must be in (0, 1]")
        if window < 1:
            raise ValueError("window must be >= 1")
        if w_tol <= 0.0:
            raise ValueError("w_tol must be > 0")
        if max_carry < 0.0:
            raise ValueError("max_carry must be >= 0")
        if head_start < 0.0:
            raise ValueError("head_start must be >= 0")
        self.budget = budget
        self.window = window
        self.w_tol = w_tol
        self.max_carry = max_carry
        self.head_start = head_start
        self._utilities: deque[float] = deque(maxlen=window)
        self._sorted: list[float] = []
        self._recent = SpendWindow(window)
        self._carry = head_start
        self._loan = head_start
        self._spent = 0.0
        # Constants of the per-item arithmetic, computed as the expressions below would.
        self._half = budget / 2.0
        self._q = 1.0 - budget
        self._base_cap = budget * window
        self._floor = -max_carry - 1e-9

    @property
    def cap(self) -> float:
        """Most that may be spent over any ``window`` consecutive items."""
        loan, most = self._loan, self.max_carry
        return self._base_cap + (loan if loan > most else most)

    @property
    def carry(self) -> float:
        """Labels behind budget (positive) or ahead of it (negative).

        At most ``max_carry`` (or an unspent head start), at least ``-max_carry`` minus the cost
        of the last query.
        """
        return self._carry

    @property
    def loan(self) -> float:
        """The part of the head start not yet repaid."""
        return self._loan

    def observe(self, now: float) -> None:
        # Once per item: min and max written out, with the same ties (the first argument).
        self._recent.observe()
        loan = self._loan
        half = self._half
        repay = half if half < loan else loan
        self._loan = loan - repay
        carry = self._carry
        most = self.max_carry
        # An unspent head start may exceed max_carry; it must not grow further, nor be cut.
        ceiling = carry if carry > most else most
        grown = carry + self.budget - repay
        self._carry = grown if grown < ceiling else ceiling

    def allows(self, cost: float, now: float) -> bool:
        if self._carry < self._floor:
            return False
        loan, most = self._loan, self.max_carry
        return self._recent.total + cost <= self._base_cap + (loan if loan > most else most) + 1e-9

    def admits(self, utility: float, cost: float, now: float) -> bool:
        utilities = self._utilities
        values = self._sorted
        if len(utilities) == self.window:
            old = utilities[0]
            if old == utility:
                # The same value leaves and enters the window: the sorted list stays as it is.
                utilities.append(utility)
                return utility >= self._balanced(values)
            del values[bisect.bisect_left(values, old)]
        utilities.append(utility)
        bisect.insort(values, utility)
        return utility >= self._balanced(values)

    @property
    def threshold(self) -> float:
        """The balanced threshold the next utility is compared with."""
        values = self._sorted
        if not values:
            return 0.0
        return self._balanced(values)

    def _balanced(self, values: list[float]) -> float:
        """The threshold over the sorted window ``values`` (not empty)."""
        # The linear-interpolation quantile (numpy's default method), then the balance term.
        last = len(values) - 1
        pos = self._q * last
        lo = int(pos)
        hi = lo + 1 if lo < last else last
        low = values[lo]
        theta = low + (values[hi] - low) * (pos - lo)
        return theta - (values[-1] - values[0]) * self._carry / self.w_tol

    def charge(self, cost: float, now: float) -> None:
        self._recent.charge(cost)
        self._spent += cost
        self._carry -= cost

    def snapshot(self, now: float) -> BudgetSnapshot:
        recent = self._recent
        n = len(recent)
        return snapshot(self._spent, None, None, recent.total / n if n else 0.0, None, None)

    def state_dict(self) -> dict[str, Any]:
        return {
            "utilities": list(self._utilities),
            "spends": self._recent.state(),
            "carry": self._carry,
            "loan": self._loan,
            "spent": self._spent,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self._utilities = deque((float(u) for u in state["utilities"]), maxlen=self.window)
        self._sorted = sorted(self._utilities)
        self._recent.load(state["spends"])
        self._carry = float(state["carry"])
        self._loan = float(state.get("loan", 0.0))
        self._spent = float(state["spent"])

"""A policy: a strategy under a budget, with cold start, deciding first and charging after."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from policies.batch import BatchStrategy, ItemColumns, Row, Rows, as_row
from policies.budget import BudgetManager, BudgetSnapshot, UtilityBudget, absolute_members
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.strategy import CommittingStrategy, Strategy

# Audit items must stay a uniform sample, random (exploration) queries have a known probability
# only if nothing ranks them, and quota floors exist to override the ranking, so a ranking budget
# never refuses them (the budget's hard cap, via ``allows``, still applies).
_UNRANKED = frozenset({Reason.AUDIT, Reason.RANDOM, Reason.QUOTA_MIN})
_COLD_START: Row = (True, Reason.COLD_START, 1.0, 1.0, None, 0.0)
_COLD_REFUSED: Row = (False, Reason.BUDGET_EXHAUSTED, 0.0, 1.0, None, 0.0)


class Policy:
    """Combine a strategy with a budget manager.

    ``decide`` never spends; ``commit`` charges a decision once the query has really been made, so
    a query refused downstream (queue full, duplicate) costs nothing. Until the model has seen two
    classes, up to ``cold_start_items`` items are force-queried (charged like any other query),
    because uncertainty rules on an untrained model may never ask.

    When the budget ranks utilities (a :class:`~policies.budget.UtilityBudget`, such as the
    balanced incremental quantile filter), every strategy decision's utility is passed to it and
    a query it does not admit is refused with reason ``below_quantile``, unless it came through a
    route the ranking cannot refuse (audit or exploration draw, random share, quota floor). The
    ranking's verdict depends only on the utility and the filter's state, not on any random
    draw, so a refused item's inclusion probability is exactly the chance of those routes
    (:attr:`~policies.decision.Decision.unranked`). When the strategy has a ``commit`` hook
    (:class:`~policies.strategy.CommittingStrategy`), ``commit`` calls it.

    >>> from policies import FractionBudget, RandomSampling
    >>> p = Policy(RandomSampling(rate=0.1, seed=0), FractionBudget(0.1, window=50))
    >>> d = p.decide(ItemView("item-1", {}, classes_seen=2), now=0.0)
    >>> d.reason in (Reason.RANDOM, Reason.NOT_SAMPLED, Reason.OVER_PACE)
    True
    """

    def __init__(
        self, strategy: Strategy, budget: BudgetManager, cold_start_items: int = 0
    ) -> None:
        self.strategy = strategy
        self.budget = budget
        self.cold_start_items = cold_start_items
        self._forced = 0
        self._ranker = budget if isinstance(budget, UtilityBudget) else None
        # Without an absolute limit a refusal can only be pacing: no snapshot needed per item.
        self._capped = bool(absolute_members(budget))
        self._hook = strategy if isinstance(strategy, CommittingStrategy) else None
        self._batch = strategy if isinstance(strategy, BatchStrategy) else None

    @property
    def id(self) -> str:
        """Strategy name and version, as recorded in the evidence."""
        return f"{self.strategy.name}@{self.strategy.version}"

    def decide(self, item: ItemView, now: float) -> Decision:
        """Decide for one item without spending."""
        self.budget.observe(now)
        allowed = self.budget.allows(item.cost, now)
        if item.classes_seen < 2 and self._forced < self.cold_start_items:
            if allowed:
                return Decision(
                    query=True,
                    reason=Reason.COLD_START,
                    probability=1.0,
                    utility=1.0,
                    threshold=None,
                )
            return self._refusal(
                Decision(
                    query=False,
                    reason=Reason.BUDGET_EXHAUSTED,
                    probability=0.0,
                    utility=1.0,
                    threshold=None,
                ),
                item,
                now,
            )
        decision = self.strategy.decide(item, allowed)
        if not allowed:
            decision = self._refusal(decision, item, now)
        if self._ranker is not None and not self._ranker.admits(decision.utility, item.cost, now):
            # Only the routes that bypass the ranking can still query this item.
            floor = decision.unranked
            if decision.query and decision.reason not in _UNRANKED:
                decision = decision.refused(Reason.BELOW_QUANTILE)
            return replace(decision, probability=floor, unranked=floor)
        return decision

    def _refusal(self, decision: Decision, item: ItemView, now: float) -> Decision:
        """Tell an exhausted period budget apart from pacing: operators act on one only."""
        if decision.reason is not Reason.BUDGET_EXHAUSTED:
            return decision
        if not self._capped:
            return replace(decision, reason=Reason.OVER_PACE)
        remaining = self.budget.snapshot(now).remaining
        if remaining is not None and remaining < item.cost:
            return decision
        return replace(decision, reason=Reason.OVER_PACE)

    def batch(self, items: ItemColumns) -> PolicyBatch:
        """Decide the items of one batch as rows, exactly as :meth:`decide` would one by one.

        What a stateless strategy (:class:`~policies.batch.BatchStrategy`) decides is computed
        for the whole batch here; :meth:`PolicyBatch.decide` then runs the sequential part per
        item: the budget, the cold start and the ranking. Queries are charged with
        :meth:`commit` as before, between the items' decisions.
        """
        rows = None
        if self._batch is not None:
            try:
                rows = self._batch.decide_batch(items)
            except Exception:  # decided item by item instead, where a failure is one item's
                rows = None
        return PolicyBatch(self, items, rows)

    def _decide_row(self, rows: Rows, i: int, cost: float, now: float, cold: bool) -> Row:
        """:meth:`decide` on rows: item ``i`` of a batch whose strategy rows are known."""
        budget = self.budget
        budget.observe(now)
        allowed = budget.allows(cost, now)
        if cold and self._forced < self.cold_start_items:
            if allowed:
                return _COLD_START
            return self._refused_row(_COLD_REFUSED, cost, now)
        row = rows.allowed[i] if allowed else self._refused_row(rows.refused[i], cost, now)
        ranker = self._ranker
        if ranker is not None and not ranker.admits(row[3], cost, now):
            floor = row[5]
            if row[0] and row[1] not in _UNRANKED:
                return (False, Reason.BELOW_QUANTILE, floor, row[3], row[4], floor)
            return (row[0], row[1], floor, row[3], row[4], floor)
        return row

    def _refused_row(self, row: Row, cost: float, now: float) -> Row:
        """:meth:`_refusal` on a row."""
        if row[1] is not Reason.BUDGET_EXHAUSTED:
            return row
        if self._capped:
            remaining = self.budget.snapshot(now).remaining
            if remaining is not None and remaining < cost:
                return row
        return (row[0], Reason.OVER_PACE, row[2], row[3], row[4], row[5])

    def commit(self, decision: Decision, item: ItemView, now: float) -> None:
        """Charge a query that was really made."""
        if not decision.query:
            return
        if decision.reason is Reason.COLD_START:
            self._forced += 1
        if self._hook is not None:
            self._hook.commit(decision, item)
        self.budget.charge(item.cost, now)

    def snapshot(self, now: float) -> BudgetSnapshot:
        """Budget state for reporting."""
        return self.budget.snapshot(now)

    def state_dict(self) -> dict[str, Any]:
        """Everything that must survive a restart."""
        return {
            "budget": self.budget.state_dict(),
            "strategy": self.strategy.state_dict(),
            "forced": self._forced,
        }

    def load_state(self, state: dict[str, Any]) -> list[str]:
        """Restore what ``state_dict`` returned; return the parts that could not be restored.

        A configuration change (a budget cap added, another strategy) changes the state's shape;
        the parts that no longer fit start fresh instead of failing the restart, and the caller
        is told which, so it can say so.
        """
        problems = []
        for name, part in (("budget", self.budget), ("strategy", self.strategy)):
            try:
                part.load_state(state[name])
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
        self._forced = int(state.get("forced", 0))
        return problems


class PolicyBatch:
    """One batch's decisions, made in item order by :meth:`decide` (see :meth:`Policy.batch`).

    Each item is decided at most once, in order; commits of the queries that were really made
    go to :meth:`Policy.commit` between the decisions, as they happen.

    >>> from policies import FixedUncertainty, FractionBudget
    >>> p, twin = (Policy(FixedUncertainty(0.9), FractionBudget(1.0, window=10)) for _ in "ab")
    >>> batch = p.batch(ItemColumns(["a", "b"], [{"x": 0.6, "y": 0.4}] * 2, [{}, {}], 2))
    >>> row = batch.decide(0, 1.0, 0.0)
    >>> row[:2], row == as_row(twin.decide(batch.item(0, 1.0), 0.0))
    ((True, <Reason.UNCERTAIN: 'uncertain'>), True)
    """

    __slots__ = ("_cold", "_policy", "_rows", "items")

    def __init__(self, policy: Policy, items: ItemColumns, rows: Rows | None) -> None:
        self.items = items
        self._policy = policy
        self._rows = rows
        self._cold = items.classes_seen < 2

    @property
    def vectorised(self) -> bool:
        """Whether the strategy decided the batch at once (else item by item)."""
        return self._rows is not None

    def decide(self, i: int, cost: float, now: float) -> Row:
        """The decision for item ``i`` at ``cost`` (its queue's price), without spending."""
        if self._rows is None:
            return as_row(self._policy.decide(self.items.item(i, cost), now))
        return self._policy._decide_row(self._rows, i, cost, now, self._cold)

    def item(self, i: int, cost: float) -> ItemView:
        """Item ``i`` as the policy saw it (for :meth:`Policy.commit`)."""
        return self.items.item(i, cost)

"""A policy: a strategy under a budget, with cold start, deciding first and charging after."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from policies.budget import BudgetManager, BudgetSnapshot, UtilityBudget, absolute_members
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.strategy import CommittingStrategy, Strategy

# Audit items must stay a uniform sample, random (exploration) queries have a known probability
# only if nothing ranks them, and quota floors exist to override the ranking, so a ranking budget
# never refuses them (the budget's hard cap, via ``allows``, still applies).
_UNRANKED = frozenset({Reason.AUDIT, Reason.RANDOM, Reason.QUOTA_MIN})


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

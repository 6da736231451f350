"""Cost-sensitive selection: utility per unit of oracle cost."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.strategy import Strategy, commit_hook

# A zero or negative cost hint is treated as this, so utility per cost stays finite.
MIN_COST = 1e-6


class CostSensitive:
    """Wrap a strategy; divide its utility by ``item.cost`` and require ``threshold`` per unit.

    An expensive item (a specialist reviewer, a long document) must be proportionally more
    useful to be worth its label. The wrapped strategy still decides first; a query whose utility
    per unit cost is below ``threshold`` is refused with reason ``too_costly`` (probability 0).
    The logged utility is the per-unit one, so a queue ordered by it favours cheap, useful items.

    Parameters
    ----------
    inner
        The strategy that supplies the query decision and the utility.
    threshold
        Minimum utility per unit cost; higher refuses more expensive items.

    >>> from policies import FixedUncertainty
    >>> s = CostSensitive(FixedUncertainty(0.9), threshold=0.2)
    >>> s.decide(ItemView("a", {"x": 0.6, "y": 0.4}, cost=1.0), True).query
    True
    >>> s.decide(ItemView("b", {"x": 0.6, "y": 0.4}, cost=4.0), True).reason
    <Reason.TOO_COSTLY: 'too_costly'>
    """

    name = "cost_sensitive"
    version = "1"

    def __init__(self, inner: Strategy, threshold: float = 0.0) -> None:
        if threshold < 0.0:
            raise ValueError("threshold must be >= 0")
        self.inner = inner
        self.threshold = threshold
        self.name = f"cost_sensitive({inner.name})"
        self.version = f"1+{inner.version}"
        self._inner_hook = commit_hook(inner)

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        d = self.inner.decide(item, allowed)
        per_cost = d.utility / max(item.cost, MIN_COST)
        if per_cost >= self.threshold:
            return replace(d, utility=per_cost)
        if d.query:
            return Decision(
                query=False,
                reason=Reason.TOO_COSTLY,
                probability=0.0,
                utility=per_cost,
                threshold=self.threshold,
            )
        return Decision(
            query=False, reason=d.reason, probability=0.0, utility=per_cost, threshold=d.threshold
        )

    def commit(self, decision: Decision, item: ItemView) -> None:
        if self._inner_hook is not None:
            self._inner_hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state["inner"])

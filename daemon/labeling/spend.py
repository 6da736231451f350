"""The spend ledger: the one place where a label request is paid for.

A query is charged once it is really made (decide first, then commit the spend): to the policy
(its budget and its strategy's commit hooks, e.g. the quota and diversity memories), to the
``budget_charged`` and ``queries`` metrics and to the burn rate. New queries and re-asks
(escalation to an adjudicator, re-routing after expiry) go through the same door, so no
spend escapes the budget's or the strategy's bookkeeping.
"""

from __future__ import annotations

from typing import Any

from daemon.monitoring.burn import BurnRate
from daemon.monitoring.metrics import Metrics
from policies import Decision, ItemView, Policy


class SpendLedger:
    """Charges queries to the policy, the metrics and the burn rate, together.

    >>> from prometheus_client import CollectorRegistry
    >>> from policies import FractionBudget, RandomSampling, Reason
    >>> policy = Policy(RandomSampling(rate=1.0, seed=0), FractionBudget(1.0, window=10))
    >>> ledger = SpendLedger(policy, Metrics(CollectorRegistry()), BurnRate())
    >>> query = Decision(query=True, reason=Reason.RANDOM, probability=1.0, utility=0.0)
    >>> ledger.charge(query, ItemView("a", {}, cost=2.0), "q", now=0.0)
    >>> policy.snapshot(0.0).spent
    2.0
    """

    def __init__(self, policy: Policy, metrics: Metrics, burn: BurnRate) -> None:
        self.policy = policy
        self.metrics = metrics
        self.burn = burn
        self._queries: dict[str, Any] = {}  # the per-queue counter children, looked up once

    def allows(self, cost: float, now: float) -> bool:
        """Whether the budget can pay ``cost`` now (asking does not spend)."""
        return self.policy.budget.allows(cost, now)

    def charge(self, decision: Decision, item: ItemView, queue: str, now: float) -> None:
        """Pay for a query of ``item`` (its ``cost``) that was really sent to ``queue``."""
        self.policy.commit(decision, item, now)
        self.metrics.budget_charged.inc(item.cost)
        self.burn.add(now, item.cost)
        child = self._queries.get(queue)
        if child is None:
            child = self._queries[queue] = self.metrics.queries.labels(queue)
        child.inc()

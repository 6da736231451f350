"""Budget re-sharing: an absolute budget is scaled by this replica's share of partitions."""

from __future__ import annotations

from daemon.service.budget_share import BudgetShare
from policies import AbsoluteBudget, CombinedBudget, FractionBudget, Policy, RandomSampling


class Source:
    def __init__(self, share: float) -> None:
        self._share = share

    def share(self) -> float:
        return self._share


def test_the_absolute_limit_follows_the_share_of_partitions():
    """Owning a quarter of the partitions leaves a quarter of the configured limit."""
    budget = CombinedBudget(FractionBudget(0.5, 100), AbsoluteBudget(100.0, 86400.0))
    policy = Policy(RandomSampling(rate=0.5, seed=0), budget)
    BudgetShare(Source(0.25), policy)()  # type: ignore[arg-type]
    assert policy.snapshot(0.0).limit == 25.0
    BudgetShare(Source(1.0), policy)()  # type: ignore[arg-type]
    assert policy.snapshot(0.0).limit == 100.0

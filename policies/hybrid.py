"""A hybrid strategy: a selection rule inside a random exploration share and an audit slice."""

from __future__ import annotations

from typing import Any

from policies.audit_slice import RandomAudit
from policies.batch import BatchStrategy, ItemColumns, Rows
from policies.decision import Decision
from policies.exploration import RandomExploration
from policies.item import ItemView
from policies.strategy import Strategy, commit_hook


class Hybrid:
    """Compose, inside out: ``inner`` → random exploration → random audit.

    The order matters: the exploration share outside the rule, so its training queries stay
    uniform; the audit outermost, so the audit slice stays a uniform sample that nothing inside
    can bias. Filters that change what the rule may ask (cost per label, diversity, subgroup
    quotas) belong inside ``inner``; the daemon's policy builder composes them there, in that
    order, so one place knows it. Each slice is optional and chosen here, once.

    Parameters
    ----------
    inner
        The selection rule, with its filters (e.g. randomized variable uncertainty under
        subgroup quotas).
    budget
        The budget as a fraction of the stream (sizes the audit slice and the exploration share).
    audit_share
        Share of the budget for the random audit slice; 0 disables it.
    seed
        Seed of the audit and exploration draws.
    explore_share
        Share of the budget for uniformly random training queries
        (:class:`~policies.exploration.RandomExploration`); 0 disables it.

    >>> from policies import SelectiveSampling
    >>> h = Hybrid(SelectiveSampling(b=0.05), budget=0.1, audit_share=0.2, explore_share=0.1)
    >>> h.name
    'audit(explore(selective_sampling))'
    """

    name = "hybrid"
    version = "1"

    def __init__(
        self,
        inner: Strategy,
        budget: float,
        audit_share: float = 0.1,
        seed: int = 0,
        explore_share: float = 0.0,
    ) -> None:
        self.inner = inner
        self.budget = budget
        self.audit_share = audit_share
        self.seed = seed
        self.explore_share = explore_share
        chain: Strategy = inner
        if explore_share > 0.0:
            chain = RandomExploration(chain, explore_share, budget, seed)
        if audit_share > 0.0:
            chain = RandomAudit(chain, audit_share, budget, seed)
        self._chain = chain
        self._hook = commit_hook(chain)
        self._batch = chain if isinstance(chain, BatchStrategy) else None
        self.name = chain.name
        self.version = chain.version

    @property
    def chain(self) -> Strategy:
        """The composed strategy (``inner`` itself when both slices are off)."""
        return self._chain

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        return self._chain.decide(item, allowed)

    def decide_batch(self, items: ItemColumns) -> Rows | None:
        """Rows for a batch when the composed strategy has them."""
        return self._batch.decide_batch(items) if self._batch is not None else None

    def commit(self, decision: Decision, item: ItemView) -> None:
        if self._hook is not None:
            self._hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return self._chain.state_dict()

    def load_state(self, state: dict[str, Any]) -> None:
        self._chain.load_state(state)

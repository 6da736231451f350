"""A hybrid strategy: audit slice, selection rule, diversity filter and subgroup quotas together."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.audit_slice import RandomAudit
from policies.decision import Decision
from policies.diversity import DiversityFilter
from policies.exploration import RandomExploration
from policies.item import ItemView
from policies.quotas import SubgroupQuotas
from policies.strategy import Strategy, commit_hook


class Hybrid:
    """Compose, inside out: ``inner`` → diversity → quotas → random exploration → random audit.

    The order matters. Diversity first, so a near-duplicate is skipped before it could count
    towards a quota; quotas next, so they can force a query the diversity filter would have
    skipped for an under-sampled subgroup; the exploration share outside both, so its training
    queries stay uniform; the audit outermost, so the audit slice stays a uniform sample that
    neither the diversity filter nor the quotas can bias. Each layer is optional and chosen
    here, once.

    Parameters
    ----------
    inner
        The selection rule (e.g. randomized variable uncertainty).
    budget
        The budget as a fraction of the stream (sizes the audit slice and the exploration share).
    audit_share
        Share of the budget for the random audit slice; 0 disables it.
    explore_share
        Share of the budget for uniformly random training queries
        (:class:`~policies.exploration.RandomExploration`); 0 disables it.
    radius, memory, metric
        Diversity filter settings (see :class:`~policies.diversity.DiversityFilter`); no radius
        disables it.
    quota_attribute, min_share, max_share, quota_window, quota_warmup
        Subgroup quota settings (see :class:`~policies.quotas.SubgroupQuotas`); no attribute
        disables them.
    seed
        Seed of the audit and exploration draws.

    >>> from policies import SelectiveSampling
    >>> h = Hybrid(SelectiveSampling(b=0.05), budget=0.1, audit_share=0.2, radius=0.1)
    >>> h.name
    'audit(diversity(selective_sampling))'
    """

    name = "hybrid"
    version = "1"

    def __init__(
        self,
        inner: Strategy,
        budget: float,
        audit_share: float = 0.1,
        radius: float | None = None,
        memory: int = 50,
        metric: str = "euclidean",
        quota_attribute: str | None = None,
        min_share: Mapping[str, float] | None = None,
        max_share: Mapping[str, float] | None = None,
        quota_window: int = 200,
        quota_warmup: int = 20,
        seed: int = 0,
        explore_share: float = 0.0,
    ) -> None:
        self.inner = inner
        self.budget = budget
        self.audit_share = audit_share
        self.radius = radius
        self.memory = memory
        self.metric = metric
        self.quota_attribute = quota_attribute
        self.min_share = dict(min_share or {})
        self.max_share = dict(max_share or {})
        self.quota_window = quota_window
        self.quota_warmup = quota_warmup
        self.seed = seed
        self.explore_share = explore_share
        chain: Strategy = inner
        if radius is not None:
            chain = DiversityFilter(chain, radius, memory, metric)
        if quota_attribute is not None:
            chain = SubgroupQuotas(
                chain, quota_attribute, min_share, max_share, quota_window, quota_warmup
            )
        if explore_share > 0.0:
            chain = RandomExploration(chain, explore_share, budget, seed)
        if audit_share > 0.0:
            chain = RandomAudit(chain, audit_share, budget, seed)
        self._chain = chain
        self._hook = commit_hook(chain)
        self.name = chain.name
        self.version = chain.version

    @property
    def audit_rate(self) -> float:
        """Per-item probability of an audit query (0 without an audit slice)."""
        return float(getattr(self._chain, "audit_rate", 0.0))

    @property
    def unranked_rate(self) -> float:
        """Per-item probability of a query that no ranking budget may refuse."""
        return float(getattr(self._chain, "unranked_rate", 0.0))

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        return self._chain.decide(item, allowed)

    def commit(self, decision: Decision, item: ItemView) -> None:
        if self._hook is not None:
            self._hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return self._chain.state_dict()

    def load_state(self, state: dict[str, Any]) -> None:
        self._chain.load_state(state)

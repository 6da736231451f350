"""A random exploration share: some training queries drawn uniformly, the rest by the rule."""

from __future__ import annotations

from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform
from policies.strategy import Strategy, commit_hook


class RandomExploration:
    """Wrap a strategy; spend a ``share`` of the ``budget`` on uniformly random training queries.

    An uncertainty ranking alone can lock onto one region of the feature space (and never see
    what it gets wrong elsewhere); a small uniform share keeps labelling everywhere, as the random
    part of Split does (Zliobaite et al. 2014). Each item is explored with probability
    ``r = share * budget`` (a per-item hash draw, so a redelivered item gets the same answer);
    explored items carry reason ``random`` and, unlike audit items, are used for training. A
    ranking budget never refuses them (their inclusion probability is known), and the wrapped
    strategy sees every item. The logged inclusion probability is ``r + (1 - r) * p_inner``; an
    item the ranking refuses keeps ``r`` (see :attr:`unranked_rate`). Explored queries are
    training labels too, so they are passed to the wrapped strategy's ``commit``: subgroup quotas
    count them towards their shares, and a diversity filter remembers them.

    Parameters
    ----------
    inner
        The selection rule for the rest of the budget.
    share
        Share of the budget spent on random exploration; 0 disables it.
    budget
        The budget as a fraction of the stream.
    seed
        Seed of the exploration draw.

    >>> from policies import FixedUncertainty
    >>> s = RandomExploration(FixedUncertainty(0.6), share=0.2, budget=0.5)
    >>> d = s.decide(ItemView("a", {"x": 0.9, "y": 0.1}), allowed=True)
    >>> round(d.probability, 2), d.reason in (Reason.RANDOM, Reason.CONFIDENT)
    (0.1, True)
    """

    name = "explore"
    version = "1"

    def __init__(self, inner: Strategy, share: float, budget: float, seed: int = 0) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be in [0, 1]")
        if not 0.0 <= budget <= 1.0:
            raise ValueError("budget must be in [0, 1]")
        self.inner = inner
        self.share = share
        self.budget = budget
        self.seed = seed
        self.name = f"explore({inner.name})"
        self.version = f"1+{inner.version}"
        self._rate = share * budget
        self._inner_hook = commit_hook(inner)

    @property
    def rate(self) -> float:
        """Per-item exploration probability."""
        return self._rate

    @property
    def unranked_rate(self) -> float:
        """Per-item probability of a query that no ranking budget may refuse."""
        inner = float(getattr(self.inner, "unranked_rate", 0.0))
        return self._rate + (1.0 - self._rate) * inner

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        d = self.inner.decide(item, allowed)
        if not allowed:
            return d
        r = self._rate
        p = r + (1.0 - r) * d.probability
        if item_uniform(item.key, "explore", self.seed) < r:
            return Decision(True, Reason.RANDOM, p, d.utility, d.threshold)
        return Decision(d.query, d.reason, p, d.utility, d.threshold)

    def commit(self, decision: Decision, item: ItemView) -> None:
        if self._inner_hook is not None:
            self._inner_hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state["inner"])

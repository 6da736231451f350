"""Query by committee: ask when the members of a committee disagree."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from policies.committee import Committee, consensus_entropy, max_kl, vote_entropy
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform

MEASURES: dict[str, Callable[[Committee], float]] = {
    "vote_entropy": vote_entropy,
    "consensus_entropy": consensus_entropy,
    "max_kl": max_kl,
}


class QueryByCommittee:
    """Query when the committee in ``item.committee`` disagrees.

    The committee is the members of a River ensemble or the production and online models. With
    ``randomized=False`` the item is queried when the disagreement reaches ``threshold``
    (inclusion probability 1 or 0); with ``randomized=True`` it is queried with probability
    ``min(1, disagreement / threshold)``, which keeps a little sampling where the committee agrees
    and gives every logged probability a meaning for weighting. Fewer than two members means no
    disagreement.

    Parameters
    ----------
    measure
        ``"vote_entropy"``, ``"consensus_entropy"`` or ``"max_kl"`` (see :mod:`policies.committee`).
    threshold
        Disagreement in (0, 1] at which the item is always asked; lower asks more.
    randomized
        Query with a probability proportional to the disagreement instead of a hard threshold.
    seed
        Seed of the per-item draws (randomized only).

    >>> s = QueryByCommittee("vote_entropy", threshold=0.5)
    >>> members = ({"a": 0.9, "b": 0.1}, {"a": 0.3, "b": 0.7})
    >>> s.decide(ItemView("x", {}, committee=members), allowed=True).reason
    <Reason.DISAGREEMENT: 'disagreement'>
    """

    name = "query_by_committee"
    version = "1"

    def __init__(
        self,
        measure: str = "vote_entropy",
        threshold: float = 0.5,
        randomized: bool = False,
        seed: int = 0,
    ) -> None:
        if measure not in MEASURES:
            raise ValueError(f"measure must be one of {sorted(MEASURES)}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        self.measure = measure
        self.threshold = threshold
        self.randomized = randomized
        self.seed = seed
        self._measure = MEASURES[measure]

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        utility = self._measure(item.committee)
        if self.randomized:
            p = min(1.0, utility / self.threshold)
        else:
            p = 1.0 if utility >= self.threshold else 0.0
        if not allowed:
            return Decision(
                query=False,
                reason=Reason.BUDGET_EXHAUSTED,
                probability=0.0,
                utility=utility,
                threshold=self.threshold,
            )
        # A deterministic rule needs no draw: p is 0 or 1.
        hit = item_uniform(item.key, self.version, self.seed) < p if self.randomized else p == 1.0
        return Decision(
            query=hit,
            reason=Reason.DISAGREEMENT if hit else Reason.CONFIDENT,
            probability=p,
            utility=utility,
            threshold=self.threshold,
        )

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        return None

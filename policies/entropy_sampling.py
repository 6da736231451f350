"""Entropy sampling: the rule of River's ``active.EntropySampler``, with its probability logged."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform


def entropy_probability(proba: Mapping[str, float], discount_factor: float) -> float:
    """River's query probability: normalised entropy raised to ``discount_factor``.

    The entropy is normalised by the log of the number of classes with non-zero probability (as
    River does, so two classes at 50% and others at 0% still count as maximally uncertain); no
    non-zero entropy (including an unscored item) gives 0.

    >>> entropy_probability({"a": 0.5, "b": 0.5, "c": 0.0}, 3.0)
    1.0
    >>> entropy_probability({"a": 1.0, "b": 0.0}, 3.0)
    0.0
    """
    h = _river_entropy(proba)
    return h**discount_factor if h else 0.0


def _river_entropy(proba: Mapping[str, float]) -> float:
    positive = [p for p in proba.values() if p > 0.0]
    if len(positive) < 2:
        # One possible class is no uncertainty, even if its probability is not exactly 1 (a tree
        # leaf's 0.9999999); normalising by log2(1) = 0 would divide by zero.
        return 0.0
    h = -sum(p * math.log2(p) for p in positive)
    return min(1.0, max(0.0, h / math.log2(len(positive))))


class EntropySampling:
    """Query with probability ``entropy ** discount_factor`` (River's ``EntropySampler``).

    River draws from a stateful RNG and does not expose the probability; here the draw is a hash
    of the item (a redelivered item gets the same answer) and the probability is logged.

    Parameters
    ----------
    discount_factor
        Larger discounts moderate entropy more and asks less; 0 asks about everything.
    seed
        Seed of the per-item draws.

    >>> s = EntropySampling(discount_factor=2.0)
    >>> round(s.decide(ItemView("a", {"x": 0.8, "y": 0.2}), allowed=True).probability, 4)
    0.5212
    """

    name = "entropy_sampling"
    version = "1"

    def __init__(self, discount_factor: float = 3.0, seed: int = 0) -> None:
        if discount_factor < 0.0:
            raise ValueError("discount_factor must be >= 0")
        self.discount_factor = discount_factor
        self.seed = seed

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        utility = _river_entropy(item.proba)
        p = utility**self.discount_factor if utility else 0.0
        if not allowed:
            return Decision(
                query=False,
                reason=Reason.BUDGET_EXHAUSTED,
                probability=0.0,
                utility=utility,
                threshold=None,
            )
        hit = item_uniform(item.key, self.version, self.seed) < p
        return Decision(
            query=hit,
            reason=Reason.UNCERTAIN if hit else Reason.NOT_SAMPLED,
            probability=p,
            utility=utility,
            threshold=None,
        )

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        return None

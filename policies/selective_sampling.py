"""Margin-based selective sampling (Cesa-Bianchi et al. 2006): query with b / (b + |margin|)."""

from __future__ import annotations

from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform
from policies.uncertainty import top_two_gap


class SelectiveSampling:
    """Query with probability ``b / (b + margin)``.

    The margin is the gap between the two most probable classes, in [0, 1]. For a binary model it
    equals ``2 * |p - 0.5|``, so the binary and multiclass cases are one rule; the original
    perceptron margin ``|w.x|`` is not available from a probability-only model, and the top-two
    gap is the standard multiclass stand-in. An unscored item has margin 0 and is always asked.

    Parameters
    ----------
    b
        Larger asks more; the query probability at margin ``m`` halves when ``m = b``.
    seed
        Seed of the per-item draws.

    >>> s = SelectiveSampling(b=0.1)
    >>> round(s.decide(ItemView("a", {"x": 0.7, "y": 0.3}), allowed=True).probability, 4)
    0.2
    """

    name = "selective_sampling"
    version = "1"

    def __init__(self, b: float = 0.1, seed: int = 0) -> None:
        if b <= 0.0:
            raise ValueError("b must be > 0")
        self.b = b
        self.seed = seed

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        gap = top_two_gap(item.proba)
        p = self.b / (self.b + gap)
        utility = 1.0 - gap
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

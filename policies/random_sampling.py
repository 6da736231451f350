"""Random sampling: the baseline that every report compares with."""

from __future__ import annotations

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform
from policies.uncertainty import least_confidence


class RandomSampling:
    """Query each item with probability ``rate``, independently of the model.

    The draw is a hash of (item key, version, seed), so a redelivered item gets the same answer.
    The logged inclusion probability is ``rate`` (or 0 when the budget refuses).

    >>> s = RandomSampling(rate=0.5, seed=1)
    >>> d = s.decide(ItemView("x", {}), allowed=True)
    >>> d.probability, d.reason in (Reason.RANDOM, Reason.NOT_SAMPLED)
    (0.5, True)
    """

    name = "random"
    version = "1"

    def __init__(self, rate: float, seed: int = 0) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be in [0, 1]")
        self.rate = rate
        self.seed = seed

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        utility = least_confidence(item.proba)
        if not allowed:
            return Decision(
                query=False,
                reason=Reason.BUDGET_EXHAUSTED,
                probability=0.0,
                utility=utility,
                threshold=self.rate,
            )
        hit = item_uniform(item.key, self.version, self.seed) < self.rate
        return Decision(
            query=hit,
            reason=Reason.RANDOM if hit else Reason.NOT_SAMPLED,
            probability=self.rate,
            utility=utility,
            threshold=self.rate,
            unranked=self.rate,
        )

    def state_dict(self) -> dict[str, float]:
        return {}

    def load_state(self, state: dict[str, float]) -> None:
        return None

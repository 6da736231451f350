"""Split (Zliobaite et al. 2014): a random share of the stream sampled at random, the rest by VU."""

from __future__ import annotations

from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform
from policies.uncertainty import top_probability


class Split:
    """Send a ``random_share`` of items to random sampling at ``rate``, the rest to VU.

    The random part keeps labelling everywhere in the feature space, so drift far from the
    decision boundary is still seen; the variable-uncertainty part spends on the boundary. One
    per-item draw ``u`` decides both: ``u < random_share * rate`` is a random query,
    ``u < random_share`` a random non-query, anything else goes to VU.

    The logged inclusion probability is the item's probability over that draw,
    ``random_share * rate + (1 - random_share) * [top < theta]``, so every item has at least
    ``random_share * rate`` and inverse-propensity weights stay bounded.

    Parameters
    ----------
    rate
        Query probability in the random part; normally the budget fraction.
    random_share
        Share of items routed to the random part; larger is more robust to drift, less efficient.
    threshold, step
        Initial threshold and adjustment of the variable-uncertainty part.
    seed
        Seed of the per-item draw.

    >>> s = Split(rate=0.1, random_share=0.2, threshold=0.8)
    >>> d = s.decide(ItemView("a", {"x": 0.6, "y": 0.4}), allowed=True)
    >>> round(d.probability, 2)
    0.82
    """

    name = "split"
    version = "1"

    def __init__(
        self,
        rate: float,
        random_share: float = 0.5,
        threshold: float = 1.0,
        step: float = 0.01,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be in [0, 1]")
        if not 0.0 <= random_share <= 1.0:
            raise ValueError("random_share must be in [0, 1]")
        if not 0.0 < step < 1.0:
            raise ValueError("step must be in (0, 1)")
        self.rate = rate
        self.random_share = random_share
        self.initial_threshold = threshold
        self.step = step
        self.seed = seed
        self._theta = threshold

    @property
    def threshold(self) -> float:
        """The current threshold of the variable-uncertainty part."""
        return self._theta

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        top = top_probability(item.proba)
        utility = 1.0 - top
        theta = self._theta
        uncertain = top < theta
        share = self.random_share
        p = share * self.rate + (1.0 - share) * (1.0 if uncertain else 0.0)
        if not allowed:
            return Decision(
                query=False,
                reason=Reason.BUDGET_EXHAUSTED,
                probability=0.0,
                utility=utility,
                threshold=theta,
            )
        floor = share * self.rate  # the random share bypasses any ranking
        u = item_uniform(item.key, self.version, self.seed)
        if u < share:
            hit = u < share * self.rate
            return Decision(
                query=hit,
                reason=Reason.RANDOM if hit else Reason.NOT_SAMPLED,
                probability=p,
                utility=utility,
                threshold=theta,
                unranked=floor,
            )
        if uncertain:
            self._theta = theta * (1.0 - self.step)
            return Decision(
                query=True,
                reason=Reason.UNCERTAIN,
                probability=p,
                utility=utility,
                threshold=theta,
                unranked=floor,
            )
        self._theta = min(1.0, theta * (1.0 + self.step))
        return Decision(
            query=False,
            reason=Reason.CONFIDENT,
            probability=p,
            utility=utility,
            threshold=theta,
            unranked=floor,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self._theta}

    def load_state(self, state: dict[str, Any]) -> None:
        self._theta = float(state["theta"])

"""Variable uncertainty (Zliobaite et al. 2014): a threshold that adapts to the stream."""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform
from policies.uncertainty import top_probability

_STANDARD = NormalDist()
# item_uniform can return exactly 0, where the inverse CDF is undefined.
_TINY = 1e-12
# Bounds that keep a long run of confident (or uncertain) items from driving the threshold to
# overflow or to zero; the rule never needs values outside them.
_THETA_MIN = 1e-3
_THETA_MAX = 1e3


class VariableUncertainty:
    """Query when the top class probability is below a threshold that moves with the stream.

    After a query the threshold tightens (``theta *= 1 - step``) and after a confident item it
    relaxes (``theta *= 1 + step``), so the rule keeps asking at roughly the budget's rate even
    when the model's confidence drifts. The threshold only moves while the budget allows a query.
    The rule is deterministic, so the logged inclusion probability is 1 or 0.

    Parameters
    ----------
    threshold
        Initial threshold on the top class probability; higher asks more at first.
    step
        Relative adjustment per item; larger adapts faster but oscillates more.

    >>> s = VariableUncertainty(threshold=0.9, step=0.1)
    >>> s.decide(ItemView("a", {"x": 0.6, "y": 0.4}), allowed=True).query
    True
    >>> round(s.threshold, 2)
    0.81
    """

    name = "variable_uncertainty"
    version = "1"

    def __init__(self, threshold: float = 1.0, step: float = 0.01) -> None:
        if not 0.0 < step < 1.0:
            raise ValueError("step must be in (0, 1)")
        self.initial_threshold = threshold
        self.step = step
        self._theta = threshold

    @property
    def threshold(self) -> float:
        """The current threshold on the top class probability."""
        return self._theta

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        top = max(item.proba.values()) if len(item.proba) >= 2 else 0.0
        utility = 1.0 - top
        theta = self._theta
        if not allowed:
            return Decision(
                query=False,
                reason=Reason.BUDGET_EXHAUSTED,
                probability=0.0,
                utility=utility,
                threshold=theta,
            )
        if top < theta:
            self._theta = theta * (1.0 - self.step)
            return Decision(
                query=True,
                reason=Reason.UNCERTAIN,
                probability=1.0,
                utility=utility,
                threshold=theta,
            )
        self._theta = min(1.0, theta * (1.0 + self.step))
        return Decision(
            query=False, reason=Reason.CONFIDENT, probability=0.0, utility=utility, threshold=theta
        )

    def state_dict(self) -> dict[str, float]:
        return {"theta": self._theta}

    def load_state(self, state: dict[str, float]) -> None:
        self._theta = float(state["theta"])


class RandomizedVariableUncertainty:
    """Variable uncertainty with a randomized threshold (Zliobaite et al. 2014).

    Each item's threshold is ``theta * eta`` with ``eta ~ N(1, delta)``, and the item is queried
    when its top class probability ``top`` is below it; ``theta`` adapts as in
    :class:`VariableUncertainty` (tightens after a query, relaxes otherwise, only while the budget
    allows). Randomization keeps asking about some confident items too, which is what lets the
    rule notice a model that has become confidently wrong after a drift.

    The draw ``eta`` is the inverse normal CDF of :func:`~policies.randomness.item_uniform`, so a
    redelivered item gets the same threshold, and the logged inclusion probability is exact:
    ``P(eta > top / theta) = 1 - Phi((top / theta - 1) / delta)``.

    Parameters
    ----------
    threshold
        Initial ``theta``; higher asks more at first.
    step
        Relative adjustment of ``theta`` per item.
    delta
        Standard deviation of the multiplier; larger asks more about confident items.
    seed
        Seed of the per-item draws.

    >>> s = RandomizedVariableUncertainty(threshold=0.9, delta=0.5, seed=3)
    >>> d = s.decide(ItemView("a", {"x": 0.8, "y": 0.2}), allowed=True)
    >>> round(d.probability, 4)
    0.5879
    """

    name = "randomized_variable_uncertainty"
    version = "1"

    def __init__(
        self, threshold: float = 1.0, step: float = 0.01, delta: float = 1.0, seed: int = 0
    ) -> None:
        if not 0.0 < step < 1.0:
            raise ValueError("step must be in (0, 1)")
        if delta <= 0.0:
            raise ValueError("delta must be > 0")
        if not _THETA_MIN <= threshold <= _THETA_MAX:
            raise ValueError("threshold out of range")
        self.initial_threshold = threshold
        self.step = step
        self.delta = delta
        self.seed = seed
        self._theta = threshold

    @property
    def threshold(self) -> float:
        """The current (unrandomized) threshold ``theta``."""
        return self._theta

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        top = top_probability(item.proba)
        utility = 1.0 - top
        theta = self._theta
        z = (top / theta - 1.0) / self.delta
        p = 1.0 - _STANDARD.cdf(z)
        if not allowed:
            return Decision(
                query=False,
                reason=Reason.BUDGET_EXHAUSTED,
                probability=0.0,
                utility=utility,
                threshold=theta,
            )
        u = max(item_uniform(item.key, self.version, self.seed), _TINY)
        eta = 1.0 + self.delta * _STANDARD.inv_cdf(u)
        randomized = theta * eta
        if top < randomized:
            self._theta = max(_THETA_MIN, theta * (1.0 - self.step))
            return Decision(
                query=True,
                reason=Reason.UNCERTAIN,
                probability=p,
                utility=utility,
                threshold=randomized,
            )
        self._theta = min(_THETA_MAX, theta * (1.0 + self.step))
        return Decision(
            query=False,
            reason=Reason.CONFIDENT,
            probability=p,
            utility=utility,
            threshold=randomized,
        )

    def state_dict(self) -> dict[str, Any]:
        return {"theta": self._theta}

    def load_state(self, state: dict[str, Any]) -> None:
        self._theta = float(state["theta"])

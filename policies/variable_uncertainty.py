"""Variable uncertainty (Zliobaite et al. 2014): a threshold that adapts to the stream."""

from __future__ import annotations

from policies.decision import Decision, Reason
from policies.item import ItemView


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
            return Decision(False, Reason.BUDGET_EXHAUSTED, 0.0, utility, theta)
        if top < theta:
            self._theta = theta * (1.0 - self.step)
            return Decision(True, Reason.UNCERTAIN, 1.0, utility, theta)
        self._theta = min(1.0, theta * (1.0 + self.step))
        return Decision(False, Reason.CONFIDENT, 0.0, utility, theta)

    def state_dict(self) -> dict[str, float]:
        return {"theta": self._theta}

    def load_state(self, state: dict[str, float]) -> None:
        self._theta = float(state["theta"])

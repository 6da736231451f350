"""Fixed uncertainty: query when the model's top class probability is below a constant."""

from __future__ import annotations

from typing import Any

from policies.batch import ItemColumns, Row, Rows
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.uncertainty import top_probability


class FixedUncertainty:
    """Query when the top class probability is below ``threshold``.

    The simplest uncertainty rule (Zliobaite et al. 2014). Under drift it can stop asking
    altogether when the model becomes confidently wrong; prefer a variable or randomized rule.
    Deterministic: the inclusion probability is 1 or 0.

    Parameters
    ----------
    threshold
        Threshold on the top class probability; higher asks more.

    >>> s = FixedUncertainty(threshold=0.7)
    >>> s.decide(ItemView("a", {"x": 0.6, "y": 0.4}), allowed=True).query
    True
    >>> s.decide(ItemView("b", {"x": 0.9, "y": 0.1}), allowed=True).reason
    <Reason.CONFIDENT: 'confident'>
    """

    name = "fixed_uncertainty"
    version = "1"

    def __init__(self, threshold: float = 0.9) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        self.threshold = threshold

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        top = top_probability(item.proba)
        utility = 1.0 - top
        if not allowed:
            return Decision(
                query=False,
                reason=Reason.BUDGET_EXHAUSTED,
                probability=0.0,
                utility=utility,
                threshold=self.threshold,
            )
        if top < self.threshold:
            return Decision(
                query=True,
                reason=Reason.UNCERTAIN,
                probability=1.0,
                utility=utility,
                threshold=self.threshold,
            )
        return Decision(
            query=False,
            reason=Reason.CONFIDENT,
            probability=0.0,
            utility=utility,
            threshold=self.threshold,
        )

    def decide_batch(self, items: ItemColumns) -> Rows:
        """Rows for a batch: the rule has no state, so every item is decided at once."""
        th = self.threshold
        uncertain, confident, refused = Reason.UNCERTAIN, Reason.CONFIDENT, Reason.BUDGET_EXHAUSTED
        # top_probability, written out: the top class probability, 0 when unscored.
        tops = [max(p.values()) if len(p) >= 2 else 0.0 for p in items.probas]
        allowed: list[Row] = [
            (True, uncertain, 1.0, 1.0 - top, th, 0.0)
            if top < th
            else (False, confident, 0.0, 1.0 - top, th, 0.0)
            for top in tops
        ]
        return Rows(allowed, [(False, refused, 0.0, 1.0 - top, th, 0.0) for top in tops])

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        return None

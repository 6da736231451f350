"""Fixed uncertainty: query when the model's confidence is below a constant."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from policies.batch import ItemColumns, Row, Rows
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.uncertainty import top_probability


def margin_confidence(proba: Mapping[str, float]) -> float:
    """``(1 + top - second) / 2``: the margin between the two most probable classes, on the
    scale of the top class probability, which it equals for two classes; 0 when unscored.

    >>> margin_confidence({"a": 0.7, "b": 0.3})
    0.7
    >>> round(margin_confidence({"a": 0.4, "b": 0.4, "c": 0.2}), 6)
    0.5
    """
    if len(proba) < 2:
        return 0.0
    if len(proba) == 2:
        return max(proba.values())
    first, second = sorted(proba.values(), reverse=True)[:2]
    return min(1.0, max(0.0, (1.0 + first - second) / 2.0))


CONFIDENCE: dict[str, Callable[[Mapping[str, float]], float]] = {
    "least_confidence": top_probability,
    "margin": margin_confidence,
}
"""Confidence measures by name (see :class:`FixedUncertainty`'s ``measure``)."""


class FixedUncertainty:
    """Query when the model's confidence is below ``threshold``; the utility is 1 - confidence.

    The simplest uncertainty rule (Zliobaite et al. 2014). Under drift it can stop asking
    altogether when the model becomes confidently wrong; prefer a variable or randomized rule.
    Deterministic: the inclusion probability is 1 or 0.

    Parameters
    ----------
    threshold
        Threshold on the confidence; higher asks more.
    measure
        ``least_confidence``: the confidence is the top class probability. ``margin``: the gap
        between the two most probable classes (:func:`margin_confidence`), which for two
        classes is exactly the top class probability. With more classes least confidence ranks
        first the items where all classes tie, a small region where labels teach little; the
        margin ranks any item near the boundary between two classes.

    >>> s = FixedUncertainty(threshold=0.7)
    >>> s.decide(ItemView("a", {"x": 0.6, "y": 0.4}), allowed=True).query
    True
    >>> s.decide(ItemView("b", {"x": 0.9, "y": 0.1}), allowed=True).reason
    <Reason.CONFIDENT: 'confident'>
    >>> m = FixedUncertainty(threshold=0.6, measure="margin")
    >>> m.decide(ItemView("c", {"x": 0.45, "y": 0.4, "z": 0.15}), allowed=True).query
    True
    """

    name = "fixed_uncertainty"
    version = "1"

    def __init__(self, threshold: float = 0.9, measure: str = "least_confidence") -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        if measure not in CONFIDENCE:
            raise ValueError(f"measure must be one of {', '.join(CONFIDENCE)}")
        self.threshold = threshold
        self.measure = measure
        self._confidence = CONFIDENCE[measure]

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        top = self._confidence(item.proba)
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
        if self.measure == "least_confidence":
            # top_probability, written out: the top class probability, 0 when unscored.
            tops = [max(p.values()) if len(p) >= 2 else 0.0 for p in items.probas]
        else:
            confidence = self._confidence
            tops = [confidence(p) for p in items.probas]
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

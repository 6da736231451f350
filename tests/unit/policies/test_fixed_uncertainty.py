"""Fixed uncertainty strategy."""

import pytest

from policies import FixedUncertainty, ItemView, Reason


def test_queries_below_threshold_only():
    """Top probability below the threshold is queried, at or above it is not."""
    s = FixedUncertainty(threshold=0.7)
    assert s.decide(ItemView("a", {"x": 0.69, "y": 0.31}), True).reason is Reason.UNCERTAIN
    assert s.decide(ItemView("b", {"x": 0.7, "y": 0.3}), True).reason is Reason.CONFIDENT


def test_unscored_item_is_uncertain():
    """An item the model cannot score yet counts as maximally uncertain."""
    d = FixedUncertainty(0.5).decide(ItemView("a", {}), True)
    assert d.query
    assert d.utility == 1.0


def test_budget_refusal_keeps_utility():
    """Without budget the decision is budget_exhausted but still logs the utility."""
    d = FixedUncertainty(0.9).decide(ItemView("a", {"x": 0.6, "y": 0.4}), False)
    assert d.reason is Reason.BUDGET_EXHAUSTED
    assert d.utility == pytest.approx(0.4)


def test_rejects_threshold_outside_unit_interval():
    """A threshold outside [0, 1] is a ValueError."""
    with pytest.raises(ValueError, match="threshold"):
        FixedUncertainty(1.5)

"""Fixed uncertainty strategy."""

import random

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


def test_margin_decides_binary_items_exactly_as_least_confidence():
    """For two classes the margin confidence is the top probability: same decisions, utilities."""
    rng = random.Random(3)
    lc, margin = FixedUncertainty(0.8), FixedUncertainty(0.8, measure="margin")
    for i in range(2000):
        p = rng.random()
        item = ItemView(str(i), {"a": p, "b": 1.0 - p})
        assert margin.decide(item, True) == lc.decide(item, True)


def test_margin_ranks_a_two_class_boundary_above_a_three_way_spread():
    """With three classes, least confidence prefers the flat item; the margin prefers the item
    torn between two classes (a 0.45/0.45 tie), which is where a label moves a boundary."""
    torn = ItemView("torn", {"a": 0.45, "b": 0.45, "c": 0.10})
    flat = ItemView("flat", {"a": 0.40, "b": 0.30, "c": 0.30})
    lc, margin = FixedUncertainty(1.0), FixedUncertainty(1.0, measure="margin")
    assert lc.decide(flat, True).utility > lc.decide(torn, True).utility
    assert margin.decide(torn, True).utility > margin.decide(flat, True).utility
    assert margin.decide(torn, True).utility == pytest.approx(0.5)


def test_unknown_measure_is_refused():
    """Only the named confidence measures exist."""
    with pytest.raises(ValueError, match="measure"):
        FixedUncertainty(0.9, measure="entropy")

"""Randomized variable uncertainty (Zliobaite et al. 2014)."""

import math
from statistics import NormalDist

import pytest

from policies import ItemView, RandomizedVariableUncertainty, Reason


def test_logged_probability_is_the_normal_tail():
    """p = 1 - Phi((top/theta - 1)/delta), and the observed rate at fixed theta matches it."""
    n, top, theta, delta = 4000, 0.8, 0.9, 0.3
    expected = 1 - NormalDist().cdf((top / theta - 1) / delta)
    hits = 0
    for i in range(n):
        s = RandomizedVariableUncertainty(threshold=theta, delta=delta, seed=1)
        d = s.decide(ItemView(f"i{i}", {"x": top, "y": 1 - top}), True)
        assert d.probability == pytest.approx(expected)
        hits += d.query
    sigma = math.sqrt(n * expected * (1 - expected))
    assert abs(hits - n * expected) <= 4 * sigma


def test_threshold_tightens_after_query_and_relaxes_otherwise():
    """theta moves by (1 - step) after a query and by (1 + step) after a confident item."""
    s = RandomizedVariableUncertainty(threshold=0.9, step=0.1, delta=0.01)
    assert s.decide(ItemView("a", {"x": 0.5, "y": 0.5}), True).query
    assert s.threshold == pytest.approx(0.81)
    assert not s.decide(ItemView("b", {"x": 0.99, "y": 0.01}), True).query
    assert s.threshold == pytest.approx(0.891)


def test_threshold_frozen_while_budget_refuses():
    """No adaptation when the budget refuses; the decision is budget_exhausted with p = 0."""
    s = RandomizedVariableUncertainty(threshold=0.9)
    d = s.decide(ItemView("a", {"x": 0.5, "y": 0.5}), False)
    assert (d.reason, d.probability, s.threshold) == (Reason.BUDGET_EXHAUSTED, 0.0, 0.9)


def test_redelivered_item_gets_the_same_decision():
    """Same item, same state, same seed: the same randomized threshold and outcome."""
    item = ItemView("dup", {"x": 0.7, "y": 0.3})
    a = RandomizedVariableUncertainty(threshold=0.8, seed=4).decide(item, True)
    b = RandomizedVariableUncertainty(threshold=0.8, seed=4).decide(item, True)
    assert a == b


def test_confident_items_are_still_sometimes_asked():
    """Randomization keeps a positive probability for an item above the threshold."""
    d = RandomizedVariableUncertainty(threshold=0.6, delta=0.5).decide(
        ItemView("a", {"x": 0.99, "y": 0.01}), True
    )
    assert 0.0 < d.probability < 0.5


@pytest.mark.parametrize("kwargs", [{"step": 0.0}, {"delta": 0.0}, {"threshold": 0.0}])
def test_rejects_invalid_arguments(kwargs):
    """Non-positive step, delta or threshold is a ValueError."""
    with pytest.raises(ValueError, match=r"step|delta|threshold"):
        RandomizedVariableUncertainty(**kwargs)

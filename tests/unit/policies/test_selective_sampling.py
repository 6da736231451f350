"""Margin-based selective sampling."""

import pytest

from policies import ItemView, SelectiveSampling


def test_probability_is_b_over_b_plus_margin():
    """p = b / (b + top1 - top2)."""
    s = SelectiveSampling(b=0.2)
    d = s.decide(ItemView("a", {"x": 0.5, "y": 0.3, "z": 0.2}), True)
    assert d.probability == pytest.approx(0.2 / (0.2 + 0.2))


def test_binary_margin_is_twice_distance_from_half():
    """For two classes the margin equals 2 * |p - 0.5|."""
    s = SelectiveSampling(b=0.1)
    p = 0.85
    d = s.decide(ItemView("a", {"x": p, "y": 1 - p}), True)
    assert d.probability == pytest.approx(0.1 / (0.1 + 2 * abs(p - 0.5)))


def test_larger_b_asks_more():
    """Raising b raises the query probability at a fixed margin."""
    item = ItemView("a", {"x": 0.9, "y": 0.1})
    low = SelectiveSampling(b=0.05).decide(item, True).probability
    high = SelectiveSampling(b=0.5).decide(item, True).probability
    assert low < high


def test_rejects_non_positive_b():
    """b must be positive (p would be 0/0 at margin 0)."""
    with pytest.raises(ValueError, match="b must"):
        SelectiveSampling(b=0.0)

"""Cost-sensitive wrapper."""

import pytest

from policies import CostSensitive, FixedUncertainty, ItemView, Reason

ITEM = {"x": 0.6, "y": 0.4}


def test_utility_is_per_unit_cost():
    """The logged utility is the inner utility divided by the item's cost."""
    d = CostSensitive(FixedUncertainty(0.9)).decide(ItemView("a", ITEM, cost=2.0), True)
    assert d.utility == pytest.approx(0.2)


def test_expensive_items_refused_below_threshold():
    """A query whose utility per cost is under the threshold is too_costly with p = 0."""
    s = CostSensitive(FixedUncertainty(0.9), threshold=0.3)
    assert s.decide(ItemView("a", ITEM, cost=1.0), True).query
    d = s.decide(ItemView("b", ITEM, cost=2.0), True)
    assert (d.reason, d.probability) == (Reason.TOO_COSTLY, 0.0)


def test_zero_cost_stays_finite():
    """A zero cost hint does not produce an infinite utility."""
    d = CostSensitive(FixedUncertainty(0.9)).decide(ItemView("a", ITEM, cost=0.0), True)
    assert d.utility < float("inf")

"""Variable uncertainty: an adaptive threshold on the top class probability."""

import math
from statistics import NormalDist

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import ItemView, RandomizedVariableUncertainty, Reason, VariableUncertainty


def _item(top):
    return ItemView("k", {"a": top, "b": 1.0 - top})


@given(theta=st.floats(0.55, 1.0), step=st.floats(0.001, 0.5), top=st.floats(0.5, 0.549))
def test_query_tightens_threshold(theta, step, top):
    """An item below the threshold is queried with probability 1 and theta shrinks by (1-step)."""
    s = VariableUncertainty(threshold=theta, step=step)
    d = s.decide(_item(top), allowed=True)
    assert (d.query, d.reason, d.probability) == (True, Reason.UNCERTAIN, 1.0)
    assert d.threshold == theta
    assert s.threshold == pytest.approx(theta * (1 - step))


@given(theta=st.floats(0.5, 0.9), step=st.floats(0.001, 0.5), top=st.floats(0.9, 1.0))
def test_confident_item_relaxes_threshold(theta, step, top):
    """An item at or above the threshold is not queried (probability 0) and theta grows."""
    s = VariableUncertainty(threshold=theta, step=step)
    d = s.decide(_item(top), allowed=True)
    assert (d.query, d.reason, d.probability) == (False, Reason.CONFIDENT, 0.0)
    assert s.threshold == pytest.approx(min(1.0, theta * (1 + step)))


def test_threshold_never_relaxes_above_one():
    """Confident items push theta up to 1 and no further."""
    s = VariableUncertainty(threshold=0.99, step=0.5)
    for _ in range(5):
        s.decide(_item(1.0), allowed=True)
    assert s.threshold == 1.0


def test_budget_exhausted_leaves_threshold_alone():
    """When the budget refuses, the reason is budget_exhausted and theta does not move."""
    s = VariableUncertainty(threshold=0.8, step=0.1)
    for top in (0.5, 0.99):
        d = s.decide(_item(top), allowed=False)
        assert (d.query, d.reason, d.probability) == (False, Reason.BUDGET_EXHAUSTED, 0.0)
    assert s.threshold == 0.8


def test_utility_is_one_minus_top_probability():
    """The logged utility is 1 - max proba, and 1 for an unscored item."""
    s = VariableUncertainty(threshold=0.5)
    assert s.decide(_item(0.7), allowed=True).utility == pytest.approx(0.3)
    assert s.decide(ItemView("k", {}), allowed=True).utility == 1.0


def test_adapts_to_ask_on_a_confident_stream():
    """On a stream whose confidence is always 0.95, theta climbs until queries happen again."""
    s = VariableUncertainty(threshold=0.6, step=0.05)
    decisions = [s.decide(_item(0.95), allowed=True).query for _ in range(200)]
    assert not decisions[0]
    assert any(decisions[100:])


def test_state_round_trip_restores_threshold():
    """load_state(state_dict()) on a fresh strategy restores the adapted threshold."""
    s = VariableUncertainty(threshold=0.9, step=0.1)
    s.decide(_item(0.6), allowed=True)
    fresh = VariableUncertainty(threshold=0.9, step=0.1)
    fresh.load_state(s.state_dict())
    assert fresh.threshold == s.threshold != 0.9


@pytest.mark.parametrize("step", [0.0, 1.0, -0.1])
def test_step_outside_open_unit_interval_is_rejected(step):
    """A step outside (0, 1) is a ValueError."""
    with pytest.raises(ValueError, match="step"):
        VariableUncertainty(step=step)


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

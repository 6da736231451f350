"""Random sampling: a hash-seeded coin per item, logged with its inclusion probability."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import ItemView, RandomSampling, Reason


@given(key=st.text(min_size=1, max_size=30), seed=st.integers(0, 2**32), rate=st.floats(0, 1))
def test_same_seed_and_key_give_the_same_decision(key, seed, rate):
    """Two samplers with one seed decide alike for a key, however often it is redelivered."""
    item = ItemView(key, {"a": 0.5, "b": 0.5})
    first = RandomSampling(rate, seed).decide(item, allowed=True)
    assert RandomSampling(rate, seed).decide(item, allowed=True) == first
    assert RandomSampling(rate, seed).decide(item, allowed=True) == first


@pytest.mark.parametrize("rate", [0.01, 0.1, 0.5, 0.9])
def test_rate_is_respected_over_a_long_stream(rate):
    """Over 40,000 items the query share is within 5 binomial standard deviations of the rate."""
    n = 40_000
    sampler = RandomSampling(rate, seed=3)
    hits = sum(sampler.decide(ItemView(f"i{i}", {}), allowed=True).query for i in range(n))
    sd = (n * rate * (1 - rate)) ** 0.5
    assert abs(hits - n * rate) < 5 * sd


@given(rate=st.floats(0, 1), key=st.text(min_size=1, max_size=10))
def test_logged_probability_equals_rate(rate, key):
    """Queried or not, the logged inclusion probability is the rate and the reason matches."""
    d = RandomSampling(rate, seed=0).decide(ItemView(key, {}), allowed=True)
    assert d.probability == rate
    assert d.reason is (Reason.RANDOM if d.query else Reason.NOT_SAMPLED)


def test_refused_budget_gives_budget_exhausted_with_zero_probability():
    """When the budget does not allow a query, nothing is sampled and the propensity is 0."""
    d = RandomSampling(1.0, seed=0).decide(ItemView("x", {"a": 0.9, "b": 0.1}), allowed=False)
    assert (d.query, d.reason, d.probability) == (False, Reason.BUDGET_EXHAUSTED, 0.0)


def test_different_seeds_pick_different_items():
    """Changing the seed changes which items are picked (the draw is seeded)."""
    keys = [f"i{i}" for i in range(2000)]
    a = {k for k in keys if RandomSampling(0.2, 1).decide(ItemView(k, {}), True).query}
    b = {k for k in keys if RandomSampling(0.2, 2).decide(ItemView(k, {}), True).query}
    assert a != b


@pytest.mark.parametrize("rate", [-0.1, 1.01])
def test_rate_outside_unit_interval_is_rejected(rate):
    """A rate outside [0, 1] is a ValueError."""
    with pytest.raises(ValueError, match="rate"):
        RandomSampling(rate)

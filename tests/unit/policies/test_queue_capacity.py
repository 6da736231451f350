"""Queue-capacity gate."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import Decision, ItemView, QueueCapacityGate, Reason, as_row

QUERY = Decision(query=True, reason=Reason.UNCERTAIN, probability=1.0, utility=0.5)


def test_factor_falls_as_queue_fills():
    """The keep probability is 1 when empty, decreasing, and 0 when full."""
    g = QueueCapacityGate(capacity=10, exponent=2.0)
    factors = [g.factor(d) for d in range(11)]
    assert factors[0] == 1.0
    assert factors[-1] == 0.0
    assert all(a >= b for a, b in itertools.pairwise(factors))


def test_thinning_keeps_the_factor_share_and_scales_probability():
    """At half depth with exponent 1 half the queries survive; kept or not, each logs p * f."""
    g = QueueCapacityGate(capacity=10, exponent=1.0, seed=1)
    out = [g.apply(QUERY, ItemView(f"i{i}", {}), 5) for i in range(4000)]
    kept = [d for d in out if d.query]
    assert len(kept) / 4000 == pytest.approx(0.5, abs=0.03)
    assert all(d.probability == pytest.approx(0.5) for d in kept)
    assert all(d.reason is Reason.QUEUE_TIGHT for d in out if not d.query)
    assert all(d.probability == pytest.approx(0.5) for d in out if not d.query)


def test_non_query_probability_is_scaled():
    """A decision that did not query keeps its reason; its propensity is multiplied by f."""
    g = QueueCapacityGate(capacity=4, exponent=1.0)
    d = g.apply(
        Decision(query=False, reason=Reason.NOT_SAMPLED, probability=0.4, utility=0.1),
        ItemView("a", {}),
        1,
    )
    assert (d.reason, d.probability) == (Reason.NOT_SAMPLED, pytest.approx(0.3))


@settings(max_examples=100, deadline=None)
@given(
    capacity=st.integers(1, 20),
    depth=st.integers(0, 25),
    exponent=st.floats(0.0, 4.0),
    query=st.booleans(),
    probability=st.floats(0.0, 1.0),
    key=st.text(max_size=8),
)
def test_thinning_a_row_is_applying_the_gate(capacity, depth, exponent, query, probability, key):
    """thin_row with the factor of a depth gives apply's decision at that depth, as a row."""
    gate = QueueCapacityGate(capacity, exponent, seed=5)
    reason = Reason.UNCERTAIN if query else Reason.CONFIDENT
    decision = Decision(
        query=query, reason=reason, probability=probability, utility=0.3, unranked=probability / 2
    )
    expected = as_row(gate.apply(decision, ItemView(key, {}), depth))
    assert gate.thin_row(as_row(decision), key, gate.factor(depth)) == expected

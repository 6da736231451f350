"""Replicas split an absolute budget by their share of the stream."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import AbsoluteBudget, CombinedBudget, FractionBudget, set_share


@settings(max_examples=50, deadline=None)
@given(
    limit=st.integers(0, 200),
    shares=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=5),
    costs=st.lists(st.floats(0.1, 3.0), min_size=1, max_size=200),
)
def test_spend_never_exceeds_the_shared_cap(limit, shares, costs):
    """Whatever share is set (and however often), spend never exceeds limit x current share."""
    budget = AbsoluteBudget(limit, period_seconds=1e9)
    for i, cost in enumerate(costs):
        share = shares[i % len(shares)]
        set_share(budget, share)
        if budget.allows(cost, float(i)):
            budget.charge(cost, float(i))
            assert budget.snapshot(float(i)).spent <= limit * share + 1e-9


def test_share_reaches_every_absolute_member_only():
    """set_share scales absolute limits inside a combined budget and leaves pacing alone."""
    pace, cap = FractionBudget(0.5, window=10), AbsoluteBudget(90, period_seconds=100)
    set_share(CombinedBudget(pace, cap), 1 / 3)
    assert cap.cap == pytest.approx(30)
    assert cap.limit == 90
    assert pace.fraction == 0.5
    with pytest.raises(ValueError, match="share"):
        cap.set_share(1.5)

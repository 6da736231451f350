"""Split strategy: random share plus variable uncertainty."""

import pytest

from policies import ItemView, Reason, Split


def test_random_share_routes_that_share_of_items_to_random_sampling():
    """About random_share of items get a random-part reason, queried at about rate."""
    s = Split(rate=0.5, random_share=0.3, threshold=0.0)
    ds = [s.decide(ItemView(f"i{i}", {"x": 0.9, "y": 0.1}), True) for i in range(5000)]
    random_part = [d for d in ds if d.reason in (Reason.RANDOM, Reason.NOT_SAMPLED)]
    assert len(random_part) / 5000 == pytest.approx(0.3, abs=0.03)
    assert sum(d.query for d in random_part) / len(random_part) == pytest.approx(0.5, abs=0.05)


def test_probability_combines_both_parts():
    """p = share * rate + (1 - share) * [top < theta]."""
    s = Split(rate=0.1, random_share=0.4, threshold=0.8)
    assert s.decide(ItemView("a", {"x": 0.6, "y": 0.4}), True).probability == pytest.approx(
        0.04 + 0.6
    )
    s = Split(rate=0.1, random_share=0.4, threshold=0.5)
    assert s.decide(ItemView("b", {"x": 0.9, "y": 0.1}), True).probability == pytest.approx(0.04)


def test_state_round_trip():
    """The VU threshold is the state and is restored by load_state."""
    s = Split(rate=0.1, threshold=0.9, step=0.1)
    for i in range(20):
        s.decide(ItemView(f"i{i}", {"x": 0.95, "y": 0.05}), True)
    t = Split(rate=0.1, threshold=0.9, step=0.1)
    t.load_state(s.state_dict())
    assert t.threshold == s.threshold

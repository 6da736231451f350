"""Random exploration share."""

import random

import pytest

from policies import (
    BalancedIncrementalQuantileFilter,
    DiversityFilter,
    FixedUncertainty,
    Hybrid,
    ItemView,
    Policy,
    RandomAudit,
    RandomExploration,
    Reason,
)


def test_exploration_rate_is_share_of_budget():
    """About share * budget of items are explored, independent of the model."""
    s = RandomExploration(FixedUncertainty(0.0), share=0.25, budget=0.4, seed=2)
    n = 8000
    explored = sum(
        s.decide(ItemView(f"i{i}", {"x": 0.99, "y": 0.01}), True).reason is Reason.RANDOM
        for i in range(n)
    )
    assert explored / n == pytest.approx(0.1, abs=0.01)


def test_probability_is_overall_inclusion():
    """Logged p = r + (1 - r) * p_inner on explored and other items alike."""
    s = RandomExploration(FixedUncertainty(0.9), share=0.5, budget=0.2)
    assert s.decide(ItemView("a", {"x": 0.6, "y": 0.4}), True).probability == pytest.approx(1.0)
    d = s.decide(ItemView("b", {"x": 0.95, "y": 0.05}), True)
    assert d.probability == pytest.approx(0.1)


def test_no_exploration_without_budget():
    """When the budget refuses, nothing is explored."""
    s = RandomExploration(FixedUncertainty(0.0), share=1.0, budget=1.0)
    d = s.decide(ItemView("a", {"x": 0.5, "y": 0.5}), False)
    assert not d.query
    assert d.reason is Reason.BUDGET_EXHAUSTED


def test_explored_queries_are_committed_to_the_inner_strategy():
    """Explored labels are training labels: quotas and diversity memory count them."""
    inner = DiversityFilter(FixedUncertainty(0.0), radius=1.0)
    s = RandomExploration(inner, share=1.0, budget=1.0)
    item = ItemView("a", {"x": 0.5, "y": 0.5}, vector=(0.0,))
    d = s.decide(item, True)
    assert d.reason is Reason.RANDOM
    s.commit(d, item)
    assert inner.state_dict()["recent"] == [[0.0]]


def test_explored_items_bypass_the_ranking_and_keep_their_chance():
    """Under the quantile filter explored queries are never ranked out; refused items keep r."""
    p = Policy(
        RandomExploration(FixedUncertainty(1.0), share=0.2, budget=0.1, seed=1),
        BalancedIncrementalQuantileFilter(0.1, window=50, max_carry=0),
    )
    rng = random.Random(4)
    reasons = set()
    for t in range(1000):
        top = 0.5 + rng.random() / 2
        item = ItemView(f"i{t}", {"x": top, "y": 1 - top}, classes_seen=2)
        d = p.decide(item, float(t))
        p.commit(d, item, float(t))
        reasons.add(d.reason)
        if d.reason is Reason.BELOW_QUANTILE:
            assert d.probability == pytest.approx(0.02)
    assert {Reason.RANDOM, Reason.BELOW_QUANTILE} <= reasons


def test_confident_items_are_still_explored_under_the_filter():
    """A saturated model (all utilities 0) still gets its random share of labels."""
    p = Policy(
        RandomExploration(FixedUncertainty(1.0), share=1.0, budget=0.1, seed=3),
        BalancedIncrementalQuantileFilter(0.1, window=50),
    )
    queried = 0
    for t in range(2000):
        item = ItemView(f"c{t}", {"x": 1.0, "y": 0.0}, classes_seen=2)
        d = p.decide(item, float(t))
        p.commit(d, item, float(t))
        queried += d.reason is Reason.RANDOM
    assert 150 <= queried <= 230


def test_hybrid_nests_exploration_inside_the_audit():
    """Audit outermost, then exploration; the unranked part combines both draws."""
    h = Hybrid(FixedUncertainty(1.0), budget=0.2, audit_share=0.5, explore_share=0.25)
    assert h.name == "audit(explore(fixed_uncertainty))"
    item = ItemView("a", {"x": 0.6, "y": 0.4})
    assert h.decide(item, True).unranked == pytest.approx(0.1 + 0.9 * 0.05)
    audit = RandomAudit(FixedUncertainty(1.0), 0.5, 0.2)
    assert audit.decide(item, True).unranked == pytest.approx(0.1)

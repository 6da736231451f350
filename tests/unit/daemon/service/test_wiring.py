"""Wiring: the configured policy is assembled once from the settings."""

import pytest

from daemon.config import FIXED_THRESHOLD, Settings
from daemon.service.wiring import build_policy
from policies import (
    AbsoluteBudget,
    BalancedIncrementalQuantileFilter,
    CombinedBudget,
    FixedUncertainty,
    FractionBudget,
    Hybrid,
    ItemView,
    RandomSampling,
    VariableUncertainty,
)


def test_default_policy_ranks_uncertainty_with_the_quantile_filter():
    """The default policy: uncertainty ranked by the quantile filter, with a head start, and 5%
    of the budget spent on uniformly random training queries."""
    policy = build_policy(Settings(classes=["a", "b"], policy={"budget": {"fraction": 0.02}}))
    assert isinstance(policy.strategy, Hybrid)
    assert policy.strategy.name == "explore(fixed_uncertainty)"
    assert policy.strategy.explore_share == 0.05
    item = ItemView("a", {"x": 0.6, "y": 0.4}, classes_seen=2)
    assert policy.strategy.decide(item, True).unranked == pytest.approx(0.001)
    assert isinstance(policy.strategy.inner, FixedUncertainty)
    assert policy.strategy.inner.threshold == FIXED_THRESHOLD == 0.8
    assert isinstance(policy.budget, BalancedIncrementalQuantileFilter)
    assert (policy.budget.budget, policy.budget.window) == (0.02, 1000)
    assert (policy.budget.max_carry, policy.budget.head_start) == (5.0, 50.0)


def test_default_threshold_lets_confident_items_out_of_the_ranking():
    """Unset, the threshold is the strategy's own: fixed uncertainty never ranks in an item the
    model is at least 80% sure of, the adaptive rules start at 1.0 and the committee at 0.5; a
    configured threshold is taken as given."""
    sure = ItemView("a", {"x": 0.85, "y": 0.15}, classes_seen=2)
    unsure = ItemView("b", {"x": 0.75, "y": 0.25}, classes_seen=2)
    default = build_policy(Settings(classes=["x", "y"])).strategy
    assert isinstance(default, Hybrid)
    assert isinstance(default.inner, FixedUncertainty)
    assert not default.inner.decide(sure, True).query
    assert default.inner.decide(unsure, True).query

    def rule(**policy: object) -> object:
        return build_policy(Settings(classes=["x", "y"], policy=policy)).strategy

    vu = rule(strategy="variable_uncertainty", explore_share=0.0)
    assert isinstance(vu, VariableUncertainty)
    assert vu.threshold == 1.0
    fixed = rule(strategy="fixed_uncertainty", threshold=0.9, explore_share=0.0)
    assert isinstance(fixed, FixedUncertainty)
    assert fixed.threshold == 0.9
    assert fixed.decide(sure, True).query
    committee = rule(strategy="query_by_committee", explore_share=0.0)
    assert getattr(committee, "threshold", None) == 0.5


def test_variable_uncertainty_under_a_fraction_budget():
    """Variable uncertainty with window pacing: the configured fraction and window."""
    s = Settings(
        classes=["a", "b"],
        policy={
            "strategy": "variable_uncertainty",
            "threshold": 0.8,
            "step": 0.02,
            "cold_start_items": 4,
            "explore_share": 0.0,
            "budget": {"fraction": 0.07, "window": 300, "pacing": "window"},
        },
    )
    policy = build_policy(s)
    assert isinstance(policy.strategy, VariableUncertainty)
    assert (policy.strategy.threshold, policy.strategy.step) == (0.8, 0.02)
    assert isinstance(policy.budget, FractionBudget)
    assert (policy.budget.fraction, policy.budget.window) == (0.07, 300)
    assert policy.cold_start_items == 4


def test_random_sampling_paces_with_headroom():
    """Random sampling samples at the fraction; its budget is only a 1.25x burst guard."""
    s = Settings(
        classes=["a", "b"], policy={"strategy": "random", "seed": 9, "budget": {"fraction": 0.1}}
    )
    policy = build_policy(s)
    assert isinstance(policy.strategy, RandomSampling)
    assert (policy.strategy.rate, policy.strategy.seed) == (0.1, 9)
    assert policy.budget.fraction == pytest.approx(0.125)


def test_limit_adds_an_absolute_cap():
    """A budget limit combines the pacing budget with an absolute cap per period."""
    s = Settings(classes=["a", "b"], policy={"budget": {"limit": 30, "period_seconds": 3600}})
    budget = build_policy(s).budget
    assert isinstance(budget, CombinedBudget)
    pacing, cap = budget.budgets
    assert isinstance(pacing, BalancedIncrementalQuantileFilter)
    assert isinstance(cap, AbsoluteBudget)
    assert (cap.limit, cap.period_seconds) == (30, 3600)

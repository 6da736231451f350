"""Every strategy the config names is built, wrapped and paced as configured."""

from __future__ import annotations

import random

import pytest

from daemon.config import Settings, StrategyName
from daemon.service.wiring import build_policy
from policies import ItemView, Reason


def _stream(policy, n=6000, seed=1, group=None):
    rng = random.Random(seed)
    decisions = []
    for i in range(n):
        p = rng.random()
        other = min(1.0, max(0.0, p + rng.uniform(-0.3, 0.3)))
        item = ItemView(
            f"i{i}",
            {"a": 1 - p, "b": p},
            1.0,
            2,
            group or {},
            ({"a": 1 - other, "b": other}, {"a": 1 - p, "b": p}),
            (rng.random(), rng.random()),
        )
        d = policy.decide(item, float(i))
        if d.query:
            policy.commit(d, item, float(i))
        decisions.append(d)
    return decisions


@pytest.mark.parametrize("strategy", list(StrategyName))
def test_each_configured_strategy_honours_the_fraction_budget(strategy):
    """At a 5% budget every strategy queries at most ~5% and at least once, reason always set."""
    settings = Settings.model_validate(
        {
            "classes": ["a", "b"],
            "policy": {"strategy": strategy.value, "budget": {"fraction": 0.05, "window": 500}},
        }
    )
    decisions = _stream(build_policy(settings))
    rate = sum(d.query for d in decisions) / len(decisions)
    assert 0 < rate <= 0.05 * 1.1 + 10 / len(decisions)
    assert all(isinstance(d.reason, Reason) for d in decisions)
    assert all(0.0 <= d.probability <= 1.0 for d in decisions)


def test_quantile_pacing_and_absolute_cap_are_built():
    """Quantile pacing under an absolute cap never spends more than the cap."""
    settings = Settings.model_validate(
        {
            "classes": ["a", "b"],
            "policy": {
                "strategy": "variable_uncertainty",
                "budget": {
                    "fraction": 0.1,
                    "window": 200,
                    "pacing": "quantile",
                    "limit": 40,
                    "period_seconds": 1e9,
                },
            },
        }
    )
    decisions = _stream(build_policy(settings), n=3000)
    assert sum(d.query for d in decisions) == 40


def test_hybrid_wrappers_from_config_mark_audit_queries():
    """An audit share in the config yields uniformly drawn 'audit' queries beside the others."""
    settings = Settings.model_validate(
        {
            "classes": ["a", "b"],
            "policy": {
                "strategy": "variable_uncertainty",
                "audit_share": 0.3,
                "cost_sensitive": True,
                "diversity": {"radius": 0.01},
                "quotas": {"attribute": "g", "min_share": {"x": 0.2}},
                "budget": {"fraction": 0.1, "window": 200},
            },
        }
    )
    policy = build_policy(settings)
    decisions = _stream(policy, n=4000, group={"g": "y"})
    reasons = {d.reason for d in decisions if d.query}
    assert Reason.AUDIT in reasons
    assert len(reasons) >= 2
    assert "hybrid" in policy.id or "audit" in policy.id

"""One builder: settings -> policy, for the daemon, the backtest presets and the benchmarks."""

from __future__ import annotations

import random

import pytest

from daemon.config import PolicySettings, Settings
from daemon.errors import ConfigError
from daemon.service.policy_builder import (
    PRESETS,
    build_policy,
    build_queue_gates,
    preset,
)
from policies import (
    BalancedIncrementalQuantileFilter,
    FixedUncertainty,
    FractionBudget,
    ItemView,
    Policy,
    RandomizedVariableUncertainty,
    RandomSampling,
    SubgroupQuotas,
    VariableUncertainty,
)


def _decisions(policy, n=3000, seed=3):
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = rng.random()
        group = {"sex": "F" if rng.random() < 0.3 else "M"}
        item = ItemView(f"i{i}", {"a": 1 - p, "b": p}, classes_seen=2, group=group)
        d = policy.decide(item, float(i))
        if d.query:
            policy.commit(d, item, float(i))
        out.append((d.query, d.reason, round(d.probability, 12)))
    return out


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_valid_settings_and_builds(name):
    """Each preset is a change to PolicySettings that validates and builds a Policy."""
    settings = preset(name, PolicySettings(), fraction=0.1, seed=2)
    assert settings.budget.fraction == 0.1
    assert settings.seed == 2
    assert isinstance(build_policy(settings), Policy)


def test_default_preset_is_the_daemons_policy():
    """The 'default' preset on the daemon's settings decides exactly as the daemon's policy."""
    daemon = Settings(classes=["a", "b"], policy={"budget": {"fraction": 0.05}})
    backtest = preset("default", daemon.policy)
    assert _decisions(build_policy(daemon)) == _decisions(build_policy(backtest))


@pytest.mark.parametrize(
    ("name", "hand_built"),
    [
        ("random", lambda: Policy(RandomSampling(0.05, 0), FractionBudget(0.0625, 1000), 10)),
        ("variable_uncertainty", lambda: Policy(VariableUncertainty(), FractionBudget(0.05), 10)),
        (
            "randomized_vu",
            lambda: Policy(RandomizedVariableUncertainty(seed=0), FractionBudget(0.05), 10),
        ),
        (
            "biqf",
            lambda: Policy(FixedUncertainty(1.0), BalancedIncrementalQuantileFilter(0.05), 10),
        ),
    ],
)
def test_presets_equal_the_published_rules_wired_by_hand(name, hand_built):
    """Presets decide exactly as the rules the backtest used to wire by hand."""
    built = build_policy(preset(name, PolicySettings(), fraction=0.05, seed=0))
    assert _decisions(built) == _decisions(hand_built())


def test_preset_keeps_the_base_and_applies_changes():
    """A preset on a configured base keeps the base's other settings (e.g. cold start)."""
    base = PolicySettings(cold_start_items=3, budget={"fraction": 0.02, "limit": 50.0})
    s = preset("variable_uncertainty", base)
    assert (s.cold_start_items, s.budget.limit, s.budget.fraction) == (3, 50.0, 0.02)
    assert s.budget.pacing.value == "window"


def test_quota_floors_on_two_attributes_are_built_into_the_chain():
    """quotas.floors on two attributes give one SubgroupQuotas holding both."""
    p = PolicySettings(
        quotas={"floors": {"sex": {"F": "population"}, "race": {"B": 0.1}}, "warmup": 0}
    )
    strategy = build_policy(p).strategy
    chain = getattr(strategy, "_chain", strategy)
    while not isinstance(chain, SubgroupQuotas):
        chain = chain.inner
    assert chain.floors == {"sex": {"F": None}, "race": {"B": 0.1}}


def test_unknown_preset_is_a_config_error():
    """An unknown name lists the presets."""
    with pytest.raises(ConfigError, match="choose from"):
        preset("nope", PolicySettings())


def test_queue_gates_follow_the_exponent():
    """One gate per queue, none when the exponent is null."""
    s = Settings(classes=["a", "b"], queues=[{"name": "default", "capacity": 7}])
    gates = build_queue_gates(s)
    assert gates["default"].capacity == 7
    off = s.model_copy(update={"policy": preset("default", s.policy, queue_gate_exponent=None)})
    assert build_queue_gates(off) == {}


def test_default_ranks_by_margin_and_the_measure_can_be_chosen():
    """The default fixed-uncertainty rule uses the margin; uncertainty_measure switches it."""
    default = build_policy(PolicySettings()).strategy.inner
    assert isinstance(default, FixedUncertainty)
    assert default.measure == "margin"
    chosen = build_policy(PolicySettings(uncertainty_measure="least_confidence")).strategy.inner
    assert chosen.measure == "least_confidence"

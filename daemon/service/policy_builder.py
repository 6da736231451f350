"""The one way to build a policy: ``PolicySettings`` in, :class:`policies.Policy` out.

The daemon, ``labelgate simulate`` and the benchmarks all call :func:`build_policy`; the backtest's
named comparison policies are :data:`PRESETS`, i.e. changes to settings, not code of their own, so
what is backtested is what runs.

>>> policy = build_policy(preset("variable_uncertainty", PolicySettings(), fraction=0.1))
>>> policy.strategy.name, type(policy.budget).__name__
('variable_uncertainty', 'FractionBudget')
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from daemon.config import FIXED_THRESHOLD, Pacing, PolicySettings, Settings, StrategyName
from daemon.errors import ConfigError
from daemon.labeling.admission import queue_gates
from policies import (
    AbsoluteBudget,
    BalancedIncrementalQuantileFilter,
    BudgetManager,
    CombinedBudget,
    CostSensitive,
    DiversityFilter,
    EntropySampling,
    FixedUncertainty,
    FractionBudget,
    Hybrid,
    Policy,
    QueryByCommittee,
    QueueCapacityGate,
    RandomizedVariableUncertainty,
    RandomSampling,
    SelectiveSampling,
    Split,
    SubgroupQuotas,
    VariableUncertainty,
)
from policies import Strategy as StrategyProtocol


def _threshold(p: PolicySettings, default: float) -> float:
    return default if p.threshold is None else p.threshold


def _committee_threshold(p: PolicySettings) -> float:
    # The committee's disagreement threshold: 1.0 (the old default) meant "the rule's own".
    t = _threshold(p, 0.5)
    return t if t < 1.0 else 0.5


def _rule(p: PolicySettings) -> StrategyProtocol:
    rate = p.budget.fraction
    adaptive = _threshold(p, 1.0)
    factories: dict[StrategyName, Callable[[], StrategyProtocol]] = {
        StrategyName.RANDOM: lambda: RandomSampling(rate=rate, seed=p.seed),
        StrategyName.FIXED_UNCERTAINTY: lambda: FixedUncertainty(
            _threshold(p, FIXED_THRESHOLD), p.uncertainty_measure
        ),
        StrategyName.VARIABLE_UNCERTAINTY: lambda: VariableUncertainty(adaptive, p.step),
        StrategyName.RANDOMIZED_VARIABLE_UNCERTAINTY: lambda: RandomizedVariableUncertainty(
            adaptive, p.step, p.delta, p.seed
        ),
        StrategyName.SPLIT: lambda: Split(rate, p.random_share, adaptive, p.step, p.seed),
        StrategyName.ENTROPY_SAMPLING: lambda: EntropySampling(p.discount_factor, p.seed),
        StrategyName.SELECTIVE_SAMPLING: lambda: SelectiveSampling(p.selective_b, p.seed),
        StrategyName.QUERY_BY_COMMITTEE: lambda: QueryByCommittee(
            p.committee_measure, _committee_threshold(p), True, p.seed
        ),
    }
    return factories[p.strategy]()


def build_strategy(p: PolicySettings) -> StrategyProtocol:
    """The configured selection rule with its wrappers, inside out: cost, diversity, quotas,
    then exploration and audit (in :class:`policies.Hybrid`), the order ``Hybrid`` documents."""
    strategy = _rule(p)
    if p.cost_sensitive:
        strategy = CostSensitive(strategy)
    d = p.diversity
    if d is not None:
        strategy = DiversityFilter(strategy, d.radius, d.memory, d.metric)
    q = p.quotas
    if q is not None:
        floors, ceilings = q.bounds()
        strategy = SubgroupQuotas(
            strategy,
            floors=floors,
            ceilings=ceilings,
            window=q.window,
            warmup=q.warmup,
            population_factor=q.population_factor,
        )
    # Random sampling is all exploration already.
    explore = p.explore_share if p.strategy is not StrategyName.RANDOM else 0.0
    if p.audit_share > 0 or explore > 0:
        strategy = Hybrid(
            strategy,
            budget=p.budget.fraction,
            audit_share=p.audit_share,
            seed=p.seed,
            explore_share=explore,
        )
    return strategy


def build_budget(p: PolicySettings) -> BudgetManager:
    """The configured budget: fraction pacing, under the absolute cap per period if set."""
    # Random sampling paces itself at its rate; the window budget is only a burst guard there, or
    # it would cut every upward fluctuation and undershoot the rate it compares against.
    pace = p.budget.fraction
    if p.strategy is StrategyName.RANDOM:
        pace = min(1.0, 1.25 * p.budget.fraction)
    budget: BudgetManager
    # A quantile filter would rank random sampling's utilities, which mean nothing.
    if p.budget.pacing is Pacing.QUANTILE and p.strategy is not StrategyName.RANDOM:
        budget = BalancedIncrementalQuantileFilter(
            pace,
            window=p.budget.window,
            max_carry=p.budget.max_carry,
            head_start=p.budget.head_start,
        )
    else:
        budget = FractionBudget(pace, p.budget.window)
    if p.budget.limit is not None:
        budget = CombinedBudget(budget, AbsoluteBudget(p.budget.limit, p.budget.period_seconds))
    return budget


def build_policy(settings: PolicySettings | Settings) -> Policy:
    """The configured strategy (with its wrappers) under the configured budget.

    Takes the policy section, or the whole configuration (its ``policy`` section is used).
    """
    p = settings.policy if isinstance(settings, Settings) else settings
    return Policy(build_strategy(p), build_budget(p), cold_start_items=p.cold_start_items)


def build_queue_gates(settings: Settings) -> dict[str, QueueCapacityGate]:
    """One capacity gate per expert queue, as the daemon's admission builds them."""
    return queue_gates(settings)


_WINDOW_PACED = {"budget": {"pacing": Pacing.WINDOW.value}, "explore_share": 0.0}

PRESETS: dict[str, dict[str, Any]] = {
    "random": {"strategy": StrategyName.RANDOM.value},
    "default": {},
    "variable_uncertainty": {
        "strategy": StrategyName.VARIABLE_UNCERTAINTY.value, "threshold": 1.0, **_WINDOW_PACED,
    },
    "fixed_uncertainty": {
        "strategy": StrategyName.FIXED_UNCERTAINTY.value, "threshold": 0.9, **_WINDOW_PACED,
    },
    "randomized_vu": {
        "strategy": StrategyName.RANDOMIZED_VARIABLE_UNCERTAINTY.value, "threshold": 1.0,
        **_WINDOW_PACED,
    },
    "split": {"strategy": StrategyName.SPLIT.value, "threshold": 1.0, **_WINDOW_PACED},
    "entropy_sampling": {"strategy": StrategyName.ENTROPY_SAMPLING.value, **_WINDOW_PACED},
    "selective_sampling": {"strategy": StrategyName.SELECTIVE_SAMPLING.value, **_WINDOW_PACED},
    "biqf": {
        "strategy": StrategyName.FIXED_UNCERTAINTY.value, "threshold": 1.0, "explore_share": 0.0,
        "budget": {"pacing": Pacing.QUANTILE.value, "window": 300, "head_start": 0.0},
    },
    "vu_audit": {
        "strategy": StrategyName.VARIABLE_UNCERTAINTY.value, "threshold": 1.0, "audit_share": 0.2,
        **_WINDOW_PACED,
    },
    "default_quotas": {},
    "explore": {
        "strategy": StrategyName.FIXED_UNCERTAINTY.value, "threshold": 1.0, "explore_share": 0.1,
        "budget": {"pacing": Pacing.QUANTILE.value},
    },
}  # fmt: skip
"""Named comparison policies as changes to a base ``PolicySettings``.

``default`` is the base itself (the daemon's defaults, or the configured policy). The others are
the published rules under window pacing without the exploration share, ``biqf`` the published
quantile filter (300-item window, no head start), ``vu_audit`` variable uncertainty with a 20%
audit slice and ``explore`` the default filter with a 10% exploration share whatever the base
says. ``default_quotas`` is the base with subgroup floors; the floors come from the caller
(``labelgate simulate --floors``), or the base's own ``quotas``.
"""


def _merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def preset(
    name: str,
    base: PolicySettings,
    fraction: float | None = None,
    seed: int | None = None,
    **changes: Any,
) -> PolicySettings:
    """The settings of preset ``name`` applied to ``base``, at ``fraction`` and ``seed``.

    Raises
    ------
    ConfigError
        For an unknown preset name or changes that do not validate.
    """
    try:
        update = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown policy {name!r}; choose from {', '.join(PRESETS)}") from None
    data = _merge(base.model_dump(mode="json"), update)
    if fraction is not None:
        data = _merge(data, {"budget": {"fraction": fraction}})
    if seed is not None:
        data["seed"] = seed
    data = _merge(data, changes)
    try:
        return PolicySettings.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"policy {name!r}: {exc}") from exc

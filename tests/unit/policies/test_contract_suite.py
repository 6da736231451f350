"""Contract suite generated from ``policies.__all__``: every strategy and budget obeys the rules.

Discovery: an exported class with ``decide``, ``name`` and ``version`` is a strategy; an exported
non-protocol class with the :class:`~policies.BudgetManager` methods is a budget. Every discovered
class must have an entry in the factory tables below (the suite fails otherwise), so a new policy
cannot escape the suite.
"""

import copy
import inspect
import json
import math
import pickle
import random
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policies
from policies import (
    AbsoluteBudget,
    BalancedIncrementalQuantileFilter,
    CombinedBudget,
    CostSensitive,
    DiversityFilter,
    EntropySampling,
    FixedUncertainty,
    FractionBudget,
    Hybrid,
    ItemView,
    Policy,
    QueryByCommittee,
    RandomAudit,
    RandomExploration,
    RandomizedVariableUncertainty,
    RandomSampling,
    Reason,
    SelectiveSampling,
    Split,
    SubgroupQuotas,
    VariableUncertainty,
)
from policies.decision import QUERY_REASONS

BUDGET_METHODS = ("observe", "allows", "charge", "snapshot", "state_dict", "load_state")


def _exported_classes():
    for name in policies.__all__:
        obj = getattr(policies, name)
        if inspect.isclass(obj) and not getattr(obj, "_is_protocol", False):
            yield obj


def _is_strategy(cls):
    return all(hasattr(cls, a) for a in ("decide", "name", "version"))


def _is_budget(cls):
    return all(callable(getattr(cls, m, None)) for m in BUDGET_METHODS)


STRATEGIES = sorted((c for c in _exported_classes() if _is_strategy(c)), key=lambda c: c.__name__)
BUDGETS = sorted((c for c in _exported_classes() if _is_budget(c)), key=lambda c: c.__name__)

# class -> (seed, budget fraction) -> strategy, with parameters that make each rule ask often
# enough to exercise the budget.
STRATEGY_FACTORIES = {
    RandomSampling: lambda seed, b: RandomSampling(rate=min(1.0, 2 * b), seed=seed),
    FixedUncertainty: lambda seed, b: FixedUncertainty(threshold=0.8),
    VariableUncertainty: lambda seed, b: VariableUncertainty(threshold=1.0, step=0.02),
    RandomizedVariableUncertainty: lambda seed, b: RandomizedVariableUncertainty(
        threshold=1.0, step=0.02, delta=0.5, seed=seed
    ),
    Split: lambda seed, b: Split(rate=b, random_share=0.3, seed=seed),
    EntropySampling: lambda seed, b: EntropySampling(discount_factor=2.0, seed=seed),
    SelectiveSampling: lambda seed, b: SelectiveSampling(b=0.1, seed=seed),
    QueryByCommittee: lambda seed, b: QueryByCommittee(
        "max_kl", threshold=0.3, randomized=True, seed=seed
    ),
    DiversityFilter: lambda seed, b: DiversityFilter(
        RandomizedVariableUncertainty(delta=0.5, seed=seed), radius=0.1, memory=20
    ),
    CostSensitive: lambda seed, b: CostSensitive(SelectiveSampling(seed=seed), threshold=0.3),
    SubgroupQuotas: lambda seed, b: SubgroupQuotas(
        EntropySampling(discount_factor=1.0, seed=seed),
        "region",
        min_share={"APAC": 0.25},
        max_share={"EU": 0.4},
        window=40,
        warmup=10,
    ),
    RandomAudit: lambda seed, b: RandomAudit(FixedUncertainty(0.7), share=0.2, budget=b, seed=seed),
    RandomExploration: lambda seed, b: RandomExploration(
        FixedUncertainty(0.7), share=0.2, budget=b, seed=seed
    ),
    Hybrid: lambda seed, b: Hybrid(
        RandomizedVariableUncertainty(delta=0.5, seed=seed),
        budget=b,
        audit_share=0.2,
        radius=0.1,
        memory=20,
        quota_attribute="region",
        min_share={"APAC": 0.2},
        max_share={"EU": 0.5},
        quota_window=40,
        quota_warmup=10,
        seed=seed,
    ),
}

PERIOD = 100.0  # seconds per absolute-budget period; items arrive 1 s apart


def _window(b):
    return round(10 / b)


# class -> budget fraction -> budget. Absolute caps are B * PERIOD labels per period.
BUDGET_FACTORIES = {
    FractionBudget: lambda b: FractionBudget(b, window=_window(b)),
    AbsoluteBudget: lambda b: AbsoluteBudget(limit=b * PERIOD, period_seconds=PERIOD),
    CombinedBudget: lambda b: CombinedBudget(
        FractionBudget(b, window=_window(b)),
        AbsoluteBudget(limit=1.5 * b * PERIOD, period_seconds=PERIOD),
    ),
    BalancedIncrementalQuantileFilter: lambda b: BalancedIncrementalQuantileFilter(
        b, window=_window(b), w_tol=20.0, max_carry=1.0
    ),
}

FRACTIONS = (0.05, 0.1, 0.2)


def make_strategy(cls, seed=0, b=0.1):
    return STRATEGY_FACTORIES[cls](seed, b)


def stream(n, seed=7):
    """Synthetic items: 2-3 classes, a 3-member committee, 2-d vectors, three regions."""
    rng = random.Random(seed)
    items = []
    for i in range(n):
        k = rng.choice((2, 3))
        classes = ("a", "b", "c")[:k]

        def dist(sharp, classes=classes):
            w = [rng.random() ** sharp + 1e-3 for _ in classes]
            return {c: x / sum(w) for c, x in zip(classes, w, strict=True)}

        proba = {} if i % 53 == 0 else dist(rng.choice((1, 3)))
        items.append(
            ItemView(
                key=f"k{seed}-{i}",
                proba=proba,
                cost=1.0,
                classes_seen=2,
                group={"region": rng.choice(("EU", "EU", "US", "APAC"))},
                committee=(dist(2), dist(2), dist(2)),
                vector=(round(rng.gauss(0, 1), 1), round(rng.gauss(0, 1), 1)),
            )
        )
    return items


ITEMS = stream(600)

strategy_classes = pytest.mark.parametrize("cls", STRATEGIES, ids=lambda c: c.__name__)
budget_classes = pytest.mark.parametrize("bcls", BUDGETS, ids=lambda c: c.__name__)


def drive(strategy, items):
    """Decide every item with the budget allowing, committing queries like the Policy does."""
    out = []
    for item in items:
        d = strategy.decide(item, True)
        if d.query and hasattr(strategy, "commit"):
            strategy.commit(d, item)
        out.append(d)
    return out


def run(policy, items, start=0):
    """Decide then commit every item, one per second from ``start``."""
    out = []
    for t, item in enumerate(items, start):
        d = policy.decide(item, float(t))
        policy.commit(d, item, float(t))
        out.append(d)
    return out


def test_every_discovered_class_has_a_factory():
    """Every exported strategy and budget is built by the suite, and nothing else is."""
    assert set(STRATEGIES) == set(STRATEGY_FACTORIES), "add new strategies to STRATEGY_FACTORIES"
    assert set(BUDGETS) == set(BUDGET_FACTORIES), "add new budgets to BUDGET_FACTORIES"
    assert len(STRATEGIES) >= 13
    assert BalancedIncrementalQuantileFilter in BUDGETS


@strategy_classes
def test_inputs_not_mutated(cls):
    """Deciding and committing leave the item's mappings and tuples deep-equal to before."""
    items = stream(200, seed=3)
    before = copy.deepcopy([(i.proba, i.group, i.committee, i.vector) for i in items])
    drive(make_strategy(cls), items)
    assert [(i.proba, i.group, i.committee, i.vector) for i in items] == before


@strategy_classes
def test_same_seed_same_decisions(cls):
    """Two policies built with one seed decide identically on one stream."""
    a = run(Policy(make_strategy(cls, 5), FractionBudget(0.2, 50)), ITEMS)
    b = run(Policy(make_strategy(cls, 5), FractionBudget(0.2, 50)), ITEMS)
    assert a == b


@strategy_classes
def test_pickle_round_trip_mid_stream(cls):
    """A policy pickled mid-stream continues exactly like the original."""
    original = Policy(make_strategy(cls, 2), BalancedIncrementalQuantileFilter(0.2, 50, 20.0, 2))
    run(original, ITEMS[:300])
    clone = pickle.loads(pickle.dumps(original))
    assert run(clone, ITEMS[300:], 300) == run(original, ITEMS[300:], 300)


@strategy_classes
def test_state_dict_round_trip_through_json(cls):
    """A fresh policy loaded from the JSON of ``state_dict`` continues like the original."""
    original = Policy(make_strategy(cls, 2), BalancedIncrementalQuantileFilter(0.2, 50, 20.0, 2))
    run(original, ITEMS[:300])
    fresh = Policy(make_strategy(cls, 2), BalancedIncrementalQuantileFilter(0.2, 50, 20.0, 2))
    fresh.load_state(json.loads(json.dumps(original.state_dict())))
    assert run(fresh, ITEMS[300:], 300) == run(original, ITEMS[300:], 300)


@strategy_classes
def test_reason_and_probability_well_formed(cls):
    """Reason always set and matching the query flag; probability in [0, 1] and > 0 if queried."""
    for d in drive(make_strategy(cls), ITEMS):
        assert isinstance(d.reason, Reason)
        assert d.query == (d.reason in QUERY_REASONS), d
        assert 0.0 <= d.probability <= 1.0, d
        assert not d.query or d.probability > 0.0, d
        assert math.isfinite(d.utility)


@strategy_classes
def test_refused_budget_never_queries(cls):
    """With the budget refusing, no strategy queries, and the logged probability is 0."""
    s = make_strategy(cls)
    for item in ITEMS[:200]:
        d = s.decide(item, False)
        assert not d.query, d
        assert d.probability == 0.0, d


@strategy_classes
def test_inclusion_probability_matches_query_rate(cls):
    """Sum of (queried - logged probability) stays within a 4-sigma martingale bound.

    Given the strategy's state before an item, the item is queried with exactly its logged
    probability ``p`` (an independent hash draw), so ``sum(I - p)`` is a martingale with
    variance ``sum p (1 - p)``; deterministic rules must match exactly (variance 0).
    """
    decisions = drive(make_strategy(cls, 1), stream(3000, seed=11))
    gap = sum(d.query - d.probability for d in decisions)
    sigma = math.sqrt(sum(d.probability * (1 - d.probability) for d in decisions))
    assert abs(gap) <= 4 * sigma + 1e-6, (gap, sigma)


@pytest.mark.parametrize("b", FRACTIONS)
@budget_classes
@strategy_classes
def test_budget_honoured_on_a_long_stream(cls, bcls, b):
    """Absolute caps are never exceeded per period; fractions hold over every 10/B-item window.

    After a warm-up of two windows, the spend over any window of ``n = 10/B`` items is at most
    ``1.1 * B * n`` labels (that is, 11 labels where 10 are due).
    """
    n = _window(b)
    items = stream(20 * n, seed=int(100 * b))
    policy = Policy(make_strategy(cls, 4, b), BUDGET_FACTORIES[bcls](b))
    queried = [d.query for d in run(policy, items)]
    if bcls in (AbsoluteBudget, CombinedBudget):
        limit = policy.budget.limit if bcls is AbsoluteBudget else policy.budget.budgets[1].limit
        per_period = defaultdict(int)
        for t, q in enumerate(queried):
            per_period[math.floor(t / PERIOD)] += q
        assert max(per_period.values()) <= limit
    if bcls is not AbsoluteBudget:
        running = sum(queried[2 * n : 3 * n])
        worst = running
        for t in range(3 * n, len(queried)):
            running += queried[t] - queried[t - n]
            worst = max(worst, running)
        assert worst <= 1.1 * b * n + 1e-9, (worst, b * n)


# --------------------------------------------------------------------------- properties

ops = st.lists(
    st.tuples(st.floats(0, 500, allow_nan=False), st.floats(0, 5, allow_nan=False)),
    max_size=80,
)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.floats(0, 20, allow_nan=False),
    period=st.floats(1, 100, allow_nan=False),
    steps=ops,
)
def test_absolute_budget_never_overshoots(limit, period, steps):
    """Under arbitrary (even non-monotonic) times and costs, no period's spend exceeds the cap."""
    budget = AbsoluteBudget(limit, period)
    spent = defaultdict(float)
    latest = -math.inf
    for now, cost in steps:
        budget.observe(now)
        latest = max(latest, math.floor(now / period))
        if budget.allows(cost, now):
            budget.charge(cost, now)
            spent[latest] += cost
        assert budget.snapshot(now).spent <= limit
    assert all(v <= limit + 1e-9 for v in spent.values())


@settings(max_examples=60, deadline=None)
@given(
    b=st.floats(0.02, 0.5),
    window=st.integers(5, 60),
    max_carry=st.floats(0, 3),
    w_tol=st.floats(1, 100),
    head_start=st.sampled_from((0.0, 0.0, 2.0, 10.0)),
    steps=st.lists(
        st.tuples(st.floats(0, 1), st.sampled_from((0.5, 1.0, 2.0)), st.booleans()),
        min_size=1,
        max_size=300,
    ),
)
def test_quantile_filter_window_spend_bounded(b, window, max_carry, w_tol, head_start, steps):
    """The BIQF never spends more than budget * window + max(max_carry, head start) per window."""
    f = BalancedIncrementalQuantileFilter(b, window, w_tol, max_carry, head_start)
    bound = max(max_carry, head_start)
    spend = []
    for t, (utility, cost, refused) in enumerate(steps):
        f.observe(float(t))
        ok = f.allows(cost, float(t))
        if f.admits(utility, cost, float(t)) and ok and not refused:
            f.charge(cost, float(t))
            spend.append(cost)
        else:
            spend.append(0.0)
        assert -max_carry - 2.0 - 1e-9 <= f.carry <= bound + 1e-9  # 2.0: the largest cost
    cap = b * window + bound + 1e-9
    for start in range(max(1, len(spend) - window + 1)):
        assert sum(spend[start : start + window]) <= cap


@settings(max_examples=40, deadline=None)
@given(
    bcls=st.sampled_from(BUDGETS),
    refusals=st.lists(st.booleans(), min_size=1, max_size=150),
)
def test_refusal_after_decide_is_never_charged(bcls, refusals):
    """Only committed decisions are charged: spend equals the committed cost, refusals cost 0."""
    policy = Policy(FixedUncertainty(threshold=1.0), BUDGET_FACTORIES[bcls](0.2))
    committed = 0.0
    for t, refuse in enumerate(refusals):
        item = ITEMS[t]
        before = policy.snapshot(float(t)).spent
        d = policy.decide(item, float(t))
        assert policy.snapshot(float(t)).spent == before
        if d.query and not refuse:
            policy.commit(d, item, float(t))
            committed += item.cost
    assert policy.snapshot(float(len(refusals) - 1)).spent == pytest.approx(committed)

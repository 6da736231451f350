"""The policy contract suite: every exported strategy, budget and wrapper obeys the rules.

Discovery is by shape (:func:`policies.checks.exported_strategies` and
:func:`~policies.checks.exported_budgets`), and every discovered class must have an entry in the
one factory table for its kind below (the suite fails otherwise), so a new policy cannot escape
it. The checks themselves live in :mod:`policies.checks`, reusable by anyone writing a policy.
"""

import math
from collections import defaultdict
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import policies
from daemon.config import Settings
from daemon.service.state import PolicyState
from daemon.service.wiring import build_policy
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
    Policy,
    QueryByCommittee,
    QueueCapacityGate,
    RandomAudit,
    RandomExploration,
    RandomizedVariableUncertainty,
    RandomSampling,
    Reason,
    SelectiveSampling,
    Split,
    SubgroupQuotas,
    VariableUncertainty,
    checks,
)

STRATEGIES = checks.exported_strategies(policies)
BUDGETS = checks.exported_budgets(policies)

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
        SubgroupQuotas(
            DiversityFilter(
                RandomizedVariableUncertainty(delta=0.5, seed=seed), radius=0.1, memory=20
            ),
            "region",
            min_share={"APAC": 0.2},
            max_share={"EU": 0.5},
            window=40,
            warmup=10,
        ),
        budget=b,
        audit_share=0.2,
        seed=seed,
        explore_share=0.2,
    ),
}

PERIOD = 100.0  # seconds per absolute-budget period; items arrive 1 s apart


def _window(b):
    return round(10 / b)


def _fraction_bound(f, w):
    return lambda n: n * (f + 1.0 / w) + 1.0


def _absolute_bound(limit, period):
    return lambda n: limit * (math.floor((n - 1) / period) + 1)


# class -> (budget fraction -> budget, budget fraction -> most an always-asking stream of n
# unit-cost items, 1 s apart, may spend). Absolute caps are B * PERIOD labels per period.
BUDGET_FACTORIES = {
    FractionBudget: (
        lambda b: FractionBudget(b, window=_window(b)),
        lambda b: _fraction_bound(b, _window(b)),
    ),
    AbsoluteBudget: (
        lambda b: AbsoluteBudget(limit=b * PERIOD, period_seconds=PERIOD),
        lambda b: _absolute_bound(b * PERIOD, PERIOD),
    ),
    CombinedBudget: (
        lambda b: CombinedBudget(
            FractionBudget(b, window=_window(b)),
            AbsoluteBudget(limit=1.5 * b * PERIOD, period_seconds=PERIOD),
        ),
        lambda b: (
            lambda n: min(
                _fraction_bound(b, _window(b))(n), _absolute_bound(1.5 * b * PERIOD, PERIOD)(n)
            )
        ),
    ),
    BalancedIncrementalQuantileFilter: (
        lambda b: BalancedIncrementalQuantileFilter(
            b, window=_window(b), w_tol=20.0, max_carry=1.0
        ),
        lambda b: lambda n: math.ceil(n / _window(b)) * (b * _window(b) + 1.0),
    ),
}

FRACTIONS = (0.05, 0.1, 0.2)


def make_strategy(cls, seed=0, b=0.1):
    return STRATEGY_FACTORIES[cls](seed, b)


def make_budget(cls, b=0.1):
    return BUDGET_FACTORIES[cls][0](b)


def _allowed(i):
    """A budget that refuses now and then (every 7th item)."""
    return i % 7 != 3


# Unit costs, for counting queries against a fraction; and a rougher stream with varied costs,
# cold-start items and more unscored items.
ITEMS = checks.synthetic_stream(600)
VARIED = checks.synthetic_stream(
    400, seed=11, costs=(1.0, 1.0, 0.5, 2.0), cold=5, unscored_every=29
)

strategy_classes = pytest.mark.parametrize("cls", STRATEGIES, ids=lambda c: c.__name__)
budget_classes = pytest.mark.parametrize("bcls", BUDGETS, ids=lambda c: c.__name__)


def _through_state_log(state):
    doc = PolicyState(policy={"s": state}, label_offsets={}, saved_at=0.0).model_dump_json()
    return PolicyState.model_validate_json(doc).policy["s"]


def _ranked_policy(cls, seed=2):
    return Policy(make_strategy(cls, seed), BalancedIncrementalQuantileFilter(0.2, 50, 20.0, 2))


# --------------------------------------------------------------------------- discovery


def test_every_discovered_class_has_a_factory():
    """Every exported strategy and budget is built by the suite, and nothing else is."""
    assert set(STRATEGIES) == set(STRATEGY_FACTORIES), "add new strategies to STRATEGY_FACTORIES"
    assert set(BUDGETS) == set(BUDGET_FACTORIES), "add new budgets to BUDGET_FACTORIES"
    assert len(STRATEGIES) >= 13
    assert BalancedIncrementalQuantileFilter in BUDGETS


def test_discovery_finds_the_known_policies():
    """The discovery sees at least the strategies and budgets the daemon can be configured with."""
    assert {RandomSampling, VariableUncertainty, Hybrid} <= set(STRATEGIES)
    assert {FractionBudget, AbsoluteBudget, CombinedBudget} <= set(BUDGETS)


# --------------------------------------------------------------------------- strategies


@strategy_classes
def test_strategy_names_itself(cls):
    """A strategy has a non-empty name and version (the evidence's policy id)."""
    checks.check_names(make_strategy(cls))


@strategy_classes
def test_inputs_not_mutated(cls):
    """Deciding and committing leave every item deep-equal to before, refused or not."""
    checks.check_inputs_not_mutated(make_strategy(cls), ITEMS[:200])
    checks.check_inputs_not_mutated(make_strategy(cls), VARIED, _allowed)


@strategy_classes
def test_same_seed_same_decisions(cls):
    """Two strategies, and two policies, built with one seed decide identically on one stream."""
    checks.check_same_seed_same_decisions(lambda: make_strategy(cls, 5), VARIED, _allowed)
    checks.check_same_seed_same_decisions(
        lambda: Policy(make_strategy(cls, 5), FractionBudget(0.2, 50)), ITEMS
    )


@strategy_classes
def test_decisions_well_formed(cls):
    """Reason set and matching the query; probabilities in [0, 1]; no query unless allowed."""
    checks.check_decisions_well_formed(checks.drive(make_strategy(cls), ITEMS))
    decisions = checks.drive(make_strategy(cls), VARIED, _allowed)
    checks.check_decisions_well_formed(decisions, _allowed)


@strategy_classes
def test_refused_budget_never_queries(cls):
    """With the budget refusing, no strategy queries, and the logged probability is 0."""
    checks.check_refused_budget_never_queries(make_strategy(cls), ITEMS[:200])


@strategy_classes
def test_pickle_round_trip_mid_stream(cls):
    """A strategy, and a policy, pickled mid-stream continue exactly like the original."""
    checks.check_pickle_round_trip(lambda: make_strategy(cls, 3), VARIED, 150, _allowed)
    checks.check_pickle_round_trip(lambda: _ranked_policy(cls), ITEMS, 300)


@strategy_classes
def test_state_round_trip(cls):
    """A fresh strategy loaded through the state-log JSON, and a fresh policy loaded through
    JSON, continue like the original."""
    checks.check_state_round_trip(
        lambda: make_strategy(cls, 3), VARIED, 150, _through_state_log, _allowed
    )
    checks.check_state_round_trip(lambda: _ranked_policy(cls), ITEMS, 300)


@strategy_classes
def test_inclusion_probability_matches_query_rate(cls):
    """Sum of (queried - logged probability) stays within a 4-sigma martingale bound.

    Given the strategy's state before an item, the item is queried with exactly its logged
    probability ``p`` (an independent hash draw), so ``sum(I - p)`` is a martingale with
    variance ``sum p (1 - p)``; deterministic rules must match exactly (variance 0).
    """
    decisions = checks.drive(make_strategy(cls, 1), checks.synthetic_stream(3000, seed=11))
    gap = sum(d.query - d.probability for d in decisions)
    sigma = math.sqrt(sum(d.probability * (1 - d.probability) for d in decisions))
    assert abs(gap) <= 4 * sigma + 1e-6, (gap, sigma)


@pytest.mark.parametrize(
    "budget",
    [
        lambda: FractionBudget(0.1, window=100),
        lambda: BalancedIncrementalQuantileFilter(0.1, window=100, w_tol=20.0, max_carry=1.0),
    ],
    ids=["fraction", "quantile"],
)
@strategy_classes
def test_logged_probability_is_the_marginal_query_probability(cls, budget):
    """Replaying one policy state with fresh draws, the query frequency matches the logged
    probability (exact binomial tests, Bonferroni over the probes, fixed seeds)."""
    policy = Policy(make_strategy(cls, 1, 0.1), budget(), cold_start_items=3)
    probes = checks.check_marginal_probability(
        policy, checks.synthetic_stream(450, seed=23, cold=5), every=15, replays=150
    )
    assert len(probes) == 30


def test_marginal_probability_through_slices_quotas_ranking_and_queue_gate():
    """Audit, exploration, quotas, ranking and the queue gate composed: still the marginal."""
    strategy = Hybrid(
        SubgroupQuotas(
            FixedUncertainty(1.0),
            "region",
            min_share={"APAC": 0.3},
            max_share={"EU": 0.5},
            window=40,
            warmup=10,
        ),
        budget=0.1,
        audit_share=0.3,
        explore_share=0.3,
    )
    policy = Policy(strategy, BalancedIncrementalQuantileFilter(0.1, 100, 20.0, 1.0))
    gate = QueueCapacityGate(capacity=8, exponent=1.5, seed=3)

    def decide(p, item, now):
        return gate.apply(p.decide(item, now), item, depth=int(now) % 8)

    probes = checks.check_marginal_probability(
        policy, checks.synthetic_stream(600, seed=5), decide=decide, every=12, replays=200
    )
    # Every kind of state was met: ranked out, slice-only chances, forced floors, thinning.
    values = {round(p.probability, 6) for p in probes}
    assert len(values) >= 4, values
    assert any(0.0 < p.probability < 1.0 for p in probes)


def test_default_daemon_policy_logs_the_marginal_probability():
    """The policy the daemon builds from default settings passes the marginal check."""
    policy = build_policy(Settings(classes=["a", "b"], policy={"budget": {"fraction": 0.1}}))
    checks.check_marginal_probability(
        policy, checks.synthetic_stream(500, seed=9, cold=5), every=10, replays=200
    )


def test_marginal_check_catches_a_path_probability_and_a_biased_one():
    """The check has power: the probability of the path taken (slice query ~1), and a
    probability that is consistently off by a third, both fail it."""

    def make():
        return Policy(
            RandomExploration(FixedUncertainty(1.0), share=0.5, budget=0.2),
            BalancedIncrementalQuantileFilter(0.1, 100, 20.0, 1.0),
        )

    def path(p, item, now):
        d = p.decide(item, now)
        return replace(d, probability=1.0) if d.reason is Reason.RANDOM else d

    def biased(p, item, now):
        return p.decide(item, now).scaled(2 / 3)

    items = checks.synthetic_stream(300, seed=4)
    with pytest.raises(AssertionError, match="varies by draw"):
        checks.check_marginal_probability(make(), items, decide=path, every=10)
    with pytest.raises(AssertionError, match="p-value"):
        checks.check_marginal_probability(make(), items, decide=biased, every=10)


@pytest.mark.parametrize("b", FRACTIONS)
@budget_classes
@strategy_classes
def test_budget_honoured_on_a_long_stream(cls, bcls, b):
    """Absolute caps are never exceeded per period; fractions hold over every 10/B-item window.

    After a warm-up of two windows, the spend over any window of ``n = 10/B`` items is at most
    ``1.1 * B * n`` labels (that is, 11 labels where 10 are due).
    """
    n = _window(b)
    items = checks.synthetic_stream(20 * n, seed=int(100 * b))
    policy = Policy(make_strategy(cls, 4, b), make_budget(bcls, b))
    queried = [d.query for d in checks.run(policy, items)]
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


# --------------------------------------------------------------------------- budgets


@budget_classes
def test_budget_never_exceeded_on_a_long_stream(bcls):
    """Always asking for 5,000 items, the total spend stays within the budget's stated bound."""
    n = 5000
    checks.check_budget_never_exceeded(make_budget(bcls), n, BUDGET_FACTORIES[bcls][1](0.1)(n))


@budget_classes
def test_budget_spends_only_on_charge(bcls):
    """Observing, asking and ranking without charging leave the spend where it was."""
    checks.check_budget_spends_only_on_charge(make_budget(bcls))


@budget_classes
def test_budget_pickle_and_state_round_trip(bcls):
    """A budget pickled, or loaded from its JSON state, mid-stream answers like the original."""
    checks.check_budget_round_trips(lambda: make_budget(bcls))


# --------------------------------------------------------------------------- strategy x budget

COMBOS = [(s, b) for s in STRATEGIES for b in BUDGETS]


@pytest.mark.parametrize(
    ("strategy_cls", "budget_cls"),
    COMBOS,
    ids=[f"{s.__name__}-{b.__name__}" for s, b in COMBOS],
)
def test_policy_contract(strategy_cls, budget_cls):
    """Under every budget: decide never spends, same seed same decisions, pickle round-trips."""

    def make(seed=0):
        return Policy(
            make_strategy(strategy_cls, seed), make_budget(budget_cls), cold_start_items=3
        )

    first = checks.run(make(9), VARIED, check_no_spend=True)
    assert checks.run(make(9), VARIED) == first
    checks.check_decisions_well_formed(first)
    assert sum(d.reason is Reason.COLD_START for d in first) <= 3
    checks.check_pickle_round_trip(lambda: make(9), VARIED, 200)


# --------------------------------------------------------------------------- batches


@budget_classes
@strategy_classes
def test_batches_decide_as_item_by_item(cls, bcls):
    """Deciding in batches of any size gives the item-by-item decisions and state, with some
    queries refused downstream (never charged) and cold-start items at the start."""

    def make():
        return Policy(make_strategy(cls, 6), make_budget(bcls, 0.2), cold_start_items=3)

    checks.check_batch_matches_items(make, VARIED, (1, 7, 50, 500), lambda t: t % 5 == 2)


@settings(max_examples=40, deadline=None)
@given(
    cls=st.sampled_from(STRATEGIES),
    bcls=st.sampled_from(BUDGETS),
    seed=st.integers(0, 50),
    sizes=st.lists(st.integers(1, 120), min_size=1, max_size=6),
    refused=st.frozensets(st.integers(0, 299), max_size=60),
    cold=st.integers(0, 12),
)
def test_batch_decisions_are_item_by_item_decisions(cls, bcls, seed, sizes, refused, cold):
    """Property: for any strategy, budget, batch sizes and downstream refusals, the batch API
    decides every item exactly as ``Policy.decide`` would."""
    items = checks.synthetic_stream(300, seed=seed, costs=(1.0, 0.5, 2.0), cold=cold)

    def make():
        return Policy(make_strategy(cls, seed), make_budget(bcls, 0.1), cold_start_items=4)

    checks.check_batch_matches_items(make, items, sizes, refused.__contains__)


def test_the_default_policy_decides_batches_from_strategy_rows():
    """The policy the daemon builds by default takes the vectorised path (the check above is
    not only a comparison of the item-by-item path with itself), and a wrapper around a
    strategy with state does not."""
    default = build_policy(Settings(classes=["a", "b"], policy={"budget": {"fraction": 0.1}}))
    columns = policies.ItemColumns.of(ITEMS[:10])
    assert default.batch(columns).vectorised
    stateful = Policy(
        Hybrid(VariableUncertainty(), budget=0.1, explore_share=0.2), FractionBudget(0.1)
    )
    assert not stateful.batch(columns).vectorised
    checks.check_batch_matches_items(
        lambda: build_policy(Settings(classes=["a", "b"], policy={"budget": {"fraction": 0.1}})),
        checks.synthetic_stream(2000, seed=3, cold=12),
        (500, 123, 1),
        lambda t: t % 11 == 0,
    )


def test_a_strategy_that_fails_on_a_batch_is_decided_item_by_item():
    """If the strategy's batch form raises, the batch is decided item by item, where only the
    failing item fails."""

    class Fragile(FixedUncertainty):
        def decide(self, item, allowed):
            if item.key == "bad":
                raise ValueError("bad item")
            return super().decide(item, allowed)

        def decide_batch(self, items):
            if "bad" in items.keys:
                raise ValueError("bad item")
            return super().decide_batch(items)

    policy = Policy(Fragile(0.9), FractionBudget(1.0, window=10))
    good = replace(ITEMS[1], classes_seen=2)
    batch = policy.batch(policies.ItemColumns.of([good, replace(good, key="bad"), good]))
    assert not batch.vectorised
    assert batch.decide(0, 1.0, 0.0) == policies.as_row(
        Policy(Fragile(0.9), FractionBudget(1.0, window=10)).decide(good, 0.0)
    )
    with pytest.raises(ValueError, match="bad item"):
        batch.decide(1, 1.0, 1.0)


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
    policy = Policy(FixedUncertainty(threshold=1.0), make_budget(bcls, 0.2))
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

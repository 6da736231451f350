"""Generated contract suite: every strategy and budget exported by ``policies`` obeys the rules.

Discovery is by shape (a class with ``decide`` is a strategy, one with ``observe``, ``allows`` and
``charge`` a budget), so a new policy is checked as soon as it is exported; one whose constructor
needs arguments must get an entry in the factory tables below, or the suite fails and says so.
"""

import copy
import dataclasses
import inspect
import math
import pickle
import random

import pytest

import policies
from daemon.service.state import PolicyState
from policies.decision import QUERY_REASONS


def _exported_classes():
    for name in policies.__all__:
        obj = getattr(policies, name)
        if inspect.isclass(obj) and not getattr(obj, "_is_protocol", False):
            yield obj


STRATEGY_CLASSES = sorted(
    (c for c in _exported_classes() if hasattr(c, "decide") and c is not policies.Policy),
    key=lambda c: c.__name__,
)
BUDGET_CLASSES = sorted(
    (c for c in _exported_classes() if all(hasattr(c, m) for m in ("observe", "allows", "charge"))),
    key=lambda c: c.__name__,
)


# Constructors for classes that need arguments: seed -> instance. Classes not listed are built
# with their defaults (and seeded with ``seed=`` when they accept one).
def _adaptive():
    return policies.VariableUncertainty(threshold=0.9, step=0.05)


STRATEGY_FACTORIES = {
    "RandomSampling": lambda cls, seed: cls(rate=0.3, seed=seed),
    "VariableUncertainty": lambda cls, seed: cls(threshold=0.9, step=0.05),
    "RandomAudit": lambda cls, seed: cls(_adaptive(), share=0.2, budget=0.3, seed=seed),
    "RandomExploration": lambda cls, seed: cls(_adaptive(), share=0.2, budget=0.3, seed=seed),
    "CostSensitive": lambda cls, seed: cls(_adaptive(), threshold=0.1),
    "DiversityFilter": lambda cls, seed: cls(
        policies.RandomSampling(0.5, seed), radius=0.5, memory=20
    ),
    "Hybrid": lambda cls, seed: cls(
        _adaptive(),
        budget=0.2,
        audit_share=0.1,
        radius=0.3,
        quota_attribute="region",
        min_share={"APAC": 0.1},
        seed=seed,
    ),
    "SubgroupQuotas": lambda cls, seed: cls(
        policies.RandomSampling(0.5, seed),
        attribute="region",
        min_share={"APAC": 0.2},
        max_share={"EU": 0.5},
        window=50,
        warmup=5,
    ),
    "Split": lambda cls, seed: cls(rate=0.2, random_share=0.5, seed=seed),
}


def _fraction_bound(f, w):
    return lambda n: n * (f + 1.0 / w) + 1.0


def _absolute_bound(limit, period):
    return lambda n: limit * (math.floor((n - 1) / period) + 1)


# name -> (factory, max spend of an always-asking stream of n unit-cost items, 1 s apart)
BUDGET_FACTORIES = {
    "FractionBudget": (lambda cls: cls(0.1, 50), _fraction_bound(0.1, 50)),
    "AbsoluteBudget": (lambda cls: cls(5, 60), _absolute_bound(5, 60)),
    "CombinedBudget": (
        lambda cls: cls(policies.FractionBudget(0.2, 50), policies.AbsoluteBudget(8, 60)),
        lambda n: min(_fraction_bound(0.2, 50)(n), _absolute_bound(8, 60)(n)),
    ),
    "BalancedIncrementalQuantileFilter": (
        lambda cls: cls(budget=0.1, window=100, w_tol=50.0, max_carry=2.0),
        lambda n: math.ceil(n / 100) * (0.1 * 100 + 2.0),
    ),
}


def make_strategy(cls, seed=0):
    if cls.__name__ in STRATEGY_FACTORIES:
        return STRATEGY_FACTORIES[cls.__name__](cls, seed)
    params = inspect.signature(cls).parameters
    try:
        return cls(seed=seed) if "seed" in params else cls()
    except TypeError as exc:
        pytest.fail(f"add a factory for strategy {cls.__name__} to STRATEGY_FACTORIES: {exc}")


def make_budget(cls):
    if cls.__name__ not in BUDGET_FACTORIES:
        pytest.fail(f"add a factory and a spend bound for {cls.__name__} to BUDGET_FACTORIES")
    return BUDGET_FACTORIES[cls.__name__][0](cls)


def stream(n=400, seed=11):
    """A synthetic stream of items: 2-3 classes, some unscored, varied costs and subgroups."""
    rng = random.Random(seed)
    names = {f.name for f in dataclasses.fields(policies.ItemView)}
    items = []
    for i in range(n):
        classes = ["a", "b", "c"][: rng.choice([2, 3])]
        weights = [rng.random() + 1e-3 for _ in classes]
        proba = (
            {}
            if i % 29 == 0
            else {c: w / sum(weights) for c, w in zip(classes, weights, strict=True)}
        )
        extra = {}
        if "committee" in names:
            other = [rng.random() + 1e-3 for _ in classes]
            extra["committee"] = (
                proba,
                {c: w / sum(other) for c, w in zip(classes, other, strict=True)},
            )
        if "vector" in names:
            extra["vector"] = (rng.gauss(0, 1), rng.gauss(0, 1))
        items.append(
            policies.ItemView(
                key=f"item-{i}",
                proba=proba,
                cost=rng.choice([1.0, 1.0, 0.5, 2.0]),
                classes_seen=0 if i < 5 else 2,
                group={"region": rng.choice(["EU", "US", "APAC"])},
                **extra,
            )
        )
    return items


def _allowed(i):
    return i % 7 != 3


def drive(strategy, items, start=0):
    """Decide for each item as the policy would, committing queries to a commit hook if any."""
    out = []
    for i, item in enumerate(items, start):
        decision = strategy.decide(item, _allowed(i))
        if decision.query and hasattr(strategy, "commit"):
            strategy.commit(decision, item)
        out.append(decision)
    return out


def _through_state_log(state):
    doc = PolicyState(policy={"s": state}, label_offsets={}, saved_at=0.0).model_dump_json()
    return PolicyState.model_validate_json(doc).policy["s"]


def test_discovery_finds_the_known_policies():
    """The discovery sees at least the strategies and budgets the daemon can be configured with."""
    assert {"RandomSampling", "VariableUncertainty"} <= {c.__name__ for c in STRATEGY_CLASSES}
    assert {"FractionBudget", "AbsoluteBudget", "CombinedBudget"} <= {
        c.__name__ for c in BUDGET_CLASSES
    }


# --------------------------------------------------------------------------- strategies

strategy_classes = pytest.mark.parametrize(
    "cls", STRATEGY_CLASSES, ids=[c.__name__ for c in STRATEGY_CLASSES]
)


@strategy_classes
def test_strategy_names_itself(cls):
    """A strategy has a non-empty name and version (the evidence's policy id)."""
    s = make_strategy(cls)
    assert isinstance(s.name, str)
    assert isinstance(s.version, str)
    assert s.name
    assert s.version


@strategy_classes
def test_strategy_same_seed_same_decisions(cls):
    """Two strategies built with one seed decide identically on one stream."""
    items = stream()
    assert drive(make_strategy(cls, 5), items) == drive(make_strategy(cls, 5), items)


@strategy_classes
def test_strategy_decisions_are_well_formed(cls):
    """Reason set and consistent with query; probability in [0, 1]; no query unless allowed."""
    for i, d in enumerate(drive(make_strategy(cls), stream())):
        assert isinstance(d, policies.Decision)
        assert isinstance(d.reason, policies.Reason)
        assert d.query == (d.reason in QUERY_REASONS), d
        assert 0.0 <= d.probability <= 1.0, d
        assert math.isfinite(d.utility), d
        if not _allowed(i):
            assert not d.query, d


@strategy_classes
def test_strategy_does_not_mutate_items(cls):
    """Deciding leaves every item (probabilities, groups, committee) as it was."""
    items = stream()
    before = copy.deepcopy(items)
    drive(make_strategy(cls), items)
    assert items == before


@strategy_classes
def test_strategy_pickle_round_trip(cls):
    """A strategy pickled mid-stream continues exactly like the original."""
    items = stream()
    original = make_strategy(cls, 3)
    drive(original, items[:150])
    clone = pickle.loads(pickle.dumps(original))
    assert drive(clone, items[150:], 150) == drive(original, items[150:], 150)


@strategy_classes
def test_strategy_state_round_trip_through_state_log(cls):
    """A fresh strategy loaded with state_dict (through the state-log JSON) continues alike."""
    items = stream()
    original = make_strategy(cls, 3)
    drive(original, items[:150])
    fresh = make_strategy(cls, 3)
    fresh.load_state(_through_state_log(original.state_dict()))
    assert drive(fresh, items[150:], 150) == drive(original, items[150:], 150)


# --------------------------------------------------------------------------- budgets

budget_classes = pytest.mark.parametrize(
    "cls", BUDGET_CLASSES, ids=[c.__name__ for c in BUDGET_CLASSES]
)


def ask_always(budget, n, start=0, seed=0):
    """Always-asking driver (utilities offered to ranking budgets); returns the allow trace."""
    rng = random.Random(seed + start)
    trace = []
    for t in range(start, start + n):
        budget.observe(float(t))
        ok = budget.allows(1.0, float(t))
        admitted = budget.admits(rng.random(), 1.0, float(t)) if hasattr(budget, "admits") else True
        if ok and admitted:
            budget.charge(1.0, float(t))
        trace.append(ok and admitted)
    return trace


@budget_classes
def test_budget_never_exceeded_on_a_long_stream(cls):
    """Always asking for 5,000 items, the total spend stays within the budget's stated bound."""
    n = 5000
    spent = sum(ask_always(make_budget(cls), n))
    assert 0 < spent <= BUDGET_FACTORIES[cls.__name__][1](n)


@budget_classes
def test_budget_spends_only_on_charge(cls):
    """Observing, asking and ranking without charging leave the spend where it was."""
    budget = make_budget(cls)
    ask_always(budget, 100)
    spent = budget.snapshot(99.0).spent
    for _ in range(300):  # one instant, so periodic budgets stay in their period
        budget.observe(99.0)
        budget.allows(1.0, 99.0)
        if hasattr(budget, "admits"):
            budget.admits(0.99, 1.0, 99.0)
    assert budget.snapshot(99.0).spent == spent > 0


@budget_classes
def test_budget_pickle_round_trip(cls):
    """A budget pickled mid-stream answers exactly like the original afterwards."""
    original = make_budget(cls)
    ask_always(original, 250)
    clone = pickle.loads(pickle.dumps(original))
    assert ask_always(clone, 500, 250) == ask_always(original, 500, 250)


@budget_classes
def test_budget_state_round_trip_through_state_log(cls):
    """A fresh budget loaded with state_dict (through the state-log JSON) answers alike."""
    original = make_budget(cls)
    ask_always(original, 250)
    fresh = make_budget(cls)
    fresh.load_state(_through_state_log(original.state_dict()))
    assert ask_always(fresh, 500, 250) == ask_always(original, 500, 250)


# --------------------------------------------------------------------------- strategy x budget

COMBOS = [(s, b) for s in STRATEGY_CLASSES for b in BUDGET_CLASSES]


def run_policy(policy, items, start=0):
    """Decide then commit each item; check that deciding alone never moved the spend."""
    out = []
    for t, item in enumerate(items, start):
        before = policy.snapshot(float(t)).spent
        decision = policy.decide(item, float(t))
        assert policy.snapshot(float(t)).spent == before, "decide spent budget"
        policy.commit(decision, item, float(t))
        out.append(decision)
    return out


@pytest.mark.parametrize(
    ("strategy_cls", "budget_cls"),
    COMBOS,
    ids=[f"{s.__name__}-{b.__name__}" for s, b in COMBOS],
)
def test_policy_contract(strategy_cls, budget_cls):
    """Under every budget: decide never spends, same seed same decisions, pickle round-trips."""

    def make(seed=0):
        return policies.Policy(
            make_strategy(strategy_cls, seed), make_budget(budget_cls), cold_start_items=3
        )

    items = stream()
    first = run_policy(make(9), items)
    assert run_policy(make(9), items) == first
    for d in first:
        assert isinstance(d.reason, policies.Reason)
        assert 0.0 <= d.probability <= 1.0
    assert sum(d.reason is policies.Reason.COLD_START for d in first) <= 3
    original = make(9)
    run_policy(original, items[:200])
    clone = pickle.loads(pickle.dumps(original))
    assert run_policy(clone, items[200:], 200) == run_policy(original, items[200:], 200)

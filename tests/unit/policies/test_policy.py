"""Policy: a strategy under a budget, deciding without spending and charging on commit."""

import copy
import pickle

import pytest

from policies import (
    AbsoluteBudget,
    CombinedBudget,
    Decision,
    DiversityFilter,
    FixedUncertainty,
    FractionBudget,
    ItemView,
    Policy,
    RandomSampling,
    Reason,
    VariableUncertainty,
)

BUDGETS = {
    "fraction": lambda: FractionBudget(0.5, 20),
    "absolute": lambda: AbsoluteBudget(1000, 3600),
    "combined": lambda: CombinedBudget(FractionBudget(0.5, 20), AbsoluteBudget(1000, 3600)),
}


def _items(n, classes_seen=2):
    return [
        ItemView(f"i{i}", {"a": 0.5 + (i % 5) / 10, "b": 0.5 - (i % 5) / 10}, 1.0, classes_seen)
        for i in range(n)
    ]


@pytest.mark.parametrize("make_budget", BUDGETS.values(), ids=BUDGETS.keys())
def test_decide_never_spends_and_commit_charges_the_item_cost(make_budget):
    """Deciding (even a query) leaves spend unchanged; committing a query charges its cost."""
    policy = Policy(RandomSampling(rate=1.0), make_budget())
    queried = [d for d in (policy.decide(it, 0.0) for it in _items(50)) if d.query]
    assert queried, "the always-sampling strategy asks at least once"
    assert policy.snapshot(0.0).spent == 0.0
    item = ItemView("costly", {"a": 0.5, "b": 0.5}, cost=2.5, classes_seen=2)
    decision = policy.decide(item, 0.0)
    assert decision.query
    policy.commit(decision, item, 0.0)
    assert policy.snapshot(0.0).spent == 2.5


@pytest.mark.parametrize("reason", [Reason.QUEUE_FULL, Reason.DUPLICATE])
def test_query_refused_downstream_costs_nothing(reason):
    """A query refused after deciding (queue full, duplicate) is committed without charge."""
    policy = Policy(RandomSampling(rate=1.0), AbsoluteBudget(5, 100), cold_start_items=3)
    for item in _items(20, classes_seen=0):
        decision = policy.decide(item, 1.0)
        assert decision.query
        refused = decision.refused(reason)
        assert (refused.query, refused.reason, refused.probability) == (False, reason, 0.0)
        policy.commit(refused, item, 1.0)
    assert policy.snapshot(1.0).spent == 0.0
    assert policy.state_dict()["forced"] == 0


def test_cold_start_forces_queries_until_the_limit():
    """Before two classes are seen, the first cold_start_items committed items are forced."""
    policy = Policy(RandomSampling(rate=0.0), AbsoluteBudget(100, 1e9), cold_start_items=4)
    reasons = []
    for item in _items(10, classes_seen=1):
        decision = policy.decide(item, 0.0)
        reasons.append(decision.reason)
        policy.commit(decision, item, 0.0)
    assert reasons == [Reason.COLD_START] * 4 + [Reason.NOT_SAMPLED] * 6
    assert policy.snapshot(0.0).spent == 4


def test_cold_start_ends_once_two_classes_are_seen():
    """An item whose model has seen two classes goes to the strategy, cold start or not."""
    policy = Policy(RandomSampling(rate=0.0), AbsoluteBudget(100, 1e9), cold_start_items=10)
    assert policy.decide(_items(1, classes_seen=2)[0], 0.0).reason is Reason.NOT_SAMPLED
    assert policy.decide(_items(1, classes_seen=1)[0], 0.0).reason is Reason.COLD_START


def test_cold_start_respects_the_budget():
    """A forced query the budget cannot pay is reported as budget_exhausted, not queried."""
    policy = Policy(RandomSampling(rate=0.0), AbsoluteBudget(1, 1e9), cold_start_items=5)
    first, second = _items(2, classes_seen=0)
    d = policy.decide(first, 0.0)
    policy.commit(d, first, 0.0)
    d = policy.decide(second, 0.0)
    assert (d.query, d.reason, d.probability) == (False, Reason.BUDGET_EXHAUSTED, 0.0)


def test_cold_start_decision_logs_certain_inclusion():
    """A forced query has inclusion probability 1 and maximal utility."""
    policy = Policy(RandomSampling(rate=0.0), AbsoluteBudget(1, 1e9), cold_start_items=1)
    d = policy.decide(_items(1, classes_seen=0)[0], 0.0)
    assert d == Decision(
        query=True, reason=Reason.COLD_START, probability=1.0, utility=1.0, threshold=None
    )


def test_decide_does_not_mutate_the_item():
    """The item's probability and group mappings are left exactly as they were."""
    for strategy in (RandomSampling(0.5), VariableUncertainty(0.9)):
        policy = Policy(strategy, FractionBudget(0.5, 10), cold_start_items=1)
        proba = {"a": 0.3, "b": 0.7}
        group = {"region": "EU"}
        item = ItemView("x", proba, 1.0, 2, group)
        before = (copy.deepcopy(proba), copy.deepcopy(group))
        for now in range(5):
            policy.commit(policy.decide(item, float(now)), item, float(now))
        assert (proba, group) == before


def _run(policy, items, start=0):
    out = []
    for t, item in enumerate(items, start):
        decision = policy.decide(item, float(t))
        policy.commit(decision, item, float(t))
        out.append(decision)
    return out


@pytest.mark.parametrize("make_budget", BUDGETS.values(), ids=BUDGETS.keys())
def test_policy_state_and_pickle_round_trip(make_budget):
    """A policy restored from state_dict or pickle continues with identical decisions."""

    def make():
        return Policy(VariableUncertainty(0.9, 0.05), make_budget(), cold_start_items=3)

    items = _items(300, classes_seen=0)[:5] + _items(300)[5:]
    original = make()
    _run(original, items[:120])
    restored = make()
    restored.load_state(copy.deepcopy(original.state_dict()))
    pickled = pickle.loads(pickle.dumps(original))
    assert restored.state_dict() == original.state_dict()
    tail = _run(original, items[120:], 120)
    assert _run(restored, items[120:], 120) == tail
    assert _run(pickled, items[120:], 120) == tail


def test_policy_id_names_strategy_and_version():
    """The evidence's policy id is ``name@version`` of the strategy."""
    assert Policy(RandomSampling(0.1), FractionBudget(0.1)).id == "random@1"
    assert Policy(VariableUncertainty(), FractionBudget(0.1)).id == "variable_uncertainty@1"


def test_commit_hook_sees_only_committed_queries():
    """The strategy's commit is called from Policy.commit, never from decide."""

    class Recorder(FixedUncertainty):
        def __init__(self):
            super().__init__(1.0)
            self.seen = []

        def commit(self, decision, item):
            self.seen.append(item.key)

    s = Recorder()
    p = Policy(s, FractionBudget(1.0, 10))
    a = ItemView("a", {"x": 0.5, "y": 0.5}, classes_seen=2)
    b = ItemView("b", {"x": 0.5, "y": 0.5}, classes_seen=2)
    p.decide(a, 0.0)
    p.commit(p.decide(b, 1.0), b, 1.0)
    assert s.seen == ["b"]


def test_strategies_without_hook_still_work():
    """Existing strategies (no commit method) are unaffected."""
    p = Policy(VariableUncertainty(0.9), FractionBudget(1.0, 10))
    item = ItemView("a", {"x": 0.5, "y": 0.5}, classes_seen=2)
    p.commit(p.decide(item, 0.0), item, 0.0)
    assert p.snapshot(0.0).spent == 1.0


def test_cold_start_query_enters_diversity_memory():
    """A cold-start query is a real query and is remembered by the diversity filter."""
    f = DiversityFilter(FixedUncertainty(0.9), radius=1.0)
    p = Policy(f, FractionBudget(1.0, 10), cold_start_items=1)
    first = ItemView("a", {}, classes_seen=0, vector=(0.0,))
    d = p.decide(first, 0.0)
    assert d.reason is Reason.COLD_START
    p.commit(d, first, 0.0)
    d2 = p.decide(ItemView("b", {"x": 0.5, "y": 0.5}, classes_seen=2, vector=(0.0,)), 1.0)
    assert d2.reason is Reason.NEAR_DUPLICATE


def test_item_view_positional_fields_unchanged():
    """The daemon builds ItemView positionally; the new fields come last with defaults."""
    item = ItemView("k", {"a": 1.0}, 2.0, 3, {"region": "EU"})
    assert (item.cost, item.classes_seen, item.committee, item.vector) == (2.0, 3, (), ())

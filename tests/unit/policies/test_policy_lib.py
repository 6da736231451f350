"""Policy additions: commit hook, ranking budgets."""

from policies import (
    DiversityFilter,
    FixedUncertainty,
    FractionBudget,
    ItemView,
    Policy,
    Reason,
    VariableUncertainty,
)


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

"""Random audit slice."""

import pytest

from policies import DiversityFilter, FixedUncertainty, ItemView, RandomAudit, Reason


def test_audit_rate_is_share_of_budget():
    """About share * budget of items are audited, independent of the model."""
    s = RandomAudit(FixedUncertainty(0.0), share=0.25, budget=0.4, seed=2)
    n = 8000
    audits = sum(
        s.decide(ItemView(f"i{i}", {"x": 0.99, "y": 0.01}), True).reason is Reason.AUDIT
        for i in range(n)
    )
    assert audits / n == pytest.approx(0.1, abs=0.01)


def test_probability_is_overall_inclusion():
    """Logged p = a + (1 - a) * p_inner on audited and non-audited items alike."""
    s = RandomAudit(FixedUncertainty(0.9), share=0.5, budget=0.2)
    d = s.decide(ItemView("a", {"x": 0.6, "y": 0.4}), True)
    assert d.probability == pytest.approx(1.0)
    d = s.decide(ItemView("b", {"x": 0.95, "y": 0.05}), True)
    assert d.probability == pytest.approx(0.1)


def test_audit_queries_do_not_feed_training_selection_memory():
    """An audit query is not committed to the inner strategy (e.g. diversity memory)."""
    inner = DiversityFilter(FixedUncertainty(0.0), radius=1.0)
    s = RandomAudit(inner, share=1.0, budget=1.0)
    item = ItemView("a", {"x": 0.5, "y": 0.5}, vector=(0.0,))
    d = s.decide(item, True)
    assert d.reason is Reason.AUDIT
    s.commit(d, item)
    assert inner.state_dict()["recent"] == []


def test_no_audit_without_budget():
    """When the budget refuses, nothing is audited."""
    s = RandomAudit(FixedUncertainty(0.9), share=1.0, budget=1.0)
    assert not s.decide(ItemView("a", {}), False).query

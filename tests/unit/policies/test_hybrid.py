"""Hybrid composition: the exploration share and the audit slice around a selection rule."""

import pytest

from policies import DiversityFilter, FixedUncertainty, Hybrid, ItemView, Reason


def test_layers_are_optional():
    """Without audit or exploration the hybrid is the inner strategy."""
    h = Hybrid(FixedUncertainty(0.7), budget=0.1, audit_share=0.0)
    assert h.name == "fixed_uncertainty"
    assert h.chain is h.inner
    item = ItemView("a", {"x": 0.6, "y": 0.4})
    assert h.decide(item, True) == FixedUncertainty(0.7).decide(item, True)


def test_audit_bypasses_a_filter_inside():
    """A near-duplicate can still be audited: the audit is outermost, so it stays uniform."""
    inner = DiversityFilter(FixedUncertainty(0.9), radius=10.0)
    h = Hybrid(inner, budget=1.0, audit_share=1.0)
    first = ItemView("a", {"x": 0.5, "y": 0.5}, vector=(0.0,))
    inner.commit(inner.decide(first, True), first)
    assert inner.decide(ItemView("b", {"x": 0.5, "y": 0.5}, vector=(0.0,)), True).reason is (
        Reason.NEAR_DUPLICATE
    )
    d = h.decide(ItemView("b", {"x": 0.5, "y": 0.5}, vector=(0.0,)), True)
    assert d.reason is Reason.AUDIT


def test_audit_queries_are_not_committed_to_the_filter_inside():
    """An audit query stays out of the selection rule's memory; an explored one goes in."""
    inner = DiversityFilter(FixedUncertainty(0.9), radius=10.0)
    h = Hybrid(inner, budget=1.0, audit_share=1.0)
    item = ItemView("a", {"x": 0.5, "y": 0.5}, vector=(0.0,))
    d = h.decide(item, True)
    assert d.reason is Reason.AUDIT
    h.commit(d, item)
    assert inner.decide(ItemView("b", {"x": 0.5, "y": 0.5}, vector=(0.0,)), True).query
    explore = Hybrid(inner, budget=1.0, audit_share=0.0, explore_share=1.0)
    d = explore.decide(item, True)
    assert d.reason is Reason.RANDOM
    explore.commit(d, item)
    assert not inner.decide(ItemView("b", {"x": 0.5, "y": 0.5}, vector=(0.0,)), True).query


def test_slices_scale_the_inclusion_probability():
    """Each slice adds its rate: p = a + (1 - a) * (r + (1 - r) * p_inner)."""
    h = Hybrid(FixedUncertainty(0.5), budget=0.2, audit_share=0.5, explore_share=0.25)
    d = h.decide(ItemView("z", {"x": 0.9, "y": 0.1}), True)
    if d.reason is Reason.CONFIDENT:
        assert d.probability == pytest.approx(0.1 + 0.9 * 0.05)


def test_state_round_trip():
    """A fresh hybrid restored from state_dict decides like the original."""
    kw = {"budget": 0.2, "audit_share": 0.2, "explore_share": 0.3}

    def make():
        return Hybrid(DiversityFilter(FixedUncertainty(0.9), radius=0.5), **kw)

    a = make()
    items = [
        ItemView(f"i{i}", {"x": 0.6, "y": 0.4}, group={"region": "EU"}, vector=(i % 3,))
        for i in range(30)
    ]
    for it in items[:15]:
        d = a.decide(it, True)
        if d.query:
            a.commit(d, it)
    b = make()
    b.load_state(a.state_dict())
    assert [b.decide(it, True) for it in items[15:]] == [a.decide(it, True) for it in items[15:]]

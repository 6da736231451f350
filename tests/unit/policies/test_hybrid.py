"""Hybrid composition."""

from policies import FixedUncertainty, Hybrid, ItemView, Reason


def test_layers_are_optional():
    """Without diversity, quotas or audit the hybrid is the inner strategy."""
    h = Hybrid(FixedUncertainty(0.7), budget=0.1, audit_share=0.0)
    assert h.name == "fixed_uncertainty"
    item = ItemView("a", {"x": 0.6, "y": 0.4})
    assert h.decide(item, True) == FixedUncertainty(0.7).decide(item, True)


def test_audit_bypasses_diversity():
    """A near-duplicate can still be audited: the audit is outermost, so it stays uniform."""
    h = Hybrid(FixedUncertainty(0.9), budget=1.0, audit_share=1.0, radius=10.0)
    first = ItemView("a", {"x": 0.5, "y": 0.5}, vector=(0.0,))
    h.commit(Hybrid(FixedUncertainty(0.9), budget=1.0).decide(first, True), first)
    d = h.decide(ItemView("b", {"x": 0.5, "y": 0.5}, vector=(0.0,)), True)
    assert d.reason is Reason.AUDIT


def test_quotas_force_over_diversity():
    """Quotas sit outside diversity, so an under-sampled group is asked even if near-duplicate."""
    h = Hybrid(
        FixedUncertainty(0.9),
        budget=0.1,
        audit_share=0.0,
        radius=10.0,
        quota_attribute="region",
        min_share={"EU": 0.5},
        quota_warmup=1,
    )
    us = ItemView("u", {"x": 0.5, "y": 0.5}, group={"region": "US"}, vector=(0.0,))
    h.commit(h.decide(us, True), us)
    eu = ItemView("e", {"x": 0.5, "y": 0.5}, group={"region": "EU"}, vector=(0.0,))
    assert h.decide(eu, True).reason is Reason.QUOTA_MIN


def test_state_round_trip():
    """A fresh hybrid restored from state_dict decides like the original."""
    kw = {"budget": 0.2, "audit_share": 0.2, "radius": 0.5, "quota_attribute": "region"}
    a = Hybrid(FixedUncertainty(0.9), **kw)
    items = [
        ItemView(f"i{i}", {"x": 0.6, "y": 0.4}, group={"region": "EU"}, vector=(i % 3,))
        for i in range(30)
    ]
    for it in items[:15]:
        d = a.decide(it, True)
        if d.query:
            a.commit(d, it)
    b = Hybrid(FixedUncertainty(0.9), **kw)
    b.load_state(a.state_dict())
    assert [b.decide(it, True) for it in items[15:]] == [a.decide(it, True) for it in items[15:]]

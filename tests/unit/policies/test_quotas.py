"""Subgroup quotas."""

import random

from policies import FixedUncertainty, ItemView, Reason, SelectiveSampling, SubgroupQuotas


def _item(i, region, top=0.5):
    return ItemView(f"i{i}", {"x": top, "y": 1 - top}, group={"region": region})


def _run(q, items):
    out = []
    for it in items:
        d = q.decide(it, True)
        if d.query:
            q.commit(d, it)
        out.append(d)
    return out


def test_minority_below_min_share_is_forced():
    """A confidently-predicted minority below its min share is queried with reason quota_min."""
    q = SubgroupQuotas(FixedUncertainty(0.6), "region", min_share={"EU": 0.2}, warmup=5)
    _run(q, [_item(i, "US") for i in range(10)])
    d = q.decide(_item(99, "EU", top=0.99), True)
    assert (d.query, d.reason, d.probability) == (True, Reason.QUOTA_MIN, 1.0)


def test_majority_above_max_share_is_refused():
    """A query that would lift a subgroup above its max share is refused with p = 0."""
    q = SubgroupQuotas(FixedUncertainty(0.9), "region", max_share={"US": 0.5}, warmup=2)
    _run(q, [_item(0, "US"), _item(1, "EU"), _item(2, "US")])
    d = q.decide(_item(3, "US"), True)
    assert (d.reason, d.probability) == (Reason.QUOTA_MAX, 0.0)


def test_no_forcing_without_budget():
    """The minimum quota never forces a query the budget refused."""
    q = SubgroupQuotas(FixedUncertainty(0.6), "region", min_share={"EU": 0.5}, warmup=0)
    assert not q.decide(_item(0, "EU"), False).query


def test_long_run_shares_respect_bounds():
    """On a skewed stream the shares over the window end up within [min, max]."""
    rng = random.Random(1)
    q = SubgroupQuotas(
        SelectiveSampling(b=0.05),
        "region",
        min_share={"APAC": 0.15},
        max_share={"EU": 0.6},
        window=100,
        warmup=20,
    )
    regions = ["EU"] * 8 + ["US", "APAC"]
    _run(q, [_item(i, rng.choice(regions), top=rng.random()) for i in range(5000)])
    assert q.share("APAC") >= 0.15 - 0.01
    assert q.share("EU") <= 0.6 + 1e-9


def test_window_is_bounded():
    """Only the last ``window`` queries are remembered."""
    q = SubgroupQuotas(FixedUncertainty(1.0), "region", window=10, warmup=0)
    _run(q, [_item(i, "US") for i in range(50)])
    assert len(q.state_dict()["recent"]) == 10


def test_missing_attribute_is_unknown_group():
    """An item without the attribute belongs to the '' group."""
    q = SubgroupQuotas(FixedUncertainty(1.0), "region", max_share={"": 0.0}, warmup=0)
    d = q.decide(ItemView("a", {"x": 0.5, "y": 0.5}), True)
    assert d.reason is Reason.QUOTA_MAX


def test_quota_floor_holds_on_every_query_once_reached():
    """With a 25% floor for a 10% subgroup, its share of recent queries never ends below the
    floor after the first minority query, whatever the inner rule asks."""
    rng = random.Random(3)
    quotas = SubgroupQuotas(FixedUncertainty(1.0), "seg", min_share={"min": 0.25}, warmup=0)
    seen_min = False
    for i in range(5000):
        group = "min" if rng.random() < 0.1 else "maj"
        p = rng.random()
        item = ItemView(str(i), {"a": p, "b": 1 - p}, group={"seg": group})
        d = quotas.decide(item, allowed=rng.random() < 0.5)
        if d.query:
            quotas.commit(d, item)
            seen_min = seen_min or group == "min"
            if seen_min:
                assert quotas.share("min") >= 0.25 - 1e-9

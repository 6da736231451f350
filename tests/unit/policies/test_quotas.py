"""Subgroup quotas."""

import random

import pytest

from policies import (
    FixedUncertainty,
    FractionBudget,
    ItemView,
    Policy,
    Reason,
    SelectiveSampling,
    SubgroupQuotas,
)


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


# Several attributes at once, and floors at the observed population share.


def _census(n, seed=0):
    """Items with sex and race; the uncertainty rule only ever wants male, white items."""
    rng = random.Random(seed)
    for i in range(n):
        sex = "F" if rng.random() < 0.33 else "M"
        race = "B" if rng.random() < 0.15 else "W"
        wanted = sex == "M" and race == "W" and rng.random() < 0.5
        proba = {"a": 0.5, "b": 0.5} if wanted else {"a": 0.99, "b": 0.01}
        yield ItemView(str(i), proba, classes_seen=2, group={"sex": sex, "race": race})


def _shares(quotas, n=20_000, fraction=0.1):
    policy = Policy(quotas, FractionBudget(fraction, 1000))
    counts = {"sex=F": 0, "race=B": 0}
    total = 0
    for k, item in enumerate(_census(n)):
        d = policy.decide(item, float(k))
        if d.query:
            policy.commit(d, item, float(k))
            total += 1
            counts["sex=F"] += item.group["sex"] == "F"
            counts["race=B"] += item.group["race"] == "B"
    return {g: c / total for g, c in counts.items()}, total


def test_floors_on_two_attributes_hold_over_a_run():
    """Floors on sex and race at once: both shares over the whole run reach their floors."""
    q = SubgroupQuotas(
        FixedUncertainty(0.9), floors={"sex": {"F": 0.3}, "race": {"B": 0.12}}, warmup=0
    )
    shares, total = _shares(q)
    assert total >= 0.09 * 20_000
    assert shares["sex=F"] >= 0.3 - 0.01
    assert shares["race=B"] >= 0.12 - 0.01


def test_population_floors_follow_the_observed_shares():
    """A None floor is the subgroup's share of the stream: about 33% and 15% here."""
    q = SubgroupQuotas(
        FixedUncertainty(0.9), floors={"sex": {"F": None}, "race": {"B": None}}, warmup=0
    )
    shares, _ = _shares(q)
    assert shares["sex=F"] >= 0.33 - 0.01
    assert shares["race=B"] >= 0.15 - 0.01
    assert q.floor("sex", "F") == pytest.approx(0.33, abs=0.01)
    assert q.floor("sex", "M") is None


def test_population_factor_scales_the_floor():
    """population_factor 0.5 asks for half the observed share."""
    q = SubgroupQuotas(
        FixedUncertainty(0.9), floors={"sex": {"F": None}}, population_factor=0.5, warmup=0
    )
    shares, _ = _shares(q)
    assert 0.165 - 0.01 <= shares["sex=F"] < 0.3


def test_a_ceiling_on_one_attribute_refuses_over_the_share():
    """A ceiling on race holds while a floor on sex acts."""
    q = SubgroupQuotas(
        FixedUncertainty(1.0),
        floors={"sex": {"F": 0.3}},
        ceilings={"race": {"W": 0.5}},
        warmup=0,
    )
    policy = Policy(q, FractionBudget(0.1, 1000))
    white = total = 0
    for k, item in enumerate(_census(10_000)):
        d = policy.decide(item, float(k))
        if d.query:
            policy.commit(d, item, float(k))
            total += 1
            white += item.group["race"] == "W"
    assert white / total <= 0.5 + 0.01


def test_state_round_trip_keeps_counts_and_population():
    """state_dict/load_state restore the window and the population counters."""
    make = lambda: SubgroupQuotas(  # noqa: E731
        FixedUncertainty(0.9), floors={"sex": {"F": None}, "race": {"B": 0.1}}, warmup=0
    )
    a, b = make(), make()
    for item in _census(500):
        d = a.decide(item, True)
        if d.query:
            a.commit(d, item)
    b.load_state(a.state_dict())
    assert b.share("F", "sex") == a.share("F", "sex")
    assert b.floor("sex", "F") == a.floor("sex", "F")
    probe = list(_census(50, seed=9))
    assert [a.decide(i, True) for i in probe] == [b.decide(i, True) for i in probe]


def test_one_attribute_state_of_version_1_loads():
    """A saved window of plain subgroup names (version 1) is read into the new form."""
    q = SubgroupQuotas(FixedUncertainty(0.9), "region", min_share={"EU": 0.5}, warmup=0)
    q.load_state({"inner": {}, "recent": ["EU", "US", "US"]})
    assert q.share("EU") == pytest.approx(1 / 3)


def test_floors_over_one_attribute_must_fit():
    """Floors of one attribute adding up to more than 1 are rejected."""
    with pytest.raises(ValueError, match="add up"):
        SubgroupQuotas(FixedUncertainty(0.9), floors={"sex": {"F": 0.6, "M": 0.6}})

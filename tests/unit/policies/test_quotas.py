"""Subgroup quotas on several attributes at once, and floors at the observed population share."""

import random

import pytest

from policies import FixedUncertainty, FractionBudget, ItemView, Policy, SubgroupQuotas


def _items(n, seed=0):
    """Items with sex and race; the uncertainty rule only ever wants male, white items."""
    rng = random.Random(seed)
    for i in range(n):
        sex = "F" if rng.random() < 0.33 else "M"
        race = "B" if rng.random() < 0.15 else "W"
        wanted = sex == "M" and race == "W" and rng.random() < 0.5
        proba = {"a": 0.5, "b": 0.5} if wanted else {"a": 0.99, "b": 0.01}
        yield ItemView(str(i), proba, classes_seen=2, group={"sex": sex, "race": race})


def _run(quotas, n=20_000, fraction=0.1):
    policy = Policy(quotas, FractionBudget(fraction, 1000))
    counts = {"sex=F": 0, "race=B": 0}
    total = 0
    for k, item in enumerate(_items(n)):
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
    shares, total = _run(q)
    assert total >= 0.09 * 20_000
    assert shares["sex=F"] >= 0.3 - 0.01
    assert shares["race=B"] >= 0.12 - 0.01


def test_population_floors_follow_the_observed_shares():
    """A None floor is the subgroup's share of the stream: about 33% and 15% here."""
    q = SubgroupQuotas(
        FixedUncertainty(0.9), floors={"sex": {"F": None}, "race": {"B": None}}, warmup=0
    )
    shares, _ = _run(q)
    assert shares["sex=F"] >= 0.33 - 0.01
    assert shares["race=B"] >= 0.15 - 0.01
    assert q.floor("sex", "F") == pytest.approx(0.33, abs=0.01)
    assert q.floor("sex", "M") is None


def test_population_factor_scales_the_floor():
    """population_factor 0.5 asks for half the observed share."""
    q = SubgroupQuotas(
        FixedUncertainty(0.9), floors={"sex": {"F": None}}, population_factor=0.5, warmup=0
    )
    shares, _ = _run(q)
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
    for k, item in enumerate(_items(10_000)):
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
    for item in _items(500):
        d = a.decide(item, True)
        if d.query:
            a.commit(d, item)
    b.load_state(a.state_dict())
    assert b.share("F", "sex") == a.share("F", "sex")
    assert b.floor("sex", "F") == a.floor("sex", "F")
    probe = list(_items(50, seed=9))
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

"""Entropy sampling follows River's EntropySampler rule."""

import random

import pytest
from river import active

from policies import EntropySampling, ItemView, entropy_probability


def _random_proba(rng):
    k = rng.choice([2, 3, 4])
    w = [rng.random() * (rng.random() > 0.2) for _ in range(k)]
    total = sum(w) or 1.0
    return {f"c{i}": x / total for i, x in enumerate(w)}


@pytest.mark.parametrize("discount", [0.5, 1.0, 3.0])
def test_probability_equals_rivers(discount):
    """Our logged probability is exactly River's internal p for the same prediction."""
    river = active.EntropySampler(classifier=None, discount_factor=discount)
    rng = random.Random(0)
    for _ in range(300):
        proba = _random_proba(rng)
        assert entropy_probability(proba, discount) == pytest.approx(river._p(proba))


def test_query_rate_matches_probability():
    """On a stream with one prediction, the observed rate is close to p."""
    s = EntropySampling(discount_factor=2.0, seed=3)
    proba = {"a": 0.7, "b": 0.3}
    p = entropy_probability(proba, 2.0)
    hits = sum(s.decide(ItemView(f"i{i}", proba), True).query for i in range(4000))
    assert hits / 4000 == pytest.approx(p, abs=0.03)


def test_certain_or_unscored_items_are_never_asked():
    """Zero entropy (one certain class, or no scores) gives p = 0, as in River."""
    s = EntropySampling()
    assert s.decide(ItemView("a", {"x": 1.0, "y": 0.0}), True).probability == 0.0
    assert s.decide(ItemView("b", {}), True).probability == 0.0


def test_a_single_possible_class_is_certain_even_below_one():
    """One class with a probability just below 1 (a pure tree leaf) has entropy 0, no error."""
    assert entropy_probability({"a": 0.9999999, "b": 0.0}, 3.0) == 0.0
    assert entropy_probability({"a": 0.5}, 1.0) == 0.0

"""Uncertainty measures: bounded in [0, 1], maximal at the uniform vector, zero at one-hot."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policies import entropy, least_confidence, margin

MEASURES = [least_confidence, margin, entropy]


@st.composite
def distributions(draw, min_classes=2, max_classes=12):
    """A class-probability mapping summing to 1 (weights normalised)."""
    k = draw(st.integers(min_classes, max_classes))
    weights = draw(
        st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=k, max_size=k).filter(
            lambda w: sum(w) > 1e-9
        )
    )
    total = sum(weights)
    return {f"c{i}": w / total for i, w in enumerate(weights)}


@pytest.mark.parametrize("measure", MEASURES)
@given(proba=distributions())
def test_measure_is_in_unit_interval_and_at_most_uniform(measure, proba):
    """Any probability vector scores in [0, 1] and no higher than the uniform vector."""
    value = measure(proba)
    uniform = measure(dict.fromkeys(proba, 1.0 / len(proba)))
    assert 0.0 <= value <= 1.0
    assert value <= uniform + 1e-9


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("k", [2, 3, 5, 10])
def test_uniform_vector_is_maximally_uncertain(measure, k):
    """The uniform distribution over k classes scores 1."""
    assert measure({f"c{i}": 1.0 / k for i in range(k)}) == pytest.approx(1.0)


@pytest.mark.parametrize("measure", MEASURES)
@pytest.mark.parametrize("k", [2, 3, 7])
def test_one_hot_vector_is_certain(measure, k):
    """A one-hot distribution scores 0 whichever class is certain."""
    for hot in range(k):
        assert measure({f"c{i}": float(i == hot) for i in range(k)}) == pytest.approx(0.0)


@pytest.mark.parametrize("measure", MEASURES)
def test_unscored_item_is_maximally_uncertain(measure):
    """An empty mapping (the model cannot score yet) is treated as maximally uncertain."""
    assert measure({}) == 1.0


@pytest.mark.parametrize("measure", MEASURES)
@given(p=st.floats(0.5, 1.0))
def test_binary_measure_decreases_with_confidence(measure, p):
    """For two classes, a more confident top class never scores as more uncertain."""
    q = min(1.0, p + 0.01)
    assert measure({"a": q, "b": 1.0 - q}) <= measure({"a": p, "b": 1.0 - p}) + 1e-12


def test_measures_match_their_formulas():
    """Hand-computed values for a three-class vector."""
    proba = {"a": 0.5, "b": 0.3, "c": 0.2}
    assert least_confidence(proba) == pytest.approx((1 - 0.5) * 3 / 2)
    assert margin(proba) == pytest.approx(1 - (0.5 - 0.3))
    h = -(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2))
    assert entropy(proba) == pytest.approx(h / math.log(3))

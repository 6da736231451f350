"""Committee disagreement measures."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import consensus_entropy, max_kl, vote_entropy

MEASURES = [vote_entropy, consensus_entropy, max_kl]

member = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=4).map(
    lambda w: {f"c{i}": x / sum(w) if sum(w) else 1.0 / len(w) for i, x in enumerate(w)}
)


@settings(max_examples=80, deadline=None)
@given(members=st.lists(member, max_size=6))
@pytest.mark.parametrize("measure", MEASURES)
def test_measures_lie_in_unit_interval(measure, members):
    """Every measure returns a value in [0, 1] for any committee."""
    assert 0.0 <= measure(members) <= 1.0


@pytest.mark.parametrize("measure", [vote_entropy, max_kl])
def test_unanimous_committee_does_not_disagree(measure):
    """Identical members give zero vote entropy and zero KL to the mean."""
    m = {"a": 0.6, "b": 0.4}
    assert measure([m, dict(m), dict(m)]) == pytest.approx(0.0)


@pytest.mark.parametrize("measure", MEASURES)
def test_fewer_than_two_members_is_no_disagreement(measure):
    """An empty or single-member committee has nobody to disagree with."""
    assert measure([]) == 0.0
    assert measure([{"a": 0.5, "b": 0.5}]) == 0.0


def test_consensus_entropy_sees_shared_uncertainty_that_kl_ignores():
    """Members agreeing on 50/50 have maximal consensus entropy but no KL disagreement."""
    members = [{"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}]
    assert consensus_entropy(members) == pytest.approx(1.0)
    assert max_kl(members) == pytest.approx(0.0)


def test_missing_classes_count_as_zero_probability():
    """A member without a class gives it probability 0 (prod and online models may differ)."""
    assert vote_entropy([{"a": 1.0}, {"b": 1.0}]) == pytest.approx(1.0)
    assert max_kl([{"a": 1.0}, {"b": 1.0}]) == pytest.approx(1.0)


def test_vote_entropy_normalised_by_committee_size():
    """Three members split over three classes is maximal; two agreeing of three is partial."""
    split = [{"a": 1.0, "b": 0, "c": 0}, {"a": 0, "b": 1.0, "c": 0}, {"a": 0, "b": 0, "c": 1.0}]
    assert vote_entropy(split) == pytest.approx(1.0)
    assert 0.0 < vote_entropy([split[0], split[0], split[1]]) < 1.0

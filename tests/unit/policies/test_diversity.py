"""Diversity filter."""

import pickle

import pytest

from policies import DiversityFilter, FixedUncertainty, FractionBudget, ItemView, Policy, Reason
from policies.diversity import cosine

UNCERTAIN = {"x": 0.5, "y": 0.5}


def _ask(f, key, vector):
    item = ItemView(key, UNCERTAIN, vector=vector)
    d = f.decide(item, True)
    if d.query:
        f.commit(d, item)
    return d


def test_skips_near_duplicates_of_recent_queries():
    """An item within the radius of a queried vector is skipped with p = 0."""
    f = DiversityFilter(FixedUncertainty(0.9), radius=1.0)
    assert _ask(f, "a", (0.0, 0.0)).query
    d = _ask(f, "b", (0.5, 0.5))
    assert (d.reason, d.probability) == (Reason.NEAR_DUPLICATE, 0.0)
    assert _ask(f, "c", (3.0, 0.0)).query


def test_memory_is_bounded_and_forgets_old_queries():
    """Only the last ``memory`` query vectors are compared with."""
    f = DiversityFilter(FixedUncertainty(0.9), radius=0.1, memory=2)
    for i, v in enumerate([(0.0,), (1.0,), (2.0,)]):
        assert _ask(f, f"q{i}", v).query
    assert len(f.state_dict()["recent"]) == 2
    assert _ask(f, "again", (0.0,)).query


def test_refused_queries_are_not_remembered():
    """Through a Policy, a query refused downstream (no commit) does not enter the memory."""
    p = Policy(DiversityFilter(FixedUncertainty(0.9), radius=1.0), FractionBudget(1.0, 10))
    d = p.decide(ItemView("a", UNCERTAIN, classes_seen=2, vector=(0.0,)), 0.0)
    assert d.query
    d2 = p.decide(ItemView("b", UNCERTAIN, classes_seen=2, vector=(0.1,)), 1.0)
    assert d2.query


def test_items_without_vector_pass():
    """No vector, or a different dimension, is never a near-duplicate."""
    f = DiversityFilter(FixedUncertainty(0.9), radius=10.0)
    _ask(f, "a", (0.0, 0.0))
    assert _ask(f, "b", ()).query
    assert _ask(f, "c", (0.0, 0.0, 0.0)).query


def test_cosine_metric():
    """Cosine distance ignores the vector's length."""
    assert cosine((1.0, 1.0), (3.0, 3.0)) == pytest.approx(0.0)
    f = DiversityFilter(FixedUncertainty(0.9), radius=0.01, metric="cosine")
    _ask(f, "a", (1.0, 1.0))
    assert _ask(f, "b", (5.0, 5.0)).reason is Reason.NEAR_DUPLICATE


def test_pickles_with_memory():
    """A pickled filter keeps its recent vectors."""
    f = DiversityFilter(FixedUncertainty(0.9), radius=1.0)
    _ask(f, "a", (0.0,))
    g = pickle.loads(pickle.dumps(f))
    assert _ask(g, "b", (0.1,)).reason is Reason.NEAR_DUPLICATE

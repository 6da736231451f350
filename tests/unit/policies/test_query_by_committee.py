"""Query by committee."""

import pytest

from policies import ItemView, QueryByCommittee, Reason

AGREE = ({"a": 0.9, "b": 0.1}, {"a": 0.8, "b": 0.2})
DISAGREE = ({"a": 0.9, "b": 0.1}, {"a": 0.1, "b": 0.9})


def test_deterministic_rule_queries_on_disagreement():
    """With a hard threshold, disagreement queries (p = 1) and agreement does not (p = 0)."""
    s = QueryByCommittee("vote_entropy", threshold=0.5)
    yes = s.decide(ItemView("a", {}, committee=DISAGREE), True)
    no = s.decide(ItemView("b", {}, committee=AGREE), True)
    assert (yes.reason, yes.probability) == (Reason.DISAGREEMENT, 1.0)
    assert (no.query, no.probability) == (False, 0.0)


def test_randomized_rule_probability_proportional_to_disagreement():
    """Randomized: p = min(1, disagreement / threshold)."""
    s = QueryByCommittee("max_kl", threshold=0.5, randomized=True)
    d = s.decide(ItemView("a", {}, committee=AGREE), True)
    assert 0.0 < d.probability < 1.0
    assert d.probability == pytest.approx(min(1.0, d.utility / 0.5))


def test_no_committee_means_no_query():
    """An item without committee members is not queried."""
    d = QueryByCommittee().decide(ItemView("a", {"x": 0.5, "y": 0.5}), True)
    assert not d.query


def test_unknown_measure_rejected():
    """A measure name outside the table is a ValueError."""
    with pytest.raises(ValueError, match="measure"):
        QueryByCommittee("nope")

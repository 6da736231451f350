"""A random exploration share: some training queries drawn uniformly, the rest by the rule."""

from __future__ import annotations

from policies.decision import Reason
from policies.uniform_slice import UniformSlice


class RandomExploration(UniformSlice):
    """Wrap a strategy; spend a ``share`` of the ``budget`` on uniformly random training queries.

    An uncertainty ranking alone can lock onto one region of the feature space (and never see
    what it gets wrong elsewhere); a small uniform share keeps labelling everywhere, as the random
    part of Split does (Zliobaite et al. 2014). Each item is explored with probability
    ``r = share * budget`` (a per-item hash draw, so a redelivered item gets the same answer);
    explored items carry reason ``random`` and, unlike audit items, are used for training. A
    ranking budget never refuses them (their inclusion probability is known), and the wrapped
    strategy sees every item. The logged inclusion probability is ``r + (1 - r) * p_inner``; an
    item the ranking refuses keeps ``r`` (its ``unranked`` part). Explored queries are
    training labels too, so they are passed to the wrapped strategy's ``commit``: subgroup quotas
    count them towards their shares, and a diversity filter remembers them.

    Parameters
    ----------
    inner
        The selection rule for the rest of the budget.
    share
        Share of the budget spent on random exploration; 0 disables it.
    budget
        The budget as a fraction of the stream.
    seed
        Seed of the exploration draw.

    >>> from policies import FixedUncertainty, ItemView
    >>> s = RandomExploration(FixedUncertainty(0.6), share=0.2, budget=0.5)
    >>> d = s.decide(ItemView("a", {"x": 0.9, "y": 0.1}), allowed=True)
    >>> round(d.probability, 2), d.reason in (Reason.RANDOM, Reason.CONFIDENT)
    (0.1, True)
    """

    reason = Reason.RANDOM
    name = "explore"
    version = "1"
    salt = "explore"
    commits_slice = True  # explored labels train, so quotas and diversity count them

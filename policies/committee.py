"""Committee disagreement measures, each normalised to [0, 1] (1 = most disagreement).

A committee is a sequence of class-probability mappings, one per member: the members of a River
ensemble, or simply the production model and the online model. Classes missing from a member's
mapping have probability 0 for that member. With fewer than two members there is nobody to
disagree, so every measure returns 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Committee = Sequence[Mapping[str, float]]


def _classes(members: Committee) -> list[str]:
    seen: dict[str, None] = {}
    for member in members:
        for c in member:
            seen[c] = None
    return list(seen)


def _mean(members: Committee, classes: list[str]) -> dict[str, float]:
    m = len(members)
    return {c: sum(member.get(c, 0.0) for member in members) / m for c in classes}


def _entropy(probs: Sequence[float]) -> float:
    return -sum(p * math.log(p) for p in probs if p > 0.0)


def vote_entropy(members: Committee) -> float:
    """Entropy of the members' hard votes, normalised by its maximum ``log(min(M, K))``.

    Each member votes for its most probable class (the first one on ties). Hard votes ignore how
    sure each member is; :func:`consensus_entropy` and :func:`max_kl` use the probabilities.

    >>> vote_entropy([{"a": 0.9, "b": 0.1}, {"a": 0.2, "b": 0.8}])
    1.0
    >>> vote_entropy([{"a": 0.9, "b": 0.1}, {"a": 0.6, "b": 0.4}])
    0.0
    """
    m = len(members)
    classes = _classes(members)
    top = min(m, len(classes))
    if m < 2 or top < 2:
        return 0.0
    votes: dict[str, int] = {}
    for member in members:
        if member:
            winner = max(member, key=member.__getitem__)
            votes[winner] = votes.get(winner, 0) + 1
    h = _entropy([n / m for n in votes.values()])
    return min(1.0, max(0.0, h / math.log(top)))


def consensus_entropy(members: Committee) -> float:
    """Entropy of the committee's mean distribution, normalised by ``log(K)``.

    High when the consensus is uncertain, whether the members agree on that uncertainty or not.

    >>> round(consensus_entropy([{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]), 6)
    1.0
    """
    classes = _classes(members)
    if len(members) < 2 or len(classes) < 2:
        return 0.0
    mean = _mean(members, classes)
    return min(1.0, max(0.0, _entropy(list(mean.values())) / math.log(len(classes))))


def max_kl(members: Committee) -> float:
    """Largest KL divergence from a member to the committee mean, normalised by ``log(M)``.

    ``KL(P_m || mean) <= log(M)`` because the mean gives every class at least ``P_m / M``, so the
    ratio lies in [0, 1]. Unlike :func:`consensus_entropy` it is 0 when all members agree, even
    on an uncertain answer.

    >>> max_kl([{"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}])
    0.0
    >>> round(max_kl([{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 1.0}]), 6)
    1.0
    """
    m = len(members)
    classes = _classes(members)
    if m < 2 or len(classes) < 2:
        return 0.0
    mean = _mean(members, classes)
    worst = 0.0
    for member in members:
        kl = 0.0
        for c in classes:
            p = member.get(c, 0.0)
            # mean >= p / m > 0 exactly; a mean that underflowed to 0 belongs to a term of ~0.
            if p > 0.0 and mean[c] > 0.0:
                kl += p * math.log(p / mean[c])
        worst = max(worst, kl)
    return min(1.0, max(0.0, worst / math.log(m)))

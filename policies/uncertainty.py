"""Uncertainty measures over a class-probability mapping, each in [0, 1] (1 = most uncertain)."""

from __future__ import annotations

import math
from collections.abc import Mapping


def least_confidence(proba: Mapping[str, float]) -> float:
    """One minus the top class probability, rescaled to [0, 1] by the number of classes.

    An empty mapping (the model cannot score yet) is maximally uncertain.

    >>> least_confidence({"a": 0.5, "b": 0.5})
    1.0
    >>> least_confidence({"a": 1.0, "b": 0.0})
    0.0
    """
    k = len(proba)
    if k < 2:
        return 1.0
    top = max(proba.values())
    return min(1.0, max(0.0, (1.0 - top) * k / (k - 1)))


def margin(proba: Mapping[str, float]) -> float:
    """One minus the gap between the two most probable classes.

    >>> margin({"a": 0.5, "b": 0.5})
    1.0
    """
    if len(proba) < 2:
        return 1.0
    first, second = sorted(proba.values(), reverse=True)[:2]
    return min(1.0, max(0.0, 1.0 - (first - second)))


def entropy(proba: Mapping[str, float]) -> float:
    """Shannon entropy normalised by log(k), so it lies in [0, 1].

    >>> round(entropy({"a": 0.5, "b": 0.5}), 6)
    1.0
    """
    k = len(proba)
    if k < 2:
        return 1.0
    h = -sum(p * math.log(p) for p in proba.values() if p > 0.0)
    return min(1.0, max(0.0, h / math.log(k)))


def top_probability(proba: Mapping[str, float]) -> float:
    """The most probable class's probability; 0 when the model cannot score yet.

    Threshold rules query when this is low, so an unscored item counts as maximally uncertain.

    >>> top_probability({"a": 0.7, "b": 0.3})
    0.7
    >>> top_probability({})
    0.0
    """
    return max(proba.values()) if len(proba) >= 2 else 0.0


def top_two_gap(proba: Mapping[str, float]) -> float:
    """Difference between the two most probable classes, in [0, 1]; 0 when unscored.

    For a binary model this equals ``2 * |p - 0.5|``.

    >>> round(top_two_gap({"a": 0.8, "b": 0.2}), 6)
    0.6
    """
    if len(proba) < 2:
        return 0.0
    first, second = sorted(proba.values(), reverse=True)[:2]
    return min(1.0, max(0.0, first - second))

"""What a policy sees of one streamed item."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ItemView:
    """The decision-relevant view of one prediction.

    Parameters
    ----------
    key
        Stable item id; per-item randomness is derived from it, so a redelivered item gets the
        same draw.
    proba
        Class probabilities from the scoring model (online, production or both, as configured).
        Empty when the model cannot score yet.
    cost
        Label cost in budget units (1.0 = one label).
    classes_seen
        How many distinct classes the online model has learned so far (cold start needs two).
    group
        Subgroup attributes, e.g. ``{"region": "EU"}``.
    committee
        Class probabilities from each member of a committee (a River ensemble's members, or the
        production and the online model); empty when there is no committee.
    vector
        Numeric feature vector, for diversity filtering; empty when not provided.
    """

    key: str
    proba: Mapping[str, float]
    cost: float = 1.0
    classes_seen: int = 0
    group: Mapping[str, str] = field(default_factory=dict)
    committee: tuple[Mapping[str, float], ...] = ()
    vector: tuple[float, ...] = ()

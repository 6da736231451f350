"""Diversity filtering: skip items that are near-duplicates of recent queries."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.strategy import Strategy, commit_hook

Vector = Sequence[float]


def euclidean(a: Vector, b: Vector) -> float:
    """Euclidean distance.

    >>> euclidean((0.0, 0.0), (3.0, 4.0))
    5.0
    """
    return math.dist(a, b)


def cosine(a: Vector, b: Vector) -> float:
    """Cosine distance ``1 - cos(a, b)`` in [0, 2]; 1 when either vector is zero.

    >>> cosine((1.0, 0.0), (2.0, 0.0))
    0.0
    """
    na = math.hypot(*a)
    nb = math.hypot(*b)
    if na == 0.0 or nb == 0.0:
        return 1.0
    return 1.0 - sum(x * y for x, y in zip(a, b, strict=True)) / (na * nb)


METRICS: dict[str, Callable[[Vector, Vector], float]] = {"euclidean": euclidean, "cosine": cosine}


class DiversityFilter:
    """Wrap a strategy and skip items within ``radius`` of one of the last ``memory`` queries.

    A burst of near-identical items (a bot, a retried batch) would otherwise spend the budget on
    one region of the feature space. The filter compares ``item.vector`` with the vectors of the
    last ``memory`` queries that were really made (recorded by ``commit``); an item without a
    vector, or of a different dimension, always passes. Skipped items get reason
    ``near_duplicate`` and inclusion probability 0.

    Parameters
    ----------
    inner
        The strategy whose queries are filtered.
    radius
        Distance under which an item counts as a near-duplicate; larger skips more.
    memory
        How many recent query vectors are kept (memory and time per item grow with it).
    metric
        ``"euclidean"`` or ``"cosine"``.

    >>> from policies import FixedUncertainty
    >>> f = DiversityFilter(FixedUncertainty(0.9), radius=0.5)
    >>> first = ItemView("a", {"x": 0.5, "y": 0.5}, vector=(0.0, 0.0))
    >>> f.commit(f.decide(first, allowed=True), first)
    >>> f.decide(ItemView("b", {"x": 0.5, "y": 0.5}, vector=(0.1, 0.0)), True).reason
    <Reason.NEAR_DUPLICATE: 'near_duplicate'>
    """

    name = "diversity"
    version = "1"

    def __init__(
        self, inner: Strategy, radius: float, memory: int = 50, metric: str = "euclidean"
    ) -> None:
        if radius < 0.0:
            raise ValueError("radius must be >= 0")
        if memory < 1:
            raise ValueError("memory must be >= 1")
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {sorted(METRICS)}")
        self.inner = inner
        self.radius = radius
        self.memory = memory
        self.metric = metric
        self.name = f"diversity({inner.name})"
        self.version = f"1+{inner.version}"
        self._distance = METRICS[metric]
        self._recent: deque[tuple[float, ...]] = deque(maxlen=memory)
        self._inner_hook = commit_hook(inner)

    def _near(self, vector: tuple[float, ...]) -> bool:
        if not vector:
            return False
        n = len(vector)
        return any(len(v) == n and self._distance(v, vector) <= self.radius for v in self._recent)

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        decision = self.inner.decide(item, allowed)
        if decision.probability == 0.0 or not self._near(item.vector):
            return decision
        if decision.query:
            return decision.refused(Reason.NEAR_DUPLICATE)
        return decision.scaled(0.0)

    def commit(self, decision: Decision, item: ItemView) -> None:
        if item.vector:
            self._recent.append(tuple(item.vector))
        if self._inner_hook is not None:
            self._inner_hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "recent": [list(v) for v in self._recent]}

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state["inner"])
        self._recent = deque(
            (tuple(float(x) for x in v) for v in state["recent"]), maxlen=self.memory
        )

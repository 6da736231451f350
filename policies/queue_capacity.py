"""Queue-capacity gate: ask less as an expert queue fills, and not at all when it is full."""

from __future__ import annotations

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform


class QueueCapacityGate:
    """Thin a decision by ``(1 - depth / capacity) ** exponent``.

    Applied after the policy decides and before the request is sent, with the queue's current
    depth. A query is kept with probability ``f = (1 - depth / capacity) ** exponent`` (a per-item
    hash draw, independent of the strategy's), otherwise refused with reason ``queue_tight``; a
    full queue refuses every query with reason ``queue_full``. Either way the logged inclusion
    probability is multiplied by ``f``, so it stays exact. Refusals are counted. The queue then
    fills gradually and rarely overflows, instead of accepting everything until it is full.

    Parameters
    ----------
    capacity
        Capacity of the expert queue (outstanding requests).
    exponent
        Larger thins sooner (at every depth the keep probability is lower); 0 disables
        thinning (only a full queue refuses).
    seed
        Seed of the thinning draw.

    >>> g = QueueCapacityGate(capacity=10, exponent=1.0)
    >>> d = Decision(True, Reason.UNCERTAIN, 1.0, 0.4)
    >>> g.apply(d, ItemView("a", {}), depth=10).reason
    <Reason.QUEUE_FULL: 'queue_full'>
    >>> g.factor(depth=5)
    0.5
    >>> kept = [g.apply(d, ItemView(str(i), {}), depth=5).query for i in range(1000)]
    >>> 450 < sum(kept) < 550, g.refused_full
    (True, 1)
    """

    def __init__(self, capacity: int, exponent: float = 2.0, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        if exponent < 0.0:
            raise ValueError("exponent must be >= 0")
        self.capacity = capacity
        self.exponent = exponent
        self.seed = seed
        self._full = 0
        self._tight = 0

    @property
    def refused_full(self) -> int:
        """Queries refused because the queue was full."""
        return self._full

    @property
    def refused_tight(self) -> int:
        """Queries thinned out because the queue was filling."""
        return self._tight

    def factor(self, depth: int) -> float:
        """The keep probability at this queue depth."""
        free = 1.0 - min(max(depth, 0), self.capacity) / self.capacity
        return free**self.exponent if free > 0.0 else 0.0

    def apply(self, decision: Decision, item: ItemView, depth: int) -> Decision:
        """The decision after the queue's say."""
        f = self.factor(depth)
        if not decision.query:
            return decision.scaled(f)
        if f <= 0.0:
            self._full += 1
            return decision.refused(Reason.QUEUE_FULL)
        if f < 1.0 and item_uniform(item.key, "queue", self.seed) >= f:
            self._tight += 1
            return decision.refused(Reason.QUEUE_TIGHT)
        return decision.scaled(f)

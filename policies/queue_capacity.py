"""Queue-capacity gate: ask less as an expert queue fills, and not at all when it is full."""

from __future__ import annotations

from policies.batch import Row
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform


class QueueCapacityGate:
    """Thin a decision by ``(1 - depth / capacity) ** exponent`` while the queue has room.

    Applied after the policy decides and before the request is sent, with the queue's current
    depth, to every decision (queried or not) for a queue that still has room; a full queue is
    the admission step's business (refuse, replace or spill). A query is kept with probability
    ``f = (1 - depth / capacity) ** exponent`` (a per-item hash draw, independent of the
    strategy's), otherwise dropped with reason ``queue_tight``. Either way the logged inclusion
    probability is multiplied by ``f``, so it stays the item's marginal chance of a query. The
    queue then fills gradually and rarely overflows, instead of accepting everything until it is
    full.

    Parameters
    ----------
    capacity
        Capacity of the expert queue (outstanding requests).
    exponent
        Larger thins sooner (at every depth the keep probability is lower); 0 disables
        thinning.
    seed
        Seed of the thinning draw.

    >>> g = QueueCapacityGate(capacity=10, exponent=1.0)
    >>> d = Decision(query=True, reason=Reason.UNCERTAIN, probability=1.0, utility=0.4)
    >>> g.factor(depth=5)
    0.5
    >>> kept = [g.apply(d, ItemView(str(i), {}), depth=5) for i in range(1000)]
    >>> 450 < sum(k.query for k in kept) < 550, {k.probability for k in kept}
    (True, {0.5})
    """

    def __init__(self, capacity: int, exponent: float = 2.0, seed: int = 0) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        if exponent < 0.0:
            raise ValueError("exponent must be >= 0")
        self.capacity = capacity
        self.exponent = exponent
        self.seed = seed

    def factor(self, depth: int) -> float:
        """The keep probability at this queue depth (0 at capacity)."""
        free = 1.0 - min(max(depth, 0), self.capacity) / self.capacity
        return free**self.exponent if free > 0.0 else 0.0

    def apply(self, decision: Decision, item: ItemView, depth: int) -> Decision:
        """The decision after the queue's say, for a queue with room (``depth < capacity``)."""
        f = self.factor(depth)
        if decision.query and f < 1.0 and item_uniform(item.key, "queue", self.seed) >= f:
            return decision.thinned(Reason.QUEUE_TIGHT, f)
        return decision.scaled(f)

    def thin_row(self, row: Row, key: str, factor: float) -> Row:
        """:meth:`apply` on a decision row (see :mod:`policies.batch`) of the item ``key``, with
        the queue's keep probability ``factor`` (:meth:`factor` of its depth)."""
        query, reason, probability, utility, threshold, unranked = row
        if query and factor < 1.0 and item_uniform(key, "queue", self.seed) >= factor:
            return (
                False,
                Reason.QUEUE_TIGHT,
                probability * factor,
                utility,
                threshold,
                unranked * factor,
            )
        return (query, reason, probability * factor, utility, threshold, unranked * factor)

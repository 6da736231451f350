"""Micro-batches: how many records the loop takes per poll.

An item's decision latency runs from its batch reaching the process to its evidence being
handed to the producer, so the last item of a batch waits for all the others: a batch of 500
at 40 us per item keeps it 20 ms. After any pause (a transaction commit, a status refresh) the
client has buffered a burst, and a size cap alone lets that burst through in one batch.
:class:`MicroBatches` caps the batch by time instead: as many records as the measured cost per
item lets through within ``budget`` seconds, never more than ``limit`` (the configured
``consume_batch_size``) nor fewer than ``floor``. A burst is then taken in several batches
(the records not yet taken wait in the client's queue, where they were anyway), and a steady
stream keeps small batches.

The budget's size is a floor under load, not a ceiling: each batch also pays a fixed cost
(the poll, the tick, the per-batch work of every stage), so at a high enough rate batches of
the budget's size cannot keep up, the client's queue grows and every poll comes back full.
When polls have come back full for ``patience`` seconds the size grows by ``growth`` (and again
after each further ``patience`` of full polls), up to ``limit``; each short poll (caught up)
takes an eighth of the way back to the budget's size. The size so settles at about the
smallest batch that keeps up, which keeps an item's wait as short as the rate allows: a jump
to ``limit`` would catch up sooner but make every item of those batches wait for 500. Catching
up after a start or an outage reaches ``limit`` in a few tenths of a second. The first batch
takes ``floor`` records, before any cost is known.

Without a budget the size stays ``limit``: a file source (a replay, a backtest) must not let
the machine's speed decide how predictions and labels interleave.
"""

from __future__ import annotations

import math

BUDGET_SECONDS = 0.001
"""Processing time one batch may take by default (``kafka.batch_budget_seconds``; the p99
decision-latency target is 2 ms)."""


class MicroBatches:
    """The size of the next batch, from an exponentially weighted cost per item.

    >>> sizes = MicroBatches(limit=500, budget=0.001)
    >>> sizes.size  # nothing measured yet: the floor
    8
    >>> sizes.observe(items=8, seconds=0.0004)  # 50 us per item
    >>> sizes.size
    20
    """

    def __init__(
        self,
        limit: int,
        budget: float | None = BUDGET_SECONDS,
        floor: int = 8,
        weight: float = 0.2,
        patience: float = 0.05,
        growth: float = 1.5,
    ) -> None:
        self.limit = limit
        self.budget = budget
        self.floor = min(floor, limit)
        self.weight = weight
        self.patience = patience
        self.growth = growth
        self._cost: float | None = None
        # The first batch is small: its items would otherwise wait for up to ``limit`` others
        # at a cost not yet known (a backlog at start grows the size within a few patiences).
        self._size = limit if budget is None else self.floor
        self._full_since: float | None = None

    @property
    def size(self) -> int:
        """Records to take with the next poll."""
        return self._size

    @property
    def cost(self) -> float | None:
        """Seconds per item, smoothed (None before the first batch)."""
        return self._cost

    def observe(self, items: int, seconds: float, now: float | None = None) -> None:
        """A batch of ``items`` took ``seconds`` (the poll asked for :attr:`size`; ``now`` is
        ``time.monotonic()``, for the growth rule): update the cost and the next size."""
        if items <= 0 or seconds < 0 or self.budget is None:
            return
        full = items >= self._size
        per_item = seconds / items
        cost = self._cost
        self._cost = per_item if cost is None else cost + self.weight * (per_item - cost)
        fit = int(self.budget / self._cost) if self._cost > 0 else self.limit
        fit = max(self.floor, min(self.limit, fit))
        size = self._size
        if not full or now is None:
            self._full_since = None
            if cost is None or size <= fit:  # the first measurement replaces the placeholder
                self._size = fit
            else:
                self._size = size - max(1, (size - fit) // 8)
            return
        if self._full_since is None:
            self._full_since = now
        elif now - self._full_since >= self.patience:
            size = min(self.limit, math.ceil(size * self.growth))
            self._full_since = now
        self._size = max(fit, size)

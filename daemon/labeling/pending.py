"""Outstanding label requests: bounded per queue, expired after each queue's TTL."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterator

from daemon.contracts.pending_request import PendingRequest


class PendingStore:
    """Requests awaiting labels, with a capacity per queue and deadline-ordered expiry.

    Changes since the last :meth:`drain_changes` are tracked so the state log only receives what
    changed (upserts and tombstones), not the whole store.

    >>> store = PendingStore({"q": 1})
    >>> r = PendingRequest(id="a", request_id="r", queue="q", features={}, requested_at=0,
    ...                    deadline=10, probability=1.0, reason="uncertain")
    >>> store.add(r); store.has_room("q")
    False
    >>> [x.id for x in store.expire(now=10)]
    ['a']
    """

    def __init__(self, capacities: dict[str, int]) -> None:
        self.capacities = dict(capacities)
        self._items: dict[str, PendingRequest] = {}
        self._counts: Counter[str] = Counter()
        self._deadlines: list[tuple[float, str]] = []
        self._changed: dict[str, PendingRequest | None] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[PendingRequest]:
        return iter(list(self._items.values()))

    def get(self, item_id: str) -> PendingRequest | None:
        """The request for an item, if outstanding."""
        return self._items.get(item_id)

    def outstanding(self, queue: str) -> int:
        """Requests waiting in one queue."""
        return self._counts[queue]

    def counts(self) -> dict[str, int]:
        """Outstanding requests per configured queue."""
        return {q: self._counts[q] for q in self.capacities}

    def has_room(self, queue: str) -> bool:
        """Whether one more request fits in the queue."""
        return self._counts[queue] < self.capacities.get(queue, 0)

    @property
    def capacity(self) -> int:
        """Total capacity over all queues."""
        return sum(self.capacities.values())

    def add(self, request: PendingRequest) -> None:
        """Track a new request, or replace the one for the same item (new labels, new queue)."""
        old = self._items.get(request.id)
        if old is not None:
            self._counts[old.queue] -= 1
        self._items[request.id] = request
        self._counts[request.queue] += 1
        self._changed[request.id] = request
        if old is None or old.deadline != request.deadline:
            heapq.heappush(self._deadlines, (request.deadline, request.id))

    def pop(self, item_id: str) -> PendingRequest | None:
        """Remove and return the request for an item, or None if unknown/expired/answered."""
        request = self._items.pop(item_id, None)
        if request is not None:
            self._counts[request.queue] -= 1
            self._changed[item_id] = None
        return request

    def forget(self, item_id: str) -> None:
        """Drop a request without recording a change: its partition moved to another replica,
        which restores it from the state log."""
        request = self._items.pop(item_id, None)
        if request is not None:
            self._counts[request.queue] -= 1
        self._changed.pop(item_id, None)

    def expire(self, now: float) -> list[PendingRequest]:
        """Remove and return every request whose deadline has passed."""
        expired = []
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            deadline, item_id = heapq.heappop(heap)
            request = self._items.get(item_id)
            if request is not None and request.deadline == deadline:
                self.pop(item_id)
                expired.append(request)
        return expired

    def lowest_utility(self, queue: str) -> PendingRequest | None:
        """The waiting request of a queue that is least worth its place (for replacement)."""
        candidates = [r for r in self._items.values() if r.queue == queue]
        return min(candidates, key=lambda r: r.utility) if candidates else None

    def oldest_ages(self, now: float) -> dict[str, float]:
        """Per queue, seconds since its oldest outstanding request was made."""
        ages = dict.fromkeys(self.capacities, 0.0)
        missing = {q for q in self.capacities if self._counts[q] > 0}
        for request in self._items.values():
            if not missing:
                break
            if request.queue in missing:
                ages[request.queue] = max(0.0, now - request.requested_at)
                missing.discard(request.queue)
        return ages

    def drain_changes(self) -> dict[str, PendingRequest | None]:
        """Changes since the last call: request = upsert, None = removed."""
        changes, self._changed = self._changed, {}
        return changes

    def restore(self, requests: list[PendingRequest]) -> None:
        """Load requests from the state log, in request order."""
        for request in sorted(requests, key=lambda r: r.requested_at):
            self._items[request.id] = request
            self._counts[request.queue] += 1
            heapq.heappush(self._deadlines, (request.deadline, request.id))

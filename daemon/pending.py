"""Outstanding label requests, bounded by capacity and expired after a TTL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PendingRequest(BaseModel):
    """What labelgate keeps about a request until its label arrives: enough to learn from it."""

    model_config = ConfigDict(frozen=True)

    id: str
    request_id: str
    queue: str
    features: dict[str, Any]
    requested_at: float
    deadline: float
    probability: float
    reason: str
    utility: float = 0.0
    prediction: str | None = None
    confidence: float | None = None
    group: dict[str, str] = Field(default_factory=dict)


class PendingStore:
    """Requests awaiting a label, in deadline order (the TTL is the same for all of a store).

    Changes since the last :meth:`drain_changes` are tracked so the state log only receives
    what changed (upserts and tombstones), not the whole store.

    >>> store = PendingStore(capacity=1)
    >>> r = PendingRequest(id="a", request_id="r", queue="q", features={}, requested_at=0,
    ...                    deadline=10, probability=1.0, reason="uncertain")
    >>> store.add(r); store.full
    True
    >>> [x.id for x in store.expire(now=10)]
    ['a']
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: dict[str, PendingRequest] = {}
        self._changed: dict[str, PendingRequest | None] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[PendingRequest]:
        return iter(list(self._items.values()))

    @property
    def full(self) -> bool:
        """No room for another request."""
        return len(self._items) >= self.capacity

    def add(self, request: PendingRequest) -> None:
        """Track a new request."""
        self._items[request.id] = request
        self._changed[request.id] = request

    def pop(self, item_id: str) -> PendingRequest | None:
        """Remove and return the request for an item, or None if unknown/expired/answered."""
        request = self._items.pop(item_id, None)
        if request is not None:
            self._changed[item_id] = None
        return request

    def expire(self, now: float) -> list[PendingRequest]:
        """Remove and return every request whose deadline has passed."""
        expired = []
        for item_id, request in list(self._items.items()):
            if request.deadline > now:
                break
            expired.append(request)
            del self._items[item_id]
            self._changed[item_id] = None
        return expired

    def oldest_age(self, now: float) -> float:
        """Seconds since the oldest outstanding request was made (0 when none)."""
        for request in self._items.values():
            return max(0.0, now - request.requested_at)
        return 0.0

    def drain_changes(self) -> dict[str, PendingRequest | None]:
        """Changes since the last call: request = upsert, None = removed."""
        changes, self._changed = self._changed, {}
        return changes

    def restore(self, requests: list[PendingRequest]) -> None:
        """Load requests from the state log, in deadline order."""
        for request in sorted(requests, key=lambda r: r.deadline):
            self._items[request.id] = request

"""The durable annotation cursor: which annotation versions the bridge has already handled,
and up to when Label Studio has been read, so a catch-up poll after downtime forwards exactly
what was missed.

The cursor lives in a compacted Kafka topic (one key per bridge), written only after the label
events it covers are delivered. A crash between the two re-forwards a few answers; the daemon
drops a second label from the same labeler for the same request, so nothing counts twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

from connectors.errors import DeliveryError
from connectors.kafka import KafkaOutputs, ensure_topics, read_topic

#: Closed requests remembered (oldest forgotten first): a replay of one never reopens its task.
CLOSED_MEMORY = 100_000

#: How far behind the read mark a poll looks again: Label Studio's writes commit in any order
#: within this window, so an annotation stamped just before the mark may appear just after it.
SLACK = timedelta(seconds=120)


class Cursor:
    """Handled annotation versions (id → ``updated_at``), the read mark, and the requests
    whose task the bridge removed (so a replayed request does not bring its task back).

    >>> c, v = Cursor(), "2026-01-01T00:00:00Z"
    >>> c.seen(5, v), c.mark(5, v), c.seen(5, v)
    (False, None, True)
    >>> c.seen(5, "2026-01-01T00:01:00Z")  # an update is a new version
    False
    """

    def __init__(
        self,
        handled: Mapping[int, str] | None = None,
        since: str | None = None,
        closed: list[str] | None = None,
    ) -> None:
        self.handled: dict[int, str] = dict(handled or {})
        self.since = since
        self.closed: dict[str, None] = dict.fromkeys(closed or [])
        self._dirty = False

    def close(self, request_id: str) -> None:
        """Remember a request whose task is gone for good (withdrawn, or skipped)."""
        self.closed[request_id] = None
        while len(self.closed) > CLOSED_MEMORY:
            del self.closed[next(iter(self.closed))]
        self._dirty = True

    def is_closed(self, request_id: str) -> bool:
        """Whether a request's task was removed (a replay must not create it again)."""
        return request_id in self.closed

    def seen(self, annotation_id: int, version: str) -> bool:
        """Whether this version of an annotation was handled (forwarded or dead-lettered)."""
        if self.handled.get(annotation_id) == version:
            return True
        # Older than the read mark minus the slack: an earlier poll covered it.
        return bool(
            self.since and annotation_id not in self.handled and _before(version, self.since)
        )

    def mark(self, annotation_id: int, version: str) -> None:
        """Record a handled annotation version."""
        self.handled[annotation_id] = version
        self._dirty = True

    def forget(self, annotation_ids: list[int]) -> None:
        """Drop annotations that no longer exist (deleted, or their task removed)."""
        for annotation_id in annotation_ids:
            if self.handled.pop(annotation_id, None) is not None:
                self._dirty = True

    def advance(self, since: str) -> None:
        """Move the read mark forward (never back) and prune versions it covers."""
        if self.since is not None and not _before(self.since, since, slack=timedelta(0)):
            return
        self.since = since
        self.handled = {
            k: v for k, v in self.handled.items() if not _before(v, since, slack=2 * SLACK)
        }
        self._dirty = True

    @property
    def poll_from(self) -> str | None:
        """Where the next catch-up poll starts (the read mark minus the slack)."""
        if self.since is None:
            return None
        return (_parse(self.since) - SLACK).isoformat().replace("+00:00", "Z")

    @property
    def dirty(self) -> bool:
        """Changed since the last save."""
        return self._dirty

    def saved(self) -> None:
        """The current state is durable."""
        self._dirty = False

    def to_json(self) -> bytes:
        """The cursor as strict JSON."""
        return json.dumps(
            {
                "since": self.since,
                "handled": {str(k): v for k, v in self.handled.items()},
                "closed": list(self.closed),
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Cursor:
        """Parse a saved cursor."""
        doc = json.loads(raw)
        handled = {int(k): str(v) for k, v in dict(doc.get("handled") or {}).items()}
        since = doc.get("since")
        closed = [str(r) for r in doc.get("closed") or []]
        return cls(handled, since if isinstance(since, str) else None, closed)


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _before(version: str, mark: str, slack: timedelta = SLACK) -> bool:
    try:
        return _parse(version) < _parse(mark) - slack
    except ValueError:
        return False


class CursorStore(Protocol):
    """Where a cursor is kept."""

    def load(self) -> Cursor:
        """The last saved cursor (an empty one at first start)."""
        ...

    def save(self, cursor: Cursor) -> None:
        """Make the cursor durable (raises on failure)."""
        ...


class KafkaCursorStore:
    """A cursor as the latest value of one key in a compacted topic (created if missing), read
    ``read_committed``."""

    def __init__(
        self,
        conf: Mapping[str, str],
        topic: str,
        key: str,
        timeout: float = 30.0,
        replication_factor: int = 1,
    ) -> None:
        self.conf = dict(conf)
        self.topic = topic
        self.key = key
        self.timeout = timeout
        self.replication_factor = replication_factor
        self._outputs = KafkaOutputs(self.conf)
        self._read_conf = {**self.conf, "isolation.level": "read_committed"}

    def load(self) -> Cursor:
        """Read the topic to its end and keep this bridge's last value."""
        ensure_topics(
            self.conf,
            [self.topic],
            1,
            self.replication_factor,
            compacted=[self.topic],
            timeout=self.timeout,
        )
        latest: bytes | None = None
        for key, value in read_topic(self._read_conf, self.topic, timeout=self.timeout):
            if key == self.key.encode():
                latest = value
        return Cursor() if latest is None else Cursor.from_json(latest)

    def save(self, cursor: Cursor) -> None:
        """Write and wait for the delivery."""
        failures: list[Exception] = []
        self._outputs.produce(
            self.topic,
            cursor.to_json(),
            self.key.encode(),
            lambda err: failures.append(err) if err is not None else None,
        )
        left = self._outputs.flush(self.timeout)
        if left or failures:
            raise DeliveryError(f"cursor not saved to {self.topic!r}: {failures or left}")
        cursor.saved()

    def close(self) -> None:
        """Drop the producer."""
        self._outputs.close()


class MemoryCursorStore:
    """A cursor kept in memory (tests, and a bridge without Kafka)."""

    def __init__(self) -> None:
        self.raw: bytes | None = None

    def load(self) -> Cursor:
        """The last saved cursor."""
        return Cursor() if self.raw is None else Cursor.from_json(self.raw)

    def save(self, cursor: Cursor) -> None:
        """Keep a copy."""
        self.raw = cursor.to_json()
        cursor.saved()

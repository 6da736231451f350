"""What the daemon needs from a source and a sink, independent of Kafka or files."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from connectors.record import Record

DeliveryCallback = Callable[[Exception | None], None]
TopicPartition = tuple[str, int]


class Sink(Protocol):
    """Somewhere to write messages, with a delivery report per message."""

    name: str

    def send(
        self,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue one message; ``on_delivery`` is called once it is durable (or failed)."""

    def serve_deliveries(self) -> None:
        """Serve pending delivery reports without blocking."""

    def flush(self, timeout: float) -> int:
        """Wait (at most ``timeout`` seconds) until everything is delivered; return what is left."""

    def close(self) -> None:
        """Release resources (after a flush)."""


class Source(Protocol):
    """Something to read messages from."""

    name: str

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` messages, waiting at most ``timeout`` seconds for the first."""

    @property
    def exhausted(self) -> bool:
        """True when a finite source (a file) has nothing more to give."""

    def close(self) -> None:
        """Release resources; a consumer group member leaves the group."""


class CommittingSource(Source, Protocol):
    """A source in a consumer group whose progress is committed."""

    def store_offsets(self, positions: Mapping[TopicPartition, int]) -> None:
        """Mark the next offset to resume from, per partition, as safe to commit."""

    def commit(self) -> None:
        """Commit the stored offsets synchronously."""

    def listen(
        self,
        on_assign: Callable[[list[TopicPartition]], None],
        on_revoke: Callable[[list[TopicPartition]], None],
    ) -> None:
        """Be told of rebalances (a no-op for sources without a consumer group)."""

    @property
    def assigned(self) -> bool:
        """Whether partitions are assigned (readiness)."""

    def share(self) -> float:
        """This member's share of the topic's partitions (1.0 without a consumer group)."""

    def lag(self) -> dict[TopicPartition, int]:
        """Messages behind the end, per assigned partition (best effort)."""

    def positions(self) -> dict[TopicPartition, int]:
        """Next offset to read, per assigned partition: what a transaction commits."""

    def partition_count(self) -> int:
        """Partitions of the topic (1 without a consumer group)."""


class Transaction(Protocol):
    """Atomic commit of everything produced since the last commit, with the input offsets.

    ``commit`` raises :class:`~connectors.errors.TransactionAbortedError` when the transaction could
    not be committed; nothing of it is then visible to ``read_committed`` readers.
    """

    def start(self, timeout: float) -> None:
        """Fence earlier incarnations (aborting what they left open); open a transaction."""

    def commit(self, offsets: Mapping[TopicPartition, int], timeout: float) -> None:
        """Send ``offsets`` (next offset per input partition) to the transaction and commit."""

    def abort(self, timeout: float) -> None:
        """Abort the open transaction (best effort; a crash has the same effect)."""

"""Which input offsets are safe to commit: those whose every output has been delivered."""

from __future__ import annotations

from collections import deque

from connectors.protocols import TopicPartition


class Ticket:
    """One input message awaiting delivery of ``remaining`` outputs."""

    __slots__ = ("failed", "offset", "remaining", "tp")

    def __init__(self, tp: TopicPartition, offset: int, remaining: int) -> None:
        self.tp = tp
        self.offset = offset
        self.remaining = remaining
        self.failed: Exception | None = None

    def delivered(self, error: Exception | None) -> None:
        """Delivery-report callback for one output of this message."""
        if error is not None:
            self.failed = error
        self.remaining -= 1


class OffsetTracker:
    """Tracks in-flight messages per partition and yields the next offset safe to commit.

    A partition's commit position only moves past a message once all earlier messages of that
    partition are fully delivered, so a crash never skips an item whose outputs were lost.

    >>> t = OffsetTracker()
    >>> a = t.begin(("p", 0), 0, outputs=1); b = t.begin(("p", 0), 1, outputs=2)
    >>> b.delivered(None); b.delivered(None); t.advance()
    {}
    >>> a.delivered(None); t.advance()
    {('p', 0): 2}
    """

    def __init__(self) -> None:
        self._inflight: dict[TopicPartition, deque[Ticket]] = {}
        self.failures: list[Exception] = []

    def begin(self, tp: TopicPartition, offset: int, outputs: int) -> Ticket:
        """Register a message before its outputs are sent."""
        ticket = Ticket(tp, offset, outputs)
        queue = self._inflight.get(tp)
        if queue is None:
            queue = self._inflight[tp] = deque()
        queue.append(ticket)
        return ticket

    def advance(self) -> dict[TopicPartition, int]:
        """Next offsets (last done + 1) that moved since the last call, per partition.

        A failed delivery stops the partition there and is recorded in ``failures``.
        """
        moved: dict[TopicPartition, int] = {}
        for tp, queue in self._inflight.items():
            last = -1
            while queue and queue[0].remaining <= 0:
                head = queue[0]
                if head.failed is not None:
                    self.failures.append(head.failed)
                    break
                last = head.offset
                queue.popleft()
            if last >= 0:
                moved[tp] = last + 1
        return moved

    def drop(self, partitions: list[TopicPartition]) -> None:
        """Forget revoked partitions: their new owner resumes from the last commit."""
        for tp in partitions:
            self._inflight.pop(tp, None)

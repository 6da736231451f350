"""Consumer-group rebalances: hand partitions over cleanly.

Before partitions are taken away, everything processed so far is committed (in exactly-once mode
one transaction: outputs, the partitions' state and the offsets), so the next owner resumes
exactly where this replica stopped, with the state committed with it; the offset bookkeeping and
the partition state then forget the revoked partitions. Assignment is cooperative: only the
partitions that move are revoked and assigned, the others keep flowing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from connectors.protocols import TopicPartition
from daemon.service.offsets import OffsetTracker

log = structlog.get_logger("labelgate.rebalance")


class RebalanceHandler:
    """Callbacks for the group source; ``commit`` is the daemon's deliver-checkpoint-commit."""

    def __init__(
        self,
        commit: Callable[[float], None],
        tracker: OffsetTracker,
        timeout: float,
        assigned: Callable[[list[TopicPartition]], None] = lambda _p: None,
        revoked: Callable[[list[TopicPartition]], None] = lambda _p: None,
    ) -> None:
        self.commit = commit
        self.tracker = tracker
        self.timeout = timeout
        self.assigned = assigned
        self.revoked = revoked
        self.revocations = 0
        self.suspended = False

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        """New partitions: restore their state; the consumer resumes from their committed
        offsets."""
        log.info("rebalance_assigned", partitions=[p for _, p in partitions])
        if partitions and not self.suspended:
            self.assigned(partitions)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Partitions are leaving: commit what was processed (within the timeout), then forget
        them. Nothing is committed once the daemon is abandoning its uncommitted work."""
        if self.suspended or not partitions:
            return
        self.revocations += 1
        started = time.monotonic()
        self.commit(started + self.timeout)
        self.tracker.drop(partitions)
        self.revoked(partitions)
        log.info(
            "rebalance_revoked",
            partitions=[p for _, p in partitions],
            seconds=round(time.monotonic() - started, 3),
        )

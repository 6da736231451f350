"""Consumer-group rebalances: hand partitions over cleanly.

Before partitions are taken away, everything processed so far is committed (exactly-once: one
transaction with the outputs, the partitions' state and the offsets), so the next owner resumes
exactly where this replica stopped, with the state committed with it; the commit bookkeeping and
the partition state then forget the revoked partitions. Assignment is cooperative: only the
partitions that move are revoked and assigned, the others keep flowing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from connectors.protocols import TopicPartition
from daemon.service.commit import CommitProtocol

log = structlog.get_logger("labelgate.rebalance")


def _nothing(_partitions: list[TopicPartition]) -> None:
    return None


class RebalanceHandler:
    """Callbacks for the group source, on top of the commit protocol.

    Parameters
    ----------
    commit
        Commits before partitions leave.
    timeout
        Seconds a revocation may spend committing.
    assigned
        Called with the partitions that arrive (their state is restored).
    revoked
        Called with the partitions that left, after the hand-over commit.
    """

    def __init__(
        self,
        commit: CommitProtocol,
        timeout: float,
        assigned: Callable[[list[TopicPartition]], None] = _nothing,
        revoked: Callable[[list[TopicPartition]], None] = _nothing,
    ) -> None:
        self.commit = commit
        self.timeout = timeout
        self.assigned = assigned
        self.revoked = revoked
        self.suspended = False

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        """New partitions: restore their state; the consumer resumes from their committed
        offsets."""
        log.info("rebalance_assigned", partitions=[p for _, p in partitions])
        if partitions and not self.suspended:
            self.assigned(partitions)

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Partitions are leaving: commit what was processed (within the timeout), then forget
        them. Nothing is committed once the daemon abandons its uncommitted work."""
        if self.suspended or not partitions:
            return
        started = time.monotonic()
        self.commit.commit(started + self.timeout)
        self.commit.forget(partitions)
        self.revoked(partitions)
        log.info(
            "rebalance_revoked",
            partitions=[p for _, p in partitions],
            seconds=round(time.monotonic() - started, 3),
        )

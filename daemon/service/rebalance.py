"""Consumer-group rebalances: hand partitions over cleanly.

Before partitions are taken away, everything processed so far is delivered and committed, so the
next owner resumes exactly where this replica stopped (no reprocessed items, no duplicate
evidence); the offset bookkeeping then forgets the revoked partitions.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog

from connectors.protocols import TopicPartition
from daemon.service.commit import CommitProtocol

log = structlog.get_logger("labelgate.rebalance")


class RebalanceHandler:
    """Callbacks for the group source, on top of the commit protocol.

    Parameters
    ----------
    commit
        Delivers, checkpoints and commits before partitions leave.
    timeout
        Seconds a revocation may spend committing.
    assigned
        Called after partitions arrive (the budget is re-divided by the new share).
    """

    def __init__(
        self,
        commit: CommitProtocol,
        timeout: float,
        assigned: Callable[[], None] = lambda: None,
    ) -> None:
        self.commit = commit
        self.timeout = timeout
        self.assigned = assigned

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        """New partitions: the consumer resumes from their committed offsets; the daemon
        re-divides the budget by its new share of partitions."""
        log.info("rebalance_assigned", partitions=[p for _, p in partitions])
        self.assigned()

    def on_revoke(self, partitions: list[TopicPartition]) -> None:
        """Partitions are leaving: deliver and commit what was processed, within the timeout."""
        started = time.monotonic()
        self.commit.commit(started + self.timeout)
        self.commit.forget(partitions)
        log.info(
            "rebalance_revoked",
            partitions=[p for _, p in partitions],
            seconds=round(time.monotonic() - started, 3),
        )

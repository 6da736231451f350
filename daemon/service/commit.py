"""The commit protocol: when is an input done, and how is "done" made durable.

:class:`CommitProtocol` is the interface the loop, the emit stage and the rebalance handler
use. Two implementations, chosen once by ``kafka.delivery``:

:class:`ExactlyOnceCommit` (the default)
    Everything the pipeline emits since the last commit belongs to one open Kafka
    transaction. A commit prepares the model's checkpoint (with the label positions it has
    learned), writes the state changes (per-partition ledgers, open and closed requests, label
    positions; the instance's policy state) into the same transaction, sends the input offsets
    to it (``send_offsets_to_transaction``), commits it, and only then puts the prepared
    checkpoint in place (:mod:`daemon.service.checkpoint`); the next transaction begins. A crash
    or an aborted commit leaves nothing of the open transaction visible to ``read_committed``
    readers, and the restart resumes from the committed offsets with the state committed with
    them: no request is sent twice, no spend is counted twice, no item is lost.
:class:`AtLeastOnceCommit` (``delivery: at_least_once``, for clusters without transactions)
    Every record is *tracked* with the number of outputs it produced; offsets move past it
    only once those are delivered. A commit delivers every output, prepares the model's
    checkpoint, writes the state changes, puts the checkpoint in place once they are delivered
    and commits the offsets. A crash between two commits replays the
    inputs since the last one: their requests and evidence can be sent again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import structlog

from connectors.protocols import DeliveryCallback, TopicPartition, Transaction
from daemon.errors import DeliveryError
from daemon.monitoring.metrics import Metrics
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint
from daemon.service.clock import Clock
from daemon.service.offsets import OffsetTracker
from daemon.service.partitions import PartitionState
from daemon.service.state import PolicyState, StateLog
from daemon.service.wiring import Channels
from policies import Policy

log = structlog.get_logger("labelgate.commit")


class CommitProtocol(Protocol):
    """How processed inputs become committed ones."""

    @property
    def last_commit(self) -> float | None:
        """Wall-clock time of the last successful commit (None before the first)."""

    def begin(self) -> None:
        """Open the unit of work the next outputs belong to, if none is open (idempotent).

        The loop calls it before it takes labels and again after each poll (a rebalance inside
        the poll may have committed).
        """

    def track(self, tp: TopicPartition, offset: int, outputs: int) -> DeliveryCallback | None:
        """Register an input record before its ``outputs`` are sent; the returned callback is
        the delivery report of each of them (None: no report is needed)."""

    def settle(self) -> None:
        """Serve delivery reports and move offsets past fully delivered inputs.

        Raises :class:`~daemon.errors.DeliveryError` when an output could not be delivered.
        """

    def due(self, mono: float) -> bool:
        """Whether the commit interval has passed (``mono`` is ``time.monotonic()``)."""

    def commit(self, deadline: float, final: bool = False) -> bool:
        """Make everything processed so far durable by ``deadline`` (monotonic); say whether
        the offsets were committed. ``final`` (shutdown) checkpoints even an unchanged model
        and goes on when some outputs are still undelivered."""

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Drop the bookkeeping of revoked partitions (their new owner resumes from the last
        commit)."""


@dataclass(frozen=True)
class DurableState:
    """What a commit makes durable besides the outputs, and how it is written.

    Parameters
    ----------
    partitions
        The per-partition state (ledgers, open and closed requests) whose changes go to the
        state log.
    policy
        Its state (budget ledgers, strategy memories) goes to the state log.
    model
        The online model, checkpointed at each commit when it has learned something.
    positions
        The label positions the model and the state are consistent with.
    state_log
        Where state changes are written.
    clock
        The time stamped on the policy state.
    """

    partitions: PartitionState
    policy: Policy
    model: ModelCheckpoint
    positions: LabelPositions
    state_log: StateLog
    clock: Clock

    def write(self, final: bool = False) -> None:
        """Prepare the model's checkpoint, then write every state change to the state log.

        The checkpoint records, per input partition, the label positions applied to its
        requests, and the state written next the same positions and the checkpoint's token;
        :meth:`durable` puts the checkpoint in place once the state is committed, and a restart
        keeps the prepared one only if the committed state names it. ``final`` checkpoints
        even an unchanged model.
        """
        now = self.clock.now()
        reader = self.positions.snapshot()
        self.model.prepare(self.partitions.positions(reader), final)
        self.partitions.write(self.state_log, reader, now)
        self.state_log.write(
            PolicyState(
                policy=self.policy.state_dict(),
                label_offsets={str(p): o for p, o in reader.items()},
                saved_at=now,
                model_checkpoint=self.model.token,
            )
        )

    def durable(self) -> None:
        """What :meth:`write` wrote is committed: the prepared checkpoint goes in place."""
        self.model.promote()


class _PeriodicCommit:
    """What both protocols share: the channels, the durable state, the commit interval and
    the time of the last commit.

    Parameters
    ----------
    channels
        The sinks to flush or serve and the source whose offsets are committed.
    state
        Written at each commit.
    metrics
        ``commits`` counter.
    interval
        Seconds between periodic commits.
    """

    def __init__(
        self, channels: Channels, state: DurableState, metrics: Metrics, interval: float
    ) -> None:
        self.channels = channels
        self.state = state
        self.metrics = metrics
        self.interval = interval
        self._last_mono = time.monotonic()
        self._last_wall: float | None = None

    @property
    def last_commit(self) -> float | None:
        """Wall-clock time of the last successful commit (None before the first)."""
        return self._last_wall

    def due(self, mono: float) -> bool:
        """Whether the commit interval has passed."""
        return mono - self._last_mono >= self.interval

    def _serve_deliveries(self) -> None:
        for sink in self.channels.outputs():
            sink.serve_deliveries()

    def _committed(self) -> None:
        self.metrics.commits.inc()
        self._last_mono = time.monotonic()
        self._last_wall = time.time()


class AtLeastOnceCommit(_PeriodicCommit):
    """Flush, checkpoint, state write, offset commit; replays after a crash, never skips.

    Parameters are those of :class:`_PeriodicCommit`.
    """

    def __init__(
        self, channels: Channels, state: DurableState, metrics: Metrics, interval: float
    ) -> None:
        super().__init__(channels, state, metrics, interval)
        self._tracker = OffsetTracker()

    def begin(self) -> None:
        """Nothing to open: at-least-once outputs are sent as they come."""

    def track(self, tp: TopicPartition, offset: int, outputs: int) -> DeliveryCallback:
        """Register an input record before its outputs are sent."""
        return self._tracker.begin(tp, offset, outputs).delivered

    def settle(self) -> None:
        """Serve delivery reports and store the offsets that became safe."""
        self._serve_deliveries()
        self._store_offsets()

    def commit(self, deadline: float, final: bool = False) -> bool:
        """Deliver everything, checkpoint the model, write state, then commit offsets."""
        left = self.channels.flush(max(0.0, deadline - time.monotonic()))
        self._store_offsets()
        if left:
            log.warning("flush_incomplete", undelivered=left, final=final)
            if not final:
                return False
        self.state.write(final)
        left = self.channels.flush_state(max(0.0, deadline - time.monotonic()))
        if left:
            log.error("state_flush_incomplete", undelivered=left)
            return False
        self.state.durable()
        self.channels.predictions.commit()
        self._committed()
        return True

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Drop the bookkeeping of revoked partitions."""
        self._tracker.drop(partitions)

    def _store_offsets(self) -> None:
        moved = self._tracker.advance()
        if self._tracker.failures:
            raise DeliveryError(f"output delivery failed: {self._tracker.failures[0]}")
        if moved:
            self.channels.predictions.store_offsets(moved)


class ExactlyOnceCommit(_PeriodicCommit):
    """One Kafka transaction per commit: outputs, state changes and input offsets together.

    Parameters are those of :class:`_PeriodicCommit`, plus the ``transaction`` that commits
    the producer's open transaction with the consumer group's offsets. A failed commit raises
    :class:`~daemon.errors.TransactionAbortedError`: the transaction was aborted, and the
    daemon must resume from the committed state.
    """

    def __init__(
        self,
        channels: Channels,
        transaction: Transaction,
        state: DurableState,
        metrics: Metrics,
        interval: float,
    ) -> None:
        super().__init__(channels, state, metrics, interval)
        self.transaction = transaction

    def begin(self) -> None:
        """Nothing to open here: the producer begins the next transaction as soon as one is
        committed (and the first one when the daemon starts)."""

    def track(self, tp: TopicPartition, offset: int, outputs: int) -> DeliveryCallback | None:
        """Nothing to track: the transaction makes the outputs visible with the offsets, and
        an output that cannot be delivered fails the transaction's commit (so no per-message
        report, and no callback for the producer to call, is needed)."""
        return None

    def settle(self) -> None:
        """Serve delivery reports (errors surface when the transaction commits).

        State records are not written here, between batches, although they would belong to
        the same transaction: an open transaction holds the state topic's last stable offset,
        so a new owner restoring a partition (``read_committed``) would wait for this
        replica's next commit, up to a commit interval (``test_rebalance_kafka.py``).
        """
        self._serve_deliveries()

    def commit(self, deadline: float, final: bool = False) -> bool:
        """Checkpoint, state changes, offsets, commit: all or nothing."""
        self.state.write(final)
        offsets = self.channels.predictions.positions()
        self.transaction.commit(offsets, max(1.0, deadline - time.monotonic()))
        self.state.durable()
        self._committed()
        return True

    def forget(self, partitions: list[TopicPartition]) -> None:
        """Nothing to forget: offsets are read from the consumer at each commit."""
        return None

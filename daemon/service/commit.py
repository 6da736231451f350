"""The commit protocol: when is an input done, and how is "done" made durable.

Every record the pipeline emits is *tracked* with the number of outputs it produced; offsets
move past it only once those are delivered (:meth:`CommitProtocol.settle`). A *commit* then
makes the progress durable, in this order: deliver every output (flush), checkpoint the
model, write the state changes (pending requests, policy and budget state, label positions)
to the state log, and commit the input offsets. A crash between two commits replays the
inputs since the last one (at-least-once).

:class:`CommitProtocol` is the interface the loop, the emit stage and the rebalance handler
use; :class:`AtLeastOnceCommit` is today's implementation. A transactional implementation
(begin → produce the outputs → state changes → ``send_offsets_to_transaction`` → commit) fits
the same interface: ``track`` and ``settle`` become bookkeeping of the open transaction and
``commit`` commits it.
"""

from __future__ import annotations

import time
from typing import Protocol

import structlog

from connectors.protocols import DeliveryCallback, TopicPartition
from daemon.errors import DeliveryError
from daemon.labeling.queues import ExpertQueues
from daemon.monitoring.metrics import Metrics
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint
from daemon.service.clock import Clock
from daemon.service.offsets import OffsetTracker
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

    def track(self, tp: TopicPartition, offset: int, outputs: int) -> DeliveryCallback:
        """Register an input record before its ``outputs`` are sent; the returned callback is
        the delivery report of each of them."""

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


class AtLeastOnceCommit:
    """Flush, checkpoint, state write, offset commit; replays after a crash, never skips.

    Parameters
    ----------
    channels
        The sinks to flush and the source whose offsets are committed.
    queues
        The open requests (their changes go to the state log).
    policy
        Its state (budget ledgers, strategy memories) goes to the state log.
    model
        The online model, checkpointed at each commit when it has learned something.
    positions
        The label positions the model and the state are consistent with.
    state_log
        Where state changes are written.
    metrics, clock
        ``commits`` counter; the time stamped on the policy state.
    interval
        Seconds between periodic commits.
    """

    def __init__(
        self,
        channels: Channels,
        queues: ExpertQueues,
        policy: Policy,
        model: ModelCheckpoint,
        positions: LabelPositions,
        state_log: StateLog,
        metrics: Metrics,
        clock: Clock,
        interval: float,
    ) -> None:
        self.channels = channels
        self.queues = queues
        self.policy = policy
        self.model = model
        self.positions = positions
        self.state_log = state_log
        self.metrics = metrics
        self.clock = clock
        self.interval = interval
        self._tracker = OffsetTracker()
        self._last_mono = time.monotonic()
        self._last_wall: float | None = None

    @property
    def last_commit(self) -> float | None:
        """Wall-clock time of the last successful commit (None before the first)."""
        return self._last_wall

    def begin(self) -> None:
        """Nothing to open: at-least-once outputs are sent as they come."""

    def track(self, tp: TopicPartition, offset: int, outputs: int) -> DeliveryCallback:
        """Register an input record before its outputs are sent."""
        return self._tracker.begin(tp, offset, outputs).delivered

    def settle(self) -> None:
        """Serve delivery reports and store the offsets that became safe."""
        for sink in self.channels.outputs():
            sink.serve_deliveries()
        self._store_offsets()

    def due(self, mono: float) -> bool:
        """Whether the commit interval has passed."""
        return mono - self._last_mono >= self.interval

    def commit(self, deadline: float, final: bool = False) -> bool:
        """Deliver everything, checkpoint the model, write state, then commit offsets."""
        left = self.channels.flush(max(0.0, deadline - time.monotonic()))
        self._store_offsets()
        if left:
            log.warning("flush_incomplete", undelivered=left, final=final)
            if not final:
                return False
        positions = self.positions.snapshot()
        self.model.save(positions, final)
        policy_state = PolicyState(
            policy=self.policy.state_dict(),
            label_offsets={str(p): o for p, o in positions.items()},
            saved_at=self.clock.now(),
        )
        self.state_log.write(self.queues.drain_changes(), policy_state)
        left = self.channels.flush_state(max(0.0, deadline - time.monotonic()))
        if left:
            log.error("state_flush_incomplete", undelivered=left)
            return False
        self.channels.predictions.commit()
        self.metrics.commits.inc()
        self._last_mono = time.monotonic()
        self._last_wall = time.time()
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

"""The daemon: startup, run, tick and shutdown; the work is done by its collaborators.

``run`` reads like a table of contents: beat → take labels → poll a batch → pipeline (decode →
score → decide → admit → emit) → tick (settle offsets, expire requests, commit when due,
refresh lag and status) → check stop. It shuts down on every exit path. Everything produced
between two commits belongs to the commit protocol's unit of work (``commit.begin``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from daemon.config import Settings
from daemon.contracts.messages import RequestOutcome
from daemon.errors import TransactionAbortedError
from daemon.labeling.intake import LabelIntake
from daemon.labeling.queues import ExpertQueues
from daemon.model.learner import Learner
from daemon.monitoring.metrics import Metrics
from daemon.monitoring.status import Status
from daemon.service.batching import MicroBatches
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint
from daemon.service.clock import Clock
from daemon.service.commit import CommitProtocol
from daemon.service.health import Health
from daemon.service.labels import LabelPath
from daemon.service.lag import LagPoller
from daemon.service.lifecycle import StopFlag
from daemon.service.pipeline import Pipeline
from daemon.service.rebalance import RebalanceHandler
from daemon.service.restore import Restorer
from daemon.service.snapshot import StatusAssembler
from daemon.service.wiring import Channels
from policies import Policy

log = structlog.get_logger("labelgate.loop")

_STATUS_INTERVAL = 0.5


@dataclass(frozen=True)
class Parts:
    """The collaborators of one daemon, built by :func:`daemon.service.app.build_daemon`."""

    channels: Channels
    pipeline: Pipeline
    labels: LabelPath
    positions: LabelPositions
    commit: CommitProtocol
    rebalance: RebalanceHandler
    restorer: Restorer
    reporter: StatusAssembler
    lag: LagPoller
    queues: ExpertQueues
    intake: LabelIntake
    policy: Policy
    model: ModelCheckpoint
    metrics: Metrics
    health: Health
    clock: Clock


class Daemon:
    """One labelgate instance. Nothing happens in the constructor; :meth:`startup` restores
    durable state and :meth:`run` processes until asked to stop (or until a finite source is
    exhausted), then shuts down."""

    def __init__(
        self,
        settings: Settings,
        parts: Parts,
        on_tick: Callable[[Status], None] | None = None,
    ) -> None:
        self.settings = settings
        self.parts = parts
        self.on_tick = on_tick
        self.config_hash = settings.fingerprint()
        # Time-capped batches on Kafka; a file source keeps fixed batches (deterministic runs).
        self._batches = MicroBatches(
            settings.kafka.consume_batch_size,
            settings.kafka.batch_budget_seconds if settings.source == "kafka" else None,
        )
        self._poll_timeout = settings.kafka.poll_timeout_seconds
        self._started = False
        self._last_status = 0.0
        self._status = Status(pending_capacity=parts.queues.capacity)

    # ------------------------------------------------------------------ read-only views
    @property
    def status(self) -> Status:
        """The latest snapshot (safe to read from another thread)."""
        return self._status

    @property
    def health(self) -> Health:
        """Liveness and readiness."""
        return self.parts.health

    @property
    def rebalance(self) -> RebalanceHandler:
        """The consumer-group callbacks."""
        return self.parts.rebalance

    @property
    def policy(self) -> Policy:
        """The acquisition policy (its id names the run in reports)."""
        return self.parts.policy

    @property
    def learner(self) -> Learner:
        """The online model as it is now."""
        return self.parts.model.learner

    @property
    def metrics(self) -> Metrics:
        """The Prometheus metrics (on their injected registry)."""
        return self.parts.metrics

    # ------------------------------------------------------------------ lifecycle
    def startup(self) -> None:
        """Rebuild budget, open requests and the model from durable sources; open labels."""
        p = self.parts
        # Join the consumer group while the state is read: the join runs in the client's
        # background, and the assignment is served by the first poll, after the restore.
        p.channels.predictions.partition_count()
        start = p.restorer.restore()
        p.positions.reset(start)
        p.labels.open(p.channels.open_labels(start))
        p.health.restored = True
        self._started = True
        self._refresh_status()

    def run(self, stop: StopFlag, on_started: Callable[[], None] | None = None) -> None:
        """Process until ``stop`` is set or a finite source is exhausted; always shut down.

        ``on_started`` runs once after a successful :meth:`startup` made here (the service
        settles the heap there, out of the garbage collector's way).
        """
        if not self._started:
            try:
                self.startup()
            except BaseException:
                # Nothing was processed: close without committing (the state stays as it was).
                self._close(time.monotonic() + self.settings.shutdown_grace_seconds)
                raise
            if on_started is not None:
                on_started()
        p = self.parts
        predictions = p.channels.predictions
        try:
            while not stop.is_set:
                p.health.beat()
                p.commit.begin()
                p.labels.poll()
                records = predictions.poll(self._batches.size, self._poll_timeout)
                arrived = time.perf_counter()
                p.commit.begin()
                p.pipeline.process(records, arrived)
                if records:
                    self._batches.observe(
                        len(records), time.perf_counter() - arrived, time.monotonic()
                    )
                self.tick(time.monotonic())
                if predictions.exhausted and not records:
                    break
        except TransactionAbortedError:
            # Memory is ahead of the committed state: committing it now would be wrong.
            self.abandon()
            raise
        except BaseException:
            self.shutdown()
            raise
        self.shutdown()

    def abandon(self) -> None:
        """Drop everything since the last commit (the open transaction is aborted) and close,
        without committing: a new daemon resumes from the committed state."""
        p = self.parts
        p.rebalance.suspended = True
        p.health.restored = False
        try:
            if p.channels.transaction is not None:
                p.channels.transaction.abort(5.0)
        finally:
            p.labels.close()
            p.channels.close(5.0)

    def tick(self, mono: float) -> None:
        """Bookkeeping between batches: settle offsets, expire requests, commit when due,
        refresh lag and the status snapshot."""
        p = self.parts
        p.commit.settle()
        now = p.clock.now()
        for request in p.queues.expire(now):
            try:
                p.intake.close(request, now, RequestOutcome.EXPIRED)
            except Exception as exc:  # one request's failure must not stop the loop
                log.error("expiry_failed", item=request.id, queue=request.queue, exc_info=exc)
        if p.commit.due(mono):
            p.commit.commit(mono + self.settings.kafka.flush_timeout_seconds)
        p.reporter.refresh_feedback(mono)
        p.lag.poll(mono)
        p.health.assigned = p.channels.predictions.assigned
        if self.on_tick is not None or mono - self._last_status >= _STATUS_INTERVAL:
            self._refresh_status()
            self._last_status = mono

    def shutdown(self) -> None:
        """Stop consuming; deliver, checkpoint, commit; close. Bounded by the grace period."""
        p = self.parts
        p.health.stopping = True
        p.reporter.refresh_feedback()
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        try:
            p.commit.commit(deadline, final=True)
            self._refresh_status()
        finally:
            self._close(deadline)
        log.info(
            "stopped",
            items=self._status.items,
            model_version=p.model.learner.version,
            pending=len(p.queues),
        )

    def _close(self, deadline: float) -> None:
        """Close the label source and every channel (consumers leave their group)."""
        try:
            self.parts.labels.close()
        finally:
            self.parts.channels.close(max(0.0, deadline - time.monotonic()))

    def _refresh_status(self) -> None:
        self._status = self.parts.reporter.assemble()
        if self.on_tick is not None:
            self.on_tick(self._status)

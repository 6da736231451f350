"""Assemble and run one daemon: logging, metrics registry, ops server, signals, the loop."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from prometheus_client import CollectorRegistry

from connectors.protocols import TopicPartition
from daemon.config import Settings, StrategyName
from daemon.contracts.evidence import EvidenceBuilder
from daemon.contracts.fast_decode import ContractParser, FastParser
from daemon.contracts.parsing import Parser
from daemon.errors import ConnectorError, ServerError, TransactionAbortedError
from daemon.labeling.admission import AdmissionStep
from daemon.labeling.queues import ExpertQueues
from daemon.labeling.spend import SpendLedger
from daemon.model.batch import BatchScorer
from daemon.model.learner import Learner
from daemon.monitoring.burn import BurnRate
from daemon.monitoring.feedback import FeedbackMonitor
from daemon.monitoring.metrics import Metrics
from daemon.monitoring.status import Status
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint
from daemon.service.clock import Clock, EventClock, WallClock
from daemon.service.commit import (
    AtLeastOnceCommit,
    CommitProtocol,
    DurableState,
    ExactlyOnceCommit,
)
from daemon.service.dead_letters import DeadLetters
from daemon.service.health import Health
from daemon.service.labels import LabelPath
from daemon.service.lag import LagPoller
from daemon.service.lifecycle import StopFlag, capture_signals
from daemon.service.loop import Daemon, Parts
from daemon.service.partitions import LedgerDecide, OwnedAdmit, PartitionIntake, PartitionState
from daemon.service.pipeline import ItemSelect, Pipeline, Rejections
from daemon.service.preflight import check_startup
from daemon.service.rebalance import RebalanceHandler
from daemon.service.restore import Restorer
from daemon.service.server import OpsServer
from daemon.service.snapshot import StatusAssembler
from daemon.service.stages import Admit, BatchSelect, Decide, Decode, Emit, Score
from daemon.service.state import StateLog
from daemon.service.wiring import (
    Channels,
    build_file_channels,
    build_kafka_channels,
    build_policy,
)
from policies import Policy

if TYPE_CHECKING:
    from daemon.service.warmup import KafkaWarmup

log = structlog.get_logger("labelgate.app")

_LAG_INTERVAL = 5.0


def settle_heap() -> None:
    """Take what exists after start-up out of the cyclic garbage collector's way.

    With the default thresholds the collector's oldest generation, which holds every imported
    module and the restored model and requests, was scanned every few tens of thousands of
    allocations; the hot path allocates a few short-lived objects per item, so those scans took
    about a third of the daemon's CPU. Objects alive now are frozen (reference counting still
    frees them), and young collections run every 10,000 allocations instead of 700.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def build_daemon(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    on_tick: Callable[[Status], None] | None = None,
    metrics: Metrics | None = None,
    health: Health | None = None,
    reference: bool = False,
    channels: Channels | None = None,
) -> Daemon:
    """Build a daemon from settings without starting anything (no files; Kafka metadata).

    ``metrics`` and ``health`` are passed when a daemon replaces an abandoned one in the same
    process (after a lost transaction); the caller then watches them itself. ``reference``
    builds the straightforward hot path (see :func:`compose`). ``channels`` are the Kafka
    channels a :class:`~daemon.service.warmup.KafkaWarmup` made ready; by default they are
    built here.
    """
    clock: Clock = EventClock() if settings.clock == "event" else WallClock()
    if channels is None:
        channels = (
            build_kafka_channels(settings)
            if settings.source == "kafka"
            else build_file_channels(settings, clock)
        )
    watch = metrics is None
    metrics = metrics or Metrics(registry or CollectorRegistry())
    health = health or Health(settings.server.heartbeat_timeout_seconds)
    parts = compose(
        settings,
        channels,
        build_policy(settings),
        Learner(settings.model, settings.classes),
        metrics,
        health,
        clock,
        reference=reference,
    )
    daemon = Daemon(settings, parts, on_tick)
    if watch:
        metrics.watch(lambda: daemon.status, health.heartbeat_age, lambda: health.ready)
    predictions = channels.predictions

    def on_assign(tps: list[TopicPartition]) -> None:
        parts.rebalance.on_assign(tps)
        # Ready as soon as the assigned partitions' state is restored, not at the end of the
        # poll that served the assignment (a whole poll timeout later on an idle topic).
        health.assigned = predictions.assigned

    predictions.listen(on_assign, parts.rebalance.on_revoke)
    return daemon


def compose(
    settings: Settings,
    channels: Channels,
    policy: Policy,
    learner: Learner,
    metrics: Metrics,
    health: Health,
    clock: Clock,
    reference: bool = False,
) -> Parts:
    """The composition root: every collaborator of the daemon, each built once, here.

    ``reference`` builds the straightforward hot path instead of the fast one (the pydantic
    parser for every record, item-by-item scoring, deciding and admitting one item after the
    other with decision objects, self-contained evidence records): the same
    decisions, and the yardstick a test holds the fast path to.
    """
    mon = settings.monitoring
    p = settings.policy
    parser = Parser.from_settings(settings)
    rejections = Rejections(parser)
    queues = ExpertQueues(settings, channels.requests)
    partitions = PartitionState(
        queues,
        policy.budget,
        settings.closed_request_horizon_seconds,
        settings.closed_request_memory,
    )
    model = ModelCheckpoint(
        learner,
        settings.state_dir / f"model-{settings.instance_id}.pkl",
        partitions.partition_of,
    )
    positions = LabelPositions()
    burn = BurnRate(mon.burn_window_seconds)
    ledger = SpendLedger(policy, metrics, burn)
    vectors = p.diversity is not None
    admission = AdmissionStep(settings, queues, ledger, policy.id, vectors=vectors)
    evidence = EvidenceBuilder(
        settings.fingerprint(), policy.id, p.model_dump(mode="json"), compact=not reference
    )
    intake = PartitionIntake(partitions, queues, admission, metrics, evidence, channels.evidence)
    feedback = FeedbackMonitor(
        window=mon.window,
        top_k=mon.subgroup_top_k,
        attributes=mon.subgroup_attributes,
        shift_features=mon.shift_features,
        shift_bins=mon.shift_bins,
        shift_warmup=mon.shift_warmup,
        drift_delta=mon.drift_delta,
        audit_reasons=frozenset(mon.audit_reasons),
        non_human_roles=frozenset(mon.non_human_roles),
        classes=len(settings.classes),
    )
    state_log = StateLog(channels.state, settings.instance_id, channels.state_partitions)
    interval = settings.kafka.commit_interval_seconds
    durable = DurableState(partitions, policy, model, positions, state_log, clock)
    commit: CommitProtocol
    if channels.transaction is not None:
        commit = ExactlyOnceCommit(channels, channels.transaction, durable, metrics, interval)
    else:
        commit = AtLeastOnceCommit(channels, durable, metrics, interval)
    dead_letters = DeadLetters(channels.dead_letter, metrics)
    emit = Emit(
        commit,
        queues,
        intake,
        evidence,
        channels.evidence,
        dead_letters,
        model,
        feedback,
        metrics,
        rejections,
    )
    committee = p.strategy is StrategyName.QUERY_BY_COMMITTEE
    item_select = ItemSelect(
        LedgerDecide(
            partitions,
            Decide(policy, queues, admission, model, vectors=vectors, committee=committee),
        ),
        OwnedAdmit(partitions, Admit(admission, queues, policy)),
        rejections,
    )
    select = (
        item_select
        if reference
        else BatchSelect(
            policy,
            queues,
            admission,
            partitions,
            model,
            rejections,
            item_select,
            vectors=vectors,
            committee=committee,
        )
    )
    pipeline = Pipeline(
        decode=Decode(
            ContractParser(parser) if reference else FastParser(parser), clock, rejections
        ),
        score=Score(
            model, settings.model.score_source, rejections, None if reference else BatchScorer()
        ),
        select=select,
        emit=emit,
        metrics=metrics,
    )
    labels = LabelPath(
        parser,
        intake,
        model,
        positions,
        feedback,
        metrics,
        dead_letters,
        clock,
        settings.kafka.consume_batch_size,
    )
    lag = LagPoller(channels.predictions, _LAG_INTERVAL)
    reporter = StatusAssembler(
        settings,
        policy,
        queues,
        intake,
        burn,
        feedback,
        model,
        lag,
        commit,
        clock,
        lambda: emit.items,
        partitions.snapshot,
    )
    restorer = Restorer(
        channels,
        state_log,
        partitions,
        policy,
        model,
        labels,
        positions,
        clock,
        file_mode=settings.source == "file",
        start_timeout=settings.kafka.flush_timeout_seconds * 6,
    )
    return Parts(
        channels=channels,
        pipeline=pipeline,
        labels=labels,
        positions=positions,
        commit=commit,
        rebalance=RebalanceHandler(
            commit,
            settings.kafka.flush_timeout_seconds,
            restorer.assign,
            lambda tps: partitions.revoke(p for _, p in tps),
        ),
        restorer=restorer,
        reporter=reporter,
        lag=lag,
        queues=queues,
        intake=intake,
        policy=policy,
        model=model,
        metrics=metrics,
        health=health,
        clock=clock,
    )


def serve(
    settings: Settings,
    stop: StopFlag | None = None,
    on_tick: Callable[[Status], None] | None = None,
    warmup: KafkaWarmup | None = None,
) -> Daemon:
    """Run the daemon until SIGTERM/SIGINT (or the end of a file source); return it for reports.

    Startup checks (state_dir, Kafka properties, broker, topics, files, the ops port) run before
    anything is consumed, so a misconfiguration fails at once as one typed error.

    When a transaction is lost (aborted, fenced, partitions lost, the broker away for longer
    than the transaction timeout), the daemon's memory is ahead of what was committed: it is
    abandoned, and a new daemon resumes from the committed offsets and state, in this process.

    With a ``warmup`` (started by the CLI before this module was imported) the startup checks
    and the Kafka round trips have run beside the imports; its channels are used.
    """
    stop = stop or StopFlag()
    channels = None
    if warmup is None:
        check_startup(settings)
    else:
        channels = warmup.channels()
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    health = Health(settings.server.heartbeat_timeout_seconds)
    current = [build_daemon(settings, registry, on_tick, metrics, health, channels=channels)]
    metrics.watch(lambda: current[0].status, health.heartbeat_age, lambda: health.ready)
    server = None
    if settings.server.enabled:
        server = OpsServer(
            settings.server.host,
            settings.server.port,
            registry,
            health,
            lambda: current[0].status,
        )
        try:
            server.start()
        except OSError as exc:
            raise ServerError.cannot_listen(
                settings.server.host, settings.server.port, exc
            ) from exc
        log.info("ops_server_listening", host=settings.server.host, port=server.port)
    try:
        with capture_signals(stop):
            log.info(
                "starting",
                source=settings.source,
                policy=settings.policy.strategy.value,
                config_hash=current[0].config_hash,
            )
            while _lost_transaction(current[0], stop) and not stop.is_set:
                current[0] = _resume(settings, registry, on_tick, metrics, health, stop)
                settle_heap()
    finally:
        if server is not None:
            server.stop()
    return current[0]


def _lost_transaction(daemon: Daemon, stop: StopFlag) -> bool:
    """Run ``daemon``; say whether it ended because its transaction was lost (logged).

    The error is dropped here, before a new daemon is built: its traceback holds the frames of
    the abandoned daemon's calls, and with them its Kafka clients, which would otherwise stay
    alive (threads, sockets, error logs) for as long as the resume takes.
    """
    try:
        daemon.run(stop, on_started=settle_heap)
    except TransactionAbortedError as exc:
        log.warning(
            "transaction_lost",
            error=str(exc),
            fatal=exc.fatal,
            hint="resuming from the last committed offsets and state",
        )
        return True
    return False


def _resume(
    settings: Settings,
    registry: CollectorRegistry,
    on_tick: Callable[[Status], None] | None,
    metrics: Metrics,
    health: Health,
    stop: StopFlag,
) -> Daemon:
    """A new daemon restored from the committed state, retrying while the broker is away."""
    delay = 0.5
    while True:
        daemon: Daemon | None = None
        try:
            daemon = build_daemon(settings, registry, on_tick, metrics, health)
            daemon.startup()
            return daemon
        except (ConnectorError, TransactionAbortedError) as exc:
            log.warning("resume_failed", error=str(exc), retry_in=delay)
            if daemon is not None:
                daemon.abandon()
            if stop.is_set:
                raise
            health.beat()  # still trying: alive, not ready
            time.sleep(delay)
            delay = min(5.0, delay * 2)

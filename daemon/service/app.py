"""Assemble and run one daemon: logging, metrics registry, ops server, signals, the loop."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry

from daemon.config import Settings
from daemon.errors import ConnectorError, TransactionAbortedError
from daemon.model.learner import Learner
from daemon.monitoring.metrics import Metrics
from daemon.monitoring.status import Status
from daemon.service.clock import Clock, EventClock, WallClock
from daemon.service.health import Health
from daemon.service.lifecycle import StopFlag, capture_signals
from daemon.service.loop import Daemon
from daemon.service.server import OpsServer
from daemon.service.wiring import build_file_channels, build_kafka_channels, build_policy

log = structlog.get_logger("labelgate.app")


def build_daemon(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    on_tick: Callable[[Status], None] | None = None,
    metrics: Metrics | None = None,
    health: Health | None = None,
) -> Daemon:
    """Build a daemon from settings without starting anything.

    ``metrics`` and ``health`` are passed when a daemon replaces an abandoned one in the same
    process (after an aborted transaction); the caller then watches them itself.
    """
    clock: Clock = EventClock() if settings.clock == "event" else WallClock()
    channels = (
        build_kafka_channels(settings)
        if settings.source == "kafka"
        else build_file_channels(settings, clock)
    )
    watch = metrics is None
    metrics = metrics or Metrics(registry or CollectorRegistry())
    health = health or Health(settings.server.heartbeat_timeout_seconds)
    daemon = Daemon(
        settings,
        channels,
        build_policy(settings),
        Learner(settings.model, settings.classes),
        metrics,
        health,
        clock,
        on_tick,
    )
    if watch:
        metrics.watch(lambda: daemon.status, health.heartbeat_age, lambda: health.ready)
    channels.predictions.listen(daemon.rebalance.on_assign, daemon.rebalance.on_revoke)
    return daemon


def serve(
    settings: Settings,
    stop: StopFlag | None = None,
    on_tick: Callable[[Status], None] | None = None,
) -> Daemon:
    """Run the daemon until SIGTERM/SIGINT (or the end of a file source); return it for reports.

    When a transaction is lost (aborted, fenced, partitions lost, the broker away for longer than
    the transaction timeout), the daemon's in-memory state is ahead of what was committed: it is
    abandoned and a new one resumes from the committed offsets and state, in this process.
    """
    stop = stop or StopFlag()
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    health = Health(settings.server.heartbeat_timeout_seconds)
    current = [build_daemon(settings, registry, on_tick, metrics, health)]
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
        server.start()
        log.info("ops_server_listening", host=settings.server.host, port=server.port)
    try:
        with capture_signals(stop):
            log.info(
                "starting",
                source=settings.source,
                policy=settings.policy.strategy.value,
                config_hash=current[0].config_hash,
            )
            current[0].restore()
            while True:
                try:
                    current[0].run(stop)
                    break
                except TransactionAbortedError as exc:
                    log.warning(
                        "transaction_aborted",
                        error=str(exc),
                        fatal=exc.fatal,
                        hint="resuming from the last committed offsets and state",
                    )
                    current[0].abandon()
                    if stop.is_set:
                        break
                    current[0] = _resume(settings, registry, on_tick, metrics, health, stop)
    finally:
        if server is not None:
            server.stop()
    return current[0]


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
            daemon.restore()
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

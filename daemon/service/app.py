"""Assemble and run one daemon: logging, metrics registry, ops server, signals, the loop."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry

from daemon.config import Settings
from daemon.errors import ServerError
from daemon.model.learner import Learner
from daemon.monitoring.metrics import Metrics
from daemon.monitoring.status import Status
from daemon.service.clock import Clock, EventClock, WallClock
from daemon.service.health import Health
from daemon.service.lifecycle import StopFlag, capture_signals
from daemon.service.loop import Daemon
from daemon.service.preflight import check_startup
from daemon.service.server import OpsServer
from daemon.service.wiring import build_file_channels, build_kafka_channels, build_policy

log = structlog.get_logger("labelgate.app")


def build_daemon(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    on_tick: Callable[[Status], None] | None = None,
) -> Daemon:
    """Build a daemon from settings without starting anything."""
    clock: Clock = EventClock() if settings.clock == "event" else WallClock()
    channels = (
        build_kafka_channels(settings)
        if settings.source == "kafka"
        else build_file_channels(settings, clock)
    )
    metrics = Metrics(registry or CollectorRegistry())
    health = Health(settings.server.heartbeat_timeout_seconds)
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
    metrics.watch(lambda: daemon.status, health.heartbeat_age, lambda: health.ready)
    channels.predictions.listen(daemon.rebalance.on_assign, daemon.rebalance.on_revoke)
    return daemon


def serve(
    settings: Settings,
    stop: StopFlag | None = None,
    on_tick: Callable[[Status], None] | None = None,
) -> Daemon:
    """Run the daemon until SIGTERM/SIGINT (or the end of a file source); return it for reports.

    Startup checks (state_dir, Kafka properties, broker, topics, files, the ops port) run before
    anything is consumed, so a misconfiguration fails at once as one typed error.
    """
    stop = stop or StopFlag()
    check_startup(settings)
    registry = CollectorRegistry()
    daemon = build_daemon(settings, registry, on_tick)
    server = None
    if settings.server.enabled:
        server = OpsServer(
            settings.server.host,
            settings.server.port,
            registry,
            daemon.health,
            lambda: daemon.status,
        )
        try:
            server.start()
        except OSError as exc:
            address = f"{settings.server.host}:{settings.server.port}"
            raise ServerError(
                f"server.port {settings.server.port}: cannot listen on {address}: "
                f"{exc.strerror or exc}"
            ) from exc
        log.info("ops_server_listening", host=settings.server.host, port=server.port)
    try:
        with capture_signals(stop):
            log.info(
                "starting",
                source=settings.source,
                policy=settings.policy.strategy.value,
                config_hash=daemon.config_hash,
            )
            daemon.restore()
            daemon.run(stop)
    finally:
        if server is not None:
            server.stop()
    return daemon

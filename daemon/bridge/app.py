"""``labelgate bridge label-studio``: settings become one running bridge for one queue."""

from __future__ import annotations

import os
import queue

import structlog
from prometheus_client import CollectorRegistry

from connectors.kafka import KafkaGroupSource, KafkaOutputs
from connectors.label_studio import LabelStudioClient
from daemon.bridge.cursor import KafkaCursorStore
from daemon.bridge.loop import Bridge, ProjectSpec, Timing
from daemon.bridge.metrics import BridgeMetrics
from daemon.bridge.server import BridgeHealth, BridgeServer
from daemon.config import LabelStudioSettings, QueueSettings, Settings
from daemon.errors import ConfigError
from daemon.service.lifecycle import StopFlag, capture_signals

log = structlog.get_logger("labelgate.bridge")


def bridged_queue(
    settings: Settings, name: str | None
) -> tuple[QueueSettings, LabelStudioSettings]:
    """The queue to bridge: the named one, or the only one with a ``label_studio`` section."""
    served = [q for q in settings.queues if q.label_studio is not None]
    if name is not None:
        chosen = [q for q in settings.queues if q.name == name]
        if not chosen:
            raise ConfigError(
                f"no queue named {name!r}; defined: {[q.name for q in settings.queues]}"
            )
        if chosen[0].label_studio is None:
            raise ConfigError(f"queue {name!r} has no label_studio section")
        served = chosen
    if len(served) != 1:
        raise ConfigError(
            "name the queue to bridge with --queue; queues with a label_studio section: "
            f"{[q.name for q in served]}"
        )
    q = served[0]
    assert q.label_studio is not None
    return q, q.label_studio


def token_of(ls: LabelStudioSettings) -> str:
    """The API token: from the config, else from the environment variable it names."""
    if ls.token is not None:
        return ls.token.get_secret_value()
    token = os.environ.get(ls.token_env, "").strip()
    if not token:
        raise ConfigError(f"no Label Studio token: set label_studio.token or ${ls.token_env}")
    return token


def webhook_secret_of(ls: LabelStudioSettings) -> str | None:
    """The webhook secret: from the config, else from its environment variable, else none."""
    if ls.webhook_secret is not None:
        return ls.webhook_secret.get_secret_value()
    return os.environ.get(ls.webhook_secret_env, "").strip() or None


def build_bridge(
    settings: Settings, queue_name: str | None, stop: StopFlag, registry: CollectorRegistry
) -> tuple[Bridge, BridgeServer]:
    """The bridge and its HTTP server for one queue, not started."""
    q, ls = bridged_queue(settings, queue_name)
    kafka = settings.kafka
    common = kafka.common()
    client = LabelStudioClient(
        ls.url,
        token_of(ls),
        auth=ls.auth,
        timeout=ls.timeout_seconds,
        retries=ls.retries,
        backoff=ls.backoff_seconds,
        backoff_max=ls.backoff_max_seconds,
    )
    group = ls.group_id or f"{kafka.group_id}-bridge-{q.name}"
    source = KafkaGroupSource(
        {
            **common,
            # Requests become visible at the daemon's transaction commit: never read aborted ones.
            "isolation.level": "read_committed",
            # One bridge per queue: a restarted one takes its partitions back at once, and a
            # second one started by mistake is fenced instead of sharing the requests.
            "group.instance.id": group,
        },
        q.topic or kafka.topics.requests,
        group,
    )
    outputs = KafkaOutputs(common)
    health = BridgeHealth()
    inbox: queue.Queue[bytes] = queue.Queue()
    secret = webhook_secret_of(ls)
    bridge = Bridge(
        queue_name=q.name,
        client=client,
        spec=ProjectSpec(
            classes=list(settings.classes),
            title=ls.project_title or f"labelgate {q.name}",
            project_id=ls.project_id,
            label_config=ls.label_config,
            overlap=q.labels_required,
            webhook_url=ls.webhook_url,
            webhook_secret=secret,
            roles=dict(ls.roles),
            default_role=q.role,
        ),
        source=source,
        labels=outputs.sink(kafka.topics.labels),
        dead_letters=outputs.sink(kafka.topics.dead_letter),
        cursor_store=KafkaCursorStore(
            common,
            ls.cursor_topic,
            group,
            timeout=kafka.flush_timeout_seconds,
            replication_factor=kafka.topic_replication_factor,
        ),
        metrics=BridgeMetrics(registry, q.name),
        health=health,
        inbox=inbox,
        stop=stop,
        timing=Timing(
            poll_interval=ls.poll_interval_seconds,
            commit_interval=kafka.commit_interval_seconds,
            batch_size=min(kafka.consume_batch_size, 100),
            poll_timeout=kafka.poll_timeout_seconds,
            backoff=ls.backoff_seconds,
            backoff_max=ls.backoff_max_seconds,
        ),
        flush_timeout=kafka.flush_timeout_seconds,
    )
    server = BridgeServer(ls.host, ls.port, registry, health, inbox, secret)
    return bridge, server


def serve_bridge(settings: Settings, queue_name: str | None = None) -> None:
    """Run the bridge until SIGTERM/SIGINT."""
    stop = StopFlag()
    registry = CollectorRegistry()
    bridge, server = build_bridge(settings, queue_name, stop, registry)
    server.start()
    log.info("bridge_started", queue=bridge.queue_name, port=server.port)
    try:
        with capture_signals(stop):
            bridge.run()
    finally:
        server.stop()
        log.info("bridge_stopped", queue=bridge.queue_name)

"""The bridge's HTTP endpoints: webhooks are queued (with the shared secret), health and
readiness tell the truth, metrics are served."""

from __future__ import annotations

import json
import queue
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from daemon.bridge.metrics import BridgeMetrics
from daemon.bridge.server import SECRET_HEADER, BridgeHealth, BridgeServer


@pytest.fixture
def served():
    registry = CollectorRegistry()
    BridgeMetrics(registry, "experts").tasks_created.inc()
    health = BridgeHealth()
    inbox: queue.Queue[bytes] = queue.Queue()
    server = BridgeServer("127.0.0.1", 0, registry, health, inbox, secret="s3cret")
    server.start()
    yield server, health, inbox
    server.stop()


def _call(server, path, body=None, headers=None):
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=body,
        headers=headers or {},
        method="POST" if body is not None else "GET",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_webhook_with_the_secret_is_queued(served):
    """A webhook call carrying the shared secret is queued verbatim and answered 200."""
    server, _health, inbox = served
    status, _ = _call(server, "/webhook", b'{"action": "X"}', {SECRET_HEADER: "s3cret"})
    assert status == 200
    assert inbox.get_nowait() == b'{"action": "X"}'


def test_webhook_without_the_secret_is_refused(served):
    """A call without (or with a wrong) secret is refused and not queued."""
    server, _health, inbox = served
    assert _call(server, "/webhook", b"{}")[0] == 403
    assert _call(server, "/webhook", b"{}", {SECRET_HEADER: "nope"})[0] == 403
    assert inbox.empty()


def test_readiness_needs_label_studio_and_kafka(served):
    """/readyz is 503 until started with Label Studio and Kafka both fine, and when stopping."""
    server, health, _inbox = served
    assert _call(server, "/readyz")[0] == 503
    health.started = health.label_studio = health.kafka = True
    health.beat()
    status, body = _call(server, "/readyz")
    assert status == 200
    assert json.loads(body)["ready"] is True
    health.label_studio = False
    assert _call(server, "/readyz")[0] == 503
    health.label_studio, health.stopping = True, True
    assert _call(server, "/readyz")[0] == 503


def test_liveness_follows_the_heartbeat(served):
    """/healthz fails once the loop has not beaten within the timeout."""
    server, health, _inbox = served
    health.started = True
    health.beat()
    assert _call(server, "/healthz")[0] == 200
    health.heartbeat -= 3600
    assert _call(server, "/healthz")[0] == 503


def test_metrics_and_unknown_paths(served):
    """/metrics serves the bridge's registry; other paths are 404."""
    server, _health, _inbox = served
    status, body = _call(server, "/metrics")
    assert status == 200
    assert b'labelgate_bridge_tasks_created_total{queue="experts"} 1.0' in body
    assert _call(server, "/nope")[0] == 404
    assert _call(server, "/nope", b"{}")[0] == 404

"""The ops HTTP server: /metrics, /healthz, /readyz and /status on a port chosen by the OS."""

import json
import socket
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry

from daemon.monitoring.metrics import Metrics
from daemon.monitoring.status import Status
from daemon.service.health import Health
from daemon.service.server import OpsServer


def get(server, path):
    """(status code, content type, body) of a GET, including error statuses."""
    url = f"http://127.0.0.1:{server.port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers["Content-Type"], err.read()


@pytest.fixture(scope="module")
def _server():
    """One server for the module (stopping one takes half a second)."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    health = Health(heartbeat_timeout=60.0)
    holder = {"status": Status()}
    metrics.watch(lambda: holder["status"], health.heartbeat_age, lambda: health.ready)
    server = OpsServer("127.0.0.1", 0, registry, health, lambda: holder["status"])
    server.start()
    yield server, metrics, health, holder
    server.stop()


@pytest.fixture
def ops(_server):
    """The module's server with health and status reset for each test."""
    server, metrics, health, holder = _server
    health.heartbeat_timeout = 60.0
    health.restored = health.assigned = health.stopping = False
    health.beat()
    holder["status"] = Status(pending_capacity=7)
    return server, metrics, health, holder


def test_port_zero_binds_a_free_port(ops):
    """Requested port 0, the server reports the real bound port."""
    server, *_ = ops
    assert server.requested_port == 0
    assert 0 < server.port < 65536


def test_metrics_expose_counters_and_status_gauges(ops):
    """/metrics serves the Prometheus text with labelgate_items_total and the status gauges."""
    server, metrics, _, holder = ops
    before = metrics.registry.get_sample_value("labelgate_items_total")
    for _ in range(3):
        metrics.items.inc()
    holder["status"] = Status(budget_spent=4.0, pending=2, pending_capacity=7, model_version=5)
    code, ctype, body = get(server, "/metrics")
    text = body.decode()
    assert code == 200
    assert ctype.startswith("text/plain")
    assert f"labelgate_items_total {before + 3}" in text
    assert "labelgate_budget_spent 4.0" in text
    assert "labelgate_model_labels_learned 5.0" in text


def test_healthz_is_200_while_the_heartbeat_is_fresh(ops):
    """A recent beat means live: 200 with the heartbeat age."""
    server, _, health, _ = ops
    health.beat()
    code, ctype, body = get(server, "/healthz")
    doc = json.loads(body)
    assert (code, ctype, doc["live"]) == (200, "application/json", True)
    assert 0.0 <= doc["heartbeat_age_seconds"] < 60.0


def test_healthz_is_503_when_the_heartbeat_is_stale(ops):
    """A heartbeat older than the timeout means the loop is stuck: 503."""
    server, _, health, _ = ops
    health.heartbeat_timeout = 1e-9
    code, _, body = get(server, "/healthz")
    assert (code, json.loads(body)["live"]) == (503, False)


def test_readyz_is_503_until_restored_and_assigned(ops):
    """Readiness needs restored state and assigned partitions, and drops when stopping."""
    server, _, health, _ = ops
    code, _, body = get(server, "/readyz")
    assert (code, json.loads(body)) == (
        503,
        {"ready": False, "restored": False, "assigned": False, "stopping": False},
    )
    health.restored = True
    assert get(server, "/readyz")[0] == 503
    health.assigned = True
    code, _, body = get(server, "/readyz")
    assert (code, json.loads(body)["ready"]) == (200, True)
    health.stopping = True
    assert get(server, "/readyz")[0] == 503


def test_status_serves_the_latest_snapshot_as_json(ops):
    """/status is the current Status as JSON, lag keyed by 'topic/partition'."""
    server, _, _, holder = ops
    holder["status"] = Status(
        budget_spent=12.0, pending=3, pending_capacity=7, policy="random@1", lag={("p", 1): 42}
    )
    code, ctype, body = get(server, "/status")
    doc = json.loads(body)
    assert (code, ctype) == (200, "application/json")
    assert (doc["budget_spent"], doc["pending"], doc["policy"]) == (12.0, 3, "random@1")
    assert doc["lag"] == {"p/1": 42}


def test_query_string_is_ignored_and_unknown_paths_are_404(ops):
    """/healthz?x=1 is /healthz; anything else is a JSON 404."""
    server, *_ = ops
    assert get(server, "/healthz?verbose=1")[0] == 200
    code, _, body = get(server, "/nope")
    assert (code, json.loads(body)) == (404, {"error": "not found"})


def test_stop_releases_the_port():
    """After stop the port is free to bind again."""
    server = OpsServer("127.0.0.1", 0, CollectorRegistry(), Health(1.0), Status)
    server.start()
    port = server.port
    server.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))

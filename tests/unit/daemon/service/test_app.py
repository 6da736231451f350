"""Building the daemon: the composition root wires everything and touches nothing."""

from prometheus_client import CollectorRegistry

from daemon.service.app import build_daemon
from daemon.tools import replay
from tests.unit.daemon.service.test_loop import make_settings


def test_build_daemon_has_no_side_effects(tmp_path):
    """Building a daemon writes nothing; outputs appear only once it runs."""
    predictions, _ = replay.generate(tmp_path / "replay", n=10, malformed_every=0)
    build_daemon(make_settings(tmp_path, predictions, "out"))
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "state").exists()
    assert not (tmp_path / "state.jsonl").exists()


def test_build_daemon_exposes_status_gauges_on_the_given_registry(tmp_path):
    """The metrics registry serves the daemon's status snapshot before anything ran."""
    predictions, _ = replay.generate(tmp_path / "replay", n=10, malformed_every=0)
    registry = CollectorRegistry()
    daemon = build_daemon(make_settings(tmp_path, predictions, "out"), registry)
    assert registry.get_sample_value("labelgate_budget_spent") == 0.0
    assert registry.get_sample_value("labelgate_ready") == 0.0
    assert daemon.status.items == 0

"""Building the daemon: the composition root wires everything and touches nothing."""

from prometheus_client import CollectorRegistry

from daemon.service.app import build_daemon
from daemon.tools import replay
from tests.unit.daemon.fakes import MemoryChannels, MemorySource
from tests.unit.daemon.fakes import settings as memory_settings
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


class _GroupSource(MemorySource):
    """A source whose partitions arrive through the rebalance callbacks, as in a group."""

    def __init__(self) -> None:
        super().__init__([])
        self.callbacks = None
        self.joined = False

    def listen(self, on_assign, on_revoke) -> None:
        self.callbacks = (on_assign, on_revoke)

    @property
    def assigned(self) -> bool:
        return self.joined


def test_the_daemon_is_ready_once_its_assigned_partitions_are_restored(tmp_path):
    """Readiness follows the assignment callback itself (its partitions' state restored), not
    the end of the poll that served it, which on an idle topic is a poll timeout later."""
    source = _GroupSource()
    config = memory_settings(tmp_path, source="kafka")
    channels = MemoryChannels(source).channels(config)
    daemon = build_daemon(config, channels=channels)
    daemon.startup()
    assert daemon.health.restored
    assert not daemon.health.ready
    assert source.callbacks is not None
    on_assign, _on_revoke = source.callbacks
    source.joined = True
    on_assign([("predictions", 0)])
    assert daemon.health.ready

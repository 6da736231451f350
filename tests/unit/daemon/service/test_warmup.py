"""The Kafka warm-up: the startup checks and the broker round trips run on a thread beside the
imports, in the order ``serve`` has without it, and the ops port is tried before anything fences
or joins."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from daemon.errors import ConnectorError, ServerError
from daemon.service import warmup
from daemon.service.warmup import KafkaWarmup, check_port
from tests.unit.daemon.fakes import MemoryChannels, MemorySource
from tests.unit.daemon.fakes import settings as memory_settings


class _Joining(MemorySource):
    def __init__(self, calls: list[str]) -> None:
        super().__init__([])
        self.calls = calls

    def partition_count(self) -> int:
        self.calls.append("join")
        return 1


class _Transaction:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    def start(self, timeout: float) -> None:
        self.calls.append("fence")

    def commit(self, offsets: Any, timeout: float) -> None:
        raise AssertionError("not committed here")

    def abort(self, timeout: float) -> None:
        self.calls.append("abort")


@pytest.fixture
def calls(monkeypatch) -> list[str]:
    """The steps the warm-up took, in order; checks and channels are fakes."""
    steps: list[str] = []
    monkeypatch.setattr(warmup, "check_startup", lambda _settings: steps.append("checks"))

    def build(settings):
        steps.append("channels")
        memory = MemoryChannels(_Joining(steps))
        channels = memory.channels(settings)
        channels.transaction = _Transaction(steps)
        channels.closers.append(lambda _t: steps.append("closed"))
        return channels

    monkeypatch.setattr(warmup, "build_kafka_channels", build)
    return steps


def _settings(tmp_path, port: int):
    return memory_settings(
        tmp_path, source="kafka", server={"enabled": True, "host": "127.0.0.1", "port": port}
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_warmup_checks_joins_then_fences_and_hands_the_channels_over(tmp_path, calls):
    """Checks, channels, the group join, the transaction's start: the order ``serve`` and
    ``Daemon.startup`` have, all done by the time the channels are handed over."""
    channels = KafkaWarmup(_settings(tmp_path, _free_port())).start().channels()
    assert calls == ["checks", "channels", "join", "fence"]
    assert channels.transaction is not None


def test_a_busy_ops_port_fails_before_anything_joins_or_fences(tmp_path, calls):
    """A second instance started next to a running one (same port) fails on server.port and
    never fences the running one's transaction nor joins its group; what it built is closed."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerError, match=f"server.port {port}: cannot listen on"):
            KafkaWarmup(_settings(tmp_path, port)).start().channels()
    assert calls == ["checks", "channels", "closed"]


def test_a_failed_check_is_raised_in_the_calling_thread(tmp_path, monkeypatch, calls):
    """A startup check's typed error reaches the caller of ``channels()`` unchanged, and
    nothing else was tried."""

    def unreachable(_settings):
        raise ConnectorError("kafka.bootstrap_servers 'x': broker unreachable")

    monkeypatch.setattr(warmup, "check_startup", unreachable)
    with pytest.raises(ConnectorError, match="broker unreachable"):
        KafkaWarmup(_settings(tmp_path, _free_port())).start().channels()
    assert calls == []


def test_check_port_accepts_a_free_port_and_port_zero():
    """A free port and port 0 (any free port, bound by the server itself) pass."""
    check_port("127.0.0.1", _free_port())
    check_port("127.0.0.1", 0)

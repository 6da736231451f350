"""librdkafka preflight: refused properties and an unreachable broker as typed errors, quietly."""

from __future__ import annotations

import socket

import pytest

from connectors.kafka_preflight import (
    BrokerUnreachableError,
    PropertyError,
    check_properties,
    list_topics,
)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unknown_property_is_named():
    """An unknown property is a PropertyError whose name is that property."""
    with pytest.raises(PropertyError) as info:
        check_properties({"bootstrap.servers": "127.0.0.1:1", "no.such.property": "x"})
    assert info.value.name == "no.such.property"
    assert "No such configuration property" in info.value.reason


def test_alias_refusal_names_the_property_as_written():
    """librdkafka reports linger.ms as queue.buffering.max.ms; the error names linger.ms."""
    with pytest.raises(PropertyError) as info:
        check_properties({"linger.ms": "soon"})
    assert info.value.name == "linger.ms"


def test_unreachable_broker_raises_and_prints_nothing(capfd):
    """A closed port: BrokerUnreachableError after the timeout, no librdkafka log lines."""
    with pytest.raises(BrokerUnreachableError, match=r"no broker answered within 0\.5s"):
        list_topics({"bootstrap.servers": f"127.0.0.1:{_closed_port()}"}, 0.5)
    captured = capfd.readouterr()
    assert captured.out == captured.err == ""

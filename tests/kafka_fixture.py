"""Pytest plugin: a real single-node Kafka broker for integration tests.

Load it from tests/conftest.py with ``pytest_plugins = ["tests.kafka_fixture"]``.

Fixtures:
    kafka_bootstrap      (session)  bootstrap address of one broker for the whole session;
                                    ``LABELGATE_TEST_BOOTSTRAP=host:port`` uses that broker
                                    instead of starting one.
    kafka_topic_factory  (function) ``factory(partitions=1, config=None, prefix="test")``
                                    creates a uuid-named topic, waits until it is usable and
                                    returns its name; the topics are deleted afterwards.
    unique_group         (function) a uuid-named consumer group id.
    restartable_broker   (function) a broker of the test's own (a ``KafkaBroker``), which the
                                    test may stop (SIGTERM or SIGKILL) and restart on the same
                                    data and ports; never the shared session broker.

Tests that use any of them get the ``integration`` marker.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType

import pytest
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

BOOTSTRAP_ENV = "LABELGATE_TEST_BOOTSTRAP"
KAFKA_FIXTURES = frozenset(
    {"kafka_bootstrap", "kafka_topic_factory", "unique_group", "restartable_broker"}
)


def _load_kafka_broker() -> ModuleType:
    """Import scripts/kafka_broker.py (scripts/ is not a package)."""
    name = "labelgate_kafka_broker"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent.parent / "scripts" / "kafka_broker.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def pytest_configure(config: pytest.Config) -> None:
    """Register the integration marker."""
    config.addinivalue_line(
        "markers", "integration: needs a real Kafka broker (fixtures of tests/kafka_fixture.py)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a Kafka fixture as integration."""
    for item in items:
        if KAFKA_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Yield the bootstrap address of a broker that lives for the whole test session."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external:
        yield external
        return
    kafka_broker = _load_kafka_broker()
    # die_with_parent: the JVM is SIGKILLed if this pytest process dies without teardown.
    broker = kafka_broker.KafkaBroker(die_with_parent=True)
    atexit.register(broker.stop)  # interpreter exit without fixture teardown
    try:
        yield broker.start(tmp_path_factory.mktemp("kafka"))
    finally:
        broker.stop()
        atexit.unregister(broker.stop)


@pytest.fixture
def restartable_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Yield a started broker of this test's own, stopped afterwards (whatever its state)."""
    kafka_broker = _load_kafka_broker()
    broker = kafka_broker.KafkaBroker(die_with_parent=True)
    atexit.register(broker.stop)
    try:
        broker.start(tmp_path_factory.mktemp("kafka-own"))
        yield broker
    finally:
        broker.stop()
        atexit.unregister(broker.stop)


def _wait_for_topic(admin: AdminClient, topic: str, partitions: int, timeout: float) -> None:
    """Poll metadata until the topic has all its partitions, each with a leader."""
    deadline = time.monotonic() + timeout
    while True:
        meta = admin.list_topics(topic=topic, timeout=5)
        info = meta.topics.get(topic)
        if (
            info is not None
            and info.error is None
            and len(info.partitions) == partitions
            and all(p.leader >= 0 for p in info.partitions.values())
        ):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} not ready after {timeout}s: {info}")
        time.sleep(0.1)


class TopicFactory:
    """Creates uuid-named topics through one AdminClient; close() deletes them."""

    def __init__(self, bootstrap: str) -> None:
        """Connect an admin client to the broker at bootstrap."""
        self._admin: AdminClient | None = AdminClient({"bootstrap.servers": bootstrap})
        self.created: list[str] = []

    def __call__(
        self, partitions: int = 1, config: Mapping[str, str] | None = None, prefix: str = "test"
    ) -> str:
        """Create a topic with the given partitions and configs; return its name once usable."""
        assert self._admin is not None, "factory already closed"
        name = f"{prefix}-{uuid.uuid4().hex}"
        new = NewTopic(
            name, num_partitions=partitions, replication_factor=1, config=dict(config or {})
        )
        self._admin.create_topics([new], operation_timeout=30)[name].result(timeout=30)
        self.created.append(name)
        _wait_for_topic(self._admin, name, partitions, timeout=30)
        return name

    def close(self) -> None:
        """Delete the created topics (best effort) and release the admin client now.

        Releasing matters: pytest keeps the last test's fixture values alive while it
        stops the session broker, and a live client would then log connection errors.
        """
        admin, self._admin = self._admin, None
        if admin is not None and self.created:
            for future in admin.delete_topics(self.created, operation_timeout=10).values():
                with contextlib.suppress(Exception):
                    future.result(timeout=15)


@pytest.fixture
def kafka_topic_factory(kafka_bootstrap: str) -> Iterator[TopicFactory]:
    """Yield a factory: ``name = factory(partitions=1, config=None, prefix="test")``."""
    factory = TopicFactory(kafka_bootstrap)
    yield factory
    factory.close()


@pytest.fixture
def unique_group() -> str:
    """Return a fresh consumer group id."""
    return f"group-{uuid.uuid4().hex}"

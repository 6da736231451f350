"""The test broker supports what the labelgate daemon needs from Kafka."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from tests.kafka_fixture import TopicFactory

TIMEOUT = 30.0


def _consumer(bootstrap: str, group: str, **extra: object) -> Consumer:
    """Return a consumer that reads from the start and reports partition EOF."""
    config: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
    }
    config.update(extra)
    return Consumer(config)


def _read_to_end(consumer: Consumer, topic: str, partitions: int) -> list[tuple[bytes, bytes]]:
    """Subscribe and return (key, value) of every message until EOF on all partitions."""
    consumer.subscribe([topic])
    at_eof: set[int] = set()
    seen: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + TIMEOUT
    while len(at_eof) < partitions:
        assert time.monotonic() < deadline, f"no EOF on all of {topic} within {TIMEOUT}s"
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                at_eof.add(msg.partition())
                continue
            raise KafkaException(msg.error())
        at_eof.discard(msg.partition())
        seen.append((msg.key(), msg.value()))
    return seen


def _produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]]) -> None:
    """Produce keyed messages idempotently and wait for every delivery."""
    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in items:
        producer.produce(topic, value, key, on_delivery=lambda err, _m: err and errors.append(err))
    assert producer.flush(TIMEOUT) == 0
    assert not errors


def test_produce_and_consume(
    kafka_bootstrap: str, kafka_topic_factory: TopicFactory, unique_group: str
) -> None:
    """Messages produced to a 3-partition topic are all consumed back."""
    topic = kafka_topic_factory(3)
    items = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(30)]
    _produce(kafka_bootstrap, topic, items)
    consumer = _consumer(kafka_bootstrap, unique_group)
    try:
        assert sorted(_read_to_end(consumer, topic, 3)) == sorted(items)
    finally:
        consumer.close()


def test_transaction_commits_output_and_offsets(
    kafka_bootstrap: str, kafka_topic_factory: TopicFactory, unique_group: str
) -> None:
    """A consume-transform-produce transaction commits; read_committed skips aborted data."""
    source, sink = kafka_topic_factory(2), kafka_topic_factory(2)
    inputs = [(f"k{i}".encode(), f"in{i}".encode()) for i in range(10)]
    _produce(kafka_bootstrap, source, inputs)

    consumer = _consumer(kafka_bootstrap, unique_group, **{"isolation.level": "read_committed"})
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "transactional.id": f"tx-{uuid.uuid4().hex}"}
    )
    try:
        consumed = _read_to_end(consumer, source, 2)
        assert sorted(consumed) == sorted(inputs)
        producer.init_transactions(TIMEOUT)

        producer.begin_transaction()
        for key, value in consumed:
            producer.produce(sink, value.replace(b"in", b"out"), key)
        positions = consumer.position(consumer.assignment())
        producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), TIMEOUT)
        producer.commit_transaction(TIMEOUT)

        producer.begin_transaction()
        producer.produce(sink, b"aborted", b"x")
        assert producer.flush(TIMEOUT) == 0  # abort_transaction() drops unsent messages
        producer.abort_transaction(TIMEOUT)

        committed = consumer.committed([TopicPartition(source, p) for p in (0, 1)], TIMEOUT)
        assert sum(tp.offset for tp in committed) == len(inputs)
    finally:
        consumer.close()

    reader = _consumer(
        kafka_bootstrap, f"{unique_group}-rc", **{"isolation.level": "read_committed"}
    )
    try:
        values = sorted(value for _key, value in _read_to_end(reader, sink, 2))
    finally:
        reader.close()
    assert values == sorted(v.replace(b"in", b"out") for _k, v in inputs)

    dirty = _consumer(
        kafka_bootstrap, f"{unique_group}-ru", **{"isolation.level": "read_uncommitted"}
    )
    try:
        assert b"aborted" in {value for _key, value in _read_to_end(dirty, sink, 2)}
    finally:
        dirty.close()


def test_compacted_topic(kafka_bootstrap: str, kafka_topic_factory: TopicFactory) -> None:
    """A cleanup.policy=compact topic is created and takes keyed records and tombstones."""
    topic = kafka_topic_factory(1, config={"cleanup.policy": "compact"})
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=TIMEOUT)
    assert configs["cleanup.policy"].value == "compact"

    errors: list[KafkaError] = []
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    for value in (b"v1", b"v2", None):  # None: a tombstone
        producer.produce(
            topic, value, b"key", on_delivery=lambda err, _m: err and errors.append(err)
        )
    assert producer.flush(TIMEOUT) == 0
    assert not errors

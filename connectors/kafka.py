"""Kafka sources and sinks over confluent-kafka; the only module that imports it.

Clients are created on first use, not in constructors, and every message becomes our own
:class:`~connectors.record.Record` at this boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connectors.errors import ConnectorError, DeliveryError
from connectors.protocols import DeliveryCallback, TopicPartition
from connectors.record import Record

log = structlog.get_logger("labelgate.kafka")

PartitionsCallback = Callable[[list[TopicPartition]], None]


def _to_record(msg: Any) -> Record:
    return Record(msg.value(), msg.key(), msg.topic(), msg.partition(), msg.offset())


def _raise_if_fatal(err: Any) -> None:
    if err.fatal():
        raise ConnectorError(f"fatal Kafka error: {err}")


class KafkaOutputs:
    """One idempotent producer shared by every output topic (requests, evidence, dead letters,
    state).

    Delivery reports are served by :meth:`poll` and :meth:`flush` in the calling thread, so the
    daemon's offset bookkeeping stays single-threaded.
    """

    def __init__(self, conf: Mapping[str, str]) -> None:
        self.conf = dict(conf)
        self._producer: Any = None

    def _client(self) -> Any:
        if self._producer is None:
            conf: dict[str, Any] = {
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "error_cb": self._on_error,
            }
            conf.update(self.conf)
            self._producer = Producer(conf)
        return self._producer

    @staticmethod
    def _on_error(err: Any) -> None:
        log.warning("kafka_producer_error", error=str(err))
        _raise_if_fatal(err)

    def sink(self, topic: str) -> KafkaTopicSink:
        """A sink writing to one topic through the shared producer."""
        return KafkaTopicSink(self, topic)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        on_delivery: DeliveryCallback | None,
    ) -> None:
        """Queue a message; waits for queue space instead of failing when the buffer is full."""
        producer = self._client()
        callback = None
        if on_delivery is not None:

            def callback(err: Any, _msg: Any, _cb: DeliveryCallback = on_delivery) -> None:
                _cb(None if err is None else DeliveryError(f"{topic}: {err}"))

        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=callback)
                return
            except BufferError:
                producer.poll(0.05)

    def poll(self) -> None:
        """Serve delivery reports without blocking."""
        if self._producer is not None:
            self._producer.poll(0)

    def flush(self, timeout: float) -> int:
        """Wait for outstanding deliveries; return how many are still outstanding."""
        if self._producer is None:
            return 0
        return int(self._producer.flush(timeout))

    def close(self, timeout: float = 10.0) -> None:
        """Flush (bounded) and drop the client."""
        if self._producer is not None:
            left = self.flush(timeout)
            if left:
                log.error("kafka_producer_close_undelivered", messages=left)
            self._producer = None


class KafkaTopicSink:
    """A :class:`~connectors.protocols.Sink` for one topic of a shared :class:`KafkaOutputs`."""

    def __init__(self, outputs: KafkaOutputs, topic: str) -> None:
        self.outputs = outputs
        self.topic = topic
        self.name = topic

    def send(
        self,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        self.outputs.produce(self.topic, value, key, on_delivery)

    def serve_deliveries(self) -> None:
        self.outputs.poll()

    def flush(self, timeout: float) -> int:
        return self.outputs.flush(timeout)

    def close(self) -> None:
        return None


class KafkaGroupSource:
    """A consumer-group member reading one topic, committing only offsets stored explicitly.

    ``enable.auto.offset.store`` and ``enable.auto.commit`` are off: the daemon stores an offset
    only once the item's outputs are delivered, and commits stored offsets periodically and at
    shutdown (at-least-once). Rebalance callbacks are forwarded to the daemon.
    """

    def __init__(
        self,
        conf: Mapping[str, str],
        topic: str,
        group_id: str,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
    ) -> None:
        self.conf = dict(conf)
        self.topic = topic
        self.group_id = group_id
        self.name = topic
        self.on_assign = on_assign
        self.on_revoke = on_revoke
        self._consumer: Any = None
        self._assignment: set[TopicPartition] = set()
        self._joined = False

    def _client(self) -> Any:
        if self._consumer is None:
            conf: dict[str, Any] = {
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "error_cb": self._on_error,
            }
            conf.update(self.conf)
            self._consumer = Consumer(conf)
            self._consumer.subscribe(
                [self.topic],
                on_assign=self._assigned,
                on_revoke=self._revoked,
                on_lost=self._lost,
            )
        return self._consumer

    @staticmethod
    def _on_error(err: Any) -> None:
        log.warning("kafka_consumer_error", error=str(err))
        _raise_if_fatal(err)

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        self._assignment.update(tps)
        self._joined = True
        log.info("partitions_assigned", partitions=[p for _, p in tps])
        if self.on_assign is not None:
            self.on_assign(tps)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        log.info("partitions_revoked", partitions=[p for _, p in tps])
        if self.on_revoke is not None:
            self.on_revoke(tps)
        self._assignment.difference_update(tps)

    def listen(self, on_assign: PartitionsCallback, on_revoke: PartitionsCallback) -> None:
        """Forward rebalance callbacks (set before the first poll)."""
        self.on_assign = on_assign
        self.on_revoke = on_revoke

    def _lost(self, consumer: Any, partitions: list[Any]) -> None:
        # Lost partitions already belong to someone else: committing for them would fail.
        tps = [(p.topic, p.partition) for p in partitions]
        log.warning("partitions_lost", partitions=[p for _, p in tps])
        self._assignment.difference_update(tps)

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        """Up to ``max_records`` records: what is buffered now, else the first to arrive.

        ``Consumer.consume(n, timeout)`` waits the whole timeout unless ``n`` messages are
        buffered, so at a modest rate every record would sit in librdkafka's queue for up to
        ``timeout`` before the daemon saw it. Taking what is there (``timeout=0``), or else
        waiting for one record and then taking what has come with it, keeps full batches under
        load and lets a record through at once when the stream is slow.
        """
        consumer = self._client()
        messages = consumer.consume(num_messages=max_records, timeout=0)
        if not messages:
            messages = consumer.consume(num_messages=1, timeout=timeout)
            if messages and max_records > 1:
                messages += consumer.consume(num_messages=max_records - 1, timeout=0)
        out: list[Record] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka_consume_error", error=str(err))
                    _raise_if_fatal(err)
                continue
            out.append(_to_record(msg))
        return out

    @property
    def exhausted(self) -> bool:
        return False

    def store_offsets(self, positions: Mapping[TopicPartition, int]) -> None:
        if not positions:
            return
        tps = [
            KafkaTopicPartition(t, p, o)
            for (t, p), o in positions.items()
            if (t, p) in self._assignment
        ]
        if tps:
            try:
                self._client().store_offsets(offsets=tps)
            except KafkaException as exc:
                # A partition revoked between processing and storing; its new owner redoes it.
                log.warning("store_offsets_failed", error=str(exc))

    def commit(self) -> None:
        if self._consumer is None or not self._assignment:
            return
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == KafkaError._NO_OFFSET:
                return  # nothing new to commit
            raise ConnectorError(f"commit failed: {exc}") from exc

    def committed(self, timeout: float = 10.0) -> dict[TopicPartition, int]:
        """Committed offsets of the current assignment."""
        if self._consumer is None or not self._assignment:
            return {}
        tps = [KafkaTopicPartition(t, p) for t, p in self._assignment]
        return {
            (tp.topic, tp.partition): tp.offset for tp in self._consumer.committed(tps, timeout)
        }

    def share(self) -> float:
        """Assigned partitions / all partitions of the topic (metadata read on demand)."""
        if self._consumer is None:
            return 0.0
        try:
            total = len(_partitions(self._consumer, self.topic, 10.0))
        except ConnectorError:
            return 1.0  # metadata unavailable: do not silently starve the budget
        return len(self._assignment) / total if total else 0.0

    @property
    def assigned(self) -> bool:
        """Joined the group (an assignment arrived, possibly empty).

        A replica beyond the partition count gets an empty assignment; it is still healthy and
        ready to take over partitions, and must not block a rolling update.
        """
        return self._joined

    def lag(self) -> dict[TopicPartition, int]:
        if self._consumer is None:
            return {}
        out: dict[TopicPartition, int] = {}
        tps = [KafkaTopicPartition(t, p) for t, p in self._assignment]
        try:
            positions = self._consumer.position(tps)
        except KafkaException:
            return out
        for tp in positions:
            try:
                _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            except KafkaException:
                continue
            if high is None or high < 0:
                continue
            pos = tp.offset if tp.offset >= 0 else high
            out[(tp.topic, tp.partition)] = max(0, high - pos)
        return out

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def _partitions(consumer: Any, topic: str, timeout: float) -> list[int]:
    meta = consumer.list_topics(topic, timeout=timeout)
    info = meta.topics.get(topic)
    if info is None or info.error is not None:
        raise ConnectorError(
            f"topic {topic!r} is not available: {info.error if info else 'missing'}"
        )
    return sorted(info.partitions)


class KafkaAssignedSource:
    """Reads every partition of a topic without a consumer group (each replica reads all labels).

    Starts at the given next-offset per partition (from restored state) or the beginning.
    """

    def __init__(
        self,
        conf: Mapping[str, str],
        topic: str,
        start: Mapping[int, int] | None = None,
        metadata_timeout: float = 30.0,
    ) -> None:
        self.conf = dict(conf)
        self.topic = topic
        self.name = topic
        self.start = dict(start or {})
        self.metadata_timeout = metadata_timeout
        self._consumer: Any = None

    def _client(self) -> Any:
        if self._consumer is None:
            conf: dict[str, Any] = {
                "group.id": f"labelgate-unused-{self.topic}",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
            }
            conf.update(self.conf)
            consumer = Consumer(conf)
            parts = _partitions(consumer, self.topic, self.metadata_timeout)
            consumer.assign(
                [
                    KafkaTopicPartition(self.topic, p, self.start.get(p, OFFSET_BEGINNING))
                    for p in parts
                ]
            )
            self._consumer = consumer
        return self._consumer

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        messages = self._client().consume(num_messages=max_records, timeout=timeout)
        out = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka_consume_error", topic=self.topic, error=str(err))
                    _raise_if_fatal(err)
                continue
            out.append(_to_record(msg))
        return out

    @property
    def exhausted(self) -> bool:
        return False

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def read_topic(
    conf: Mapping[str, str], topic: str, timeout: float = 60.0
) -> list[tuple[bytes | None, bytes | None]]:
    """Read a (compacted) topic from the beginning to its current end, as (key, value) pairs."""
    consumer = Consumer(
        {
            "group.id": f"labelgate-restore-{topic}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            **conf,
        }
    )
    try:
        parts = _partitions(consumer, topic, timeout)
        ends: dict[int, int] = {}
        tps = []
        for p in parts:
            low, high = consumer.get_watermark_offsets(
                KafkaTopicPartition(topic, p), timeout=timeout
            )
            if high > low:
                ends[p] = high
                tps.append(KafkaTopicPartition(topic, p, OFFSET_BEGINNING))
        if not tps:
            return []
        consumer.assign(tps)
        out: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise ConnectorError(f"timed out restoring state from {topic!r}")
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                err = msg.error()
                partition = int(msg.partition() or 0)
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        ends.pop(partition, None)
                        continue
                    raise ConnectorError(f"reading {topic!r}: {err}")
                out.append((msg.key(), msg.value()))
                if int(msg.offset() or 0) + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
        return out
    finally:
        consumer.close()


def ensure_topics(
    conf: Mapping[str, str],
    topics: Iterable[str],
    partitions: int,
    replication_factor: int,
    compacted: Iterable[str] = (),
    timeout: float = 30.0,
) -> None:
    """Create missing topics (compacted ones with ``cleanup.policy=compact``)."""
    admin = AdminClient(dict(conf))
    existing = set(admin.list_topics(timeout=timeout).topics)
    compact = set(compacted)
    new = [
        NewTopic(
            t,
            num_partitions=partitions,
            replication_factor=replication_factor,
            config={"cleanup.policy": "compact"} if t in compact else {},
        )
        for t in dict.fromkeys(topics)
        if t not in existing
    ]
    if not new:
        return
    for topic, future in admin.create_topics(new, operation_timeout=timeout).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise ConnectorError(f"cannot create topic {topic!r}: {exc}") from exc

"""Kafka sources and sinks over confluent-kafka; the only module that imports it.

Clients are created on first use, not in constructors, and every message becomes our own
:class:`~connectors.record.Record` at this boundary.

Exactly-once (the default of the daemon) rests on three things here: one transactional producer
per instance (a stable ``transactional.id``, so a restarted instance fences its previous
incarnation and aborts its open transaction), the consumed offsets sent to that transaction
(:class:`KafkaTransaction`), and ``isolation.level=read_committed`` for every consumer
labelgate runs, its own state topic included. Transaction errors are classified as librdkafka
documents them: retriable ones are retried until the deadline, abortable ones abort, fatal ones
need a new producer; the last two surface as :class:`~connectors.errors.TransactionAbortedError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer
from confluent_kafka import TopicPartition as KafkaTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from connectors.errors import ConnectorError, DeliveryError, TransactionAbortedError
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
    """One producer shared by every output topic (requests, evidence, dead letters, state).

    With ``transactional_id`` the producer is transactional: :meth:`start` fences earlier
    incarnations of the same id and opens the first transaction, and everything produced belongs
    to the open transaction until :meth:`commit_transaction`. Without it the producer is only
    idempotent (at-least-once). Delivery reports are served by :meth:`poll` and :meth:`flush` in
    the calling thread, so the daemon's offset bookkeeping stays single-threaded.
    """

    def __init__(
        self,
        conf: Mapping[str, str],
        transactional_id: str | None = None,
        transaction_timeout: float = 30.0,
    ) -> None:
        self.conf = dict(conf)
        self.transactional_id = transactional_id
        self.transaction_timeout = transaction_timeout
        self._producer: Any = None
        self._in_transaction = False

    @property
    def transactional(self) -> bool:
        """Whether outputs are written in transactions."""
        return self.transactional_id is not None

    def _client(self) -> Any:
        if self._producer is None:
            conf: dict[str, Any] = {
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "compression.type": "lz4",
                "error_cb": self._on_error,
            }
            if self.transactional_id is not None:
                conf["transactional.id"] = self.transactional_id
                conf["transaction.timeout.ms"] = int(self.transaction_timeout * 1000)
            conf.update(self.conf)
            self._producer = Producer(conf)
        return self._producer

    @staticmethod
    def _on_error(err: Any) -> None:
        log.warning("kafka_producer_error", error=str(err))
        _raise_if_fatal(err)

    def start(self, timeout: float) -> None:
        """Fence earlier incarnations of this transactional id and begin a transaction.

        ``init_transactions`` aborts whatever transaction a crashed predecessor left open, so
        its outputs never become visible and the state it was writing is not waited for.
        A no-op for a non-transactional producer or when already started. Raises
        :class:`~connectors.errors.ConnectorError` when the transaction coordinator cannot be
        reached within ``timeout`` seconds.
        """
        if self.transactional_id is None or self._in_transaction:
            return
        producer = self._client()
        deadline = time.monotonic() + timeout
        try:
            _transact(lambda: producer.init_transactions(_left(deadline)), "init", deadline)
        except TransactionAbortedError as exc:
            raise ConnectorError(f"cannot initialise transactions: {exc}") from exc
        producer.begin_transaction()
        self._in_transaction = True

    def commit_transaction(
        self, offsets: Mapping[TopicPartition, int], group_metadata: Any, timeout: float
    ) -> None:
        """Send ``offsets`` to the open transaction, commit it, and begin the next one.

        Raises
        ------
        TransactionAbortedError
            The transaction was aborted (or the producer fenced); nothing of it is visible.
        """
        producer = self._client()
        if not self._in_transaction:
            self.start(timeout)
        deadline = time.monotonic() + timeout
        abort = self._abort_after_error
        if offsets:
            tps = [KafkaTopicPartition(t, p, o) for (t, p), o in offsets.items()]
            _transact(
                lambda: producer.send_offsets_to_transaction(tps, group_metadata, _left(deadline)),
                "send_offsets_to_transaction",
                deadline,
                abort,
            )
        _transact(lambda: producer.commit_transaction(_left(deadline)), "commit", deadline, abort)
        self._in_transaction = False
        try:
            producer.begin_transaction()
        except KafkaException as exc:
            raise TransactionAbortedError(f"begin_transaction: {exc}", fatal=True) from exc
        self._in_transaction = True

    def _abort_after_error(self) -> None:
        self.abort(5.0)

    def abort(self, timeout: float) -> None:
        """Abort the open transaction, best effort (a new incarnation aborts it anyway)."""
        if self._producer is None or not self._in_transaction:
            return
        self._in_transaction = False
        try:
            self._producer.abort_transaction(timeout)
        except KafkaException as exc:
            log.warning("kafka_abort_failed", error=str(exc))

    def sink(self, topic: str) -> KafkaTopicSink:
        """A sink writing to one topic through the shared producer."""
        return KafkaTopicSink(self, topic)

    def produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        on_delivery: DeliveryCallback | None,
        partition: int | None = None,
    ) -> None:
        """Queue a message; waits for queue space instead of failing when the buffer is full.

        ``partition`` pins the message to one partition (state records of one input partition
        always go to the same state partition); otherwise the key decides. Without
        ``on_delivery`` no delivery report is asked for (no Python callback per message): in a
        transaction a message that cannot be delivered fails the commit instead.
        """
        producer = self._producer if self._producer is not None else self._client()
        if not self._in_transaction and self.transactional_id is not None:
            self.start(self.transaction_timeout)
        try:
            if on_delivery is None and partition is None:
                producer.produce(topic, value, key)  # the hot path: evidence, requests
            else:
                self._produce(producer, topic, value, key, on_delivery, partition)
        except BufferError:
            self._produce(producer, topic, value, key, on_delivery, partition)
        except KafkaException as exc:
            self._failed(topic, exc)

    def _produce(
        self,
        producer: Any,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        on_delivery: DeliveryCallback | None,
        partition: int | None,
    ) -> None:
        callback = None
        if on_delivery is not None:

            def callback(err: Any, _msg: Any, _cb: DeliveryCallback = on_delivery) -> None:
                _cb(None if err is None else DeliveryError(f"{topic}: {err}"))

        extra: dict[str, Any] = {} if partition is None else {"partition": partition}
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=callback, **extra)
                return
            except BufferError:
                producer.poll(0.05)
            except KafkaException as exc:
                self._failed(topic, exc)

    def _failed(self, topic: str, exc: KafkaException) -> None:
        err = exc.args[0] if exc.args else None
        if self.transactional_id is None or err is None:
            raise ConnectorError(f"produce to {topic!r} failed: {exc}") from exc
        self.abort(5.0)
        raise TransactionAbortedError(f"produce: {err}", fatal=bool(err.fatal())) from exc

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
        """Flush (bounded) and drop the client; an open transaction is aborted, not committed."""
        if self._producer is not None:
            self.abort(min(timeout, 5.0))
            try:
                left = self.flush(timeout)
            except KafkaException as exc:
                # A fenced or otherwise fatally failed transactional producer refuses to flush;
                # what it still holds was never committed, so dropping it loses nothing.
                log.warning("kafka_producer_close_failed", error=str(exc))
                left = 0
            if left:
                log.error("kafka_producer_close_undelivered", messages=left)
            self._producer = None


def _left(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())


def _transact(
    call: Callable[[], Any],
    what: str,
    deadline: float,
    abort: Callable[[], None] | None = None,
) -> Any:
    """Run one transactional API call, classifying its errors as librdkafka documents them.

    Retriable errors are retried until ``deadline``; errors that require an abort abort (when
    ``abort`` is given) and raise :class:`TransactionAbortedError`; fatal errors raise it with
    ``fatal=True`` (the producer must be recreated).
    """
    while True:
        try:
            return call()
        except KafkaException as exc:
            err = exc.args[0] if exc.args else None
            if err is None:
                raise TransactionAbortedError(f"{what}: {exc}", fatal=True) from exc
            if err.fatal():
                raise TransactionAbortedError(f"{what}: {err}", fatal=True) from exc
            if err.retriable() and not err.txn_requires_abort() and time.monotonic() < deadline:
                log.warning("kafka_transaction_retry", step=what, error=str(err))
                time.sleep(0.1)
                continue
            if abort is not None:
                abort()
            why = (
                "the transaction must be aborted"
                if err.txn_requires_abort()
                else "retried until the deadline"
                if err.retriable()
                else "not retriable"
            )
            raise TransactionAbortedError(f"{what}: {err} ({why})") from exc


class KafkaTransaction:
    """The :class:`~connectors.protocols.Transaction` of a transactional producer and the
    consumer group whose offsets it commits."""

    def __init__(self, outputs: KafkaOutputs, source: KafkaGroupSource) -> None:
        self.outputs = outputs
        self.source = source

    def start(self, timeout: float) -> None:
        """Fence the previous incarnation and open the first transaction."""
        self.outputs.start(timeout)

    def commit(self, offsets: Mapping[TopicPartition, int], timeout: float) -> None:
        """Offsets and everything produced since the last commit, atomically."""
        self.outputs.commit_transaction(offsets, self.source.group_metadata(), timeout)

    def abort(self, timeout: float) -> None:
        """Abort the open transaction."""
        self.outputs.abort(timeout)


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

    def send_to(
        self,
        partition: int,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Send to one partition of the topic (keyed state that moves with an input partition)."""
        self.outputs.produce(self.topic, value, key, on_delivery, partition)

    def serve_deliveries(self) -> None:
        self.outputs.poll()

    def flush(self, timeout: float) -> int:
        return self.outputs.flush(timeout)

    def close(self) -> None:
        return None


class KafkaGroupSource:
    """A consumer-group member reading one topic, committing only what the daemon says.

    Auto-commit and auto offset store are off: in exactly-once mode the offsets travel in the
    producer's transaction (:meth:`positions`, :meth:`group_metadata`); in at-least-once mode the
    daemon stores an offset once the item's outputs are delivered and :meth:`commit` commits.

    Membership is static when ``instance_id`` is given (``group.instance.id``): a restarted
    member with the same id gets its partitions back without a rebalance, as long as it returns
    within ``session_timeout`` seconds; assignment is ``cooperative-sticky``, so a rebalance only
    moves the partitions that change owner and the others keep flowing. Messages are read
    ``read_committed``. Rebalance callbacks are forwarded to the daemon; when
    ``fail_on_lost`` is set, partitions lost without a revocation (session expired, fenced)
    make the next :meth:`poll` raise :class:`~connectors.errors.TransactionAbortedError`,
    because the open transaction holds work for partitions that now belong to someone else.
    """

    def __init__(
        self,
        conf: Mapping[str, str],
        topic: str,
        group_id: str,
        on_assign: PartitionsCallback | None = None,
        on_revoke: PartitionsCallback | None = None,
        instance_id: str | None = None,
        session_timeout: float = 10.0,
        fail_on_lost: bool = False,
    ) -> None:
        self.conf = dict(conf)
        self.topic = topic
        self.group_id = group_id
        self.name = topic
        self.on_assign = on_assign
        self.on_revoke = on_revoke
        self.instance_id = instance_id
        self.session_timeout = session_timeout
        self.fail_on_lost = fail_on_lost
        self._consumer: Any = None
        self._assignment: set[TopicPartition] = set()
        self._joined = False
        self._lost_partitions: list[TopicPartition] = []
        self._partition_count: int | None = None

    def _client(self) -> Any:
        if self._consumer is None:
            session_ms = int(self.session_timeout * 1000)
            conf: dict[str, Any] = {
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": session_ms,
                "heartbeat.interval.ms": max(100, session_ms // 10),
                "error_cb": self._on_error,
            }
            if self.instance_id is not None:
                conf["group.instance.id"] = self.instance_id
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
        self._lost_partitions.extend(tps)

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
        if self._lost_partitions and self.fail_on_lost:
            lost, self._lost_partitions = self._lost_partitions, []
            raise TransactionAbortedError(f"partitions lost: {sorted(p for _, p in lost)}")
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

    def positions(self) -> dict[TopicPartition, int]:
        """Next offset to read per assigned partition (only partitions read from so far)."""
        if self._consumer is None or not self._assignment:
            return {}
        tps = [KafkaTopicPartition(t, p) for t, p in self._assignment]
        return {
            (tp.topic, tp.partition): tp.offset
            for tp in self._consumer.position(tps)
            if tp.offset >= 0
        }

    def group_metadata(self) -> Any:
        """The consumer group metadata a transaction needs to commit this member's offsets."""
        return self._client().consumer_group_metadata()

    @property
    def assignment(self) -> set[TopicPartition]:
        """Currently assigned partitions."""
        return set(self._assignment)

    def partition_count(self) -> int:
        """Partitions of the topic (metadata read once; partitions are not expected to change)."""
        if self._partition_count is None:
            self._partition_count = len(_partitions(self._client(), self.topic, 30.0))
        return self._partition_count

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
                "isolation.level": "read_committed",
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
    conf: Mapping[str, str],
    topic: str,
    timeout: float = 60.0,
    partitions: Iterable[int] | None = None,
) -> list[tuple[bytes | None, bytes | None]]:
    """Read a (compacted) topic ``read_committed`` from its beginning, as (key, value) pairs.

    Reads ``partitions`` (all by default) up to the high watermark seen when called, which
    includes every transaction committed before the call: the read waits until the transactions
    open at that moment are decided (committed, aborted, or timed out), so a new owner of a
    partition sees the state its previous owner committed when handing it over.
    """
    reader = Consumer(
        {
            "group.id": f"labelgate-restore-{topic}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            # The broker otherwise holds a fetch that finds nothing new (the end, or only a
            # transaction marker) for 500 ms; the restore, and start-up with it, waits on it.
            "fetch.wait.max.ms": 10,
            **conf,
        }
    )
    # The read_committed consumer sees the last stable offset as its end; the target is the
    # high watermark, which only a read_uncommitted query returns.
    probe = Consumer(
        {"group.id": f"labelgate-restore-{topic}", **conf, "isolation.level": "read_uncommitted"}
    )
    try:
        parts = sorted(partitions) if partitions is not None else None
        parts = parts if parts is not None else _partitions(reader, topic, timeout)
        targets: dict[int, int] = {}
        starts: dict[int, int] = {}
        for p in parts:
            low, high = probe.get_watermark_offsets(KafkaTopicPartition(topic, p), timeout=timeout)
            if high > low:
                targets[p] = high
                starts[p] = low
        if not targets:
            return []
        # From the log start just read rather than OFFSET_BEGINNING, which the client resolves
        # with its own offset query, retried on a 500 ms timer while it has no metadata yet
        # (half a second of start-up per read). Should the log start move on meanwhile, the
        # out-of-range offset resets to the earliest one (auto.offset.reset).
        reader.assign([KafkaTopicPartition(topic, p, starts[p]) for p in targets])
        out: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + timeout
        while targets:
            if time.monotonic() > deadline:
                raise ConnectorError(
                    f"timed out restoring state from {topic!r} (partitions {sorted(targets)}); "
                    "an open transaction of another instance may hold it"
                )
            # A short wait: consume() holds on for the whole timeout unless it fills the
            # batch, and a small state topic ends long before that (start-up waits on it).
            for msg in reader.consume(num_messages=1000, timeout=0.02):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise ConnectorError(f"reading {topic!r}: {err}")
                out.append((msg.key(), msg.value()))
            positions = reader.position([KafkaTopicPartition(topic, p) for p in targets])
            for tp in positions:
                if tp.offset >= targets[tp.partition]:
                    targets.pop(tp.partition)
        return out
    except KafkaException as exc:
        raise ConnectorError(f"reading {topic!r}: {exc}") from exc
    finally:
        reader.close()
        probe.close()


def partition_count(conf: Mapping[str, str], topic: str, timeout: float = 30.0) -> int:
    """How many partitions a topic has."""
    admin = AdminClient(dict(conf))
    try:
        meta = admin.list_topics(topic, timeout=timeout)
    except KafkaException as exc:
        raise ConnectorError(f"cannot read metadata of {topic!r}: {exc}") from exc
    info = meta.topics.get(topic)
    if info is None or info.error is not None:
        raise ConnectorError(
            f"topic {topic!r} is not available: {info.error if info else 'missing'}"
        )
    return len(info.partitions)


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
            # Small segments so compaction keeps the state topic (read at every hand-over) short.
            config={"cleanup.policy": "compact", "segment.ms": "600000"} if t in compact else {},
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

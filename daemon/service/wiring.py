"""Build the channels (sources and sinks) from the configuration; the policy comes from
:mod:`daemon.service.policy_builder` (re-exported here as ``build_policy``).

Choices are made here, once; the loop never branches on configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from connectors.expert import Labeler, SimulatedExpert, load_truth
from connectors.jsonl import JsonlSink, JsonlSource, read_keyed
from connectors.protocols import CommittingSource, Sink, Source, Transaction
from daemon.config import Settings
from daemon.service.clock import Clock
from daemon.service.policy_builder import build_policy

__all__ = ["Channels", "build_file_channels", "build_kafka_channels", "build_policy"]


@dataclass
class Channels:
    """Every input and output of one daemon, plus how to flush and close them."""

    predictions: CommittingSource
    requests: dict[str, Sink]
    evidence: Sink
    dead_letter: Sink
    state: Sink
    open_labels: Callable[[Mapping[int, int]], Source]
    read_state: Callable[[Iterable[int] | None], Iterable[tuple[bytes | None, bytes | None]]]
    flushers: list[Any] = field(default_factory=list)
    transaction: Transaction | None = None
    state_partitions: int = 1
    closers: list[Callable[[float], None]] = field(default_factory=list)

    def outputs(self) -> list[Sink]:
        """All sinks, for serving delivery reports."""
        return [*self.requests.values(), self.evidence, self.dead_letter, self.state]

    def flush(self, timeout: float) -> int:
        """Flush every output; return messages still undelivered."""
        return sum(f.flush(timeout) for f in self.flushers)

    def flush_state(self, timeout: float) -> int:
        """Make the state log durable."""
        sync = getattr(self.state, "sync", None)
        if sync is not None:
            sync()
            return 0
        return self.state.flush(timeout)

    def close(self, timeout: float) -> None:
        """Close everything (consumers leave their group)."""
        for close in self.closers:
            close(timeout)


def build_file_channels(settings: Settings, clock: Clock) -> Channels:
    """JSONL files; labels from a label file or from the simulated expert."""
    files = settings.files
    predictions = JsonlSource(files.predictions, name="predictions")
    evidence = JsonlSink(files.audit)
    dead_letter = JsonlSink(files.dead_letter)
    state = JsonlSink(files.state, keyed=True)
    expert: SimulatedExpert | None = None
    if settings.expert is not None:
        panel = settings.expert
        expert = SimulatedExpert(
            load_truth(panel.truth),
            panel.delay_seconds,
            clock.now,
            labelers=[
                Labeler(x.id, x.role, x.accuracy, frozenset(x.queues or ()), x.delay_seconds)
                for x in panel.labelers
            ],
            classes=settings.classes,
            seed=panel.seed,
        )
    by_path: dict[Any, Sink] = {}
    requests: dict[str, Sink] = {}
    for queue in settings.queues:
        path = queue.file or files.requests
        if path not in by_path:
            by_path[path] = JsonlSink(path) if expert is None else _Tee(JsonlSink(path), expert)
        requests[queue.name] = by_path[path]

    def open_labels(start: Mapping[int, int]) -> Source:
        if expert is not None:
            expert.resume(start.get(0, 0))
            return expert
        if files.labels is None:
            return _NoLabels()
        return JsonlSource(files.labels, name="labels", start=start.get(0, 0))

    sinks: list[Any] = [*by_path.values(), evidence, dead_letter, state]
    return Channels(
        predictions=predictions,
        requests=requests,
        evidence=evidence,
        dead_letter=dead_letter,
        state=state,
        open_labels=open_labels,
        read_state=lambda _partitions: read_keyed(files.state),
        flushers=sinks,
        closers=[lambda _t: predictions.close(), *[lambda _t, s=s: s.close() for s in sinks]],
    )


def build_kafka_channels(settings: Settings) -> Channels:
    """Kafka topics: a consumer group for predictions, all label partitions, one producer."""
    from connectors.kafka import (  # noqa: PLC0415 - keep confluent_kafka out of file mode
        KafkaAssignedSource,
        KafkaGroupSource,
        KafkaOutputs,
        KafkaTransaction,
        ensure_topics,
        partition_count,
        read_topic,
    )

    k = settings.kafka
    conf = k.common()
    queue_topics = {q.name: q.topic or k.topics.requests for q in settings.queues}
    if k.create_topics:
        t = k.topics
        ensure_topics(
            conf,
            [t.predictions, t.labels, *queue_topics.values(), t.audit, t.dead_letter, t.state],
            k.topic_partitions,
            k.topic_replication_factor,
            compacted=[t.state],
        )
    exactly_once = k.delivery == "exactly_once"
    outputs = KafkaOutputs(
        conf,
        # Stable per instance: a restart fences its predecessor and aborts its transaction.
        transactional_id=f"labelgate-{k.group_id}-{settings.instance_id}" if exactly_once else None,
        transaction_timeout=k.transaction_timeout_seconds,
    )
    predictions = KafkaGroupSource(
        conf,
        k.topics.predictions,
        k.group_id,
        instance_id=f"{k.client_id}-{settings.instance_id}",
        session_timeout=k.session_timeout_seconds,
        fail_on_lost=exactly_once,
    )
    labels: list[KafkaAssignedSource] = []
    restore_timeout = k.transaction_timeout_seconds + 60.0

    def open_labels(start: Mapping[int, int]) -> Source:
        source = KafkaAssignedSource(conf, k.topics.labels, start)
        labels.append(source)
        return source

    return Channels(
        predictions=predictions,
        requests={name: outputs.sink(topic) for name, topic in queue_topics.items()},
        evidence=outputs.sink(k.topics.audit),
        dead_letter=outputs.sink(k.topics.dead_letter),
        state=outputs.sink(k.topics.state),
        open_labels=open_labels,
        read_state=lambda parts: read_topic(conf, k.topics.state, restore_timeout, parts),
        flushers=[outputs],
        closers=[lambda _t: predictions.close(), outputs.close, lambda _t: _close_all(labels)],
        transaction=KafkaTransaction(outputs, predictions) if exactly_once else None,
        state_partitions=partition_count(conf, k.topics.state),
    )


def _close_all(sources: list[Any]) -> None:
    for source in sources:
        source.close()


class _Tee:
    """Send label requests both to a file (for inspection) and to the simulated expert."""

    def __init__(self, first: JsonlSink, second: SimulatedExpert) -> None:
        self.first = first
        self.second = second
        self.name = first.name

    def send(
        self,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: Callable[[Exception | None], None] | None = None,
    ) -> None:
        self.first.send(value, key, on_delivery)
        self.second.send(value, key, None)

    def serve_deliveries(self) -> None:
        self.first.serve_deliveries()

    def flush(self, timeout: float) -> int:
        return self.first.flush(timeout)

    def close(self) -> None:
        self.first.close()


class _NoLabels:
    """A label source that never yields (a replay without labels)."""

    name = "no-labels"
    exhausted = True

    def poll(self, max_records: int, timeout: float) -> list[Any]:
        return []

    def close(self) -> None:
        return None

"""Shared parts of the crash-safety tests: a paced producer, a simulated expert, the checks.

The checks read every output topic ``read_committed`` (what a consumer of labelgate sees) and
the state topic, and assert what exactly-once promises: every item decided once, no item asked
twice, the spend within the limit, every answer recorded and learned once, nothing answered
still open.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from daemon.tools import replay
from tests.integration.daemon_process import committed_offsets, end_offsets, read_all, read_messages


def topics_for(factory: Any, partitions: int = 3) -> dict[str, str]:
    """The daemon's topics; the state topic compacted, with one partition per input one."""
    return {
        "predictions": factory(partitions=partitions),
        "labels": factory(partitions=2),
        "requests": factory(),
        "audit": factory(partitions=partitions),
        "dead_letter": factory(),
        "state": factory(partitions=partitions, config={"cleanup.policy": "compact"}),
    }


def daemon_config(
    bootstrap: str,
    topics: dict[str, str],
    group: str,
    port: int,
    state_dir: Path,
    limit: int,
    fraction: float = 0.05,
) -> dict[str, Any]:
    """A Kafka-mode configuration with the default delivery (exactly once) and commit interval."""
    return {
        "source": "kafka",
        "classes": replay.CLASSES,
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "topics": topics,
            "poll_timeout_seconds": 0.1,
        },
        "policy": {
            "strategy": "variable_uncertainty",
            "cold_start_items": 10,
            "budget": {
                "fraction": fraction,
                "window": 500,
                "limit": limit,
                "period_seconds": 30 * 86400.0,
            },
        },
        "queues": [{"name": "default", "capacity": 100_000, "ttl_seconds": 30 * 86400.0}],
        "server": {"host": "127.0.0.1", "port": port},
        "state_dir": str(state_dir),
        "shutdown_grace_seconds": 20.0,
        "log_level": "info",
    }


def _idempotent(bootstrap: str) -> dict[str, Any]:
    """A producer whose retries cannot write a message twice.

    librdkafka's producer is not idempotent by default: a batch written just before the broker
    stops, whose acknowledgement is lost, is sent again when it returns, and the input would
    hold the same item twice (which the daemon rightly decides twice, once per record).
    """
    return {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True}


class PacedProducer(threading.Thread):
    """Produces the items in chunks at a steady pace, so crashes land mid-stream."""

    def __init__(
        self, bootstrap: str, topic: str, lines: list[bytes], per_second: float, chunk: int = 250
    ) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.topic = topic
        self.lines = lines
        self.per_second = per_second
        self.chunk = chunk
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        """Produce every line, keyed by item id (until halted)."""
        try:
            producer = Producer(_idempotent(self.bootstrap))
            started = time.monotonic()
            for i in range(0, len(self.lines), self.chunk):
                for line in self.lines[i : i + self.chunk]:
                    key = json.loads(line)["id"].encode()
                    while not self._halt.is_set():
                        try:
                            producer.produce(self.topic, value=line, key=key)
                            break
                        except BufferError:
                            producer.poll(0.1)
                producer.poll(0)
                wait = started + (i + self.chunk) / self.per_second - time.monotonic()
                if self._halt.wait(max(0.0, wait)):
                    producer.flush(5)  # a failed test: drop the client, do not wait on it
                    return
            left = producer.flush(120)
            if left:
                raise AssertionError(f"{left} predictions not delivered")
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def halt(self) -> None:
        """Stop producing and release the client (a test that failed midway)."""
        self._halt.set()
        self.join(30)


def answers(request_id: str) -> bool:
    """The simulated expert answers half of the requests (a stable half)."""
    return hashlib.blake2b(request_id.encode(), digest_size=2).digest()[0] % 2 == 0


class Expert(threading.Thread):
    """Reads label requests ``read_committed`` and answers half of them with the true label."""

    def __init__(self, bootstrap: str, requests: str, labels: str, truth: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.bootstrap = bootstrap
        self.requests = requests
        self.labels = labels
        self.truth = truth
        self.seen: list[dict[str, Any]] = []
        self.answered: set[str] = set()
        self.position = -1
        self.error: BaseException | None = None
        self._halt = threading.Event()
        self._abandoned = False

    def run(self) -> None:
        """Answer until stopped."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": "expert-" + self.requests,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition(self.requests, 0, 0)])
        producer = Producer(_idempotent(self.bootstrap))
        try:
            while not self._halt.is_set():
                for msg in consumer.consume(500, 0.2):
                    if msg.error():
                        continue
                    request = json.loads(msg.value())
                    if request.get("withdrawn"):
                        continue
                    self.seen.append(request)
                    if answers(request["request_id"]):
                        self._answer(producer, request["id"])
                producer.poll(0)
                self.position = consumer.position([TopicPartition(self.requests, 0)])[0].offset
            if producer.flush(5 if self._abandoned else 60) and not self._abandoned:
                raise AssertionError("labels not delivered")
        except BaseException as exc:
            self.error = exc
        finally:
            consumer.close()

    def _answer(self, producer: Producer, item_id: str) -> None:
        event = {
            "schema_version": 1,
            "id": item_id,
            "label": self.truth[item_id],
            "labeler_role": "specialist",
            "labeler_id": "e-1",
            "labeled_at": datetime.now(UTC).isoformat(),
        }
        while True:
            try:
                producer.produce(self.labels, json.dumps(event).encode(), key=item_id.encode())
                break
            except BufferError:
                producer.poll(0.1)
        self.answered.add(item_id)

    def stop(self) -> None:
        """Stop answering (after flushing what was answered)."""
        self._halt.set()
        self.join(60)
        assert self.error is None, self.error

    def halt(self) -> None:
        """Stop at once and release the clients, whatever is unsent (a test that failed)."""
        self._abandoned = True
        self._halt.set()
        self.join(30)


def halt_all(*workers: PacedProducer | Expert) -> None:
    """Release the clients of every worker thread, in a test's ``finally``: a failed test must
    not leave librdkafka clients behind that keep logging and holding sockets into the tests
    that follow. Workers never started are skipped."""
    for worker in workers:
        if worker.ident is not None:
            worker.halt()


def caught_up(bootstrap: str, group: str, topic: str) -> bool:
    """Whether the group has committed every offset of the topic (False while the broker is
    still electing coordinators after a restart)."""
    try:
        return committed_offsets(bootstrap, group, topic) == end_offsets(bootstrap, topic)
    except KafkaException:
        return False


def fold_state(bootstrap: str, topic: str) -> dict[bytes, dict[str, Any]]:
    """The state topic folded to its latest value per key (tombstones drop the key)."""
    latest: dict[bytes, dict[str, Any]] = {}
    for key, value in read_all(bootstrap, topic):
        if key is None:
            continue
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = json.loads(value)
    return latest


def label_offsets_committed(bootstrap: str, topic: str, instances: Iterable[str]) -> dict[str, Any]:
    """Each instance's committed label reader positions."""
    state = fold_state(bootstrap, topic)
    return {i: state.get(f"i/{i}/policy".encode(), {}).get("label_offsets", {}) for i in instances}


def checkpoint_version(path: Path) -> int:
    """Labels the saved model has learned (``Learner.version``)."""
    with path.open("rb") as fh:
        payload = pickle.load(fh)
    return int(payload["learner"].version)


@dataclass
class Outcome:
    """What the committed outputs say (numbers reported on failure)."""

    decided: Counter[str]
    requested: Counter[str]
    request_ids: Counter[str]
    label_records: Counter[str]
    trained: int
    open_requests: set[str]
    spent: float
    decided_at: dict[str, list[str]]
    records_decided: Counter[tuple[int, int]]


def _where(msg: Any, record: dict[str, Any]) -> str:
    """Where one evidence record sits and what it says, for a failure message."""
    names = ("source", "query", "reason", "online_model_version", "decided_at")
    fields = {k: record.get(k) for k in names}
    return f"p{msg.partition()}@{msg.offset()} ts={msg.timestamp()[1]} {fields}"


def committed_outcome(bootstrap: str, topics: dict[str, str]) -> Outcome:
    """Read every output topic and the state topic ``read_committed``."""
    messages = [m for m in read_messages(bootstrap, topics["audit"]) if m.value() is not None]
    audit = [json.loads(m.value()) for m in messages]
    decided_at: dict[str, list[str]] = {}
    for msg, e in zip(messages, audit, strict=True):
        if e["kind"] == "decision":
            decided_at.setdefault(e["id"], []).append(_where(msg, e))
    requests = [json.loads(v) for _, v in read_all(bootstrap, topics["requests"]) if v is not None]
    state = fold_state(bootstrap, topics["state"])
    open_requests = {
        key.split(b"/req/", 1)[1].decode()
        for key, value in state.items()
        if b"/req/" in key and "open" in value
    }
    spent = sum(
        sum(b.get("spent", 0.0) for b in value["budgets"])
        for key, value in state.items()
        if key.endswith(b"/ledger")
    )
    return Outcome(
        decided=Counter(e["id"] for e in audit if e["kind"] == "decision"),
        requested=Counter(r["id"] for r in requests if not r.get("withdrawn")),
        request_ids=Counter(r["request_id"] for r in requests if not r.get("withdrawn")),
        label_records=Counter(e["id"] for e in audit if e["kind"] == "label"),
        trained=sum(1 for e in audit if e["kind"] == "label" and e.get("used_for") == "training"),
        open_requests=open_requests,
        spent=spent,
        decided_at=decided_at,
        records_decided=Counter(
            (e["source"]["partition"], e["source"]["offset"])
            for e in audit
            if e["kind"] == "decision"
        ),
    )


def assert_exactly_once(
    out: Outcome, items: set[str], answered: set[str], limit: int, learned: int
) -> None:
    """Every promise of exactly-once delivery, with the figures in the message."""
    lost = items - set(out.decided)
    assert not lost, f"{len(lost)} items lost (no decision evidence)"
    twice = {i: n for i, n in out.decided.items() if n > 1}
    records_twice = sum(1 for n in out.records_decided.values() if n > 1)
    assert not twice, (
        f"{len(twice)} items with duplicate decision evidence ({records_twice} input records "
        f"decided twice; {len(out.records_decided)} input records decided for "
        f"{len(out.decided)} items), e.g. "
        + "; ".join(f"{i}: {out.decided_at[i]}" for i in sorted(twice)[:4])
    )
    assert set(out.decided) == items, "evidence for items never produced"
    asked_twice = {i: n for i, n in out.requested.items() if n > 1}
    assert not asked_twice, f"{len(asked_twice)} items got more than one request"
    assert all(n == 1 for n in out.request_ids.values()), "a request_id was sent twice"
    assert len(out.requested) <= limit, f"{len(out.requested)} items requested > limit {limit}"
    assert out.spent == len(out.requested), (
        f"ledgers say {out.spent} spent for {len(out.requested)} requests"
    )
    assert answered <= set(out.requested), "answers for requests that were never committed"
    labels_twice = {i: n for i, n in out.label_records.items() if n != 1}
    assert not labels_twice, f"{len(labels_twice)} answers recorded more than once"
    assert set(out.label_records) == answered, (
        f"{len(answered - set(out.label_records))} answers never recorded"
    )
    assert learned == out.trained, f"model learned {learned} labels, {out.trained} were answered"
    still_open = out.open_requests & answered
    assert not still_open, f"{len(still_open)} answered requests still pending"
    orphans = out.open_requests - (set(out.requested) - answered)
    assert not orphans, f"{len(orphans)} open requests that were never sent"
    assert out.open_requests == set(out.requested) - answered, "unanswered requests not open"

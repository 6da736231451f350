#!/usr/bin/env python3
"""Throughput benchmark: the labelgate daemon against raw consume and a minimal passthrough.

One run, one topic, one client library (confluent-kafka). N deterministic predictions
(``daemon.tools.replay``) are produced to a fresh topic; then, in each of ``--rounds`` rounds and
each with a new consumer group on that same topic:

* RAW: ``Consumer.consume`` in batches of the daemon's ``consume_batch_size`` (the wire's limit);
* PASSTHROUGH: the least a daemon must do: consume, ``orjson`` decode, produce one small record
  per item through an idempotent lz4 producer configured like labelgate's, store offsets;
* DAEMON: ``python -m daemon.cli run`` as a subprocess with the default config (evidence on),
  polled on ``/metrics`` until every item is processed and its offset committed.

The ratio that matters is daemon / passthrough (the medians over the rounds). Optional phases:

* ``--latency-rate R`` (default 10,000/s): a fresh daemon is fed at an offered load of R items/s
  for ``--latency-seconds``; the p50/p99 of ``labelgate_decision_latency_seconds`` (from the
  record's arrival in the process, i.e. ``consume`` returning its batch, to the evidence being
  handed to the producer) are reported;
* ``--rss-items N`` (default off; e.g. 1,000,000 or 10,000,000, slow): a fresh daemon works through
  N items while a bench "expert" answers every label request, so labels flow; RSS is sampled at
  each million.

Without ``--bootstrap`` a single-node broker is started with ``scripts/kafka_broker.py`` in a
temporary directory and stopped at the end. ``--write docs/benchmarks.md`` replaces only the
throughput section of that file; a hand-written "### Where the time goes" subsection is kept.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import json
import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import confluent_kafka
import orjson
import yaml
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from daemon.config import KafkaSettings, PolicySettings
from daemon.tools import replay

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Throughput"
NOTES = "### Where the time goes"
STARTUP = "### Start-up"
STARTUP_ITEMS = 5_000  # the stream of --startup-only: a first start works through it
BATCH = KafkaSettings().consume_batch_size
SEED_ITEMS = 20_000  # generated once, then repeated with suffixed ids (generation is ~1 s / 20k)
POLL_SECONDS = 0.1
READY_POLL_SECONDS = 0.01
_BUCKET = re.compile(r'^labelgate_decision_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$')
# Same producer settings as connectors.kafka.KafkaOutputs, so the passthrough pays what the
# daemon pays per produced message.
_PRODUCER = {"enable.idempotence": True, "acks": "all", "linger.ms": 5, "compression.type": "lz4"}


# ----------------------------------------------------------------------------- data


class Stream:
    """N (key, value) predictions: one seeded replay, repeated with ids suffixed per round."""

    def __init__(self, n: int, work: Path) -> None:
        predictions, _truth = replay.generate(
            work / "replay", n=min(n, SEED_ITEMS), malformed_every=0
        )
        self.n = n
        self.seed = [json.loads(line) for line in predictions.read_text().splitlines() if line]

    def __iter__(self) -> Iterator[tuple[bytes, bytes]]:
        return self.items(self.n)

    def items(self, n: int) -> Iterator[tuple[bytes, bytes]]:
        """The first ``n`` items of the (repeated) stream.

        Each seed item is encoded once; later rounds only splice the suffixed id into its bytes
        (encoding every item anew would cost the bench more CPU than the daemon it measures).
        """
        encoded = [
            (item["id"].encode(), json.dumps({**item, "id": "\x00"}).encode()) for item in self.seed
        ]
        for i in range(n):
            base, template = encoded[i % len(encoded)]
            rnd = i // len(encoded)
            item_id = base if rnd == 0 else base + b"-r%d" % rnd
            yield item_id, template.replace(b"\\u0000", item_id, 1)

    def item_bytes(self) -> float:
        """Mean encoded size of an item."""
        sizes = [len(json.dumps(item).encode()) for item in self.seed]
        return sum(sizes) / len(sizes)


def create_topics(bootstrap: str, partitions: int) -> dict[str, str]:
    """Create uuid-named topics for one run (the state topic compacted); wait for leaders."""
    run = uuid.uuid4().hex[:12]
    topics = {
        "predictions": f"bench-predictions-{run}",
        "labels": f"bench-labels-{run}",
        "requests": f"bench-requests-{run}",
        "audit": f"bench-audit-{run}",
        "dead_letter": f"bench-dead-letter-{run}",
        "state": f"bench-state-{run}",
        "passthrough": f"bench-passthrough-{run}",
    }
    new = [
        NewTopic(
            name,
            num_partitions=partitions if role == "predictions" else 1,
            replication_factor=1,
            config={"cleanup.policy": "compact"} if role == "state" else {},
        )
        for role, name in topics.items()
    ]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics(new, operation_timeout=30).values():
        future.result(timeout=30)
    deadline = time.monotonic() + 30
    for name in topics.values():
        while True:
            info = admin.list_topics(topic=name, timeout=5).topics.get(name)
            if (
                info is not None
                and info.error is None
                and info.partitions
                and all(p.leader >= 0 for p in info.partitions.values())
            ):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {name} has no leader")
            time.sleep(0.1)
    return topics


def delete_topics(bootstrap: str, topics: dict[str, str]) -> None:
    """Delete the run's topics (best effort)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics(list(topics.values()), operation_timeout=30).values():
        with suppress(confluent_kafka.KafkaException):
            future.result(timeout=30)


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes, bytes]],
    rate: float | None = None,
    stop: threading.Event | None = None,
) -> float:
    """Produce all messages (lz4) and return the seconds taken; ``rate`` paces to items/s."""
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 1 if rate else 20,
            "compression.type": "lz4",
        }
    )
    started = time.perf_counter()
    # Paced in steps of 1 ms of the offered rate (10 items at 10,000/s): coarser steps would
    # offer bursts the daemon sees as one batch, finer ones are below time.sleep's resolution.
    step = max(1, round(rate / 1000)) if rate else 50
    for i, (key, value) in enumerate(messages):
        if rate is not None and i % step == 0:
            ahead = started + i / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
            producer.poll(0)
        if stop is not None and stop.is_set():
            break
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(300) != 0 or errors:
        raise RuntimeError(f"producing failed: {errors[:3]}")
    return time.perf_counter() - started


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """High watermark per partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


# ----------------------------------------------------------------------------- raw, passthrough


def _group_consumer(bootstrap: str, role: str) -> Consumer:
    """A consumer configured like labelgate's group source (manual offset store and commit)."""
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{role}-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )


def _subscribe_timed(consumer: Consumer, topic: str) -> list[tuple[float, float]]:
    """Subscribe; the returned list gets (wall, cpu) at the first non-empty assignment."""
    assigned: list[tuple[float, float]] = []

    def on_assign(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions and not assigned:
            assigned.append((time.perf_counter(), time.process_time()))

    consumer.subscribe([topic], on_assign=on_assign)
    return assigned


def raw_consume(bootstrap: str, topic: str, n: int, timeout: float) -> tuple[float, float]:
    """Items/s and CPU µs/item of a bare consumer (new group, earliest), assignment to Nth message.

    Timing starts when the group hands out the partitions, so the group join is excluded but
    fetching from the broker is not (timing from the first message would mostly measure a drain
    of librdkafka's prefetch queue). CPU time is this process's, librdkafka's threads included.
    """
    consumer = _group_consumer(bootstrap, "raw")
    assigned = _subscribe_timed(consumer, topic)
    seen = 0
    deadline = time.monotonic() + timeout
    try:
        while seen < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw consumer read {seen}/{n} items")
            for msg in consumer.consume(num_messages=BATCH, timeout=1.0):
                if msg.error() is None:
                    msg.value()
                    seen += 1
        wall, cpu = assigned[0]
        return n / (time.perf_counter() - wall), (time.process_time() - cpu) / n * 1e6
    finally:
        consumer.close()


def passthrough(
    bootstrap: str, topic: str, out_topic: str, n: int, timeout: float
) -> tuple[float, float]:
    """Items/s and CPU µs/item of the minimal passthrough, timed like :func:`raw_consume`.

    Per item: ``orjson.loads`` the value and produce a small ``{"id", "query"}`` record with the
    item's key; per batch: serve delivery reports and store the next offset of each partition.
    The clock stops when the Nth item has been handed to the producer (as for the daemon, whose
    items counter moves at the same point); the final flush and commit are outside it.
    """
    consumer = _group_consumer(bootstrap, "passthrough")
    producer = Producer({"bootstrap.servers": bootstrap, **_PRODUCER})
    assigned = _subscribe_timed(consumer, topic)
    seen = 0
    deadline = time.monotonic() + timeout
    loads, dumps, produce_one = orjson.loads, orjson.dumps, producer.produce
    try:
        while seen < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"passthrough read {seen}/{n} items")
            last: dict[tuple[str, int], int] = {}
            for msg in consumer.consume(num_messages=BATCH, timeout=1.0):
                if msg.error() is not None:
                    continue
                item = loads(msg.value())
                out = dumps({"id": item["id"], "query": False})
                while True:
                    try:
                        produce_one(out_topic, value=out, key=msg.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
                last[(msg.topic(), msg.partition())] = msg.offset()
                seen += 1
            producer.poll(0)
            if last:
                consumer.store_offsets(
                    offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
                )
        wall, cpu = assigned[0]
        rate = n / (time.perf_counter() - wall)
        cpu_us = (time.process_time() - cpu) / n * 1e6
        producer.flush(60)
        consumer.commit(asynchronous=False)
        return rate, cpu_us
    finally:
        consumer.close()


# ----------------------------------------------------------------------------- daemon


@dataclass
class DaemonRun:
    """What was observed while the daemon worked through the stream."""

    started: float = 0.0
    restored: float = 0.0
    ready: float = 0.0
    first: float = 0.0
    first_items: float = 0.0
    processed: float = 0.0
    committed: float = 0.0
    peak_rss_kib: int = 0
    rss_kib: dict[int, int] = field(default_factory=dict)
    rss_ready_kib: int = 0
    cpu_first: float = 0.0
    cpu_processed: float = 0.0
    p50: float = math.nan
    p99: float = math.nan
    labels_learned: float = 0.0
    pending: float = 0.0
    exit_code: int | None = None

    def steady_rate(self, n: int) -> float:
        """Items/s from the first sample with items > 0 to the sample with all N processed."""
        return (n - self.first_items) / (self.processed - self.first)

    def cpu_us(self, n: int) -> float:
        """Daemon CPU µs per item over the same span (less sensitive to a busy machine)."""
        return (self.cpu_processed - self.cpu_first) / (n - self.first_items) * 1e6

    def total_rate(self, n: int) -> float:
        """Items/s from process start to all offsets committed (startup, last commit included)."""
        return n / (self.committed - self.started)


def free_port() -> int:
    """A free loopback port (bound to 0 and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status (VmRSS, VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, all threads (from /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fetch(port: int, path: str) -> tuple[int, str]:
    """(status, body) of a GET on the ops server; (0, "") while it is not up."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return int(r.status), str(r.read().decode())
    except urllib.error.HTTPError as exc:
        return int(exc.code), str(exc.read().decode())
    except (urllib.error.URLError, OSError):
        return 0, ""


def sample(text: str, name: str) -> float:
    """A sample's value (the first line that starts with ``name``), NaN when absent."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return math.nan


def latency_quantile(text: str, q: float) -> float:
    """``histogram_quantile`` of the decision-latency histogram (linear within a bucket)."""
    buckets = sorted((float(m[1]), float(m[2])) for m in map(_BUCKET.match, text.splitlines()) if m)
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    low, below = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if math.isinf(le):
                return low
            return low + (le - low) * (rank - below) / max(count - below, 1e-12)
        low, below = le, count
    return low


def committed_offsets(bootstrap: str, group: str, topic: str, parts: list[int]) -> dict[int, int]:
    """The group's committed offset per partition (negative when none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        tps = [TopicPartition(topic, p) for p in parts]
        return {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
    finally:
        consumer.close()


def daemon_config(
    path: Path, bootstrap: str, topics: dict[str, str], group: str, port: int
) -> Path:
    """A config with the defaults (policy, batch size, commit interval) and this run's topics."""
    doc = {
        "source": "kafka",
        "classes": replay.CLASSES,
        "kafka": {
            "bootstrap_servers": bootstrap,
            "group_id": group,
            "topics": {k: v for k, v in topics.items() if k != "passthrough"},
        },
        "server": {"host": "127.0.0.1", "port": port},
        "state_dir": str(path.parent / f"state-{group}"),
        "log_level": "warning",
    }
    path.write_text(yaml.safe_dump(doc))
    return path


class DaemonProcess:
    """``labelgate run`` as a subprocess, with the observations of one run."""

    def __init__(
        self,
        bootstrap: str,
        topics: dict[str, str],
        work: Path,
        timeout: float,
        again: DaemonProcess | None = None,
    ) -> None:
        """A new instance (new group, state dir, transactional id), or with ``again`` the same
        instance as that one (its config, port and state), as a restarted pod would be."""
        self.bootstrap = bootstrap
        self.topics = topics
        self.timeout = timeout
        if again is None:
            self.group = f"bench-daemon-{uuid.uuid4().hex}"
            self.port = free_port()
            self.config = daemon_config(
                work / f"{self.group}.yaml", bootstrap, topics, self.group, self.port
            )
            self.log_path = work / f"{self.group}.log"
        else:
            self.group, self.port, self.config = again.group, again.port, again.config
            self.log_path = work / f"{self.group}-again.log"
        self.run = DaemonRun()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process and wait until /readyz says ready (recording both moments)."""
        log = self.log_path.open("wb")
        self.run.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "run", "--config", str(self.config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        while True:
            self.check_alive()
            status, body = fetch(self.port, "/readyz")
            now = time.monotonic()
            if body:
                doc = json.loads(body)
                if doc.get("restored") and not self.run.restored:
                    self.run.restored = now
                if status == 200 and doc.get("ready"):
                    self.run.ready = now
                    self.run.rss_ready_kib = proc_status(self.pid, "VmRSS")
                    return
            time.sleep(READY_POLL_SECONDS)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def check_alive(self) -> None:
        """Raise when the process died or the run took too long."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
            raise RuntimeError(f"daemon exited with {self.proc.returncode}:\n{tail}")
        if time.monotonic() - self.run.started > self.timeout:
            raise TimeoutError(f"daemon did not finish within {self.timeout:.0f}s: {self.log_path}")

    def watch(self, n: int, rss_every: int | None = None) -> str:
        """Poll /metrics until N items are processed; sample RSS every ``rss_every`` items."""
        run = self.run
        next_rss = rss_every
        text = ""
        while True:
            self.check_alive()
            _status, text = fetch(self.port, "/metrics")
            now = time.monotonic()
            items = sample(text, "labelgate_items_total")
            if items > 0 and not run.first:
                run.first, run.first_items = now, items
                run.cpu_first = proc_cpu_seconds(self.pid)
            while next_rss is not None and rss_every is not None and items >= next_rss:
                run.rss_kib[next_rss] = proc_status(self.pid, "VmRSS")
                next_rss += rss_every
            if items >= n:
                run.processed = now
                run.cpu_processed = proc_cpu_seconds(self.pid)
                break
            time.sleep(POLL_SECONDS)
        run.p50 = latency_quantile(text, 0.5)
        run.p99 = latency_quantile(text, 0.99)
        run.labels_learned = sample(text, 'labelgate_labels_total{outcome="learned"}')
        q = sample(text, 'labelgate_queue_outstanding_requests{queue="default"}')
        run.pending = 0.0 if math.isnan(q) else q
        return text

    def finish(self) -> DaemonRun:
        """Wait for every offset to be committed, then SIGTERM and wait for a clean exit."""
        assert self.proc is not None
        topic = self.topics["predictions"]
        ends = end_offsets(self.bootstrap, topic)
        while committed_offsets(self.bootstrap, self.group, topic, list(ends)) != ends:
            self.check_alive()
            time.sleep(POLL_SECONDS)
        self.run.committed = time.monotonic()
        self.run.peak_rss_kib = proc_status(self.pid, "VmHWM")
        self.stop()
        return self.run

    def stop(self) -> None:
        """SIGTERM, wait; kill if it does not exit."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.run.exit_code = self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        elif self.run.exit_code is None:
            self.run.exit_code = self.proc.returncode


def run_daemon(
    bootstrap: str, topics: dict[str, str], n: int, work: Path, timeout: float
) -> DaemonRun:
    """Run the daemon over the (already produced) topic until every offset is committed."""
    daemon = DaemonProcess(bootstrap, topics, work, timeout)
    try:
        daemon.start()
        daemon.watch(n)
        return daemon.finish()
    finally:
        daemon.stop()


def run_latency(
    bootstrap: str,
    partitions: int,
    stream: Stream,
    rate: float,
    seconds: float,
    work: Path,
    timeout: float,
) -> DaemonRun:
    """A ready daemon on an empty topic, then ``rate`` items/s for ``seconds``."""
    topics = create_topics(bootstrap, partitions)
    n = int(rate * seconds)
    daemon = DaemonProcess(bootstrap, topics, work, timeout)
    try:
        daemon.start()
        produce(bootstrap, topics["predictions"], stream.items(n), rate=rate)
        daemon.watch(n)
        return daemon.finish()
    finally:
        daemon.stop()
        delete_topics(bootstrap, topics)


def expert(bootstrap: str, topics: dict[str, str], stop: threading.Event) -> None:
    """Answer every label request at once (label: the production prediction), until ``stop``."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-expert-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    consumer.subscribe([topics["requests"]])
    try:
        while not stop.is_set():
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error() is not None or msg.value() is None:
                    continue
                request = orjson.loads(msg.value())
                if request.get("withdrawn"):
                    continue
                label = {
                    "id": request["id"],
                    "label": request.get("prediction") or replay.CLASSES[0],
                    "labeler_role": "expert",
                    "labeled_at": datetime.now(UTC).isoformat(),
                }
                while True:
                    try:
                        producer.produce(topics["labels"], orjson.dumps(label), msg.key())
                        break
                    except BufferError:
                        producer.poll(0.05)
            producer.poll(0)
        producer.flush(30)
    finally:
        consumer.close()


def run_rss(
    bootstrap: str, partitions: int, stream: Stream, n: int, work: Path, timeout: float
) -> DaemonRun:
    """N items through a fresh daemon with labels flowing; RSS sampled every million items."""
    topics = create_topics(bootstrap, partitions)
    stop = threading.Event()
    feeder = threading.Thread(
        target=produce,
        args=(bootstrap, topics["predictions"], stream.items(n)),
        kwargs={"stop": stop},
        daemon=True,
    )
    answering = threading.Thread(target=expert, args=(bootstrap, topics, stop), daemon=True)
    daemon = DaemonProcess(bootstrap, topics, work, timeout)
    try:
        daemon.start()
        feeder.start()
        answering.start()
        daemon.watch(n, rss_every=min(n, 1_000_000) if n >= 1_000_000 else max(n // 4, 1))
        feeder.join(timeout)
        return daemon.finish()
    finally:
        stop.set()
        daemon.stop()
        answering.join(30)
        delete_topics(bootstrap, topics)


# ----------------------------------------------------------------------------- start-up


@dataclass(frozen=True)
class Startup:
    """Start-up figures of ``--startup-only``: per start, seconds from process start."""

    first: list[DaemonRun]
    restart: list[DaemonRun]
    imports: list[float]
    interpreter: list[float]
    load: tuple[float, float]


def _timed_exit(code: str) -> float:
    """Wall seconds of ``python -c code`` that leaves by ``os._exit`` (no teardown counted)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code + "; import os; os._exit(0)"], cwd=ROOT, check=True)
    return time.perf_counter() - started


def run_startups(
    bootstrap: str, partitions: int, stream: Stream, runs: int, work: Path, timeout: float
) -> Startup:
    """``runs`` times: a new instance starts on a produced topic (new group, empty state),
    works through it, is stopped (SIGTERM) once every offset is committed, and starts again
    as the same instance (its state, checkpoint and static group membership). Imports alone
    and the bare interpreter are timed between the starts, in the same conditions."""
    load_start = os.getloadavg()[0]
    topics = create_topics(bootstrap, partitions)
    first: list[DaemonRun] = []
    again: list[DaemonRun] = []
    imports: list[float] = []
    interpreter: list[float] = []
    try:
        produce(bootstrap, topics["predictions"], stream)
        for i in range(runs):
            daemon = DaemonProcess(bootstrap, topics, work, timeout)
            try:
                daemon.start()
                daemon.watch(stream.n)
                first.append(daemon.finish())
            finally:
                daemon.stop()
            restarted = DaemonProcess(bootstrap, topics, work, timeout, again=daemon)
            try:
                restarted.start()
                again.append(restarted.run)
            finally:
                restarted.stop()
            imports.append(_timed_exit("import daemon.cli, daemon.service.app"))
            interpreter.append(_timed_exit("pass"))
            print(
                f"    start {i + 1}: restored {first[-1].restored - first[-1].started:.2f} s, "
                f"ready {first[-1].ready - first[-1].started:.2f} s; restart: ready "
                f"{again[-1].ready - again[-1].started:.2f} s; imports {imports[-1]:.2f} s",
                file=sys.stderr,
            )
    finally:
        delete_topics(bootstrap, topics)
    return Startup(first, again, imports, interpreter, (load_start, os.getloadavg()[0]))


def _spread(values: list[float]) -> str:
    """Median and range, in seconds."""
    return f"{_median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def startup_rows(s: Startup) -> list[tuple[str, str]]:
    """The start-up figures as (name, value) pairs."""

    def restored(runs: list[DaemonRun]) -> list[float]:
        return [r.restored - r.started for r in runs]

    def ready(runs: list[DaemonRun]) -> list[float]:
        return [r.ready - r.started for r in runs]

    return [
        (
            "first start (new group, empty state): process start to restored",
            _spread(restored(s.first)),
        ),
        ("first start: process start to **ready**", f"**{_spread(ready(s.first))}**"),
        (
            "restart (same instance: its state, checkpoint, static membership): to restored",
            _spread(restored(s.restart)),
        ),
        ("restart: process start to **ready**", f"**{_spread(ready(s.restart))}**"),
        ("imports alone (`import daemon.cli, daemon.service.app`)", _spread(s.imports)),
        ("bare interpreter (`python -c pass`)", _spread(s.interpreter)),
    ]


def startup_section(s: Startup, command: str) -> str:
    """The ``### Start-up`` subsection of the throughput section."""
    lines = [
        STARTUP,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{command}` at {_revision()}: "
        f"{len(s.first)} first starts and {len(s.restart)} restarts, medians (range); "
        f"load average {s.load[0]:.2f} at start, {s.load[1]:.2f} at the end, on "
        f"{os.cpu_count()} CPUs shared with the broker.",
        "",
        "| measure | result |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in startup_rows(s)),
        "",
        "Each first start is a new instance (new consumer group, state directory and "
        f"transactional id) on a topic of {STARTUP_ITEMS:,} predictions it works through; "
        "once every "
        "offset is committed it is stopped by SIGTERM and started again as the same instance, "
        "which restores the state and model checkpoint it committed and gets its partitions back "
        "by static membership. Ready = `/readyz` answers 200 (state restored and partitions "
        f"assigned), polled every {READY_POLL_SECONDS * 1000:g} ms from the moment the process "
        "is spawned. The imports and the bare interpreter are timed between the starts, each "
        "leaving by `os._exit` (the interpreter's teardown is not counted). The broker is "
        "`scripts/kafka_broker.py`'s, whose `group.initial.rebalance.delay.ms` is 0 (the "
        "broker default is 3 s, which delays a new group's first join, not a static member's "
        "rejoin).",
        "",
    ]
    return "\n".join(lines)


def write_startup(path: Path, body: str) -> None:
    """Replace (or add) the start-up subsection inside the throughput section."""
    old = path.read_text()
    match = re.search(r"^## Throughput.*$", old, flags=re.MULTILINE)
    if match is None:
        raise SystemExit(f"{path} has no throughput section to put the start-up figures in")
    nxt = re.search(r"^## ", old[match.end() :], flags=re.MULTILINE)
    end = match.end() + nxt.start() if nxt else len(old)
    section_text = old[match.start() : end]
    start = section_text.find(STARTUP)
    if start >= 0:
        later = re.search(r"^### ", section_text[start + len(STARTUP) :], flags=re.MULTILINE)
        stop = start + len(STARTUP) + later.start() if later else len(section_text)
    else:
        notes = section_text.find(NOTES)
        start = stop = notes if notes >= 0 else len(section_text)
    updated = section_text[:start] + body.rstrip("\n") + "\n\n" + section_text[stop:].lstrip("\n")
    path.write_text(
        old[: match.start()] + updated.rstrip("\n") + "\n" + ("\n" + old[end:] if old[end:] else "")
    )


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Round:
    """One round: the three pipelines over the same topic."""

    raw_rate: float
    raw_cpu_us: float
    pass_rate: float
    pass_cpu_us: float
    daemon: DaemonRun


@dataclass(frozen=True)
class Result:
    """One benchmark run, ready to print or write."""

    n: int
    partitions: int
    kafka: str
    item_bytes: float
    produce_seconds: float
    rounds: list[Round]
    latency: DaemonRun | None
    latency_rate: float
    rss: DaemonRun | None
    rss_items: int
    import_seconds: float
    load: float


def _median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def _machine(load: float) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown CPU",
    )
    mem_kib = proc_meminfo("MemTotal")
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kib / 2**20:.1f} GiB RAM, "
        f"load average {load:.2f} at start; shared with the broker and other work"
    )


def proc_meminfo(key: str) -> int:
    """A field of /proc/meminfo, in KiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _revision() -> str:
    """The commit measured, flagged when product code has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=True)
        return done.stdout.strip()

    try:
        sha = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "daemon", "policies", "connectors")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"`{sha}`" + (" with uncommitted changes to product code" if dirty else "")


def import_seconds() -> float:
    """Wall time of ``python -c "import daemon.cli, daemon.service.app"`` from process start
    to the imports done (median of 3); the process leaves by ``os._exit``, so the interpreter's
    teardown (0.3 s of freeing modules, which a daemon pays only when it stops) is not counted."""
    code = "import daemon.cli, daemon.service.app, os; os._exit(0)"
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        times.append(time.perf_counter() - started)
    return _median(times)


def _mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def rows(r: Result) -> list[tuple[str, str]]:
    """The measured figures as (name, value) pairs, shared by the table and the markdown."""
    n = r.n
    raw = _median(x.raw_rate for x in r.rounds)
    pas = _median(x.pass_rate for x in r.rounds)
    dae = _median(x.daemon.steady_rate(n) for x in r.rounds)
    raw_cpu = _median(x.raw_cpu_us for x in r.rounds)
    pas_cpu = _median(x.pass_cpu_us for x in r.rounds)
    dae_cpu = _median(x.daemon.cpu_us(n) for x in r.rounds)
    per_round = ", ".join(f"{x.daemon.steady_rate(n) / x.pass_rate:.3f}" for x in r.rounds)
    first = r.rounds[0].daemon
    out = [
        (f"raw consume (`Consumer.consume`, batches of {BATCH})", f"{raw:,.0f} items/s"),
        ("minimal passthrough (orjson decode, produce, store offsets)", f"{pas:,.0f} items/s"),
        ("labelgate daemon, default config, evidence on", f"{dae:,.0f} items/s"),
        ("**daemon / passthrough**", f"**{dae / pas:.3f}** (per round: {per_round})"),
        ("daemon / raw", f"{dae / raw:.3f}"),
        ("passthrough / raw", f"{pas / raw:.3f}"),
        (
            "CPU per item: raw / passthrough / daemon",
            f"{raw_cpu:.1f} µs / {pas_cpu:.1f} µs / {dae_cpu:.1f} µs",
        ),
        (
            "daemon: process start to restored / ready",
            f"{first.restored - first.started:.2f} s / {first.ready - first.started:.2f} s "
            f"(imports alone {r.import_seconds:.2f} s)",
        ),
        (
            "daemon: process start to all committed",
            f"{_median(x.daemon.total_rate(n) for x in r.rounds):,.0f} items/s",
        ),
        ("daemon: peak RSS (VmHWM)", _mib(max(x.daemon.peak_rss_kib for x in r.rounds))),
    ]
    if r.latency is not None:
        lat = r.latency
        out.append(
            (
                f"latency p50 / p99 at {r.latency_rate:,.0f} items/s offered "
                "(arrival in the process to evidence handed to the producer)",
                f"{_ms(lat.p50)} / {_ms(lat.p99)}",
            )
        )
    if r.rss is not None:
        rss = r.rss
        marks = sorted(rss.rss_kib)
        samples = ", ".join(f"{m / 1e6:g}M: {_mib(rss.rss_kib[m])}" for m in marks)
        change = rss.rss_kib[marks[-1]] / rss.rss_kib[marks[0]] - 1.0 if marks else math.nan
        out.append(
            (
                f"RSS over {r.rss_items:,} items with labels flowing "
                f"({rss.labels_learned:,.0f} labels learned)",
                f"{samples}; first to last mark {change:+.1%}; "
                f"{rss.pending:,.0f} requests pending at the end",
            )
        )
    return out


def print_table(r: Result) -> None:
    """A small plain-text table on stdout."""
    table = [
        ("items / partitions / rounds", f"{r.n:,} / {r.partitions} / {len(r.rounds)}"),
        ("produce", f"{r.n / r.produce_seconds:,.0f} items/s ({r.item_bytes:.0f} B/item)"),
        *(
            (name.replace("*", "").replace("`", ""), value.replace("*", ""))
            for name, value in rows(r)
        ),
        ("daemon exit codes after SIGTERM", ", ".join(str(x.daemon.exit_code) for x in r.rounds)),
    ]
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:<{width}}  {value}")


def section(r: Result, command: str) -> str:
    """The markdown section (without the hand-written notes)."""
    fraction = PolicySettings().budget.fraction
    strategy = PolicySettings().strategy.value
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/throughput.py`, all figures "
        "from this one run. Absolute rates depend on the machine; compare the "
        "**daemon / passthrough** ratio across runs.",
        "",
        "| setting | value |",
        "|---|---|",
        f"| revision | {_revision()} |",
        f"| machine | {_machine(r.load)} |",
        f"| Kafka | {r.kafka} |",
        f"| client | confluent-kafka {confluent_kafka.__version__} "
        f"(librdkafka {confluent_kafka.libversion()[0]}), Python {platform.python_version()} |",
        f"| stream | {r.n:,} predictions from `daemon.tools.replay` "
        f"({r.item_bytes:.0f} B each, lz4), "
        f"{r.partitions} partitions, no malformed items, no labels; {len(r.rounds)} rounds, "
        "medians |",
        f"| daemon | `labelgate run` subprocess, default config: {strategy} at {fraction:.0%}, "
        f"evidence on, `consume_batch_size` {BATCH}, commit every "
        f"{KafkaSettings().commit_interval_seconds:g} s |",
        "",
        "| measure | result |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows(r)),
        "",
        "Each round reads the same topic three times with a new consumer group each: raw, "
        "passthrough (in the bench process), daemon (a subprocess). Raw and passthrough are timed "
        "from the partition assignment to the last item; the daemon from the first `/metrics` "
        f"sample (every {POLL_SECONDS:g} s) with `labelgate_items_total` > 0 to the first with all "
        "items, so startup and group join are excluded from all three; the start-to-committed "
        "rate includes them and the final commit. CPU per item is the process's user + system "
        "time over the same span (all threads, librdkafka's included). Latency is "
        "`labelgate_decision_latency_seconds`, interpolated within histogram buckets; it starts "
        "when `consume` hands the item's batch to the process, so the wait inside a batch counts, "
        "but the time a record spends in librdkafka's fetch queue before that does not (the "
        "daemon takes time-capped micro-batches, so after a pause the rest of a burst waits "
        "there, uncounted); the load is offered in steps of 1 ms. The project is byte-compiled "
        "first, as in the image. "
        "Ready = `/readyz` answers 200 (state restored and partitions assigned), polled every "
        f"{READY_POLL_SECONDS * 1000:g} ms. RSS is read from `/proc/<pid>/status` of the daemon "
        "alone; in the RSS phase a bench expert answers every label request at once.",
        "",
        f"Reproduce: `{command}` (`make bench` runs it with `--write docs/benchmarks.md`; options: "
        "`--items`, `--partitions`, `--rounds`, `--latency-rate` (0 = skip), `--latency-seconds`, "
        "`--rss-items` (0 = skip), `--bootstrap HOST:PORT` to use a running broker).",
        "",
    ]
    return "\n".join(lines)


def write_markdown(path: Path, body: str) -> None:
    """Replace (or append) the throughput section, keeping other sections and its notes."""
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    match = re.search(r"^## Throughput.*$", old, flags=re.MULTILINE)
    if match is None:
        path.write_text(old.rstrip("\n") + "\n\n" + body)
        return
    start = match.start()
    nxt = re.search(r"^## ", old[match.end() :], flags=re.MULTILINE)
    end = match.end() + nxt.start() if nxt else len(old)
    current = old[start:end]
    kept = current.find(STARTUP)
    if kept < 0:
        kept = current.find(NOTES)
    if kept >= 0:
        body = body.rstrip("\n") + "\n\n" + current[kept:].rstrip("\n") + "\n"
    tail = old[end:]
    path.write_text(old[:start] + body + ("\n" + tail if tail else ""))


# ----------------------------------------------------------------------------- main


def _load_broker_module() -> ModuleType:
    """Import scripts/kafka_broker.py (scripts/ is not a package)."""
    path = ROOT / "scripts" / "kafka_broker.py"
    spec = importlib.util.spec_from_file_location("labelgate_kafka_broker", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def broker(bootstrap: str | None, work: Path) -> Iterator[tuple[str, str]]:
    """Yield (bootstrap, Kafka description): the given broker, or one started for the run."""
    if bootstrap:
        yield bootstrap, f"external broker at {bootstrap}"
        return
    module = _load_broker_module()
    kafka = module.KafkaBroker(die_with_parent=True)
    try:
        address = kafka.start(work / "kafka")
        yield (
            address,
            (
                f"{kafka.version}, single KRaft node started by `scripts/kafka_broker.py` on the "
                "same machine (C1-only JIT, 512 MiB heap)"
            ),
        )
    finally:
        kafka.stop()


def _step(what: str) -> Callable[[], None]:
    started = time.monotonic()
    print(f"... {what}", file=sys.stderr, flush=True)
    return lambda: print(f"    {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; optionally write the markdown section."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--items", type=int, default=100_000, help="predictions in the stream")
    p.add_argument("--partitions", type=int, default=3, help="partitions of the input topic")
    p.add_argument("--rounds", type=int, default=3, help="rounds of raw/passthrough/daemon")
    p.add_argument("--latency-rate", type=float, default=10_000.0, help="offered items/s; 0: skip")
    p.add_argument("--latency-seconds", type=float, default=20.0, help="length of that phase")
    p.add_argument("--rss-items", type=int, default=0, help="items of the RSS phase; 0: skip")
    p.add_argument("--write", type=Path, help="markdown file whose throughput section to update")
    p.add_argument("--bootstrap", help="use this broker instead of starting one")
    p.add_argument("--timeout", type=float, default=900.0, help="give up on a phase after this")
    p.add_argument(
        "--startup-only",
        action="store_true",
        help="measure only start-up (--startup-runs first starts and restarts); --write "
        "replaces only the start-up subsection",
    )
    p.add_argument("--startup-runs", type=int, default=7, help="starts of --startup-only")
    args = p.parse_args(argv)
    given = list(argv if argv is not None else sys.argv[1:])
    shown = [
        a
        for i, a in enumerate(given)
        if not a.startswith("--write") and not (i and given[i - 1] == "--write")
    ]
    command = " ".join(["python bench/throughput.py", *shown])
    n = args.items
    # Byte-compiled as in the image (its Dockerfile runs compileall): with
    # PYTHONDONTWRITEBYTECODE set, every start would otherwise compile the project's sources.
    for package in ("daemon", "policies", "connectors"):
        compileall.compile_dir(ROOT / package, quiet=1)
    if args.startup_only:
        return startup_main(args, command)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="labelgate-bench-") as tmp:
        work = Path(tmp)
        done = _step(f"generating {n:,} predictions")
        stream = Stream(n, work)
        done()
        done = _step("starting the broker" if not args.bootstrap else "connecting")
        with broker(args.bootstrap, work) as (bootstrap, kafka):
            done()
            topics = create_topics(bootstrap, args.partitions)
            rounds: list[Round] = []
            try:
                done = _step("producing")
                produce_seconds = produce(bootstrap, topics["predictions"], stream)
                done()
                for i in range(args.rounds):
                    done = _step(f"round {i + 1}: raw, passthrough, daemon")
                    raw, raw_cpu = raw_consume(bootstrap, topics["predictions"], n, args.timeout)
                    pas, pas_cpu = passthrough(
                        bootstrap, topics["predictions"], topics["passthrough"], n, args.timeout
                    )
                    daemon = run_daemon(bootstrap, topics, n, work, args.timeout)
                    rounds.append(Round(raw, raw_cpu, pas, pas_cpu, daemon))
                    done()
                    print(
                        f"    raw {raw:,.0f}/s  passthrough {pas:,.0f}/s  daemon "
                        f"{daemon.steady_rate(n):,.0f}/s  ratio {daemon.steady_rate(n) / pas:.3f}",
                        file=sys.stderr,
                    )
            finally:
                delete_topics(bootstrap, topics)
            latency = None
            if args.latency_rate > 0:
                done = _step(f"latency at {args.latency_rate:,.0f} items/s offered")
                latency = run_latency(
                    bootstrap,
                    args.partitions,
                    stream,
                    args.latency_rate,
                    args.latency_seconds,
                    work,
                    args.timeout,
                )
                done()
            rss = None
            if args.rss_items > 0:
                done = _step(f"RSS over {args.rss_items:,} items with labels")
                rss = run_rss(
                    bootstrap,
                    args.partitions,
                    stream,
                    args.rss_items,
                    work,
                    max(args.timeout, args.rss_items / 1000),
                )
                done()
    result = Result(
        n,
        args.partitions,
        kafka,
        stream.item_bytes(),
        produce_seconds,
        rounds,
        latency,
        args.latency_rate,
        rss,
        args.rss_items,
        import_seconds(),
        load,
    )
    print_table(result)
    if args.write:
        write_markdown(args.write, section(result, command))
        print(f"wrote {args.write}", file=sys.stderr)
    return 0 if all(x.daemon.exit_code == 0 for x in rounds) else 1


def startup_main(args: argparse.Namespace, command: str) -> int:
    """``--startup-only``: the start-up figures alone, printed and optionally written."""
    with tempfile.TemporaryDirectory(prefix="labelgate-bench-") as tmp:
        work = Path(tmp)
        stream = Stream(STARTUP_ITEMS, work)
        done = _step("starting the broker" if not args.bootstrap else "connecting")
        with broker(args.bootstrap, work) as (bootstrap, _kafka):
            done()
            done = _step(f"{args.startup_runs} first starts and restarts")
            result = run_startups(
                bootstrap, args.partitions, stream, args.startup_runs, work, args.timeout
            )
            done()
    rows_ = startup_rows(result)
    width = max(len(name) for name, _ in rows_)
    for name, value in rows_:
        print(f"{name.replace('*', '').replace('`', ''):<{width}}  {value.replace('*', '')}")
    print(f"load average {result.load[0]:.2f} at start, {result.load[1]:.2f} at the end")
    if args.write:
        write_startup(args.write, startup_section(result, command))
        print(f"wrote {args.write}", file=sys.stderr)
    exits = [r.exit_code for r in result.first + result.restart]
    return 0 if all(code == 0 for code in exits) else 1


if __name__ == "__main__":
    sys.exit(main())

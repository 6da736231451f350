#!/usr/bin/env python3
"""Throughput benchmark: the labelgate daemon against the raw Kafka consume rate on one stream.

Produces N deterministic predictions (``daemon.tools.replay``) to a fresh topic, then measures

* RAW: ``confluent_kafka.Consumer.consume`` in batches of the daemon's ``consume_batch_size``,
  a new consumer group reading from the earliest offset until all N are read;
* DAEMON: ``python -m daemon.cli run`` as a subprocess with the default policy, polled on
  ``/metrics`` until every item is processed and its offset committed; its rate, decision latency
  (from the histogram), peak RSS and RSS at each quarter of the stream.

``--delivery-cost`` instead runs the daemon several times, alternating the default
``kafka.delivery: exactly_once`` (one transaction per commit) and ``at_least_once``, and writes
the cost of transactions (its own section of ``docs/benchmarks.md``).

Without ``--bootstrap`` a single-node broker is started with ``scripts/kafka_broker.py`` in a
temporary directory and stopped at the end. ``--write docs/benchmarks.md`` replaces only the
throughput section of that file; a hand-written "### Where the time goes" subsection is kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import confluent_kafka
import yaml
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from daemon.config import KafkaSettings, PolicySettings
from daemon.tools import replay

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Throughput (issue: foundation baseline)"
DELIVERY_SECTION = "## Cost of transactions (issue 14)"
NOTES = "### Where the time goes"
BATCH = KafkaSettings().consume_batch_size
SEED_ITEMS = 20_000  # generated once, then repeated with suffixed ids (generation is ~1 s / 20k)
QUARTERS = (0.25, 0.5, 0.75, 1.0)
POLL_SECONDS = 0.2
_BUCKET = re.compile(r'^labelgate_decision_latency_seconds_bucket\{le="([^"]+)"\} (\S+)$')


# ----------------------------------------------------------------------------- data


def make_stream(n: int, work: Path) -> list[tuple[bytes, bytes]]:
    """N (key, value) predictions: one seeded replay, repeated with ids suffixed per round."""
    predictions, _truth = replay.generate(work / "replay", n=min(n, SEED_ITEMS), malformed_every=0)
    seed = [json.loads(line) for line in predictions.read_text().splitlines() if line.strip()]
    out: list[tuple[bytes, bytes]] = []
    for i in range(n):
        item = seed[i % len(seed)]
        rnd = i // len(seed)
        item_id = item["id"] if rnd == 0 else f"{item['id']}-r{rnd}"
        out.append((item_id.encode(), json.dumps({**item, "id": item_id}).encode()))
    return out


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


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes]]) -> float:
    """Produce all messages (lz4, as the daemon's own producer) and return the seconds taken."""
    errors: list[KafkaError] = []

    def on_delivery(err: KafkaError | None, _msg: object) -> None:
        if err is not None:
            errors.append(err)

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 20,
            "compression.type": "lz4",
        }
    )
    started = time.perf_counter()
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) != 0 or errors:
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


# ----------------------------------------------------------------------------- raw


def raw_consume(bootstrap: str, topic: str, n: int, timeout: float) -> tuple[float, float]:
    """Items/s and CPU µs/item of a bare consumer (new group, earliest), assignment to Nth message.

    Timing starts when the group hands out the partitions, so the group join is excluded but
    fetching from the broker is not (timing from the first message would mostly measure a drain
    of librdkafka's prefetch queue). CPU time is this process's, librdkafka's threads included.
    """
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-raw-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
        }
    )
    assigned: list[tuple[float, float]] = []

    def on_assign(_consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if partitions and not assigned:
            assigned.append((time.perf_counter(), time.process_time()))

    consumer.subscribe([topic], on_assign=on_assign)
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


# ----------------------------------------------------------------------------- daemon


@dataclass
class DaemonRun:
    """What was observed while the daemon worked through the stream."""

    started: float = 0.0
    ready: float = 0.0
    first: float = 0.0
    first_items: float = 0.0
    processed: float = 0.0
    committed: float = 0.0
    peak_rss_kib: int = 0
    rss_kib: dict[float, int] = field(default_factory=dict)
    rss_ready_kib: int = 0
    cpu_first: float = 0.0
    cpu_processed: float = 0.0
    p50: float = math.nan
    p99: float = math.nan
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


def scrape(port: int) -> str:
    """The /metrics text ("" while the server is not up)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return str(r.read().decode())
    except (urllib.error.URLError, OSError):
        return ""


def sample(text: str, name: str) -> float:
    """An unlabelled sample's value, NaN when absent."""
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
    path: Path,
    bootstrap: str,
    topics: dict[str, str],
    group: str,
    port: int,
    delivery: str | None = None,
) -> Path:
    """A config with the defaults (policy, batch size, commit interval) and this run's topics."""
    kafka: dict[str, object] = {"bootstrap_servers": bootstrap, "group_id": group, "topics": topics}
    if delivery is not None:
        kafka["delivery"] = delivery
    doc = {
        "source": "kafka",
        "classes": replay.CLASSES,
        "kafka": kafka,
        "server": {"host": "127.0.0.1", "port": port},
        "state_dir": str(path.parent / "state"),
    }
    path.write_text(yaml.safe_dump(doc))
    return path


def run_daemon(
    bootstrap: str,
    topics: dict[str, str],
    n: int,
    work: Path,
    timeout: float,
    delivery: str | None = None,
) -> DaemonRun:
    """Run the daemon as a subprocess over the topic; SIGTERM once every offset is committed."""
    group = f"bench-daemon-{uuid.uuid4().hex}"
    port = free_port()
    work.mkdir(parents=True, exist_ok=True)
    config = daemon_config(work / "labelgate.yaml", bootstrap, topics, group, port, delivery)
    ends = end_offsets(bootstrap, topics["predictions"])
    log_path = work / "daemon.log"
    run = DaemonRun()
    with log_path.open("wb") as log:
        run.started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "run", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            _watch(proc, run, n, port, timeout, log_path)
            while committed_offsets(bootstrap, group, topics["predictions"], list(ends)) != ends:
                _check_alive(proc, log_path, run.started, timeout)
                time.sleep(POLL_SECONDS)
            run.committed = time.monotonic()
            run.peak_rss_kib = proc_status(proc.pid, "VmHWM")
            proc.send_signal(signal.SIGTERM)
            run.exit_code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return run


def _check_alive(
    proc: subprocess.Popen[bytes], log_path: Path, started: float, timeout: float
) -> None:
    if proc.poll() is not None:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"daemon exited with {proc.returncode}:\n{tail}")
    if time.monotonic() - started > timeout:
        raise TimeoutError(f"daemon did not finish within {timeout:.0f}s; log: {log_path}")


def _watch(
    proc: subprocess.Popen[bytes],
    run: DaemonRun,
    n: int,
    port: int,
    timeout: float,
    log_path: Path,
) -> None:
    """Poll /metrics until all N items are processed, sampling RSS at each quarter."""
    quarters = list(QUARTERS)
    text = ""
    while True:
        _check_alive(proc, log_path, run.started, timeout)
        text = scrape(port)
        now = time.monotonic()
        items = sample(text, "labelgate_items_total")
        if text and not run.ready and sample(text, "labelgate_ready") == 1.0:
            run.ready = now
            run.rss_ready_kib = proc_status(proc.pid, "VmRSS")
        if items > 0 and not run.first:
            run.first, run.first_items = now, items
            run.cpu_first = proc_cpu_seconds(proc.pid)
        while quarters and items >= quarters[0] * n:
            run.rss_kib[quarters.pop(0)] = proc_status(proc.pid, "VmRSS")
        if items >= n:
            run.processed = now
            run.cpu_processed = proc_cpu_seconds(proc.pid)
            break
        time.sleep(POLL_SECONDS)
    run.p50 = latency_quantile(text, 0.5)
    run.p99 = latency_quantile(text, 0.99)


# ----------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Result:
    """One benchmark run, ready to print or write."""

    n: int
    partitions: int
    kafka: str
    item_bytes: float
    produce_seconds: float
    raw_rate: float
    raw_cpu_us: float
    daemon: DaemonRun


def _machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown CPU",
    )
    mem_kib = proc_meminfo("MemTotal")
    load = os.getloadavg()[0]
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem_kib / 2**20:.1f} GiB RAM, "
        f"load average {load:.2f} at start; shared with the broker"
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


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def rows(r: Result) -> list[tuple[str, str]]:
    """The measured figures as (name, value) pairs, shared by the table and the markdown."""
    d = r.daemon
    steady = d.steady_rate(r.n)
    cpu = d.cpu_us(r.n)
    quarters = ", ".join(f"{_mib(d.rss_kib[q])}" for q in QUARTERS)
    return [
        (f"raw consume (`Consumer.consume`, batches of {BATCH})", f"{r.raw_rate:,.0f} items/s"),
        ("daemon, first item to all processed", f"{steady:,.0f} items/s"),
        ("**daemon / raw**", f"**{steady / r.raw_rate:.3f}**"),
        ("CPU per item: raw / daemon", f"{r.raw_cpu_us:.1f} µs / {cpu:.1f} µs"),
        ("daemon / raw, by CPU per item", f"{r.raw_cpu_us / cpu:.3f}"),
        (
            "daemon, process start to all committed",
            f"{d.total_rate(r.n):,.0f} items/s (ready after {d.ready - d.started:.1f} s)",
        ),
        ("decision latency p50 / p99 (histogram)", f"{_ms(d.p50)} / {_ms(d.p99)}"),
        ("peak RSS (VmHWM)", _mib(d.peak_rss_kib)),
        (
            "RSS when ready, then at 25/50/75/100 % of the stream",
            f"{_mib(d.rss_ready_kib)}; {quarters}",
        ),
    ]


def print_table(r: Result) -> None:
    """A small plain-text table on stdout."""
    table = [
        ("items / partitions", f"{r.n:,} / {r.partitions}"),
        ("produce", f"{r.n / r.produce_seconds:,.0f} items/s ({r.item_bytes:.0f} B/item)"),
        *(
            (name.replace("*", "").replace("`", ""), value.replace("*", ""))
            for name, value in rows(r)
        ),
        ("daemon exit code after SIGTERM", str(r.daemon.exit_code)),
    ]
    width = max(len(name) for name, _ in table)
    for name, value in table:
        print(f"{name:<{width}}  {value}")


def section(r: Result) -> str:
    """The markdown section (without the hand-written notes)."""
    fraction = PolicySettings().budget.fraction
    strategy = PolicySettings().strategy.value
    lines = [
        SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/throughput.py`. "
        "Absolute rates depend on the machine; compare the **daemon / raw** ratio across runs.",
        "",
        "| setting | value |",
        "|---|---|",
        f"| revision | {_revision()} |",
        f"| machine | {_machine()} |",
        f"| Kafka | {r.kafka} |",
        f"| client | confluent-kafka {confluent_kafka.__version__} "
        f"(librdkafka {confluent_kafka.libversion()[0]}), Python {platform.python_version()} |",
        f"| stream | {r.n:,} predictions from `daemon.tools.replay` "
        f"({r.item_bytes:.0f} B each, lz4), "
        f"{r.partitions} partitions, no malformed items, no labels |",
        f"| daemon | `labelgate run` subprocess, default config: {strategy} at {fraction:.0%}, "
        f"`consume_batch_size` {BATCH}, commit every "
        f"{KafkaSettings().commit_interval_seconds:g} s |",
        "",
        "| measure | result |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows(r)),
        "",
        "Raw is timed from the partition assignment to the last message; the daemon from the first "
        f"`/metrics` sample (every {POLL_SECONDS:g} s) with `labelgate_items_total` > 0 to the "
        "first with all items, so startup and group join are excluded from both; the "
        "start-to-committed rate includes them and the final periodic commit. Decision latency "
        "is the in-process time from parse to the evidence record being queued (it excludes "
        "consume and delivery), interpolated within histogram buckets. CPU per item is the "
        "process's user + system time over the same span (all threads, librdkafka's included); "
        "it moves less than wall-clock rates when the machine is busy. RSS is read from "
        "`/proc/<pid>/status` of the daemon process alone. Label requests stay pending (no "
        "expert answers), so about 5 % of the items sit in the pending store by the end.",
        "",
        "Reproduce: `make bench`, which runs "
        "`.venv/bin/python bench/throughput.py --write docs/benchmarks.md` "
        "(options: `--items` default 100000, `--partitions` default 3, "
        "`--bootstrap HOST:PORT` to use a running broker).",
        "",
    ]
    return "\n".join(lines)


def delivery_section(n: int, partitions: int, kafka: str, runs: list[tuple[str, DaemonRun]]) -> str:
    """The markdown section comparing exactly-once with at-least-once delivery."""
    interval = KafkaSettings().commit_interval_seconds

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2

    rates = {m: [r.steady_rate(n) for d, r in runs if d == m] for m, _ in runs}
    cpus = {m: [r.cpu_us(n) for d, r in runs if d == m] for m, _ in runs}
    totals = {m: [r.total_rate(n) for d, r in runs if d == m] for m, _ in runs}
    eos, alo = "exactly_once", "at_least_once"
    ratio = median(rates[eos]) / median(rates[alo])
    cpu_cost = median(cpus[eos]) / median(cpus[alo]) - 1
    spread = max(
        (max(v) - min(v)) / median(v) for v in rates.values() if v
    )  # between runs of one setting
    lines = [
        DELIVERY_SECTION,
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `bench/throughput.py "
        f"--delivery-cost`: {n:,} predictions on {partitions} partitions, the daemon run "
        f"{len(runs)} times alternating `kafka.delivery` (fresh consumer group each time), every "
        f"other setting at its default (commit every {interval:g} s). Revision {_revision()}; "
        f"{_machine()}; Kafka {kafka}.",
        "",
        "| delivery | items/s, first item to all processed (each run) | median | CPU µs/item "
        "(median) | items/s, start to all committed (median) |",
        "|---|---|---:|---:|---:|",
    ]
    for mode in (eos, alo):
        each = ", ".join(f"{x:,.0f}" for x in rates[mode])
        lines.append(
            f"| `{mode}` | {each} | {median(rates[mode]):,.0f} | {median(cpus[mode]):.1f} | "
            f"{median(totals[mode]):,.0f} |"
        )
    lines += [
        "",
        f"**Throughput exactly-once / at-least-once (medians): {ratio:.2f}; CPU per item "
        f"{cpu_cost:+.1%}.** Runs of one setting differ by up to {spread:.0%} here, so only a "
        "difference beyond that is a measured cost. Per commit a transaction adds the "
        "`AddPartitionsToTxn`/`AddOffsetsToTxn` round trips, `EndTxn` and a commit marker in "
        "every partition it wrote to; at one commit per second that is a few milliseconds a "
        "second. At-least-once in turn serves a delivery report per output to track offsets, "
        "which exactly-once does not need. The model checkpoint written before each commit "
        "(only when the model learned something; no labels arrive here) is not part of this "
        "figure.",
        "",
        "Reproduce: `.venv/bin/python bench/throughput.py --delivery-cost --write "
        "docs/benchmarks.md` (options: `--items`, `--partitions`, `--repeat` runs per "
        "setting, `--bootstrap HOST:PORT`).",
        "",
    ]
    return "\n".join(lines)


def write_markdown(path: Path, body: str, heading: str = SECTION) -> None:
    """Replace (or append) one section, keeping other sections and its notes."""
    old = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = old.find(heading)
    if start < 0:
        path.write_text(old.rstrip("\n") + "\n\n" + body)
        return
    nxt = re.search(r"^## ", old[start + len(heading) :], flags=re.MULTILINE)
    end = start + len(heading) + nxt.start() if nxt else len(old)
    current = old[start:end]
    notes = current.find(NOTES)
    if notes >= 0:
        body = body.rstrip("\n") + "\n\n" + current[notes:].rstrip("\n") + "\n"
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
    p.add_argument("--write", type=Path, help="markdown file whose throughput section to update")
    p.add_argument("--bootstrap", help="use this broker instead of starting one")
    p.add_argument("--timeout", type=float, default=900.0, help="give up on a phase after this")
    p.add_argument(
        "--delivery-cost",
        action="store_true",
        help="compare exactly_once with at_least_once delivery instead",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per delivery setting")
    args = p.parse_args(argv)
    if args.delivery_cost:
        return delivery_cost(args)
    n = args.items
    with tempfile.TemporaryDirectory(prefix="labelgate-bench-") as tmp:
        work = Path(tmp)
        done = _step(f"generating {n:,} predictions")
        stream = make_stream(n, work)
        item_bytes = sum(len(v) for _, v in stream) / n
        done()
        done = _step("starting the broker" if not args.bootstrap else "connecting")
        with broker(args.bootstrap, work) as (bootstrap, kafka):
            done()
            topics = create_topics(bootstrap, args.partitions)
            try:
                done = _step("producing")
                produce_seconds = produce(bootstrap, topics["predictions"], stream)
                del stream
                done()
                done = _step("raw consume")
                raw, raw_cpu = raw_consume(bootstrap, topics["predictions"], n, args.timeout)
                done()
                done = _step("daemon")
                daemon = run_daemon(bootstrap, topics, n, work, args.timeout)
                done()
            finally:
                delete_topics(bootstrap, topics)
    result = Result(n, args.partitions, kafka, item_bytes, produce_seconds, raw, raw_cpu, daemon)
    print_table(result)
    if args.write:
        write_markdown(args.write, section(result))
        print(f"wrote {args.write}", file=sys.stderr)
    return 0 if daemon.exit_code == 0 else 1


def delivery_cost(args: argparse.Namespace) -> int:
    """Run the daemon alternately with and without transactions over the same stream."""
    n = args.items
    runs: list[tuple[str, DaemonRun]] = []
    with tempfile.TemporaryDirectory(prefix="labelgate-bench-") as tmp:
        work = Path(tmp)
        stream = make_stream(n, work)
        with broker(args.bootstrap, work) as (bootstrap, kafka):
            topics = create_topics(bootstrap, args.partitions)
            try:
                produce(bootstrap, topics["predictions"], stream)
                del stream
                for i in range(args.repeat):
                    for mode in ("exactly_once", "at_least_once"):
                        done = _step(f"daemon {mode} #{i + 1}")
                        run = run_daemon(
                            bootstrap, topics, n, work / f"{mode}-{i}", args.timeout, mode
                        )
                        done()
                        if run.exit_code != 0:
                            raise RuntimeError(f"daemon ({mode}) exited with {run.exit_code}")
                        runs.append((mode, run))
                        print(
                            f"{mode:<14} {run.steady_rate(n):>10,.0f} items/s "
                            f"{run.cpu_us(n):6.1f} us/item",
                            flush=True,
                        )
            finally:
                delete_topics(bootstrap, topics)
    body = delivery_section(n, args.partitions, kafka, runs)
    print(body)
    if args.write:
        write_markdown(args.write, body, DELIVERY_SECTION)
        print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

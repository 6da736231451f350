"""Helpers to run `labelgate run` as a real process against the test broker."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import Consumer, Producer, TopicPartition


def free_port() -> int:
    """A free loopback port (bound to 0 and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    """Write a YAML config file."""
    path.write_text(yaml.safe_dump(doc))
    return path


class DaemonProcess:
    """`python -m daemon.cli run --config FILE`, with its metrics endpoint."""

    def __init__(
        self, config: Path, port: int, log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.config = config
        self.port = port
        self.log = log
        self.env = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> DaemonProcess:
        """Start the process and wait until it is ready (/readyz 200)."""
        self.launch()
        wait_for(lambda: self.http("/readyz")[0] == 200, 60, "daemon ready", self)
        return self

    def launch(self) -> DaemonProcess:
        """Start the process without waiting for it."""
        self._log_fh = self.log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "run", "--config", str(self.config)],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            env=env,
        )
        return self

    @property
    def ready(self) -> bool:
        """Whether /readyz answers 200 now."""
        return self.http("/readyz")[0] == 200

    def sigkill(self) -> None:
        """SIGKILL the process (a crash: no shutdown, no commit) and reap it."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(30)
        self._log_fh.close()

    def http(self, path: str) -> tuple[int, bytes]:
        """GET a path of the ops server; (0, b"") when it is not reachable."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except OSError:
            return 0, b""

    def metric(self, name: str) -> float:
        """Value of an unlabelled sample on /metrics (NaN when absent)."""
        _, body = self.http("/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return float("nan")

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait for the exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log_fh.close()

    def kill(self) -> None:
        """Last-resort cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the process log, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def wait_for(
    cond: Callable[[], bool],
    timeout: float,
    what: str | Callable[[], str],
    daemon: DaemonProcess | None = None,
) -> None:
    """Poll ``cond`` until true; fail with the daemon's log tail on timeout or early exit.

    ``what`` may be a callable, so that the message says how far things got when it failed.
    """
    deadline = time.monotonic() + timeout
    while not cond():
        if daemon is not None and daemon.proc is not None and daemon.proc.poll() is not None:
            raise AssertionError(
                f"daemon exited ({daemon.proc.returncode}) while waiting for "
                f"{_said(what)}\n{daemon.log_tail()}"
            )
        if time.monotonic() > deadline:
            tail = daemon.log_tail() if daemon is not None else ""
            raise AssertionError(f"timed out waiting for {_said(what)}\n{tail}")
        time.sleep(0.2)


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    """Produce (key, value) pairs and wait for all deliveries."""
    errors: list[Any] = []
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True}
    )
    for key, value in messages:
        while True:
            try:
                producer.produce(
                    topic,
                    value=value,
                    key=key,
                    on_delivery=lambda err, _m: err and errors.append(err),
                )
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(60) == 0
    assert not errors, errors


def _said(what: str | Callable[[], str]) -> str:
    return what if isinstance(what, str) else what()


def read_all(
    bootstrap: str, topic: str, timeout: float = 60
) -> list[tuple[bytes | None, bytes | None]]:
    """Every committed message of a topic (``read_committed``), up to its current end.

    The end is the high watermark; a transaction's commit marker takes the last offset, so the
    read is done when the consumer's position (which skips markers) reaches it.
    """
    return [(m.key(), m.value()) for m in read_messages(bootstrap, topic, timeout)]


def read_messages(bootstrap: str, topic: str, timeout: float = 60) -> list[Any]:
    """:func:`read_all`, as the client's messages (partition, offset and timestamp included)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        ends = {}
        for p in meta.partitions:
            low, high = probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, 0) for p in ends])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        while ends and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 0.5):
                if msg.error():
                    continue
                out.append(msg)
            for tp in consumer.position([TopicPartition(topic, p) for p in ends]):
                if tp.offset >= ends[tp.partition]:
                    ends.pop(tp.partition)
        assert not ends, f"could not read {topic} to its end"
        return out
    finally:
        consumer.close()
        probe.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """High watermark per partition."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Offsets committed by a consumer group, per partition (-1001 when none)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        tps = [TopicPartition(topic, p) for p in meta.partitions]
        return {tp.partition: tp.offset for tp in consumer.committed(tps, timeout=10)}
    finally:
        consumer.close()


def jsons(messages: list[tuple[bytes | None, bytes | None]]) -> list[dict[str, Any]]:
    """Decode message values as JSON documents."""
    return [json.loads(v) for _, v in messages if v is not None]

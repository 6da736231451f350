"""In-memory channels for broker-less unit tests of the service: sinks that keep what they
were sent, a prediction source fed from a list, and a daemon built on them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry

from connectors.record import Record
from daemon.config import Settings
from daemon.model.learner import Learner
from daemon.monitoring.metrics import Metrics
from daemon.service.app import compose
from daemon.service.clock import EventClock
from daemon.service.health import Health
from daemon.service.loop import Daemon
from daemon.service.wiring import Channels, build_policy


class MemorySink:
    """Keeps every message; delivers (calls back) on serve_deliveries/flush, or fails them."""

    def __init__(self, name: str = "memory", fail: bool = False) -> None:
        self.name = name
        self.fail = fail
        self.sent: list[tuple[bytes | None, bytes | None]] = []
        self._pending: list[Any] = []
        self.closed = False

    def send(self, value, key=None, on_delivery=None) -> None:
        self.sent.append((value, key))
        if on_delivery is not None:
            self._pending.append(on_delivery)

    def serve_deliveries(self) -> None:
        pending, self._pending = self._pending, []
        for callback in pending:
            callback(RuntimeError("delivery refused") if self.fail else None)

    def flush(self, timeout: float) -> int:
        self.serve_deliveries()
        return 0

    def close(self) -> None:
        self.closed = True

    def documents(self) -> list[dict[str, Any]]:
        """The JSON documents sent (tombstones skipped)."""
        return [json.loads(v) for v, _ in self.sent if v is not None]


class MemorySource:
    """A finite prediction source over a list of payloads; offsets are list positions."""

    def __init__(self, payloads: Iterable[bytes], name: str = "predictions") -> None:
        self.name = name
        self.records = [Record(p, None, name, 0, i) for i, p in enumerate(payloads)]
        self._next = 0
        self.stored: dict[tuple[str, int], int] = {}
        self.commits = 0
        self.closed = False

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        out = self.records[self._next : self._next + max_records]
        self._next += len(out)
        return out

    @property
    def exhausted(self) -> bool:
        return self._next >= len(self.records)

    def store_offsets(self, positions: Mapping[tuple[str, int], int]) -> None:
        self.stored.update(positions)

    def commit(self) -> None:
        self.commits += 1

    def listen(self, on_assign, on_revoke) -> None:
        return None

    @property
    def assigned(self) -> bool:
        return True

    def share(self) -> float:
        return 1.0

    def positions(self) -> dict[tuple[str, int], int]:
        return {}

    def partition_count(self) -> int:
        return 1

    def lag(self) -> dict[tuple[str, int], int]:
        return {}

    def close(self) -> None:
        self.closed = True


class NoLabels:
    """A label source over a list of payloads (none by default); offsets are list positions."""

    name = "labels"

    def __init__(self, payloads: Iterable[bytes] = ()) -> None:
        self.records = [Record(p, None, self.name, 0, i) for i, p in enumerate(payloads)]
        self._next = 0
        self.closed = False

    @property
    def exhausted(self) -> bool:
        return self._next >= len(self.records)

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        out = self.records[self._next : self._next + max_records]
        self._next += len(out)
        return out

    def close(self) -> None:
        self.closed = True


@dataclass
class MemoryChannels:
    """The sinks and sources of one in-memory daemon, for assertions."""

    predictions: MemorySource
    requests: MemorySink = field(default_factory=lambda: MemorySink("requests"))
    audit: MemorySink = field(default_factory=lambda: MemorySink("audit"))
    dead_letter: MemorySink = field(default_factory=lambda: MemorySink("dead-letter"))
    state: MemorySink = field(default_factory=lambda: MemorySink("state"))
    labels: NoLabels = field(default_factory=NoLabels)

    def channels(self, settings: Settings) -> Channels:
        sinks = [self.requests, self.audit, self.dead_letter, self.state]
        closers = [lambda _t, s=s: s.close() for s in sinks]
        return Channels(
            predictions=self.predictions,
            requests={q.name: self.requests for q in settings.queues},
            evidence=self.audit,
            dead_letter=self.dead_letter,
            state=self.state,
            open_labels=lambda start: self.labels,
            read_state=lambda _partitions: [],
            flushers=sinks,
            closers=[lambda _t: self.predictions.close(), *closers],
        )


def prediction(i: int, item_id: str | None = None, **extra: Any) -> bytes:
    """One valid prediction event, ``i`` seconds into 2026."""
    doc = {
        "id": item_id or f"it-{i:03d}",
        "event_time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
        "features": {"x": float(i)},
        "prediction": "0",
        "proba": {"0": 0.6, "1": 0.4},
        **extra,
    }
    return json.dumps(doc).encode()


def settings(tmp_path, **overrides: Any) -> Settings:
    """File-mode settings (the files are never written by memory channels), event clock."""
    doc: dict[str, Any] = {
        "source": "file",
        "classes": ["0", "1"],
        "clock": "event",
        "files": {"predictions": tmp_path / "p.jsonl"},
        "model": {"score_source": "production"},
        "policy": {
            "strategy": "random",
            "cold_start_items": 0,
            "queue_gate_exponent": None,
            "budget": {"fraction": 1.0, "window": 10},
        },
        "server": {"enabled": False},
        "state_dir": tmp_path / "state",
        "log_level": "error",
    }
    doc.update(overrides)
    return Settings.model_validate(doc)


def memory_daemon(config: Settings, memory: MemoryChannels) -> Daemon:
    """A daemon over in-memory channels (same composition as ``build_daemon``)."""
    clock = EventClock()
    parts = compose(
        config,
        memory.channels(config),
        build_policy(config),
        Learner(config.model, config.classes),
        Metrics(CollectorRegistry()),
        Health(config.server.heartbeat_timeout_seconds),
        clock,
    )
    return Daemon(config, parts)


class RecordingStrategy:
    """Asks for every item and remembers each commit (a strategy with a commit hook)."""

    name = "recording"
    version = "1"

    def __init__(self) -> None:
        self.commits: list[tuple[str, str, float]] = []

    def decide(self, item, allowed):
        from policies import Decision, Reason  # noqa: PLC0415

        if not allowed:
            return Decision(
                query=False, reason=Reason.BUDGET_EXHAUSTED, probability=0.0, utility=0.5
            )
        return Decision(query=True, reason=Reason.UNCERTAIN, probability=1.0, utility=0.5)

    def commit(self, decision, item) -> None:
        self.commits.append((item.key, decision.reason.value, item.cost))

    def state_dict(self):
        return {}

    def load_state(self, state) -> None:
        return None


def write_predictions(path, n, spacing=1.0, **extra: Any) -> None:
    """``n`` predictions ``spacing`` seconds apart (EU group, production proba 0.6/0.4)."""
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    start = datetime(2026, 5, 1, tzinfo=UTC)
    with path.open("w") as fh:
        for i in range(n):
            doc = {
                "id": f"it-{i:03d}",
                "event_time": (start + timedelta(seconds=i * spacing)).isoformat(),
                "features": {"x": float(i)},
                "prediction": "0",
                "proba": {"0": 0.6, "1": 0.4},
                "group": {"region": "EU"},
                **extra,
            }
            fh.write(json.dumps(doc) + "\n")


def read_jsonl(path) -> list[dict[str, Any]]:
    """The documents of a JSONL file ([] when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def file_settings(tmp_path, queues, policy=None, expert=None, **extra: Any) -> Settings:
    """File-mode settings writing under ``tmp_path`` (production scores, random at 100%)."""
    doc: dict[str, Any] = {
        "source": "file",
        "classes": ["0", "1"],
        "clock": "event",
        "files": {
            "predictions": tmp_path / "p.jsonl",
            "requests": tmp_path / "requests.jsonl",
            "audit": tmp_path / "audit.jsonl",
            "dead_letter": tmp_path / "dlq.jsonl",
            "state": tmp_path / "state.jsonl",
        },
        "model": {"score_source": "production"},
        "policy": policy
        or {
            "strategy": "random",
            "cold_start_items": 0,
            "queue_gate_exponent": None,
            "budget": {"fraction": 1.0, "window": 10},
        },
        "queues": queues,
        "server": {"enabled": False},
        "state_dir": tmp_path / "state",
        **extra,
    }
    if expert:
        doc["expert"] = expert
    return Settings.model_validate(doc)

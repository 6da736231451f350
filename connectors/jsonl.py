"""JSON Lines files as sources and sinks: the embedded default that needs no broker."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO

from connectors.protocols import DeliveryCallback, TopicPartition
from connectors.record import Record


class JsonlSource:
    """Reads a JSONL file line by line; offsets are line numbers, partition 0.

    ``start`` skips lines already processed (a resumed replay).
    """

    def __init__(self, path: Path, name: str | None = None, start: int = 0) -> None:
        self.path = Path(path)
        self.name = name or f"file:{self.path.name}"
        self.start = start
        self._fh: IO[bytes] | None = None
        self._offset = 0
        self._eof = False
        self._stored: int = start

    def _open(self) -> IO[bytes]:
        if self._fh is None:
            self._fh = self.path.open("rb")
            for _ in range(self.start):
                if not self._fh.readline():
                    break
                self._offset += 1
        return self._fh

    def poll(self, max_records: int, timeout: float) -> list[Record]:
        fh = self._open()
        out: list[Record] = []
        while len(out) < max_records:
            line = fh.readline()
            if not line:
                self._eof = True
                break
            offset = self._offset
            self._offset += 1
            stripped = line.rstrip(b"\r\n")
            if not stripped.strip():
                continue
            out.append(Record(stripped, None, self.name, 0, offset))
        return out

    @property
    def exhausted(self) -> bool:
        return self._eof

    def store_offsets(self, positions: Mapping[TopicPartition, int]) -> None:
        for (_, _), offset in positions.items():
            self._stored = max(self._stored, offset)

    def commit(self) -> None:
        return None

    def listen(
        self,
        on_assign: Callable[[list[TopicPartition]], None],
        on_revoke: Callable[[list[TopicPartition]], None],
    ) -> None:
        return None  # a file has no consumer group

    @property
    def committed(self) -> int:
        """Next line to resume from."""
        return self._stored

    @property
    def assigned(self) -> bool:
        return True

    def share(self) -> float:
        return 1.0

    def positions(self) -> dict[TopicPartition, int]:
        return {}  # a file commits nothing: it is replayed from its start

    def partition_count(self) -> int:
        return 1

    def lag(self) -> dict[TopicPartition, int]:
        return {}

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


class JsonlSink:
    """Appends one JSON document per line. Writes are delivered when flushed to the OS.

    With ``keyed=True`` each line is ``{"key": ..., "value": ...}`` so a state log keeps keys and
    tombstones (``value: null``), like a compacted topic.
    """

    def __init__(self, path: Path, name: str | None = None, keyed: bool = False) -> None:
        self.path = Path(path)
        self.name = name or f"file:{self.path.name}"
        self.keyed = keyed
        self._fh: IO[bytes] | None = None
        self._pending: list[DeliveryCallback] = []

    def _open(self) -> IO[bytes]:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("ab", buffering=1 << 16)
        return self._fh

    def send(
        self,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        fh = self._open()
        if self.keyed:
            line = json.dumps(
                {
                    "key": None if key is None else base64.b64encode(key).decode(),
                    "value": None if value is None else json.loads(value),
                }
            ).encode()
        else:
            if value is None:
                raise ValueError("an unkeyed JSONL sink cannot write tombstones")
            line = value
        fh.write(line + b"\n")
        if on_delivery is not None:
            self._pending.append(on_delivery)

    def serve_deliveries(self) -> None:
        if len(self._pending) >= 1024:
            self.flush(0.0)

    def flush(self, timeout: float) -> int:
        if self._fh is not None:
            self._fh.flush()
        callbacks, self._pending = self._pending, []
        for cb in callbacks:
            cb(None)
        return 0

    def sync(self) -> None:
        """Flush and fsync, for state that must survive a power cut."""
        self.flush(0.0)
        if self._fh is not None:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        self.flush(0.0)
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_keyed(path: Path) -> Iterator[tuple[bytes | None, bytes | None]]:
    """Replay a keyed JSONL log written by ``JsonlSink(keyed=True)`` as (key, value) pairs."""
    if not Path(path).exists():
        return
    with Path(path).open("rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                doc = json.loads(raw)
            except json.JSONDecodeError:
                continue  # a torn last line after a crash; earlier lines are intact
            key = None if doc.get("key") is None else base64.b64decode(doc["key"])
            value = None if doc.get("value") is None else json.dumps(doc["value"]).encode()
            yield key, value

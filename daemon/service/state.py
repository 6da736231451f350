"""Durable state as a keyed change log: what one instance keeps, and what moves with a partition.

In Kafka mode the log is a compacted topic written inside the daemon's transaction, in file mode
a keyed JSONL file; either way the latest value per key is the state, and a ``None`` value is a
tombstone. Two kinds of keys:

``i/<instance>/policy``
    The instance's policy state (pacing windows, strategy state, cold-start count) and the
    positions of its label reader.
``p/<partition>/ledger`` and ``p/<partition>/req/<item id>``
    Everything about one input partition: its budget ledger (the spend of the absolute budget
    charged to items of that partition) with the label positions applied to its requests, and
    one record per request, open (enough to learn from the answer) or closed (a bounded memory,
    so a redelivered item whose request was answered, withdrawn or expired is not asked again).

Partition records are written to state partition ``partition % state_partitions``: the owner of
an input partition is the only writer there (when the state topic has at least as many
partitions), and the next owner restores the partition by reading just that state partition.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from pydantic import BaseModel, ValidationError

from connectors.protocols import Sink
from daemon.contracts.pending_request import PendingRequest
from daemon.errors import StateError

_POLICY = b"policy"
_LEDGER = b"ledger"
_REQUEST = b"req/"


class PolicyState(BaseModel):
    """Policy and budget state plus the label positions and the model checkpoint it is
    consistent with (``model_checkpoint``: the checkpoint's token; None in state written
    before checkpoints had tokens)."""

    policy: dict[str, Any]
    label_offsets: dict[str, int]
    saved_at: float
    model_checkpoint: int | None = None


class LedgerState(BaseModel):
    """One input partition's share of the budget and how far labels were applied to it.

    ``budgets`` holds the state of each absolute budget member (its spend in the current
    period); ``label_offsets`` the next label offset (per label partition) not yet applied to
    the partition's requests.
    """

    budgets: list[dict[str, Any]]
    label_offsets: dict[str, int] = {}


class ClosedRequest(BaseModel):
    """A request that is no longer open: answered, withdrawn, expired or evicted."""

    request_id: str
    why: str
    at: float


class RequestRecord(BaseModel):
    """The state of one item's request: open (with what to learn from) or closed."""

    open: PendingRequest | None = None
    closed: ClosedRequest | None = None


@dataclass
class PartitionRecords:
    """What the log holds about one input partition (``closed``: item id -> closing time)."""

    ledger: LedgerState | None = None
    open: list[PendingRequest] = field(default_factory=list)
    closed: dict[str, float] = field(default_factory=dict)


@dataclass
class RestoredState:
    """What the log held about this instance at startup."""

    policy: PolicyState | None = None


class StateLog:
    """Writes state changes under their keys and folds the log back into state.

    ``partitions`` is the number of partitions of the state topic (1 for a file); records of one
    input partition always go to the same state partition, so compaction keeps the latest value.
    """

    def __init__(self, sink: Sink, instance: str = "0", partitions: int = 1) -> None:
        self.sink = sink
        self.instance = instance
        self.partitions = max(1, partitions)
        self._instance_key = b"i/" + instance.encode() + b"/" + _POLICY
        self._send_to = getattr(sink, "send_to", None)

    # ------------------------------------------------------------------ where records live
    def instance_partition(self) -> int:
        """The state partition holding this instance's records."""
        return zlib.crc32(self.instance.encode()) % self.partitions

    def partition_of(self, partition: int) -> int:
        """The state partition holding the records of one input partition."""
        return partition % self.partitions

    # ------------------------------------------------------------------ restore
    def restore(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> RestoredState:
        """This instance's records (last value per key wins)."""
        value: bytes | None = None
        for key, val in records:
            if key == self._instance_key:
                value = val
        state = RestoredState()
        if value is not None:
            try:
                state.policy = PolicyState.model_validate_json(value)
            except ValidationError as exc:
                raise StateError(f"state log entry is not valid: {exc}") from exc
        return state

    def restore_partitions(
        self, records: Iterable[tuple[bytes | None, bytes | None]], partitions: Iterable[int]
    ) -> dict[int, PartitionRecords]:
        """The records of the given input partitions (last value per key wins)."""
        # Up to closed_request_memory records per partition are read before the daemon is
        # ready: one split per key, the partition looked up by its digits as written.
        wanted = {str(p).encode(): p for p in partitions}
        latest: dict[tuple[int, bytes], bytes | None] = {}
        for key, value in records:
            if key is None or not key.startswith(b"p/"):
                continue
            parts = key.split(b"/", 2)
            p = wanted.get(parts[1]) if len(parts) == 3 else None
            if p is not None:
                latest[(p, parts[2])] = value
        out = {p: PartitionRecords() for p in wanted.values()}
        try:
            for (p, rest), value in latest.items():
                if value is None:
                    continue
                if rest == _LEDGER:
                    out[p].ledger = LedgerState.model_validate_json(value)
                elif rest.startswith(_REQUEST):
                    record = decode(value)
                    if isinstance(record, PendingRequest):
                        out[p].open.append(record)
                    elif record is not None:
                        out[p].closed[rest[len(_REQUEST) :].decode()] = record
        except (ValidationError, UnicodeDecodeError) as exc:
            raise StateError(f"state log entry is not valid: {exc}") from exc
        return out

    # ------------------------------------------------------------------ write
    def write(self, policy: PolicyState) -> int:
        """The instance's policy state."""
        self._send(self.instance_partition(), self._instance_key, policy.model_dump_json())
        return 1

    def write_ledger(self, partition: int, ledger: LedgerState) -> None:
        """One input partition's ledger."""
        self._send(
            self.partition_of(partition), self._key(partition, _LEDGER), ledger.model_dump_json()
        )

    def write_request(self, partition: int, item_id: str, record: RequestRecord | None) -> None:
        """One item's request record; ``None`` forgets it (tombstone)."""
        key = self._key(partition, _REQUEST + item_id.encode())
        self._send(self.partition_of(partition), key, None if record is None else encode(record))

    @staticmethod
    def _key(partition: int, rest: bytes) -> bytes:
        return f"p/{partition}/".encode() + rest

    def _send(self, state_partition: int, key: bytes, value: str | bytes | None) -> None:
        data = value.encode() if isinstance(value, str) else value
        if self._send_to is not None:
            self._send_to(state_partition, data, key, None)
        else:
            self.sink.send(data, key, None)


_ENCODER = msgspec.json.Encoder()


class _Closed(msgspec.Struct):
    request_id: str
    why: str
    at: float


class _Record(msgspec.Struct):
    open: msgspec.Raw | None = None
    closed: _Closed | None = None


_DECODER = msgspec.json.Decoder(_Record)


def decode(value: bytes) -> PendingRequest | float | None:
    """A request record read back: the open request, the closing time of a closed one, or
    None (neither), as ``RequestRecord.model_validate_json`` would read it.

    A restart reads every record of its partitions, up to ``closed_request_memory`` closed
    ones per partition, before it is ready, and the memory keeps only the closing time; so a
    closed record (the bulk of them) is decoded by msgspec into its typed fields, with no
    model built, at a fraction of pydantic's cost. An open request, and anything msgspec
    refuses (a number in a string, which pydantic's lax mode accepts; an invalid record, whose
    error is then pydantic's), goes through pydantic.
    """
    try:
        raw = _DECODER.decode(value)
    except msgspec.DecodeError:
        raw = None
    if raw is not None and raw.open is None:
        return None if raw.closed is None else raw.closed.at
    record = RequestRecord.model_validate_json(value)
    if record.open is not None:
        return record.open
    return None if record.closed is None else record.closed.at


def encode(record: RequestRecord) -> bytes:
    """A request record in JSON, as pydantic would read it back (``test_state.py``).

    The hundreds of records of a commit are encoded while the loop waits, so they are written
    by msgspec from the models' fields, at about a third of pydantic's cost: the same JSON value
    as ``record.model_dump_json(exclude_none=True)`` except that an open request's unset
    optional fields are written as null, and numbers may be spelled differently (``1e16`` for
    ``1e+16``). A value msgspec does not know (a numpy scalar among the features) takes
    pydantic's way.
    """
    try:
        return _ENCODER.encode(_fields(record))
    except TypeError:
        return record.model_dump_json(exclude_none=True).encode()


def _fields(record: RequestRecord) -> dict[str, Any]:
    body: dict[str, Any] = {}
    request = record.open
    if request is not None:
        fields = request.__dict__
        if request.labels:
            fields = {**fields, "labels": [label.__dict__ for label in request.labels]}
        body["open"] = fields
    if record.closed is not None:
        body["closed"] = record.closed.__dict__
    return body

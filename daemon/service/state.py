"""Durable state: outstanding requests and policy/budget state, as a keyed change log.

In Kafka mode the log is a compacted topic, in file mode a keyed JSONL file; either way the
latest value per key is the state, and a ``None`` value is a tombstone. Restoring reads the log
from the start, so a restarted daemon (or a pod on another node) resumes its budget spend and its
outstanding requests instead of resetting them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from connectors.protocols import DeliveryCallback, Sink
from daemon.contracts.pending_request import PendingRequest
from daemon.errors import StateError

_PENDING = b"pending/"
_POLICY = b"policy"


class PolicyState(BaseModel):
    """Policy and budget state plus the label positions it is consistent with."""

    policy: dict[str, Any]
    label_offsets: dict[str, int]
    saved_at: float


@dataclass
class RestoredState:
    """What the log held at startup."""

    pending: list[PendingRequest] = field(default_factory=list)
    policy: PolicyState | None = None


class StateLog:
    """Writes state changes under keys scoped by ``instance``; restores them at startup."""

    def __init__(self, sink: Sink, instance: str = "0") -> None:
        self.sink = sink
        self.instance = instance
        self._prefix = instance.encode() + b"/"

    def restore(self, records: Iterable[tuple[bytes | None, bytes | None]]) -> RestoredState:
        """Fold the log into its latest state (last value per key wins)."""
        latest: dict[bytes, bytes | None] = {}
        for key, value in records:
            if key is not None and key.startswith(self._prefix):
                latest[key[len(self._prefix) :]] = value
        state = RestoredState()
        try:
            for key, value in latest.items():
                if value is None:
                    continue
                if key.startswith(_PENDING):
                    state.pending.append(PendingRequest.model_validate_json(value))
                elif key == _POLICY:
                    state.policy = PolicyState.model_validate_json(value)
        except ValidationError as exc:
            raise StateError(f"state log entry is not valid: {exc}") from exc
        return state

    def write(
        self,
        changes: dict[str, PendingRequest | None],
        policy: PolicyState,
        on_delivery: DeliveryCallback | None = None,
    ) -> int:
        """Send the pending-store changes and the policy state; return messages sent."""
        sent = 0
        for item_id, request in changes.items():
            value = None if request is None else request.model_dump_json().encode()
            self.sink.send(value, self._prefix + _PENDING + item_id.encode(), on_delivery)
            sent += 1
        self.sink.send(policy.model_dump_json().encode(), self._prefix + _POLICY, on_delivery)
        return sent + 1

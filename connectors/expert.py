"""A simulated expert: answers label requests from ground truth after a delay.

It is a sink for label requests and a source of label events, so the daemon runs unchanged on a
replay with nobody at the keyboard (the embedded default, ``labelgate simulate``-style runs).
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from connectors.protocols import DeliveryCallback
from connectors.record import Record


def load_truth(path: Path) -> dict[str, str]:
    """Read ``{"id": ..., "label": ...}`` lines into a mapping id -> label text."""
    truth: dict[str, str] = {}
    with Path(path).open("rb") as fh:
        for line in fh:
            if line.strip():
                doc = json.loads(line)
                truth[str(doc["id"])] = str(doc["label"])
    return truth


class SimulatedExpert:
    """Answers each request ``delay_seconds`` (by the injected clock) after it was requested.

    Requests for items without ground truth are answered with ``abstain``.
    """

    name = "simulated-expert"

    def __init__(
        self,
        truth: Mapping[str, str],
        delay_seconds: float,
        now: Callable[[], float],
        role: str = "simulated",
    ) -> None:
        self.truth = truth
        self.delay_seconds = delay_seconds
        self.now = now
        self.role = role
        self._due: list[tuple[float, int, str]] = []
        self._seq = 0
        self._offset = 0

    # Sink side: label requests arrive here.
    def send(
        self,
        value: bytes | None,
        key: bytes | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        if value is not None:
            request = json.loads(value)
            requested = datetime.fromisoformat(request["requested_at"]).timestamp()
            heapq.heappush(self._due, (requested + self.delay_seconds, self._seq, request["id"]))
            self._seq += 1
        if on_delivery is not None:
            on_delivery(None)

    def serve_deliveries(self) -> None:
        return None

    def flush(self, timeout: float) -> int:
        return 0

    # Source side: label events come out when due.
    def poll(self, max_records: int, timeout: float = 0.0) -> list[Record]:
        now = self.now()
        out: list[Record] = []
        while self._due and self._due[0][0] <= now and len(out) < max_records:
            due, _, item_id = heapq.heappop(self._due)
            label = self.truth.get(item_id)
            event = {
                "schema_version": 1,
                "id": item_id,
                "label": label,
                "abstain": label is None,
                "labeler_role": self.role,
                "labeler_id": "sim-1",
                "labeled_at": datetime.fromtimestamp(due, UTC).isoformat(),
            }
            out.append(
                Record(json.dumps(event).encode(), item_id.encode(), self.name, 0, self._offset)
            )
            self._offset += 1
        return out

    def resume(self, offset: int) -> None:
        """Continue numbering answers after ``offset`` (the position restored state points to),
        so a restarted daemon does not mistake new answers for ones its model already learned."""
        self._offset = max(self._offset, offset)

    @property
    def exhausted(self) -> bool:
        return not self._due

    def close(self) -> None:
        return None

"""A simulated expert: a panel of labelers answering label requests from ground truth.

It is a sink for label requests and a source of label events, so the daemon runs unchanged on a
replay with nobody at the keyboard (the embedded default, ``labelgate simulate``-style runs).
Each labeler has a role (a human expert, a crowd worker, an LLM...), an accuracy and the queues it
serves, so a replay exercises overlap, agreement and the human / non-human split of the labels
the model learns from.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Labeler:
    """One simulated labeler.

    ``accuracy`` is the chance of answering the true label; otherwise the answer is another
    class, uniformly. ``queues`` are the queues it serves (empty: every queue);
    ``delay_seconds`` overrides the panel's answer delay (None: the panel's).
    """

    id: str = "sim-1"
    role: str = "simulated"
    accuracy: float = 1.0
    queues: frozenset[str] = frozenset()
    delay_seconds: float | None = None

    def serves(self, queue: str) -> bool:
        """Whether this labeler answers requests of ``queue``."""
        return not self.queues or queue in self.queues


def _unit(*parts: str) -> float:
    """A uniform draw in [0, 1) fixed by ``parts``: the same answer on every replay."""
    digest = hashlib.blake2b(":".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class SimulatedExpert:
    """Answers each request ``delay_seconds`` (by the injected clock) after it was requested.

    A request asking for ``labels_required`` labels (overlap) is answered by that many distinct
    labelers of its queue, chosen by a hash of the request id (so the choice and every answer
    are the same on a replay); with fewer labelers than that, by all of them. Each labeler is
    right with its ``accuracy``; a wrong answer is another of ``classes``, drawn by a hash of
    (seed, labeler, request). Requests for items without ground truth are answered with one
    ``abstain``. A withdrawn request (expired, evicted) is not answered.

    >>> panel = (Labeler("h1", "specialist"), Labeler("m1", "llm", accuracy=0.0))
    >>> expert = SimulatedExpert({"x": "a"}, 10.0, lambda: 100.0, panel, classes=("a", "b"))
    >>> expert.send(b'{"id": "x", "requested_at": "1970-01-01T00:00:00+00:00",'
    ...             b' "labels_required": 2}')
    >>> sorted((json.loads(r.value)["labeler_role"], json.loads(r.value)["label"])
    ...        for r in expert.poll(10))
    [('llm', 'b'), ('specialist', 'a')]
    """

    name = "simulated-expert"

    def __init__(
        self,
        truth: Mapping[str, str],
        delay_seconds: float,
        now: Callable[[], float],
        labelers: Sequence[Labeler] = (Labeler(),),
        classes: Sequence[str] = (),
        seed: int = 0,
    ) -> None:
        self.truth = truth
        self.delay_seconds = delay_seconds
        self.now = now
        self.labelers = tuple(labelers)
        self.classes = tuple(classes)
        self.seed = seed
        # (due, seq, request id, item id, labeler index or -1 for an abstention)
        self._due: list[tuple[float, int, str, str, int]] = []
        self._queued: dict[str, int] = {}  # request id -> answers still due
        self._withdrawn: set[str] = set()  # of those, requests withdrawn before they were due
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
            self._take(json.loads(value))
        if on_delivery is not None:
            on_delivery(None)

    def _take(self, request: Mapping[str, object]) -> None:
        item_id = str(request["id"])
        request_id = str(request.get("request_id") or item_id)
        if request.get("withdrawn"):
            if request_id in self._queued:
                self._withdrawn.add(request_id)
            return
        requested = datetime.fromisoformat(str(request["requested_at"])).timestamp()
        if item_id not in self.truth:
            self._push(requested + self.delay_seconds, request_id, item_id, -1)
            return
        queue = str(request.get("queue") or "")
        panel = [i for i, labeler in enumerate(self.labelers) if labeler.serves(queue)]
        if not panel:
            return
        wanted = min(len(panel), max(1, int(str(request.get("labels_required") or 1))))
        start = int(_unit(str(self.seed), request_id) * len(panel))
        for j in range(wanted):
            index = panel[(start + j) % len(panel)]
            delay = self.labelers[index].delay_seconds
            self._push(
                requested + (self.delay_seconds if delay is None else delay),
                request_id,
                item_id,
                index,
            )

    def _push(self, due: float, request_id: str, item_id: str, labeler: int) -> None:
        heapq.heappush(self._due, (due, self._seq, request_id, item_id, labeler))
        self._queued[request_id] = self._queued.get(request_id, 0) + 1
        self._seq += 1

    def _answer(self, request_id: str, item_id: str, labeler: Labeler) -> str:
        truth = self.truth[item_id]
        others = [c for c in self.classes if c != truth]
        u = _unit(str(self.seed), labeler.id, request_id)
        if not others or u < labeler.accuracy:
            return truth
        # Rescale the rest of the draw to pick one of the wrong classes uniformly.
        share = (u - labeler.accuracy) / (1.0 - labeler.accuracy)
        return others[min(len(others) - 1, int(share * len(others)))]

    def serve_deliveries(self) -> None:
        return None

    def flush(self, timeout: float) -> int:
        return 0

    # Source side: label events come out when due.
    def poll(self, max_records: int, timeout: float = 0.0) -> list[Record]:
        now = self.now()
        out: list[Record] = []
        while self._due and self._due[0][0] <= now and len(out) < max_records:
            due, _, request_id, item_id, index = heapq.heappop(self._due)
            left = self._queued.pop(request_id) - 1
            if left:
                self._queued[request_id] = left
            if request_id in self._withdrawn:
                if not left:
                    self._withdrawn.discard(request_id)
                continue
            labeler = self.labelers[index] if index >= 0 else self.labelers[0]
            label = self._answer(request_id, item_id, labeler) if index >= 0 else None
            event = {
                "schema_version": 1,
                "id": item_id,
                "label": label,
                "abstain": label is None,
                "labeler_role": labeler.role,
                "labeler_id": labeler.id,
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

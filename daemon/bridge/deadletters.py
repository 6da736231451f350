"""Dead letters of the bridge: requests it cannot read and answers it cannot use, each with
its reason, on the daemon's dead-letter topic."""

from __future__ import annotations

from datetime import UTC, datetime

import structlog

from connectors.protocols import DeliveryCallback, Sink
from daemon.bridge.metrics import BridgeMetrics
from daemon.contracts.messages import DeadLetterReason, DeadLetterRecord, SourcePosition, encode

log = structlog.get_logger("labelgate.bridge")

_MAX_PAYLOAD = 64_000


class DeadLetters:
    """Writes :class:`~daemon.contracts.messages.DeadLetterRecord` values (``kind="label"``).

    An answer from Label Studio has no Kafka position; its source names the project as the
    topic (``label-studio/project-<id>``), the task id as the partition and the annotation id as
    the offset (-1 where unknown), so an operator can find it again.
    """

    def __init__(self, sink: Sink, metrics: BridgeMetrics, on_delivery: DeliveryCallback) -> None:
        self.sink = sink
        self.metrics = metrics
        self.on_delivery = on_delivery
        self.project_id = -1

    def position(self, task_id: int, annotation_id: int) -> SourcePosition:
        """Where a Label Studio answer came from."""
        return SourcePosition(
            topic=f"label-studio/project-{self.project_id}",
            partition=task_id,
            offset=annotation_id,
        )

    def send(
        self, reason: DeadLetterReason, detail: str, source: SourcePosition, payload: str
    ) -> None:
        """Queue one dead letter (delivered with the next flush of the shared producer)."""
        record = DeadLetterRecord(
            reason=reason,
            detail=detail[:1000],
            kind="label",
            source=source,
            rejected_at=datetime.now(UTC),
            payload=payload[:_MAX_PAYLOAD],
            payload_truncated=len(payload) > _MAX_PAYLOAD,
        )
        self.sink.send(encode(record), None, self.on_delivery)
        self.metrics.dead_letter(reason.value)
        log.warning("bridge_dead_letter", reason=reason.value, detail=detail[:200])

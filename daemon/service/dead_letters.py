"""Dead letters: rejected inputs go to their own sink with the reason, counted and logged."""

from __future__ import annotations

import structlog

from connectors.protocols import DeliveryCallback, Sink
from connectors.record import Record
from daemon.contracts.messages import DeadLetterRecord, encode
from daemon.monitoring.metrics import Metrics

log = structlog.get_logger("labelgate.dead_letters")


class DeadLetters:
    """Sends rejected inputs to the dead-letter sink, counted and logged."""

    def __init__(self, sink: Sink, metrics: Metrics) -> None:
        self.sink = sink
        self.metrics = metrics

    def send(
        self, letter: DeadLetterRecord, source: Record, on_delivery: DeliveryCallback | None
    ) -> None:
        """Send one dead letter (``on_delivery`` tracks it when it settles an input offset)."""
        self.sink.send(encode(letter), source.key, on_delivery)
        self.metrics.dead_letters.labels(letter.kind, letter.reason.value).inc()
        log.warning(
            "dead_lettered",
            kind=letter.kind,
            reason=letter.reason.value,
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
        )

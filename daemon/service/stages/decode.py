"""Decode: raw records become validated predictions, or dead letters with a precise reason."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.record import Record
from daemon.contracts.messages import DeadLetterRecord
from daemon.contracts.parsing import Parser
from daemon.service.clock import Clock
from daemon.service.pipeline import Batch, Decoded, Failed, Rejections


class Decode:
    """Parses each record and advances the clock by its event time, in record order.

    Each decoded value carries the clock's time right after its own event time was observed,
    so later stages of the batch decide every item at the time it happened.
    """

    def __init__(self, parser: Parser, clock: Clock, rejections: Rejections) -> None:
        self.parser = parser
        self.clock = clock
        self.rejections = rejections

    def __call__(self, records: Sequence[Record]) -> Batch:
        """Decode the batch."""
        return tuple(self._one(record) for record in records)

    def _one(self, record: Record) -> Decoded | Failed:
        try:
            parsed = self.parser.prediction(record, self.clock.now())
            if isinstance(parsed, DeadLetterRecord):
                return Failed(record, parsed)
            self.clock.observe(parsed.event_time.timestamp())
            return Decoded(record, parsed, self.clock.now())
        except Exception as exc:  # one record's failure must not stop the loop
            return self.rejections.failed(record, exc, self.clock.now())

"""Decode: raw records become validated predictions, or dead letters with a precise reason."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.record import Record
from daemon.contracts.fast_decode import PredictionParser
from daemon.contracts.messages import DeadLetterRecord
from daemon.service.clock import Clock
from daemon.service.pipeline import Batch, Decoded, Failed, Rejections


class Decode:
    """Parses each record and advances the clock by its event time, in record order.

    Each decoded value carries the clock's time right after its own event time was observed,
    so later stages of the batch decide every item at the time it happened.
    """

    def __init__(self, parser: PredictionParser, clock: Clock, rejections: Rejections) -> None:
        self.parser = parser
        self.clock = clock
        self.rejections = rejections

    def __call__(self, records: Sequence[Record]) -> Batch:
        """Decode the batch, in one loop over locals (the hot path's first stage)."""
        parse = self.parser.prediction
        now = self.clock.now
        observe = self.clock.observe
        out: list[Decoded | Failed] = []
        append = out.append
        for record in records:
            try:
                parsed = parse(record, now())
                if isinstance(parsed, DeadLetterRecord):
                    append(Failed(record, parsed))
                    continue
                observe(parsed.event_time.timestamp())
                append(Decoded(record, parsed, now()))
            except Exception as exc:  # one record's failure must not stop the loop
                append(self.rejections.failed(record, exc, now()))
        return tuple(out)

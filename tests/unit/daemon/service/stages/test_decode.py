"""Decode stage: records become predictions or dead letters; each item carries its own time."""

from __future__ import annotations

from connectors.record import Record
from daemon.contracts.parsing import Parser
from daemon.service.clock import EventClock
from daemon.service.pipeline import Decoded, Failed, Rejections
from daemon.service.stages import Decode
from tests.unit.daemon.fakes import prediction


def _decode():
    parser = Parser(["0", "1"])
    return Decode(parser, EventClock(), Rejections(parser))


def records(*payloads):
    return [Record(p, None, "predictions", 0, i) for i, p in enumerate(payloads)]


def test_each_item_is_decided_at_its_own_event_time():
    """now of item i is the clock after observing items 0..i, not the batch's latest time."""
    batch = _decode()(records(prediction(5), prediction(2), prediction(9)))
    assert [x.now - batch[0].now for x in batch if isinstance(x, Decoded)] == [0.0, 0.0, 4.0]


def test_invalid_records_become_failed_values_in_place():
    """A malformed record is a Failed value at its position with the parser's reason."""
    batch = _decode()(records(prediction(0), b"[1, 2]", prediction(1)))
    assert [type(x).__name__ for x in batch] == ["Decoded", "Failed", "Decoded"]
    failed = batch[1]
    assert isinstance(failed, Failed)
    assert failed.dead_letter.reason.value == "schema_violation"
    assert failed.record.offset == 1

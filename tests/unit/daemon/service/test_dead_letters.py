"""Dead letters: the rejected input's record on its sink, counted by kind and reason."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from connectors.record import Record
from daemon.contracts.messages import DeadLetterReason, DeadLetterRecord, SourcePosition
from daemon.monitoring.metrics import Metrics
from daemon.service.dead_letters import DeadLetters
from tests.unit.daemon.fakes import MemorySink


def test_a_dead_letter_is_sent_keyed_like_its_input_and_counted():
    """The record goes to the sink under the input's key; the counter moves; delivery is told."""
    sink = MemorySink("dead-letter")
    metrics = Metrics(CollectorRegistry())
    source = Record(b"{", b"key-1", "predictions", 2, 9)
    letter = DeadLetterRecord(
        reason=DeadLetterReason.INVALID_JSON,
        detail="EOF",
        kind="prediction",
        source=SourcePosition(topic="predictions", partition=2, offset=9),
        rejected_at=datetime(2026, 1, 1, tzinfo=UTC),
        payload="{",
    )
    delivered = []
    DeadLetters(sink, metrics).send(letter, source, delivered.append)
    sink.serve_deliveries()
    [doc] = sink.documents()
    assert (doc["reason"], doc["source"]["offset"], sink.sent[0][1]) == (
        "invalid_json",
        9,
        b"key-1",
    )
    assert delivered == [None]
    labels = {"kind": "prediction", "reason": "invalid_json"}
    assert metrics.registry.get_sample_value("labelgate_dead_letters_total", labels) == 1.0

"""Emit stage: outputs in record order, each input tracked for exactly its outputs."""

from __future__ import annotations

import json

from daemon.service.lifecycle import StopFlag
from daemon.service.stages.emit import Emit
from tests.unit.daemon.fakes import (
    MemoryChannels,
    MemorySource,
    memory_daemon,
    prediction,
    settings,
)


def _run(tmp_path, payloads, **overrides):
    memory = MemoryChannels(MemorySource(payloads))
    daemon = memory_daemon(settings(tmp_path, **overrides), memory)
    daemon.run(StopFlag())
    return daemon, memory


def test_a_query_sends_its_request_and_its_evidence_and_settles_once_both_arrive(tmp_path):
    """Queried items: request + evidence (two outputs); the offset moves past all of them."""
    daemon, memory = _run(tmp_path, [prediction(0), prediction(1)])
    assert [json.loads(v)["id"] for v, _ in memory.requests.sent] == ["it-000", "it-001"]
    decisions = [d for d in memory.audit.trail() if d["kind"] == "decision"]
    assert [(d["id"], d["query"]) for d in decisions] == [("it-000", True), ("it-001", True)]
    assert decisions[0]["request_id"] == json.loads(memory.requests.sent[0][0])["request_id"]
    assert memory.predictions.stored == {("predictions", 0): 2}
    assert daemon.status.items == 2
    registry = daemon.metrics.registry
    assert registry.get_sample_value("labelgate_items_total") == 2.0
    assert registry.get_sample_value("labelgate_decision_latency_seconds_count") == 2.0


def test_an_eviction_is_withdrawn_before_the_request_that_displaced_it(tmp_path):
    """overflow replace: the withdrawal and its expiry record precede the new item's outputs."""
    queues = [{"name": "default", "capacity": 1, "overflow": "replace"}]
    low = prediction(0, "low", proba={"0": 0.9, "1": 0.1})
    high = prediction(1, "high", proba={"0": 0.5, "1": 0.5})
    _, memory = _run(
        tmp_path,
        [low, high],
        queues=queues,
        policy={
            "strategy": "fixed_uncertainty",
            "threshold": 1.0,
            "cold_start_items": 0,
            "queue_gate_exponent": None,
            "budget": {"fraction": 1.0, "window": 10, "pacing": "window"},
        },
    )
    sent = [(m["id"], m["withdrawn"]) for m in memory.requests.documents()]
    assert sent == [("low", False), ("low", True), ("high", False)]
    kinds = [(e["kind"], e["id"]) for e in memory.audit.trail()]
    assert kinds == [("decision", "low"), ("expiry", "low"), ("decision", "high")]
    assert memory.audit.trail()[1]["resolution"] == "evicted"


def test_a_failure_while_building_outputs_dead_letters_the_item(tmp_path, monkeypatch):
    """If building an item's evidence raises, it is dead-lettered and its offset still settles."""
    original = Emit._build

    def build(self, selected):
        if selected.scored.decoded.event.id == "it-001":
            raise RuntimeError("cannot render")
        return original(self, selected)

    monkeypatch.setattr(Emit, "_build", build)
    _, memory = _run(tmp_path, [prediction(0), prediction(1), prediction(2)])
    [letter] = memory.dead_letter.documents()
    assert (letter["reason"], letter["detail"]) == (
        "processing_error",
        "RuntimeError: cannot render",
    )
    assert memory.predictions.stored == {("predictions", 0): 3}

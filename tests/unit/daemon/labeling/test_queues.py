"""Queue behaviours the broker test does not reach, on JSONL files with the event clock:
spill to another queue, re-routing an expired request, audit labels kept for evaluation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from daemon.config import Settings
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.queues import ExpertQueues
from daemon.service.app import serve
from daemon.tools import replay

START = datetime(2026, 5, 1, tzinfo=UTC)


def _write_predictions(path, n, spacing=1.0):
    with path.open("w") as fh:
        for i in range(n):
            fh.write(
                json.dumps(
                    {
                        "id": f"it-{i:03d}",
                        "event_time": (START + timedelta(seconds=i * spacing)).isoformat(),
                        "features": {"x": float(i)},
                        "prediction": "0",
                        "proba": {"0": 0.6, "1": 0.4},
                        "group": {"region": "EU"},
                    }
                )
                + "\n"
            )


def _read(path):
    return (
        [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []
    )


def _settings(tmp_path, queues, policy=None, expert=None, **extra):
    doc = {
        "source": "file",
        "classes": ["0", "1"],
        "clock": "event",
        "files": {
            "predictions": tmp_path / "p.jsonl",
            "requests": tmp_path / "requests.jsonl",
            "audit": tmp_path / "audit.jsonl",
            "dead_letter": tmp_path / "dlq.jsonl",
            "state": tmp_path / "state.jsonl",
        },
        "model": {"score_source": "production"},
        "policy": policy
        or {
            "strategy": "random",
            "cold_start_items": 0,
            "queue_gate_exponent": None,
            "budget": {"fraction": 1.0, "window": 10},
        },
        "queues": queues,
        "server": {"enabled": False},
        "state_dir": tmp_path / "state",
        **extra,
    }
    if expert:
        doc["expert"] = expert
    return Settings.model_validate(doc)


def test_full_queue_spills_to_its_overflow_queue(tmp_path):
    """A full queue with overflow 'spill' sends requests to its spill queue until that fills."""
    _write_predictions(tmp_path / "p.jsonl", 8)
    settings = _settings(
        tmp_path,
        [
            {
                "name": "a",
                "capacity": 1,
                "overflow": "spill",
                "spill_to": "b",
                "file": str(tmp_path / "a.jsonl"),
            },
            {"name": "b", "capacity": 3, "file": str(tmp_path / "b.jsonl")},
        ],
        routing={"default": ["a"]},
    )
    serve(settings)
    decisions = [e for e in _read(tmp_path / "audit.jsonl") if e["kind"] == "decision"]
    assert [d["queue"] for d in decisions] == ["a", "b", "b", "b", None, None, None, None]
    assert [d["reason"] for d in decisions[4:]] == ["queue_full"] * 4
    assert [r["id"] for r in _read(tmp_path / "a.jsonl")] == ["it-000"]
    assert [r["id"] for r in _read(tmp_path / "b.jsonl")] == ["it-001", "it-002", "it-003"]


def test_expired_request_is_withdrawn_and_rerouted_to_its_fallback(tmp_path):
    """An unanswered request expires, is withdrawn from its queue and re-asked in the fallback."""
    _write_predictions(tmp_path / "p.jsonl", 30, spacing=1.0)
    settings = _settings(
        tmp_path,
        [
            {
                "name": "fast",
                "capacity": 1,
                "ttl_seconds": 10,
                "fallback_on_expiry": "slow",
                "file": str(tmp_path / "fast.jsonl"),
            },
            {
                "name": "slow",
                "capacity": 10,
                "ttl_seconds": 1000,
                "file": str(tmp_path / "slow.jsonl"),
            },
        ],
        routing={"default": ["fast"]},
        kafka={"consume_batch_size": 1},  # expiry is checked between batches
    )
    serve(settings)
    trail = _read(tmp_path / "audit.jsonl")
    closes = [(e["id"], e["resolution"], e["queue"]) for e in trail if e["kind"] == "expiry"]
    assert ("it-000", "expired", "fast") in closes
    assert ("it-000", "rerouted", "slow") in closes
    fast = _read(tmp_path / "fast.jsonl")
    withdrawal = next(m for m in fast if m["withdrawn"])
    assert withdrawal["id"] == "it-000"
    slow_ids = [m["id"] for m in _read(tmp_path / "slow.jsonl") if not m["withdrawn"]]
    assert "it-000" in slow_ids
    # Capacity was freed: a later item got the fast queue again.
    decisions = [e for e in trail if e["kind"] == "decision"]
    # it-010 arrives at the deadline; expiry runs after its batch, so it-011 takes the slot.
    assert [d["id"] for d in decisions if d["queue"] == "fast"][:2] == ["it-000", "it-011"]


def test_audit_slice_labels_are_kept_for_evaluation(tmp_path):
    """Labels of random-audit queries are marked for evaluation and never train the model."""
    preds, truth = replay.generate(tmp_path / "replay", n=3000, malformed_every=0)
    settings = _settings(
        tmp_path,
        [{"name": "default"}],
        policy={
            "strategy": "variable_uncertainty",
            "audit_share": 0.3,
            "budget": {"fraction": 0.1, "window": 300},
        },
        expert={"truth": truth, "delay_seconds": 60},
        files={
            "predictions": preds,
            "requests": tmp_path / "requests.jsonl",
            "audit": tmp_path / "audit.jsonl",
            "dead_letter": tmp_path / "dlq.jsonl",
            "state": tmp_path / "state.jsonl",
        },
    )
    daemon = serve(settings)
    trail = _read(tmp_path / "audit.jsonl")
    labels = [e for e in trail if e["kind"] == "label" and e["used_for"]]
    evaluation = [e for e in labels if e["used_for"] == "evaluation"]
    training = [e for e in labels if e["used_for"] == "training"]
    assert evaluation, "the audit slice produced labels"
    assert all(e["reason"] == "audit" for e in evaluation)
    assert all(e["reason"] != "audit" for e in training)
    assert daemon.learner.version == len(training)


def test_every_evidence_line_validates_against_the_contract(tmp_path):
    """Decision records are serialised from plain dicts on the hot path: they must still be
    valid EvidenceRecord documents, with the decision fields present."""
    from daemon.contracts.messages import EvidenceRecord  # noqa: PLC0415

    _write_predictions(tmp_path / "p.jsonl", 20)
    serve(_settings(tmp_path, [{"name": "default", "capacity": 5}]))
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    records = [EvidenceRecord.model_validate_json(line) for line in lines]
    decisions = [r for r in records if r.kind == "decision"]
    assert len(decisions) == 20
    assert all(r.decided_at is not None and r.reason and r.policy_params for r in decisions)
    assert sum(r.query for r in decisions) == 5


def test_logged_probability_accounts_for_queue_room(tmp_path):
    """Queried or not, an item logs its marginal chance: the rule's rate thinned by the gate
    while the queue has room, and 0 once it is full and its overflow rule takes nothing."""
    _write_predictions(tmp_path / "p.jsonl", 60)
    settings = _settings(
        tmp_path,
        [{"name": "a", "capacity": 4, "file": str(tmp_path / "a.jsonl")}],
        policy={
            "strategy": "random",
            "cold_start_items": 0,
            "queue_gate_exponent": 1.0,
            "budget": {"fraction": 0.5, "window": 10},
        },
        routing={"default": ["a"]},
    )
    serve(settings)
    decisions = [e for e in _read(tmp_path / "audit.jsonl") if e["kind"] == "decision"]
    depth, seen = 0, set()
    for d in decisions:
        if d["reason"] in ("over_pace", "budget_exhausted"):
            expected = 0.0
        elif depth < 4:
            expected = 0.5 * (1 - depth / 4)
        else:
            expected = 0.0
        assert d["probability"] == pytest.approx(expected), d
        seen.add((depth < 4, d["query"]))
        depth += d["query"]  # nobody answers: every request stays outstanding
    assert depth == 4
    assert {(True, True), (True, False), (False, False)} <= seen
    assert any(d["reason"] == "queue_tight" for d in decisions)


def test_would_admit_mirrors_admit_without_changing_anything(tmp_path):
    """The non-mutating check names the queue admit would use, for room, spill and replace."""
    settings = _settings(
        tmp_path,
        [
            {"name": "a", "capacity": 1, "overflow": "replace", "file": str(tmp_path / "a.jsonl")},
            {
                "name": "s",
                "capacity": 1,
                "overflow": "spill",
                "spill_to": "a",
                "file": str(tmp_path / "s.jsonl"),
            },
        ],
        routing={"default": ["a"]},
    )
    queues = ExpertQueues(settings, {"a": _NullSink(), "s": _NullSink()})
    assert queues.would_admit("a", 0.5) == "a"
    queues.pending.add(_request("x", "a", utility=0.3))
    assert queues.would_admit("a", 0.2) is None
    assert queues.would_admit("a", 0.5) == "a"
    assert "x" in queues.pending, "nothing was evicted"
    assert queues.would_admit("s", 0.5) == "s"
    queues.pending.add(_request("y", "s", utility=0.3))
    assert queues.would_admit("s", 0.9) is None, "its spill queue is full too"


class _NullSink:
    def send(self, value, key=None, on_delivery=None):
        return None


def _request(item, queue, utility):
    return PendingRequest(
        id=item,
        request_id=f"r-{item}",
        queue=queue,
        features={},
        requested_at=0.0,
        deadline=1e9,
        probability=1.0,
        reason="random",
        utility=utility,
    )

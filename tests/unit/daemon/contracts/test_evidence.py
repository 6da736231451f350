"""Evidence records: the typed decision model serialises to the documented JSON."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from connectors.record import Record
from daemon.contracts.evidence import DecisionEvidence, EvidenceBuilder
from daemon.contracts.messages import EvidenceKind, EvidenceRecord
from daemon.contracts.pending_request import PendingRequest
from daemon.service.app import serve
from tests.unit.daemon.fakes import file_settings, write_predictions

RECORD = Record(b"{}", None, "predictions", 3, 41)


def _decision(**changes):
    fields = {
        "id": "a",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "model_version": "m1",
        "online_model_version": 4,
        "scores": {"0": 0.3, "1": 0.7},
        "score_source": "production",
        "online_prediction": "1",
        "production_prediction": "1",
        "uncertainty": 0.3,
        "threshold": None,
        "probability": 0.5,
        "query": True,
        "reason": "uncertain",
        "budget_spent": 3.0,
        "budget_limit": None,
        "budget_remaining": None,
        "budget_fraction": 0.1,
        "queue_state": {"default": 2},
        "queue": "default",
        "route_rule": None,
        "request_id": "r",
        "instructions_id": None,
        "redaction": {"email": "mask"},
        "group": {"region": "EU"},
    }
    return DecisionEvidence(**{**fields, **changes})


def test_decision_json_has_the_constant_parts_then_the_fields_in_model_order():
    """Key order and values: envelope, config hash and policy, then each typed field."""
    builder = EvidenceBuilder("hash", "p@1", {"strategy": "x"})
    doc = json.loads(builder.decision(RECORD, 0.0, _decision()))
    envelope = ["schema_version", "kind", "source", "recorded_at", "decided_at"]
    constants = ["config_hash", "policy", "policy_params"]
    names = [f.name for f in dataclasses.fields(DecisionEvidence)]
    assert list(doc) == envelope + constants + names
    assert doc["source"] == {"topic": "predictions", "partition": 3, "offset": 41}
    assert doc["recorded_at"] == doc["decided_at"] == "1970-01-01T00:00:00Z"
    assert (doc["kind"], doc["policy"], doc["policy_params"]) == (
        "decision",
        "p@1",
        {"strategy": "x"},
    )
    assert doc["redaction"] == {"email": "mask"}


def test_a_decision_record_validates_against_the_evidence_contract():
    """What the hot path writes is a valid EvidenceRecord."""
    raw = EvidenceBuilder("hash", "p@1", {}).decision(RECORD, 10.0, _decision())
    record = EvidenceRecord.model_validate_json(raw)
    assert (record.kind, record.query, record.queue_state) == (
        EvidenceKind.DECISION,
        True,
        {"default": 2},
    )


def test_decision_evidence_is_frozen_and_has_no_unknown_fields():
    """A misspelled field is an error at construction (and for mypy); values cannot change."""
    with pytest.raises(TypeError):
        _decision(budget_spnt=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        _decision().query = False  # type: ignore[misc]


def test_a_later_record_carries_the_request_and_the_given_fields():
    """about(): request fields (queue, request id, reason...) plus the label-time fields."""
    request = PendingRequest(
        id="a",
        request_id="r",
        queue="crowd",
        features={},
        requested_at=0.0,
        deadline=1.0,
        probability=0.2,
        reason="audit",
        prediction="0",
    )
    builder = EvidenceBuilder("hash", "p@1", {})
    record = builder.about(
        EvidenceKind.LABEL, request, "a", 5.0, RECORD, {"label": "1", "used_for": "evaluation"}
    )
    assert (record.queue, record.request_id, record.reason, record.probability) == (
        "crowd",
        "r",
        "audit",
        0.2,
    )
    assert (record.label, record.used_for, record.production_prediction) == ("1", "evaluation", "0")
    bare = builder.about(EvidenceKind.EXPIRY, None, "b", 5.0)
    assert (bare.source.partition, bare.queue) == (-1, None)


def test_every_evidence_line_validates_against_the_contract(tmp_path):
    """Decision records are serialised from plain dicts on the hot path: they must still be
    valid EvidenceRecord documents, with the decision fields present."""
    write_predictions(tmp_path / "p.jsonl", 20)
    serve(file_settings(tmp_path, [{"name": "default", "capacity": 5}]))
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    records = [EvidenceRecord.model_validate_json(line) for line in lines]
    decisions = [r for r in records if r.kind == "decision"]
    assert len(decisions) == 20
    assert all(r.decided_at is not None and r.reason and r.policy_params for r in decisions)
    assert sum(r.query for r in decisions) == 5

"""Decision evidence: compact records are valid, and every old field is derivable from them."""

import json
from datetime import UTC, datetime

import pytest

from connectors.record import Record
from daemon.contracts.evidence import DecisionEvidence, EvidenceBuilder, Source, expand, utc
from daemon.contracts.messages import EvidenceKind, EvidenceRecord
from daemon.contracts.pending_request import PendingRequest
from daemon.errors import EncodingError
from daemon.service.app import serve
from tests.unit.daemon.fakes import file_settings, write_predictions

RECORD = Record(b"{}", None, "predictions", 3, 41)

NOW = 1_767_225_600.5
PARAMS = {"strategy": "fixed_uncertainty", "budget": {"fraction": 0.05, "limit": None}}


def evidence(**changes) -> DecisionEvidence:
    fields = {
        "schema_version": 1,
        "kind": "decision",
        "id": "item-1",
        "source": Source("predictions", 1, 7),
        "recorded_at": utc(NOW),
        "config_hash": "h",
        "event_time": datetime(2026, 1, 1, tzinfo=UTC),
        "decided_at": utc(NOW),
        "policy": "p@1",
        "model_version": "prod-1",
        "online_model_version": 3,
        "scores": {"ok": 0.25, "fraud": 0.75},
        "score_source": "online",
        "online_prediction": "fraud",
        "production_prediction": "ok",
        "uncertainty": 0.5,
        "threshold": None,
        "probability": 0.005,
        "query": False,
        "reason": "below_quantile",
        "budget_spent": 12.0,
        "budget_limit": None,
        "budget_remaining": None,
        "budget_fraction": 0.049,
        "queue_state": {"default": 4},
        "queue": None,
        "route_rule": None,
        "request_id": None,
        "instructions_id": None,
        "redaction": {},
        "group": {"region": "EU"},
    }
    fields.update(changes)
    return DecisionEvidence(**fields)


def test_compact_record_joined_with_its_config_equals_the_self_contained_one():
    """With policy_params joined from the config record, compact and full records are equal."""
    compact = EvidenceBuilder("h", "p@1", PARAMS)
    full = EvidenceBuilder("h", "p@1", PARAMS, compact=False).decision(evidence())
    small = compact.decision(evidence())
    _, joined = expand([json.loads(compact.config(NOW)), json.loads(small)])
    assert EvidenceRecord.model_validate(joined) == EvidenceRecord.model_validate_json(full)
    assert len(small) < len(full) - len(json.dumps(PARAMS))


def test_null_fields_are_omitted_and_required_ones_kept():
    """Nulls are left out (the schema's default); kind and schema_version are always written."""
    doc = json.loads(EvidenceBuilder("h", "p@1", PARAMS).decision(evidence()))
    assert {"threshold", "budget_limit", "policy_params", "queue"}.isdisjoint(doc)
    assert (doc["schema_version"], doc["kind"], doc["config_hash"]) == (1, "decision", "h")


def test_queried_record_keeps_its_request_fields():
    """A queried item's queue, route rule and request id are written."""
    record = evidence(query=True, reason="uncertain", queue="q", request_id="r", route_rule="x")
    doc = EvidenceRecord.model_validate_json(EvidenceBuilder("h", "p", {}).decision(record))
    assert (doc.query, doc.queue, doc.request_id, doc.route_rule) == (True, "q", "r", "x")


def test_config_record_carries_the_policy_parameters():
    """The config record is a valid evidence record of kind config with the parameters."""
    record = EvidenceRecord.model_validate_json(EvidenceBuilder("h", "p@1", PARAMS).config(NOW))
    assert record.kind is EvidenceKind.CONFIG
    assert (record.config_hash, record.policy, record.policy_params) == ("h", "p@1", PARAMS)


def test_decision_evidence_is_frozen_and_has_no_unknown_fields():
    """A misspelled field is an error at construction (and for mypy); values cannot change."""
    with pytest.raises(TypeError):
        evidence(budget_spnt=1.0)
    with pytest.raises(AttributeError):  # frozen
        evidence().query = False  # type: ignore[misc]


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
    """Compact decision records written by a run are valid EvidenceRecord documents and, joined
    with their config record, carry every decision field and the policy parameters."""
    write_predictions(tmp_path / "p.jsonl", 20)
    serve(file_settings(tmp_path, [{"name": "default", "capacity": 5}]))
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    records = [EvidenceRecord.model_validate(r) for r in expand(json.loads(x) for x in lines)]
    decisions = [r for r in records if r.kind == "decision"]
    assert len(decisions) == 20
    assert all(r.decided_at is not None and r.reason and r.policy_params for r in decisions)
    assert sum(r.query for r in decisions) == 5
    assert sum(r.kind == "config" for r in records) == 1


def test_a_non_finite_number_is_refused_not_written_as_null():
    """Compact records stay strict JSON: NaN or infinity raises, naming the field."""
    builder = EvidenceBuilder("h", "p@1", PARAMS)
    for bad in ({"uncertainty": float("nan")}, {"scores": {"ok": float("inf"), "fraud": 0.0}}):
        with pytest.raises(EncodingError, match="non-finite"):
            builder.decision(evidence(**bad))
    assert json.loads(builder.decision(evidence(budget_fraction=1e308, budget_spent=1e308)))


def test_a_batch_encodes_each_record_as_alone_and_isolates_a_bad_one():
    """decisions(): byte for byte what decision() gives per record; a non-finite record is its
    own error in place, the others are still encoded; a string that reads "null" is no error."""
    builder = EvidenceBuilder("h", "p@1", PARAMS)
    good = [evidence(id=f"it-{i}", uncertainty=i / 10) for i in range(5)]
    nullish = evidence(id="null", group={"region": "null"})
    bad = evidence(uncertainty=float("nan"))
    out = builder.decisions([*good[:2], bad, nullish, *good[2:]])
    assert out[:2] == [builder.decision(e) for e in good[:2]]
    assert isinstance(out[2], EncodingError)
    assert out[3] == builder.decision(nullish)
    assert json.loads(out[3])["group"] == {"region": "null"}
    assert out[4:] == [builder.decision(e) for e in good[2:]]
    full = EvidenceBuilder("h", "p@1", PARAMS, compact=False)
    assert full.decisions(good) == [full.decision(e) for e in good]
    assert builder.decisions([]) == []

"""Decision evidence: compact records are valid, and every old field is derivable from them."""

import json
from datetime import UTC, datetime

from daemon.contracts.evidence import DecisionEvidence, EvidenceBuilder, Source, expand, utc
from daemon.contracts.messages import EvidenceKind, EvidenceRecord

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

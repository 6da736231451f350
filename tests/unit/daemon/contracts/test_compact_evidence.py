"""Compact decision evidence: valid records, every old field derivable, policy params once."""

import json
from datetime import UTC, datetime

from connectors.record import Record
from daemon.contracts.compact_evidence import (
    DecisionRecord,
    Source,
    config_record,
    encode,
    expand,
    utc,
)
from daemon.contracts.evidence import EvidenceBuilder
from daemon.contracts.messages import EvidenceKind, EvidenceRecord

NOW = 1_767_225_600.5
PARAMS = {"strategy": "fixed_uncertainty", "budget": {"fraction": 0.05, "limit": None}}
FIELDS = {
    "id": "item-1",
    "event_time": datetime(2026, 1, 1, tzinfo=UTC),
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


def compact() -> bytes:
    when = utc(NOW)
    return encode(
        DecisionRecord(
            schema_version=1,
            kind="decision",
            source=Source("predictions", 1, 7),
            recorded_at=when,
            decided_at=when,
            config_hash="h",
            policy="p@1",
            **FIELDS,
        )
    )


def test_compact_record_is_a_valid_evidence_record_equal_to_the_full_one():
    """With policy_params joined from the config record, the compact record equals the old one."""
    full = EvidenceBuilder("h", "p@1", PARAMS).decision(
        Record(b"", None, "predictions", 1, 7), NOW, **FIELDS
    )
    config = json.loads(config_record("h", "p@1", PARAMS, NOW))
    _, joined = expand([config, json.loads(compact())])
    assert EvidenceRecord.model_validate(joined) == EvidenceRecord.model_validate_json(full)
    assert len(compact()) < len(full) - len(json.dumps(PARAMS))


def test_null_fields_are_omitted_and_required_ones_kept():
    """Nulls are left out (the schema's default); kind and schema_version are always written."""
    doc = json.loads(compact())
    assert "threshold" not in doc
    assert "budget_limit" not in doc
    assert "policy_params" not in doc
    assert (doc["schema_version"], doc["kind"], doc["config_hash"]) == (1, "decision", "h")


def test_config_record_carries_the_policy_parameters():
    """The config record is a valid evidence record of kind config with the parameters."""
    record = EvidenceRecord.model_validate_json(config_record("h", "p@1", PARAMS, NOW))
    assert record.kind is EvidenceKind.CONFIG
    assert (record.config_hash, record.policy, record.policy_params) == ("h", "p@1", PARAMS)

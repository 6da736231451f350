"""Building evidence records: the trail of every decision and of what became of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypedDict

import msgspec

from connectors.record import Record
from daemon.contracts.messages import (
    EvidenceKind,
    EvidenceRecord,
    SourcePosition,
    encode_json,
)
from daemon.contracts.pending_request import PendingRequest


def utc(ts: float) -> datetime:
    """An epoch timestamp as an aware UTC datetime (how evidence records write time)."""
    return datetime.fromtimestamp(ts, UTC)


def _source(record: Record | None) -> SourcePosition:
    if record is None:
        return SourcePosition.model_construct(topic="", partition=-1, offset=-1)
    return SourcePosition.model_construct(
        topic=record.topic, partition=record.partition, offset=record.offset
    )


ScoreOrigin = Literal["online", "production"]
"""Which model's probabilities a decision used."""


class Source(msgspec.Struct, frozen=True, gc=False):
    """Where an input came from (topic, partition, offset)."""

    topic: str
    partition: int
    offset: int


class DecisionEvidence(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """One decision record (see :class:`EvidenceRecord` for the meaning of each field).

    A typed value, so that a field of the wrong type fails type checking; the field order is
    the order of the keys in the JSON: the fields every record has, then the optional ones,
    which are left out of the compact form at their default (null, an empty mapping), as the
    schema allows. On the hot path it is built with positional arguments: with keywords msgspec
    takes about twenty times longer for thirty-one fields.
    """

    schema_version: int
    kind: str
    id: str
    source: Source
    recorded_at: datetime
    config_hash: str
    event_time: datetime
    decided_at: datetime
    policy: str
    online_model_version: int
    scores: Mapping[str, float]
    score_source: ScoreOrigin
    production_prediction: str
    uncertainty: float
    probability: float
    query: bool
    reason: str
    budget_spent: float
    queue_state: dict[str, int]
    model_version: str | None = None
    online_prediction: str | None = None
    threshold: float | None = None
    budget_limit: float | None = None
    budget_remaining: float | None = None
    budget_fraction: float | None = None
    queue: str | None = None
    route_rule: str | None = None
    request_id: str | None = None
    instructions_id: str | None = None
    redaction: dict[str, str] = {}
    group: dict[str, str] = {}


_encode = msgspec.json.Encoder().encode


class LaterEvidence(TypedDict, total=False):
    """The optional fields of a record about a request after its decision (label, expiry, ...)."""

    label: str | None
    answer: str
    labeler_role: str | None
    labeler_id: str | None
    label_confidence: float | None
    labels_received: int
    agreement: float | None
    resolution: str
    used_for: Literal["training", "evaluation"]
    detail: str


class EvidenceBuilder:
    """Makes evidence records; the constant parts (config hash, policy) are bound once.

    ``compact`` (the default) writes each decision record without nulls and without the
    policy's parameters, which go once into the :meth:`config` record of the config hash;
    every field stays derivable (:func:`expand`). ``compact=False`` writes the self-contained
    records of old, each with every field and the full ``policy_params``.
    """

    def __init__(
        self,
        config_hash: str,
        policy: str,
        policy_params: Mapping[str, Any],
        compact: bool = True,
    ) -> None:
        self.config_hash = config_hash
        self.policy = policy
        self.policy_params = dict(policy_params)
        self.compact = compact
        self._encode_decision = self._compact if compact else self._full

    def source(self, record: Record) -> Source:
        """The source position of an input, as decision evidence carries it."""
        return Source(record.topic, record.partition, record.offset)

    def decision(self, evidence: DecisionEvidence) -> bytes:
        """The JSON of one decision record (validated against :class:`EvidenceRecord` by a
        test), compact or self-contained as chosen at construction."""
        return self._encode_decision(evidence)

    def _full(self, evidence: DecisionEvidence) -> bytes:
        doc = {f: getattr(evidence, f) for f in evidence.__struct_fields__}
        doc["source"] = msgspec.structs.asdict(evidence.source)
        doc["policy_params"] = self.policy_params
        return encode_json(doc, "evidence")

    def _compact(self, evidence: DecisionEvidence) -> bytes:
        # msgspec would write NaN or infinity as null; evidence is strict JSON or refused, so a
        # record whose numbers do not add up to a finite sum goes through the strict encoder,
        # which names the offending field.
        e = evidence
        total = e.uncertainty + e.probability + e.budget_spent
        for value in e.scores.values():
            total += value
        for optional in (e.threshold, e.budget_limit, e.budget_remaining, e.budget_fraction):
            if optional is not None:
                total += optional
        if total - total != 0.0:
            self._full(evidence)
        return _encode(evidence)

    def config(self, now: float) -> bytes:
        """The record of this configuration's policy parameters (once per config hash)."""
        return encode_json(
            {
                "schema_version": 1,
                "kind": EvidenceKind.CONFIG.value,
                "id": self.config_hash,
                "source": {"topic": "", "partition": -1, "offset": -1},
                "recorded_at": utc(now),
                "config_hash": self.config_hash,
                "policy": self.policy,
                "policy_params": self.policy_params,
            },
            "evidence",
        )

    def about(
        self,
        kind: EvidenceKind,
        request: PendingRequest | None,
        item_id: str,
        now: float,
        record: Record | None = None,
        fields: LaterEvidence | None = None,
    ) -> EvidenceRecord:
        """A later record about an item's request: a label, an expiry, an escalation."""
        base: dict[str, Any] = {}
        if request is not None:
            base = {
                "queue": request.queue,
                "request_id": request.request_id,
                "route_rule": request.route_rule,
                "reason": request.reason,
                "probability": request.probability,
                "group": request.group,
                "production_prediction": request.prediction,
            }
        if fields:
            base.update(fields)
        return EvidenceRecord.model_construct(
            schema_version=1,
            kind=kind,
            id=item_id,
            source=_source(record),
            recorded_at=utc(now),
            config_hash=self.config_hash,
            policy=self.policy,
            **base,
        )


def expand(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Records with ``policy_params`` filled in from their config record, nulls made explicit
    by the reader's schema: the self-contained form of compact decision records.

    >>> cfg = {"kind": "config", "config_hash": "h", "policy_params": {"seed": 0}}
    >>> expand([cfg, {"kind": "decision", "config_hash": "h"}])[1]["policy_params"]
    {'seed': 0}
    """
    params: dict[str, Any] = {}
    out = []
    for record in records:
        row = dict(record)
        if row.get("kind") == EvidenceKind.CONFIG.value:
            params[row["config_hash"]] = row.get("policy_params", {})
        elif row.get("kind", "decision") == "decision" and "policy_params" not in row:
            row["policy_params"] = params.get(row.get("config_hash", ""), {})
        out.append(row)
    return out

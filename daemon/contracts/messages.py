"""Message contracts: the versioned JSON that labelgate reads and writes.

Every message carries ``schema_version``; ``labelgate schema`` prints the JSON Schemas so that
integrators can validate on their side.
"""

from __future__ import annotations

import math
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1


def _label_text(value: Any) -> Any:
    """Class labels travel as JSON scalars; compare them as text (1 and "1" are one class)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value


Label = Annotated[str, BeforeValidator(_label_text), Field(min_length=1, max_length=256)]
FeatureValue = float | int | bool | str | None
ItemId = Annotated[str, Field(min_length=1, max_length=512)]


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", allow_inf_nan=False)


class PredictionEvent(_Message):
    """One prediction made by the production model.

    Unknown extra fields are ignored (``StrictPredictionEvent`` rejects them). Floats must be
    finite: NaN and infinity are a schema violation, not a value.
    """

    schema_version: Literal[1] = 1
    id: ItemId
    event_time: AwareDatetime
    features: dict[str, FeatureValue]
    prediction: Label
    proba: dict[Label, Annotated[float, Field(ge=0.0, le=1.0)]] | None = None
    model_version: str | None = None
    group: dict[str, Annotated[str, Field(max_length=256)]] = Field(default_factory=dict)
    cost: Annotated[float, Field(gt=0.0)] | None = None

    @field_validator("features")
    @classmethod
    def _finite_features(cls, features: dict[str, FeatureValue]) -> dict[str, FeatureValue]:
        for name, value in features.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"feature {name!r} is not finite")
        return features

    @field_validator("proba")
    @classmethod
    def _proba_sums_to_one(cls, proba: dict[str, float] | None) -> dict[str, float] | None:
        if proba is not None and proba and abs(sum(proba.values()) - 1.0) > 1e-3:
            raise ValueError("class probabilities must sum to 1")
        return proba


class StrictPredictionEvent(PredictionEvent):
    """A prediction event that rejects unknown fields (``schema.strict: true``)."""

    model_config = ConfigDict(extra="forbid")


class LabelEvent(_Message):
    """An expert's (or other oracle's) answer to a label request."""

    schema_version: Literal[1] = 1
    id: ItemId
    label: Label | None = None
    labeler_role: str = "expert"
    labeler_id: str | None = None
    labeled_at: AwareDatetime
    confidence: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    abstain: bool = False

    @model_validator(mode="after")
    def _label_or_abstain(self) -> LabelEvent:
        if self.label is None and not self.abstain:
            raise ValueError("a label event needs a label unless it abstains")
        return self


class LabelRequest(_Message):
    """Asks an expert queue for the label of one item. Carries only allow-listed fields.

    ``request_id`` is the idempotency key: the same item and policy always give the same key, so
    a consumer can drop a redelivered request. A message with ``withdrawn: true`` cancels an
    outstanding request (it expired or a more useful item took its place).
    """

    schema_version: Literal[1] = 1
    request_id: str
    id: ItemId
    queue: str
    role: str
    requested_at: datetime
    deadline: datetime
    priority: float
    reason: str
    route_rule: str | None = None
    instructions_id: str | None = None
    instructions_version: str | None = None
    labels_required: int = 1
    event_time: datetime | None = None
    features: dict[str, FeatureValue] = Field(default_factory=dict)
    prediction: str | None = None
    proba: dict[str, float] | None = None
    model_version: str | None = None
    group: dict[str, str] = Field(default_factory=dict)
    withdrawn: bool = False


class SourcePosition(_Message):
    """Where an input message came from."""

    topic: str
    partition: int
    offset: int


class EvidenceKind(StrEnum):
    """What an evidence record documents."""

    DECISION = "decision"  # one per valid prediction, queried or not
    LABEL = "label"  # a label event for a request (or for nothing: unmatched)
    EXPIRY = "expiry"  # a request expired unanswered (or was evicted by a better item)
    ESCALATION = "escalation"  # disagreeing labels sent the item to an adjudicator queue
    CONFIG = "config"  # a configuration's policy parameters, once per config hash


class RequestOutcome(StrEnum):
    """How an open request ended unanswered (evidence ``resolution``, withdrawal ``reason``)."""

    EXPIRED = "expired"  # its queue's TTL ran out
    EVICTED = "evicted"  # a more useful item took its place in a full queue
    REROUTED = "rerouted"  # after expiring, it was asked again in the fallback queue


class EvidenceRecord(_Message):
    """The evidence trail: why an item was (or was not) queried, and what happened to its request.

    Append-only; ``kind`` says which moment a record documents. A decision record carries the
    decision-time fields, a label record the label-time fields, both carry ``id`` so that a
    per-item trace is the records with that id in order.
    """

    schema_version: Literal[1] = 1
    kind: EvidenceKind = EvidenceKind.DECISION
    id: ItemId
    source: SourcePosition
    recorded_at: datetime
    config_hash: str
    # Decision time.
    event_time: datetime | None = None
    decided_at: datetime | None = None
    model_version: str | None = None
    online_model_version: int | None = None
    policy: str | None = None
    policy_params: dict[str, Any] = Field(default_factory=dict)
    scores: dict[str, float] = Field(default_factory=dict)
    score_source: str | None = None
    online_prediction: str | None = None
    production_prediction: str | None = None
    uncertainty: float | None = None
    threshold: float | None = None
    probability: float | None = None
    query: bool = False
    reason: str | None = None
    budget_spent: float | None = None
    budget_limit: float | None = None
    budget_remaining: float | None = None
    budget_fraction: float | None = None
    queue_state: dict[str, int] = Field(
        default_factory=dict, description="Outstanding requests per queue at decision time."
    )
    queue: str | None = None
    route_rule: str | None = None
    request_id: str | None = None
    instructions_id: str | None = None
    redaction: dict[str, str] = Field(
        default_factory=dict, description="Field -> drop/mask/hash applied to the request."
    )
    group: dict[str, str] = Field(default_factory=dict)
    # Label time.
    label: str | None = None
    labeler_role: str | None = None
    labeler_id: str | None = None
    label_confidence: float | None = None
    labels_received: int | None = None
    agreement: float | None = None
    resolution: str | None = None
    used_for: Literal["training", "evaluation"] | None = None
    detail: str | None = None


class DeadLetterReason(StrEnum):
    """Why an input message was rejected."""

    INVALID_JSON = "invalid_json"
    SCHEMA_VIOLATION = "schema_violation"
    NON_FINITE = "non_finite"
    UNKNOWN_CLASS = "unknown_class"
    OVERSIZED = "oversized"
    UNSUPPORTED_VERSION = "unsupported_version"
    PROCESSING_ERROR = (
        "processing_error"  # valid input whose processing raised (a bug or bad state)
    )


class DeadLetterRecord(_Message):
    """A rejected input, with the reason, so nothing is lost silently."""

    schema_version: Literal[1] = 1
    reason: DeadLetterReason
    detail: str
    kind: Literal["prediction", "label"]
    source: SourcePosition
    rejected_at: datetime
    payload: str
    payload_truncated: bool = False


def encode(message: BaseModel) -> bytes:
    """A message as the JSON bytes that go on the wire (pydantic's native serialiser)."""
    return message.__pydantic_serializer__.to_json(message)


CONTRACTS: dict[str, type[BaseModel]] = {
    "prediction": PredictionEvent,
    "label": LabelEvent,
    "label_request": LabelRequest,
    "evidence": EvidenceRecord,
    "dead_letter": DeadLetterRecord,
}

"""Message contracts: the versioned JSON that labelgate reads and writes.

Every message carries ``schema_version``; ``labelgate schema`` prints the JSON Schemas so that
integrators can validate on their side.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError, to_json

from daemon.errors import EncodingError

SCHEMA_VERSION = 1
DEFAULT_MAX_ABS_FEATURE = 1e12
DEFAULT_MAX_STRING_LENGTH = 4096
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on input values that a JSON Schema does not carry; the parser passes them as the
    validation context (``schema.max_abs_feature``, ``schema.max_string_length``).

    A finite number can still be unusable: 1e308 makes a running variance infinite, a 401-digit
    integer overflows ``float()``. Rejecting them here keeps them away from the model.
    """

    max_abs_feature: float = DEFAULT_MAX_ABS_FEATURE
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH


DEFAULT_LIMITS = Limits()


def _limits(info: ValidationInfo) -> Limits:
    return info.context if isinstance(info.context, Limits) else DEFAULT_LIMITS


def _rejected(kind: str, message: str) -> PydanticCustomError:
    # Pre-formatted, no context: a feature name holding "{...}" must not be read as a template.
    return PydanticCustomError(kind, message, None)


def _in_time_range(value: datetime) -> datetime:
    """Times a date library can carry through arithmetic and back (no year-10000 overflow)."""
    if not EARLIEST <= value < LATEST:
        raise _rejected("out_of_range", "must lie between 1900-01-01 and 9000-01-01 (UTC)")
    return value


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
ShortText = Annotated[str, Field(max_length=256)]


class _Message(BaseModel):
    # Non-finite floats serialise as the (non-JSON) constants so that encode() sees and refuses
    # them, instead of pydantic's default of writing null silently.
    model_config = ConfigDict(
        frozen=True, extra="ignore", allow_inf_nan=False, ser_json_inf_nan="constants"
    )


class PredictionEvent(_Message):
    """One prediction made by the production model.

    Unknown extra fields are ignored (``StrictPredictionEvent`` rejects them). Numbers must be
    finite (NaN and infinity are not values) and, for features and cost, no larger in magnitude
    than :attr:`Limits.max_abs_feature`; string features and feature names are at most
    :attr:`Limits.max_string_length` characters.
    """

    schema_version: Literal[1] = 1
    id: ItemId
    event_time: AwareDatetime
    features: dict[str, FeatureValue]
    prediction: Label
    proba: dict[Label, Annotated[float, Field(ge=0.0, le=1.0)]] | None = None
    model_version: ShortText | None = None
    group: dict[ShortText, ShortText] = Field(default_factory=dict)
    cost: Annotated[float, Field(gt=0.0)] | None = None

    _event_time_in_range = field_validator("event_time")(_in_time_range)

    @field_validator("features")
    @classmethod
    def _bounded_features(
        cls, features: dict[str, FeatureValue], info: ValidationInfo
    ) -> dict[str, FeatureValue]:
        limits = _limits(info)
        bound = limits.max_abs_feature
        longest = limits.max_string_length
        for name, value in features.items():
            if len(name) > longest:
                raise _rejected(
                    "string_too_long",
                    f"a feature name of {len(name)} characters is over max_string_length={longest}",
                )
            if isinstance(value, str):
                if len(value) > longest:
                    raise _rejected(
                        "string_too_long",
                        f"feature {name!r} has {len(value)} characters, over "
                        f"max_string_length={longest}",
                    )
            elif (
                isinstance(value, float | int)
                and not isinstance(value, bool)
                and not -bound <= value <= bound  # also true for NaN
            ):
                if isinstance(value, float) and not math.isfinite(value):
                    raise _rejected("finite_number", f"feature {name!r} is not finite")
                # The value itself is not quoted: a 5000-digit integer cannot be printed.
                raise _rejected(
                    "out_of_range",
                    f"feature {name!r} exceeds max_abs_feature={bound:g} in magnitude",
                )
        return features

    @field_validator("cost")
    @classmethod
    def _bounded_cost(cls, cost: float | None, info: ValidationInfo) -> float | None:
        bound = _limits(info).max_abs_feature
        if cost is not None and cost > bound:
            raise _rejected("out_of_range", f"cost exceeds max_abs_feature={bound:g}")
        return cost

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
    labeler_role: ShortText = "expert"
    labeler_id: ShortText | None = None
    labeled_at: AwareDatetime
    confidence: Annotated[float, Field(ge=0.0, le=1.0)] | None = None
    abstain: bool = False

    _labeled_at_in_range = field_validator("labeled_at")(_in_time_range)

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
    answer: str | None = Field(
        default=None,
        description="The label this event carried, when it differs from the resolved `label`.",
    )
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
    OUT_OF_RANGE = "out_of_range"  # a number beyond its field's range or max_abs_feature
    TOO_LONG = "too_long"  # a string beyond its field's length or max_string_length
    TOO_DEEP = "too_deep"  # JSON nested deeper than the parser's recursion limit
    UNKNOWN_CLASS = "unknown_class"
    UNKNOWN_TASK = "unknown_task"  # an answer (e.g. from Label Studio) for no known request
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


class _NonFinite:
    """Stands in for a NaN/Infinity constant while locating it."""


def _find_constant(value: Any, path: str) -> str | None:
    if isinstance(value, _NonFinite):
        return path or "<root>"
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _find_constant(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


def _strict(out: bytes, what: str) -> bytes:
    """``out`` unchanged if it is strict JSON; otherwise an :class:`EncodingError`.

    The byte scan is the fast path (one pass in C); only a hit, which may be the text "NaN" inside
    a string, pays for a parse that finds the offending field.
    """
    if b"NaN" not in out and b"Infinity" not in out:
        return out
    doc = json.loads(out, parse_constant=lambda _token: _NonFinite())
    where = _find_constant(doc, "")
    if where is None:
        return out
    raise EncodingError(f"{what}: non-finite number at {where}; refusing to write non-JSON")


def encode(message: BaseModel) -> bytes:
    """A message as the JSON bytes that go on the wire: always strict JSON.

    Raises
    ------
    EncodingError
        When a float in the message is NaN or infinite (it would not be JSON); the message is
        refused rather than silently altered, so the fault shows where it arose.
    """
    return _strict(message.__pydantic_serializer__.to_json(message), type(message).__name__)


def encode_json(data: Any, what: str = "message") -> bytes:
    """Plain JSON-compatible data (a dict on the hot path) as strict JSON bytes, like
    :func:`encode`."""
    return _strict(to_json(data), what)


CONTRACTS: dict[str, type[BaseModel]] = {
    "prediction": PredictionEvent,
    "label": LabelEvent,
    "label_request": LabelRequest,
    "evidence": EvidenceRecord,
    "dead_letter": DeadLetterRecord,
}

"""Turn raw bytes into validated events, or into a dead-letter record with a precise reason."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import ValidationError

from connectors.record import Record
from daemon.config import Settings
from daemon.contracts.messages import (
    DEFAULT_LIMITS,
    DeadLetterReason,
    DeadLetterRecord,
    LabelEvent,
    Limits,
    PredictionEvent,
    SourcePosition,
    StrictPredictionEvent,
)

_PAYLOAD_LIMIT = 4096
_UNION_TAGS = frozenset({"float", "int", "bool", "str", "none"})
_BY_TYPE = {
    "finite_number": DeadLetterReason.NON_FINITE,
    "out_of_range": DeadLetterReason.OUT_OF_RANGE,
    "greater_than": DeadLetterReason.OUT_OF_RANGE,
    "greater_than_equal": DeadLetterReason.OUT_OF_RANGE,
    "less_than": DeadLetterReason.OUT_OF_RANGE,
    "less_than_equal": DeadLetterReason.OUT_OF_RANGE,
    "string_too_long": DeadLetterReason.TOO_LONG,
    "too_long": DeadLetterReason.TOO_LONG,
}
# When one message has several problems, the reason is the most telling one; its detail lists all.
_PRECEDENCE = (
    DeadLetterReason.UNSUPPORTED_VERSION,
    DeadLetterReason.SCHEMA_VIOLATION,
    DeadLetterReason.NON_FINITE,
    DeadLetterReason.OUT_OF_RANGE,
    DeadLetterReason.TOO_LONG,
)
# The JSON parser's own words for input it refuses although it is well-formed JSON.
_JSON_LIMITS = {
    "recursion limit exceeded": DeadLetterReason.TOO_DEEP,
    "number out of range": DeadLetterReason.OUT_OF_RANGE,
}


def _json_reason(message: str) -> DeadLetterReason:
    for words, reason in _JSON_LIMITS.items():
        if words in message:
            return reason
    return DeadLetterReason.INVALID_JSON


def describe(error: ValidationError) -> tuple[DeadLetterReason, str]:
    """Classify a validation error and summarise it as ``field.path: message`` lines.

    Union members repeat the same complaint per member type; one line per field path is enough.
    A field path's reason is the specific one (non_finite, out_of_range, too_long) when any
    member says so, since the other members only say "not a string", "not a boolean".
    """
    by_path: dict[str, DeadLetterReason] = {}
    seen: dict[str, str] = {}
    for item in error.errors():
        kind = item["type"]
        if kind == "json_invalid":
            return _json_reason(item["msg"]), item["msg"]
        loc = tuple(str(p) for p in item["loc"])
        if len(loc) > 1 and loc[-1] in _UNION_TAGS:
            loc = loc[:-1]  # the union member that was tried, not a field name
        path = ".".join(loc) or "<root>"
        reason = _BY_TYPE.get(kind, DeadLetterReason.SCHEMA_VIOLATION)
        if loc and loc[0] == "schema_version" and kind == "literal_error":
            reason = DeadLetterReason.UNSUPPORTED_VERSION
        previous = by_path.get(path)
        if previous is None or previous is DeadLetterReason.SCHEMA_VIOLATION:
            by_path[path] = reason
        seen.setdefault(path, item["msg"])
    found = set(by_path.values())
    reason = next((r for r in _PRECEDENCE if r in found), DeadLetterReason.SCHEMA_VIOLATION)
    return reason, "; ".join(f"{path}: {msg}" for path, msg in seen.items())


class Parser:
    """Validates predictions and labels against the contracts and the configured classes.

    The model class (lenient or strict about unknown fields) is chosen once, here. ``limits``
    bound feature magnitudes and string lengths (``schema.max_abs_feature``,
    ``schema.max_string_length``); tighter limits dead-letter more items as ``out_of_range`` or
    ``too_long``.
    """

    def __init__(
        self,
        classes: list[str],
        strict: bool = False,
        max_bytes: int = 1_000_000,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.classes = frozenset(classes)
        self.strict = strict
        self.max_bytes = max_bytes
        self.limits = limits
        self._prediction_model: type[PredictionEvent] = (
            StrictPredictionEvent if strict else PredictionEvent
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Parser:
        """The parser the configuration asks for (classes and ``schema.*``)."""
        schema = settings.schema_
        return cls(
            settings.classes,
            schema.strict,
            schema.max_message_bytes,
            Limits(schema.max_abs_feature, schema.max_string_length),
        )

    def dead_letter(
        self, record: Record, kind: str, reason: DeadLetterReason, detail: str, now: float
    ) -> DeadLetterRecord:
        """Build the dead-letter record for a rejected message (payload kept, truncated)."""
        raw = record.value or b""
        return DeadLetterRecord.model_construct(
            schema_version=1,
            reason=reason,
            detail=detail[:2000],
            kind=kind,
            source=SourcePosition.model_construct(
                topic=record.topic, partition=record.partition, offset=record.offset
            ),
            rejected_at=datetime.fromtimestamp(now, UTC),
            payload=raw[:_PAYLOAD_LIMIT].decode("utf-8", errors="replace"),
            payload_truncated=len(raw) > _PAYLOAD_LIMIT,
        )

    def _precheck(self, record: Record, kind: str, now: float) -> DeadLetterRecord | None:
        if record.value is None:
            return self.dead_letter(
                record, kind, DeadLetterReason.SCHEMA_VIOLATION, "empty message", now
            )
        if len(record.value) > self.max_bytes:
            return self.dead_letter(
                record,
                kind,
                DeadLetterReason.OVERSIZED,
                f"{len(record.value)} bytes exceeds max_message_bytes={self.max_bytes}",
                now,
            )
        return None

    def prediction(self, record: Record, now: float) -> PredictionEvent | DeadLetterRecord:
        """Parse one prediction event."""
        bad = self._precheck(record, "prediction", now)
        if bad is not None:
            return bad
        try:
            event = self._prediction_model.model_validate_json(
                record.value or b"", context=self.limits
            )
        except ValidationError as exc:
            reason, detail = describe(exc)
            return self.dead_letter(record, "prediction", reason, detail, now)
        if event.prediction not in self.classes:
            return self.dead_letter(
                record,
                "prediction",
                DeadLetterReason.UNKNOWN_CLASS,
                f"prediction: {event.prediction!r} is not one of the configured classes",
                now,
            )
        if event.proba is not None:
            unknown = set(event.proba) - self.classes
            if unknown:
                return self.dead_letter(
                    record,
                    "prediction",
                    DeadLetterReason.UNKNOWN_CLASS,
                    f"proba: unknown classes {sorted(unknown)!r}",
                    now,
                )
        return event

    def label(self, record: Record, now: float) -> LabelEvent | DeadLetterRecord:
        """Parse one label event."""
        bad = self._precheck(record, "label", now)
        if bad is not None:
            return bad
        try:
            event = LabelEvent.model_validate_json(record.value or b"", context=self.limits)
        except ValidationError as exc:
            reason, detail = describe(exc)
            return self.dead_letter(record, "label", reason, detail, now)
        if event.label is not None and event.label not in self.classes:
            return self.dead_letter(
                record,
                "label",
                DeadLetterReason.UNKNOWN_CLASS,
                f"label: {event.label!r} is not one of the configured classes",
                now,
            )
        return event

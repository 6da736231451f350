"""Parsing raw bytes into events or dead-letter records with a precise reason."""

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.record import Record
from daemon.config import Settings
from daemon.contracts.messages import (
    DeadLetterReason,
    DeadLetterRecord,
    LabelEvent,
    Limits,
    PredictionEvent,
    encode,
)
from daemon.contracts.parsing import Parser
from tests.strict_json import strict_loads

R = DeadLetterReason

CLASSES = ["ok", "fraud"]
NOW = 1_767_225_600.0
GOOD = {
    "id": "item-1",
    "event_time": "2026-01-01T00:00:00Z",
    "features": {"x": 1.0, "region": "EU"},
    "prediction": "fraud",
    "proba": {"ok": 0.3, "fraud": 0.7},
}
LABEL = {"id": "item-1", "label": "ok", "labeled_at": "2026-01-01T00:00:00Z"}


def record(value, topic="predictions", partition=2, offset=41):
    if isinstance(value, dict):
        value = json.dumps(value)
    if isinstance(value, str):
        value = value.encode()
    return Record(value, b"k", topic, partition, offset)


def dead(result, reason):
    assert isinstance(result, DeadLetterRecord), result
    assert result.reason is reason, (result.reason, result.detail)
    return result


def test_valid_prediction_parses():
    """A valid prediction comes back as a PredictionEvent."""
    event = Parser(CLASSES).prediction(record(GOOD), NOW)
    assert isinstance(event, PredictionEvent)
    assert (event.id, event.prediction) == ("item-1", "fraud")


def test_invalid_json_is_dead_lettered_with_source_and_payload():
    """Broken JSON: reason invalid_json, with the source position, payload and rejection time."""
    raw = '{"id": "item-1", "features": {'
    dl = dead(Parser(CLASSES).prediction(record(raw), NOW), DeadLetterReason.INVALID_JSON)
    assert dl.kind == "prediction"
    assert (dl.source.topic, dl.source.partition, dl.source.offset) == ("predictions", 2, 41)
    assert dl.payload == raw
    assert dl.payload_truncated is False
    assert dl.rejected_at == datetime.fromtimestamp(NOW, UTC)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_feature_is_non_finite(literal):
    """NaN, infinities and overflowing numbers are non_finite, naming the feature."""
    raw = json.dumps({**GOOD, "features": {"amount": "@"}}).replace('"@"', literal)
    dl = dead(Parser(CLASSES).prediction(record(raw), NOW), DeadLetterReason.NON_FINITE)
    assert dl.detail.startswith("features.amount: ")


def test_unknown_predicted_class_is_unknown_class():
    """A prediction outside the configured classes is unknown_class, quoting the value."""
    doc = {**GOOD, "prediction": "maybe", "proba": None}
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), DeadLetterReason.UNKNOWN_CLASS)
    assert dl.detail.startswith("prediction: ")
    assert "'maybe'" in dl.detail


def test_unknown_probability_key_is_unknown_class():
    """A proba key outside the configured classes is unknown_class, listing the keys."""
    doc = {**GOOD, "proba": {"ok": 0.2, "fraud": 0.5, "spam": 0.3}}
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), DeadLetterReason.UNKNOWN_CLASS)
    assert dl.detail.startswith("proba: ")
    assert "spam" in dl.detail


def test_oversized_message_is_rejected_before_parsing():
    """A message above max_bytes is oversized, even if it is valid, with the size in detail."""
    raw = json.dumps({**GOOD, "features": {"note": "x" * 400}})
    dl = dead(
        Parser(CLASSES, max_bytes=300).prediction(record(raw), NOW), DeadLetterReason.OVERSIZED
    )
    assert str(len(raw.encode())) in dl.detail
    assert "300" in dl.detail
    assert isinstance(
        Parser(CLASSES, max_bytes=len(raw)).prediction(record(raw), NOW), PredictionEvent
    )


def test_schema_version_two_is_unsupported_version():
    """A future schema version is unsupported_version, not a generic violation."""
    doc = {**GOOD, "schema_version": 2}
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), DeadLetterReason.UNSUPPORTED_VERSION)
    assert dl.detail.startswith("schema_version: ")


@pytest.mark.parametrize("field", ["id", "event_time", "features", "prediction"])
def test_missing_field_is_schema_violation_naming_the_field(field):
    """A missing field is schema_violation with the field path in the detail."""
    doc = {k: v for k, v in GOOD.items() if k != field}
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), DeadLetterReason.SCHEMA_VIOLATION)
    assert dl.detail == f"{field}: Field required"


def test_nested_violation_names_the_nested_path_once():
    """A bad feature value is reported once at features.<name>, not once per union member."""
    doc = {**GOOD, "features": {"x": [1, 2]}}
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), DeadLetterReason.SCHEMA_VIOLATION)
    assert dl.detail.count("features.x: ") == 1
    assert ";" not in dl.detail


def test_several_violations_are_all_listed():
    """Every invalid field appears in the detail."""
    doc = {**GOOD, "event_time": "later", "cost": -1}
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), DeadLetterReason.SCHEMA_VIOLATION)
    assert "event_time: " in dl.detail
    assert "cost: " in dl.detail


def test_feature_named_like_a_type_keeps_its_name_in_the_detail():
    """A bad value of a feature called 'str' is reported at features.str."""
    doc = {**GOOD, "features": {"str": [1]}}
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), DeadLetterReason.SCHEMA_VIOLATION)
    assert dl.detail.startswith("features.str: ")


def test_empty_message_is_schema_violation():
    """A tombstone (no value) on the predictions topic is a schema violation."""
    dl = Parser(CLASSES).prediction(Record(None, b"k", "p", 0, 0), NOW)
    assert dead(dl, DeadLetterReason.SCHEMA_VIOLATION).detail == "empty message"


def test_big_payload_is_truncated_in_the_dead_letter():
    """Payloads above 4 KiB are cut to 4 KiB and flagged; smaller ones are kept whole."""
    notes = {"note": "y" * 3000, "more": "z" * 3000}
    raw = json.dumps({**GOOD, "prediction": "maybe", "features": notes})
    dl = dead(Parser(CLASSES).prediction(record(raw), NOW), DeadLetterReason.UNKNOWN_CLASS)
    assert dl.payload_truncated is True
    assert dl.payload == raw[:4096]
    small = dead(Parser(CLASSES).prediction(record(raw[:4096]), NOW), DeadLetterReason.INVALID_JSON)
    assert small.payload_truncated is False
    assert small.payload == raw[:4096]


def test_strict_parser_rejects_unknown_fields():
    """With schema.strict an unknown field is a violation naming it; lenient accepts it."""
    doc = {**GOOD, "debug": 1}
    dl = dead(
        Parser(CLASSES, strict=True).prediction(record(doc), NOW), DeadLetterReason.SCHEMA_VIOLATION
    )
    assert dl.detail.startswith("debug: ")
    assert isinstance(Parser(CLASSES).prediction(record(doc), NOW), PredictionEvent)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_FIELDS = [
    "schema_version",
    "id",
    "event_time",
    "features",
    "prediction",
    "proba",
    "cost",
    "group",
    "label",
    "labeled_at",
    "abstain",
    "confidence",
]
_PAYLOADS = st.binary(max_size=300) | st.dictionaries(
    st.sampled_from(_FIELDS), _JSON, max_size=len(_FIELDS)
).map(lambda d: json.dumps(d).encode())


@given(_PAYLOADS)
def test_any_bytes_give_an_event_or_a_valid_dead_letter(raw):
    """Arbitrary bytes never raise: the result is an event or a contract-valid dead letter."""
    for kind, result in (
        ("prediction", Parser(CLASSES).prediction(record(raw), NOW)),
        ("label", Parser(CLASSES).label(record(raw), NOW)),
    ):
        if isinstance(result, DeadLetterRecord):
            assert result.kind == kind
            assert result.detail
            DeadLetterRecord.model_validate(result.model_dump())


# --------------------------------------------------------------------------- labels


def test_valid_label_parses():
    """A valid label event comes back as a LabelEvent."""
    event = Parser(CLASSES).label(record(LABEL, topic="labels"), NOW)
    assert isinstance(event, LabelEvent)
    assert event.label == "ok"


def test_unknown_label_class_is_unknown_class():
    """A label outside the configured classes is unknown_class, kind label."""
    dl = Parser(CLASSES).label(record({**LABEL, "label": "spam"}, topic="labels"), NOW)
    dl = dead(dl, DeadLetterReason.UNKNOWN_CLASS)
    assert dl.kind == "label"
    assert "'spam'" in dl.detail
    assert dl.source.topic == "labels"


def test_abstaining_label_without_class_parses():
    """An abstention needs no label and is not checked against the classes."""
    doc = {"id": "item-1", "abstain": True, "labeled_at": "2026-01-01T00:00:00Z"}
    event = Parser(CLASSES).label(record(doc), NOW)
    assert isinstance(event, LabelEvent)
    assert event.abstain


@pytest.mark.parametrize(
    ("raw", "reason", "detail"),
    [
        ("{not json", DeadLetterReason.INVALID_JSON, ""),
        (
            json.dumps({"id": "i", "labeled_at": "2026-01-01T00:00:00Z"}),
            DeadLetterReason.SCHEMA_VIOLATION,
            "needs a label",
        ),
        (
            json.dumps({**LABEL, "labeled_at": "soon"}),
            DeadLetterReason.SCHEMA_VIOLATION,
            "labeled_at: ",
        ),
        (
            json.dumps({**LABEL, "schema_version": 2}),
            DeadLetterReason.UNSUPPORTED_VERSION,
            "schema_version: ",
        ),
        (
            json.dumps({**LABEL, "confidence": float("nan")}),
            DeadLetterReason.NON_FINITE,
            "confidence: ",
        ),
    ],
)
def test_invalid_label_reasons(raw, reason, detail):
    """Label events are classified like predictions (invalid JSON, violations, versions, NaN)."""
    dl = dead(Parser(CLASSES).label(record(raw), NOW), reason)
    assert detail in dl.detail
    assert dl.kind == "label"


def test_oversized_label_is_rejected():
    """The size limit applies to label events too."""
    raw = json.dumps({**LABEL, "labeler_id": "z" * 500})
    dead(Parser(CLASSES, max_bytes=256).label(record(raw), NOW), DeadLetterReason.OVERSIZED)


# --------------------------------------------------------------------------- hostile input


def _with_feature(literal):
    """A valid prediction whose feature ``f`` is the raw JSON ``literal``."""
    return json.dumps({**GOOD, "features": {"f": "@"}}).replace('"@"', literal)


@pytest.mark.parametrize(
    "literal",
    ["1" + "0" * 400, "-" + "9" * 401, "1e308", "-1e308", "1" + "0" * 5000, "1e13"],
)
def test_huge_numbers_are_out_of_range(literal):
    """Huge integers (even too long for the JSON parser) and +-1e308 are out_of_range."""
    dl = dead(Parser(CLASSES).prediction(record(_with_feature(literal)), NOW), R.OUT_OF_RANGE)
    assert len(dl.detail) < 300
    assert "max_abs_feature" in dl.detail or "number out of range" in dl.detail


def test_magnitude_limit_is_configurable_and_inclusive():
    """A feature exactly at the limit passes; just beyond it is out_of_range."""
    parser = Parser(CLASSES, limits=Limits(max_abs_feature=100.0))
    assert isinstance(parser.prediction(record(_with_feature("-100")), NOW), PredictionEvent)
    dead(parser.prediction(record(_with_feature("100.5")), NOW), R.OUT_OF_RANGE)


@pytest.mark.parametrize("depth", [300, 10_000])
@pytest.mark.parametrize("where", ["features", "extra"])
def test_deep_nesting_is_too_deep(depth, where):
    """10,000 nested arrays (in a feature or in an ignored field) are too_deep, not a crash."""
    nested = "[" * depth + "]" * depth
    raw = json.dumps({**GOOD, where: "@"} if where == "extra" else GOOD)
    raw = (
        raw.replace('"@"', nested)
        if where == "extra"
        else raw.replace('{"x": 1.0', f'{{"x": {nested}')
    )
    dl = dead(Parser(CLASSES).prediction(record(raw), NOW), R.TOO_DEEP)
    assert "recursion limit" in dl.detail


@pytest.mark.parametrize(
    "doc",
    [
        {**GOOD, "features": {"note": "x" * 5000}},
        {**GOOD, "features": {"n" * 5000: 1}},
        {**GOOD, "id": "i" * 513},
        {**GOOD, "group": {"region": "r" * 257}},
    ],
)
def test_huge_strings_are_too_long(doc):
    """Oversized strings (feature value or name, id, group) are too_long."""
    dl = dead(Parser(CLASSES).prediction(record(doc), NOW), R.TOO_LONG)
    assert "characters" in dl.detail


@pytest.mark.parametrize(
    ("changes", "reason", "where"),
    [
        ({"proba": {"ok": 1.5, "fraud": -0.5}}, R.OUT_OF_RANGE, "proba.ok"),
        ({"proba": {"ok": 1e308, "fraud": 0.0}}, R.OUT_OF_RANGE, "proba.ok"),
        ({"cost": 1e308}, R.OUT_OF_RANGE, "cost"),
        ({"cost": 0}, R.OUT_OF_RANGE, "cost"),
        ({"event_time": "9999-12-31T23:59:59-14:00"}, R.OUT_OF_RANGE, "event_time"),
    ],
)
def test_probabilities_cost_and_time_are_range_checked(changes, reason, where):
    """Probabilities outside [0, 1], huge or non-positive costs, far times: out_of_range."""
    dl = dead(Parser(CLASSES).prediction(record({**GOOD, **changes}), NOW), reason)
    assert dl.detail.startswith(f"{where}: ")


@pytest.mark.parametrize(
    ("field", "literal"), [("proba", '{"ok": NaN, "fraud": 0.5}'), ("cost", "Infinity")]
)
def test_non_finite_probability_and_cost_are_non_finite(field, literal):
    """NaN and Infinity tokens in proba or cost are non_finite."""
    raw = json.dumps({**GOOD, field: "@"}).replace('"@"', literal)
    dead(Parser(CLASSES).prediction(record(raw), NOW), R.NON_FINITE)


def test_label_confidence_out_of_range_is_out_of_range():
    """A label confidence above 1 is out_of_range, kind label."""
    dl = dead(Parser(CLASSES).label(record({**LABEL, "confidence": 2}), NOW), R.OUT_OF_RANGE)
    assert dl.kind == "label"


def test_parser_from_settings_uses_the_schema_section():
    """schema.max_abs_feature and schema.max_string_length reach the parser."""
    settings = Settings(
        classes=CLASSES, schema={"max_abs_feature": 5, "max_string_length": 3, "strict": True}
    )
    parser = Parser.from_settings(settings)
    assert parser.limits == Limits(5.0, 3)
    assert parser.strict
    dead(parser.prediction(record(_with_feature("6")), NOW), R.OUT_OF_RANGE)
    dead(parser.prediction(record(_with_feature('"abcd"')), NOW), R.TOO_LONG)


_HOSTILE_NUMBERS = (
    st.sampled_from(
        ["NaN", "Infinity", "-Infinity", "1e309", "-1e308", "1" + "0" * 401, "1e-400", "-0", "0.0"]
    )
    | st.integers().map(str)
    | st.floats(allow_nan=False, allow_infinity=False).map(repr)
)
_HOSTILE_VALUES = (
    _HOSTILE_NUMBERS
    | st.integers(1, 400).map(lambda d: "[" * d + "]" * d)
    | st.integers(0, 6000).map(lambda n: json.dumps("s" * n))
    | st.sampled_from(['"\\ud800"', '"\\u0000"', "true", "null", "{}", '"\u00e9"'])
)
_HOSTILE_FIELDS = st.sampled_from(["features.f", "proba.ok", "cost", "id", "event_time", "extra"])


@given(st.lists(st.tuples(_HOSTILE_FIELDS, _HOSTILE_VALUES), max_size=4))
def test_hostile_values_give_a_bounded_event_or_a_strict_json_dead_letter(changes):
    """Fuzz: hostile values anywhere give an event with finite bounded features, or a dead
    letter with a reason whose encoding is strict JSON; nothing raises."""
    doc = json.dumps({**GOOD, "proba": {"ok": 0.5, "fraud": 0.5}})
    for field, literal in changes:
        name, _, sub = field.partition(".")
        obj = json.loads(doc)
        if sub:
            obj.setdefault(name, {})[sub] = "@@"
        else:
            obj[name] = "@@"
        doc = json.dumps(obj).replace('"@@"', literal)
    for kind, result in (
        ("prediction", Parser(CLASSES).prediction(record(doc), NOW)),
        ("label", Parser(CLASSES).label(record(doc), NOW)),
    ):
        if isinstance(result, DeadLetterRecord):
            assert result.kind == kind
            assert result.reason in set(R)
            assert result.detail
            strict_loads(encode(result))
        elif isinstance(result, PredictionEvent):
            for value in result.features.values():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    assert math.isfinite(value)
                    assert abs(value) <= 1e12
            strict_loads(encode(result))


@pytest.mark.parametrize(
    ("kind", "doc"),
    [
        ("prediction", {**GOOD, "model_version": "v" * 257}),
        ("prediction", {**GOOD, "group": {"k" * 257: "EU"}}),
        ("label", {**LABEL, "labeler_id": "a" * 257}),
        ("label", {**LABEL, "labeler_role": "r" * 257}),
        ("label", {**LABEL, "label": "x" * 300}),
    ],
)
def test_free_text_fields_that_reach_evidence_or_metrics_are_bounded(kind, doc):
    """model_version, group keys, labels, labeler id and role are at most 256 characters."""
    parser = Parser(CLASSES)
    result = (
        parser.prediction(record(doc), NOW)
        if kind == "prediction"
        else parser.label(record(doc), NOW)
    )
    dead(result, R.TOO_LONG)

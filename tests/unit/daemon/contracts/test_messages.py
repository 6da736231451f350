"""Message contracts: what labelgate accepts and rejects, with errors naming the field."""

import json
import math
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from daemon.contracts.messages import (
    CONTRACTS,
    DeadLetterRecord,
    EvidenceRecord,
    LabelEvent,
    LabelRequest,
    Limits,
    PredictionEvent,
    StrictPredictionEvent,
    encode,
    encode_json,
)
from daemon.errors import EncodingError
from tests.strict_json import strict_loads

PREDICTION = {
    "schema_version": 1,
    "id": "item-1",
    "event_time": "2026-01-01T00:00:00Z",
    "features": {"x": 1.5, "n": 3, "flag": True, "region": "EU", "missing": None},
    "prediction": "fraud",
    "proba": {"ok": 0.25, "fraud": 0.75},
    "model_version": "prod-1",
    "group": {"region": "EU"},
    "cost": 2.0,
}
LABEL = {
    "schema_version": 1,
    "id": "item-1",
    "label": "fraud",
    "labeler_role": "expert",
    "labeler_id": "alice",
    "labeled_at": "2026-01-01T01:00:00+01:00",
    "confidence": 0.9,
}


_DROP = object()


def _with(base, **changes):
    doc = dict(base)
    for key, value in changes.items():
        if value is _DROP:
            doc.pop(key)
        else:
            doc[key] = value
    return doc


def _errors(model, doc=None, raw=None):
    validate = model.model_validate if raw is None else model.model_validate_json
    with pytest.raises(ValidationError) as info:
        validate(doc if raw is None else raw)
    return [(tuple(str(p) for p in e["loc"]), e["type"], e["msg"]) for e in info.value.errors()]


def _locs(errors):
    return {loc for loc, _, _ in errors}


# --------------------------------------------------------------------------- predictions


def test_valid_prediction_is_accepted_with_its_values():
    """A complete prediction validates (from dict and from JSON) and keeps every value."""
    for event in (
        PredictionEvent.model_validate(PREDICTION),
        PredictionEvent.model_validate_json(json.dumps(PREDICTION)),
    ):
        assert event.id == "item-1"
        assert event.event_time == datetime(2026, 1, 1, tzinfo=UTC)
        assert event.features == PREDICTION["features"]
        assert (event.prediction, event.proba) == ("fraud", {"ok": 0.25, "fraud": 0.75})
        assert (event.cost, event.group, event.model_version) == (2.0, {"region": "EU"}, "prod-1")


def test_minimal_prediction_gets_defaults():
    """Only id, event_time, features and prediction are required."""
    doc = {k: PREDICTION[k] for k in ("id", "event_time", "features", "prediction")}
    event = PredictionEvent.model_validate(doc)
    assert (event.schema_version, event.proba, event.cost, event.group) == (1, None, None, {})


@pytest.mark.parametrize("field", ["id", "event_time", "features", "prediction"])
def test_missing_required_field_is_named(field):
    """Leaving out a required field is a 'missing' error at exactly that field."""
    errors = _errors(PredictionEvent, _with(PREDICTION, **{field: _DROP}))
    assert errors == [((field,), "missing", "Field required")]


@pytest.mark.parametrize("value", ["", "x" * 513])
def test_id_length_is_bounded(value):
    """An empty or overlong id is rejected at ``id``."""
    assert _locs(_errors(PredictionEvent, _with(PREDICTION, id=value))) == {("id",)}


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("yesterday", "datetime_from_date_parsing"),
        ("2026-01-01T00:00:00", "timezone_aware"),
        ("2026-13-01T00:00:00Z", "datetime_from_date_parsing"),
    ],
)
def test_bad_event_time_is_named(value, kind):
    """Unparseable or timezone-naive event times are rejected at ``event_time``."""
    errors = _errors(PredictionEvent, _with(PREDICTION, event_time=value))
    assert [(loc, t) for loc, t, _ in errors] == [(("event_time",), kind)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_feature_value_is_rejected(value):
    """NaN and infinities are schema violations at ``features.<name>``."""
    errors = _errors(PredictionEvent, _with(PREDICTION, features={"x": value}))
    assert ("features", "x", "float") in _locs(errors)
    assert any(t == "finite_number" for _, t, _ in errors)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_literals_are_rejected(literal):
    """The non-standard JSON literals NaN/Infinity are rejected, not read as floats."""
    raw = json.dumps(_with(PREDICTION, features={"x": "@"})).replace('"@"', literal)
    errors = _errors(PredictionEvent, raw=raw)
    assert any(loc[:2] == ("features", "x") and t == "finite_number" for loc, t, _ in errors)


def test_non_finite_probability_literal_is_rejected():
    """``NaN`` inside proba is rejected at ``proba.<class>``."""
    raw = json.dumps(_with(PREDICTION, proba={"ok": "@", "fraud": 0.75})).replace('"@"', "NaN")
    errors = _errors(PredictionEvent, raw=raw)
    assert (("proba", "ok"), "finite_number") in {(loc, t) for loc, t, _ in errors}


def test_probabilities_must_sum_to_one():
    """Probabilities summing to 0.4 are rejected at ``proba`` with the reason."""
    errors = _errors(PredictionEvent, _with(PREDICTION, proba={"ok": 0.2, "fraud": 0.2}))
    assert len(errors) == 1
    loc, _, msg = errors[0]
    assert loc == ("proba",)
    assert "sum to 1" in msg


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6))
def test_probability_sum_tolerance_is_one_thousandth(values):
    """A probability vector is accepted exactly when its sum is within 1e-3 of 1."""
    deviation = abs(sum(values) - 1.0)
    assume(abs(deviation - 1e-3) > 1e-9)
    doc = _with(PREDICTION, proba={f"c{i}": v for i, v in enumerate(values)})
    if deviation <= 1e-3:
        PredictionEvent.model_validate(doc)
    else:
        assert _locs(_errors(PredictionEvent, doc)) == {("proba",)}


def test_probability_outside_unit_interval_is_rejected_per_class():
    """Each probability must lie in [0, 1]; the error names the offending class."""
    errors = _errors(PredictionEvent, _with(PREDICTION, proba={"ok": -0.5, "fraud": 1.5}))
    assert {(loc, t) for loc, t, _ in errors} == {
        (("proba", "ok"), "greater_than_equal"),
        (("proba", "fraud"), "less_than_equal"),
    }


def test_schema_version_two_is_rejected():
    """Only schema_version 1 is understood; 2 is a literal error at ``schema_version``."""
    errors = _errors(PredictionEvent, _with(PREDICTION, schema_version=2))
    assert [(loc, t) for loc, t, _ in errors] == [(("schema_version",), "literal_error")]


def test_non_positive_cost_is_rejected():
    """A label cost must be positive."""
    assert _locs(_errors(PredictionEvent, _with(PREDICTION, cost=0))) == {("cost",)}


def test_extra_fields_ignored_by_lenient_and_rejected_by_strict_event():
    """Unknown fields are dropped by PredictionEvent and named by StrictPredictionEvent."""
    doc = _with(PREDICTION, debug_trace="abc")
    event = PredictionEvent.model_validate(doc)
    assert "debug_trace" not in event.model_dump()
    errors = _errors(StrictPredictionEvent, doc)
    assert [(loc, t) for loc, t, _ in errors] == [(("debug_trace",), "extra_forbidden")]
    StrictPredictionEvent.model_validate(PREDICTION)


@pytest.mark.parametrize(("raw", "text"), [(1, "1"), (0, "0"), (True, "true"), (False, "false")])
def test_int_and_bool_labels_are_normalised_to_text(raw, text):
    """JSON 1 and "1" are one class: ints and bools become their text form."""
    event = PredictionEvent.model_validate(_with(PREDICTION, prediction=raw, proba=None))
    assert event.prediction == text
    label = LabelEvent.model_validate(_with(LABEL, label=raw))
    assert label.label == text


def test_events_are_immutable():
    """Validated events are frozen."""
    event = PredictionEvent.model_validate(PREDICTION)
    with pytest.raises(ValidationError):
        event.id = "other"


# --------------------------------------------------------------------------- labels


def test_valid_label_is_accepted():
    """A complete label event validates, with its timezone kept."""
    label = LabelEvent.model_validate_json(json.dumps(LABEL))
    assert (label.id, label.label, label.labeler_id, label.confidence) == (
        "item-1",
        "fraud",
        "alice",
        0.9,
    )
    assert label.labeled_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert label.abstain is False


def test_label_needs_a_label_unless_it_abstains():
    """Without a label the event is invalid, unless it abstains."""
    errors = _errors(LabelEvent, _with(LABEL, label=_DROP))
    assert len(errors) == 1
    assert "needs a label unless it abstains" in errors[0][2]
    abstained = LabelEvent.model_validate(_with(LABEL, label=_DROP, abstain=True))
    assert (abstained.label, abstained.abstain) == (None, True)


@pytest.mark.parametrize(
    ("field", "value"),
    [("labeled_at", "2026-01-01T00:00:00"), ("confidence", 1.5), ("id", ""), ("label", "")],
)
def test_invalid_label_field_is_named(field, value):
    """Naive timestamps, confidences outside [0, 1] and empty ids/labels are named."""
    assert _locs(_errors(LabelEvent, _with(LABEL, **{field: value}))) == {(field,)}


def test_label_schema_version_two_is_rejected():
    """Label events are versioned too."""
    assert _locs(_errors(LabelEvent, _with(LABEL, schema_version=2))) == {("schema_version",)}


# --------------------------------------------------------------------------- outputs


def test_output_contracts_validate_what_they_describe():
    """Request, evidence and dead-letter records validate from complete documents."""
    when = "2026-01-01T00:00:00Z"
    LabelRequest.model_validate(
        {
            "request_id": "r",
            "id": "i",
            "queue": "q",
            "role": "specialist",
            "requested_at": when,
            "deadline": when,
            "priority": 0.5,
            "reason": "uncertain",
            "event_time": when,
            "features": {"x": 1},
            "prediction": "ok",
        }
    )
    source = {"topic": "t", "partition": 0, "offset": 3}
    dead = DeadLetterRecord.model_validate(
        {
            "reason": "non_finite",
            "detail": "features.x",
            "kind": "prediction",
            "source": source,
            "rejected_at": when,
            "payload": "{}",
        }
    )
    assert dead.payload_truncated is False
    with pytest.raises(ValidationError):
        DeadLetterRecord.model_validate({**dead.model_dump(), "reason": "bogus"})
    with pytest.raises(ValidationError):
        EvidenceRecord.model_validate({"id": "i", "source": source, "query": "maybe"})


def test_contracts_registry_lists_the_five_messages():
    """CONTRACTS maps the five message names to their models."""
    assert {
        "prediction": PredictionEvent,
        "label": LabelEvent,
        "label_request": LabelRequest,
        "evidence": EvidenceRecord,
        "dead_letter": DeadLetterRecord,
    } == CONTRACTS


# --------------------------------------------------------------------------- limits and encoding


def test_feature_magnitude_limit_comes_from_the_validation_context():
    """Features above Limits.max_abs_feature are out_of_range errors; the default limit is 1e12."""
    doc = _with(PREDICTION, features={"x": 1e12, "y": -1e12})
    PredictionEvent.model_validate(doc)
    errors = _errors(PredictionEvent, _with(PREDICTION, features={"x": 1e12 * 1.0001}))
    assert [(loc, t) for loc, t, _ in errors] == [(("features",), "out_of_range")]
    assert "'x'" in errors[0][2]
    with pytest.raises(ValidationError):
        PredictionEvent.model_validate(doc, context=Limits(max_abs_feature=10.0))


def test_huge_integer_feature_is_out_of_range_without_printing_it():
    """A 401-digit integer is refused by magnitude; the message does not quote the number."""
    errors = _errors(PredictionEvent, _with(PREDICTION, features={"big": 10**400}))
    assert [t for _, t, _ in errors] == ["out_of_range"]
    assert "0000000000" not in errors[0][2]


def test_cost_is_bounded_by_the_magnitude_limit():
    """A cost hint beyond max_abs_feature is out_of_range (it would overflow the budget)."""
    errors = _errors(PredictionEvent, _with(PREDICTION, cost=1e300))
    assert [(loc, t) for loc, t, _ in errors] == [(("cost",), "out_of_range")]


def test_long_feature_strings_and_names_are_rejected():
    """String features and feature names longer than max_string_length are string_too_long."""
    limits = Limits(max_string_length=8)
    ok = _with(PREDICTION, features={"name": "x" * 8})
    PredictionEvent.model_validate(ok, context=limits)
    for features in ({"name": "x" * 9}, {"n" * 9: 1}):
        with pytest.raises(ValidationError) as info:
            PredictionEvent.model_validate(_with(PREDICTION, features=features), context=limits)
        assert [e["type"] for e in info.value.errors()] == ["string_too_long"]


@pytest.mark.parametrize("when", ["9999-12-31T00:00:00Z", "1899-12-31T23:59:59Z"])
def test_event_time_outside_the_usable_range_is_out_of_range(when):
    """Event and label times must lie in [1900, 9000): later ones overflow date arithmetic."""
    errors = _errors(PredictionEvent, _with(PREDICTION, event_time=when))
    assert [(loc, t) for loc, t, _ in errors] == [(("event_time",), "out_of_range")]
    errors = _errors(LabelEvent, _with(LABEL, labeled_at=when))
    assert [(loc, t) for loc, t, _ in errors] == [(("labeled_at",), "out_of_range")]


def _request(**changes):
    when = datetime(2026, 1, 1, tzinfo=UTC)
    fields = {
        "request_id": "r",
        "id": "i",
        "queue": "q",
        "role": "specialist",
        "requested_at": when,
        "deadline": when,
        "priority": 0.5,
        "reason": "uncertain",
        **changes,
    }
    return LabelRequest.model_construct(**fields)


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"priority": math.nan}, "priority"),
        ({"proba": {"ok": math.inf}}, "proba.ok"),
        ({"features": {"x": -math.inf}}, "features.x"),
    ],
)
def test_encode_refuses_non_finite_numbers_naming_the_field(changes, where):
    """encode() never writes NaN/Infinity: it raises EncodingError naming the field path."""
    with pytest.raises(EncodingError) as info:
        encode(_request(**changes))
    assert f"LabelRequest: non-finite number at {where}" in str(info.value)


def test_encode_keeps_the_words_nan_and_infinity_inside_strings():
    """Text that merely spells NaN or Infinity is not mistaken for a number."""
    out = encode(_request(reason="NaN", features={"note": "Infinity", "x": 1.0}))
    assert strict_loads(out)["features"] == {"note": "Infinity", "x": 1.0}


def test_encode_json_refuses_a_non_finite_score_in_evidence():
    """The hot-path serialiser for plain dicts is as strict as encode()."""
    with pytest.raises(EncodingError, match=r"evidence: non-finite number at scores\.ok"):
        encode_json({"id": "i", "scores": {"ok": math.nan}}, "evidence")
    assert strict_loads(encode_json({"scores": {"ok": 0.5}})) == {"scores": {"ok": 0.5}}


_ANY_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)


def _has_non_finite(value):
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(v) for v in value)
    return False


@given(_ANY_JSONISH)
def test_encode_json_output_is_always_strict_json(value):
    """Any data either encodes to strict JSON that reads back equal, or is refused for NaN/inf."""
    if _has_non_finite(value):
        with pytest.raises(EncodingError):
            encode_json(value)
        return
    assert strict_loads(encode_json(value)) == value

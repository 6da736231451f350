"""The fast prediction decoder: the same accept/reject decisions, reasons and values as Parser."""

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connectors.record import Record
from daemon.contracts.fast_decode import FastParser, Prediction, from_event
from daemon.contracts.messages import DeadLetterRecord, Limits, PredictionEvent
from daemon.contracts.parsing import Parser

CLASSES = ["ok", "fraud", "1", "true"]
NOW = 1_767_225_600.0
GOOD = {
    "schema_version": 1,
    "id": "item-1",
    "event_time": "2026-01-01T00:00:00+00:00",
    "features": {"x": 0.25, "n": 3, "flag": True, "region": "EU", "none": None},
    "prediction": "fraud",
    "proba": {"ok": 0.3, "fraud": 0.7},
    "model_version": "prod-1",
    "group": {"region": "EU"},
}


def record(value: bytes | None) -> Record:
    return Record(value, b"k", "predictions", 1, 7)


def assert_same(value: bytes | None, strict: bool = False, max_bytes: int = 1_000_000) -> None:
    """The reference parser and the fast one agree on ``value`` in every observable way."""
    parser = Parser(CLASSES, strict=strict, max_bytes=max_bytes)
    ref = parser.prediction(record(value), NOW)
    got = FastParser(Parser(CLASSES, strict=strict, max_bytes=max_bytes)).prediction(
        record(value), NOW
    )
    if isinstance(ref, DeadLetterRecord):
        assert isinstance(got, DeadLetterRecord), (value, got)
        assert got.model_dump() == ref.model_dump()
        return
    assert isinstance(ref, PredictionEvent)
    assert isinstance(got, Prediction), (value, got)
    expected = from_event(ref)
    for name in Prediction.__struct_fields__:
        a, b = getattr(got, name), getattr(expected, name)
        if name == "event_time":
            assert (a.timestamp(), a.utcoffset()) == (b.timestamp(), b.utcoffset())
            assert a.isoformat() == b.isoformat()
            continue
        assert a == b, (name, a, b)
        assert type(a) is type(b), (name, a, b)
    for name, v in got.features.items():
        assert type(v) is type(ref.features[name]), (name, v, ref.features[name])
    for name, v in (got.proba or {}).items():
        assert type(v) is type((ref.proba or {})[name])


def test_valid_event_is_accepted_without_pydantic():
    """A well-formed event takes the fast path (no fallback) and equals the parser's event."""
    fast = FastParser(Parser(CLASSES))
    value = json.dumps(GOOD).encode()
    got = fast.prediction(record(value), NOW)
    assert isinstance(got, Prediction)
    assert fast.fallbacks == 0
    assert_same(value)


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"{",
        b"[]",
        b'{"id": "a"}',
        json.dumps({**GOOD, "schema_version": 2}).encode(),
        json.dumps({**GOOD, "schema_version": 1.0}).encode(),
        json.dumps({**GOOD, "schema_version": True}).encode(),
        json.dumps({**GOOD, "prediction": "spam"}).encode(),
        json.dumps({**GOOD, "prediction": 1}).encode(),
        json.dumps({**GOOD, "prediction": True}).encode(),
        json.dumps({**GOOD, "prediction": ""}).encode(),
        json.dumps({**GOOD, "proba": {"ok": 0.5, "spam": 0.5}}).encode(),
        json.dumps({**GOOD, "proba": {"ok": 0.5, "fraud": 0.6}}).encode(),
        json.dumps({**GOOD, "proba": {"ok": 1, "fraud": 0}}).encode(),
        json.dumps({**GOOD, "proba": {}}).encode(),
        json.dumps({**GOOD, "proba": {"ok": -0.1, "fraud": 1.1}}).encode(),
        json.dumps({**GOOD, "features": {"x": [1]}}).encode(),
        json.dumps({**GOOD, "features": {"x": {"y": 1}}}).encode(),
        json.dumps({**GOOD, "features": {"x": 10**30}}).encode(),
        json.dumps({**GOOD, "features": {"x": "é"}}).encode(),
        b'{"id": "a", "event_time": "2026-01-01T00:00:00Z", "features": {"x": NaN},'
        b' "prediction": "ok"}',
        b'{"id": "a", "event_time": "2026-01-01T00:00:00Z", "features": {"x": 1e999},'
        b' "prediction": "ok"}',
        json.dumps({**GOOD, "event_time": "2026-01-01T00:00:00"}).encode(),
        json.dumps({**GOOD, "event_time": "2026-01-01T00:00:00.1234567Z"}).encode(),
        json.dumps({**GOOD, "event_time": "2026-01-01T00:00Z"}).encode(),
        json.dumps({**GOOD, "event_time": "2026-02-30T00:00:00Z"}).encode(),
        json.dumps({**GOOD, "event_time": "2026-01-01T00:00:00+24:00"}).encode(),
        json.dumps({**GOOD, "event_time": 1_700_000_000}).encode(),
        json.dumps({**GOOD, "id": ""}).encode(),
        json.dumps({**GOOD, "id": "x" * 513}).encode(),
        json.dumps({**GOOD, "group": {"region": "x" * 257}}).encode(),
        json.dumps({**GOOD, "group": {"region": 1}}).encode(),
        json.dumps({**GOOD, "cost": 0}).encode(),
        json.dumps({**GOOD, "cost": 2}).encode(),
        json.dumps({**GOOD, "cost": True}).encode(),
        json.dumps({**GOOD, "model_version": 3}).encode(),
        json.dumps({**GOOD, "unknown": 1}).encode(),
        b'{"id": "a", "id": "b", "event_time": "2026-01-01T00:00:00Z", "features": {},'
        b' "prediction": "ok"}',
        b"\xff\xfe",
        "\ud800".encode("utf-8", "surrogatepass"),
        json.dumps({**GOOD, "id": "\ud800"}).encode(),
        json.dumps({**GOOD, "event_time": "1899-12-31T23:59:59Z"}).encode(),
        *(
            (json.dumps(GOOD)[:-1] + ', "debug": ' + "[" * d + "]" * d + "}").encode()
            for d in (199, 200, 201, 500, 5000)
        ),
        (json.dumps(GOOD)[:-1] + ', "debug": "' + "[" * 300 + '"}').encode(),
        json.dumps({**GOOD, "event_time": "9000-01-01T00:00:00Z"}).encode(),
        json.dumps({**GOOD, "features": {"x": 1e13}}).encode(),
        json.dumps({**GOOD, "features": {"x": -(10**13)}}).encode(),
        json.dumps({**GOOD, "features": {"s": "a" * 5000}}).encode(),
        json.dumps({**GOOD, "features": {"n" * 5000: 1.0}}).encode(),
        json.dumps({**GOOD, "cost": 1e13}).encode(),
        json.dumps({**GOOD, "model_version": "m" * 300}).encode(),
        json.dumps({**GOOD, "group": {"k" * 300: "EU"}}).encode(),
    ],
)
def test_edge_cases_agree(value):
    """Rejections, coercions and unusual inputs: same outcome, reason and detail as the parser."""
    assert_same(value)
    assert_same(value, strict=True)


@pytest.mark.parametrize(
    "features", [{"x": 10.5}, {"x": 10}, {"x": -10.0}, {"s": "abcdef"}, {"abcdef": 1}, {"s": "ab"}]
)
def test_configured_limits_are_the_parsers(features):
    """Tighter schema limits (max_abs_feature, max_string_length) bind the fast path too."""
    limits = Limits(max_abs_feature=10.0, max_string_length=5)
    value = json.dumps({**GOOD, "features": features}).encode()
    ref = Parser(CLASSES, limits=limits).prediction(record(value), NOW)
    got = FastParser(Parser(CLASSES, limits=limits)).prediction(record(value), NOW)
    assert type(got) is (DeadLetterRecord if isinstance(ref, DeadLetterRecord) else Prediction)
    if isinstance(ref, DeadLetterRecord):
        assert got.model_dump() == ref.model_dump()


def test_oversized_message_agrees():
    """The size limit is the parser's."""
    value = json.dumps({**GOOD, "features": {f"f{i}": i for i in range(100)}}).encode()
    assert_same(value, max_bytes=256)


_text = st.text(
    alphabet=st.sampled_from(["a", "b", "Z", "0", "-", " ", "é", "\u2028", "\x00", "\\", '"']),
    max_size=8,
)
_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=0.0, max_value=1.0),
    _text,
)
_time = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})?\Z"),
    _text,
    st.integers(),
)
_label = st.one_of(st.sampled_from([*CLASSES, "spam", ""]), st.integers(0, 2), st.booleans())


@st.composite
def events(draw: st.DrawFn) -> object:
    """Mostly valid prediction events with a few fields changed in every possible way."""
    proba_mode = draw(st.sampled_from(["good", "none", "random", "absent"]))
    event: dict[str, object] = {
        "id": draw(st.one_of(st.just("item-1"), _text, st.text(max_size=600), st.integers())),
        "event_time": draw(_time),
        "features": draw(st.dictionaries(_text, _scalar, max_size=6)),
        "prediction": draw(_label),
    }
    if proba_mode == "good":
        p = draw(st.floats(min_value=0.0, max_value=1.0))
        event["proba"] = {"ok": p, "fraud": 1.0 - p}
    elif proba_mode == "random":
        event["proba"] = draw(st.dictionaries(st.one_of(_label.map(str), _text), _scalar))
    elif proba_mode == "none":
        event["proba"] = None
    for name, values in (
        ("schema_version", st.sampled_from([1, 2, 1.0, True, "1"])),
        ("model_version", st.one_of(st.none(), _text, st.integers())),
        ("group", st.dictionaries(_text, st.one_of(_text, st.integers()), max_size=3)),
        ("cost", st.one_of(st.none(), _scalar)),
        ("extra", _scalar),
    ):
        if draw(st.booleans()):
            event[name] = draw(values)
    if draw(st.integers(0, 9)) == 0:
        event.pop(draw(st.sampled_from(sorted(event))))
    return event


@settings(max_examples=600)
@given(events(), st.booleans())
@example({**GOOD}, False)
def test_random_events_agree(event, strict):
    """Generated events: the fast decoder agrees with the parser, accepted or rejected."""
    value = json.dumps(event, allow_nan=True).encode("utf-8", "surrogatepass")
    assert_same(value, strict=strict)


@settings(max_examples=300)
@given(st.binary(max_size=200), st.integers(0, 300))
def test_corrupted_bytes_agree(noise, cut):
    """Truncated or corrupted payloads: the same dead letter (or event) as the parser."""
    value = json.dumps(GOOD).encode()
    assert_same(value[:cut] + noise)
    assert_same(noise)


def test_batch_keeps_order_and_falls_back_per_item():
    """A batch decodes in order; a bad item does not affect its neighbours."""
    fast = FastParser(Parser(CLASSES))
    good = json.dumps(GOOD).encode()
    out = fast.predictions([record(good), record(b"{"), record(good)], NOW)
    assert [type(x) for x in out] == [Prediction, DeadLetterRecord, Prediction]
    assert fast.fallbacks == 1
    assert math.isclose(out[0].event_time.timestamp(), NOW)


@pytest.mark.parametrize(
    "value",
    [
        json.dumps({**GOOD, "id": 'say "hi"\n'}).encode(),
        json.dumps({**GOOD, "debug": {"nested": [1, 2]}}).encode(),
    ],
)
def test_escapes_and_unknown_fields_stay_fast(value):
    """Escapes other than \\u and (lenient) unknown fields need no fallback, and agree."""
    fast = FastParser(Parser(CLASSES))
    assert isinstance(fast.prediction(record(value), NOW), Prediction)
    assert fast.fallbacks == 0
    assert_same(value)
    assert_same(value, strict=True)

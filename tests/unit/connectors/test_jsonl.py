"""JSONL files as sources and sinks: line offsets, keyed logs with tombstones."""

import json

import pytest

from connectors.jsonl import JsonlSink, JsonlSource, read_keyed


def test_source_yields_lines_with_line_number_offsets(tmp_path):
    """Offsets are 0-based line numbers; blank lines are skipped but still counted."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": 2}\r\n{"a": 3}')
    source = JsonlSource(path, name="preds")
    first = source.poll(2, 0.0)
    assert [(r.value, r.offset, r.topic, r.partition) for r in first] == [
        (b'{"a": 1}', 0, "preds", 0),
        (b'{"a": 2}', 2, "preds", 0),
    ]
    assert not source.exhausted
    rest = source.poll(10, 0.0)
    assert [(r.value, r.offset) for r in rest] == [(b'{"a": 3}', 3)]
    assert source.exhausted
    assert source.poll(10, 0.0) == []
    source.close()


def test_source_resumes_from_start_line(tmp_path):
    """start skips that many lines, so a resumed replay continues where it stopped."""
    path = tmp_path / "in.jsonl"
    path.write_text("".join(f'{{"i": {i}}}\n' for i in range(5)))
    source = JsonlSource(path, start=3)
    assert [r.offset for r in source.poll(10, 0.0)] == [3, 4]
    source.store_offsets({("x", 0): 5})
    source.store_offsets({("x", 0): 4})
    assert source.committed == 5
    source.close()


def test_sink_reports_delivery_on_flush(tmp_path):
    """Delivery callbacks fire once the lines are flushed, and the lines are on disk."""
    path = tmp_path / "out" / "audit.jsonl"
    sink = JsonlSink(path)
    reports = []
    sink.send(b'{"n": 1}', None, reports.append)
    sink.send(b'{"n": 2}', b"k", reports.append)
    assert reports == []
    assert sink.flush(1.0) == 0
    assert reports == [None, None]
    assert path.read_text() == '{"n": 1}\n{"n": 2}\n'
    sink.close()


def test_unkeyed_sink_refuses_tombstones(tmp_path):
    """Only a keyed log can hold a None value."""
    sink = JsonlSink(tmp_path / "a.jsonl")
    with pytest.raises(ValueError, match="tombstone"):
        sink.send(None, b"k")
    sink.close()


def test_keyed_sink_round_trips_keys_values_and_tombstones(tmp_path):
    """read_keyed gives back the (key, value) pairs written, binary keys and tombstones too."""
    path = tmp_path / "state.jsonl"
    sink = JsonlSink(path, keyed=True)
    pairs = [(b"0/a", b'{"x": 1}'), (b"\xff\x00", b'{"y": [1, 2]}'), (b"0/a", None)]
    for key, value in pairs:
        sink.send(value, key)
    sink.sync()
    sink.close()
    back = list(read_keyed(path))
    assert [k for k, _ in back] == [k for k, _ in pairs]
    assert [None if v is None else json.loads(v) for _, v in back] == [
        {"x": 1},
        {"y": [1, 2]},
        None,
    ]


def test_read_keyed_skips_a_torn_last_line(tmp_path):
    """A half-written line after a crash is ignored; earlier lines are intact."""
    path = tmp_path / "state.jsonl"
    sink = JsonlSink(path, keyed=True)
    sink.send(b'{"v": 1}', b"k")
    sink.close()
    with path.open("ab") as fh:
        fh.write(b'{"key": "aw==", "val')
    assert list(read_keyed(path)) == [(b"k", b'{"v": 1}')]

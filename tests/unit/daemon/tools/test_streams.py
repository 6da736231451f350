"""History files as a user has them: gzip, any delimiter, chosen columns, times, shuffling."""

from __future__ import annotations

import gzip

import pytest

from daemon.tools.streams import (
    Columns,
    StreamError,
    open_stream,
    read_history,
    shuffled,
    with_classes,
)

TABLE = "age;job;sex;leak;target\n30;a;F;1;yes\n40;b;M;0;no\n50;a;F;1;yes\n"


def test_semicolon_csv_in_gzip_is_read(tmp_path):
    """A ';'-separated .csv.gz is decompressed and its delimiter guessed."""
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(TABLE.encode()))
    rows = list(read_history(path, "target"))
    assert rows[0].features == {"age": 30.0, "job": "a", "sex": "F", "leak": 1.0}
    assert [r.label for r in rows] == ["yes", "no", "yes"]


def test_a_missing_column_lists_the_columns_and_the_delimiter(tmp_path):
    """The error names the missing column, the columns found and the delimiter guessed."""
    path = tmp_path / "t.csv"
    path.write_text(TABLE)
    with pytest.raises(StreamError) as err:
        read_history(path, "label")
    text = str(err.value)
    assert "no column 'label'" in text
    assert "age, job, sex, leak, target" in text
    assert "delimiter guessed: ';'" in text


def test_drop_feature_and_group_columns(tmp_path):
    """drop removes a leaking column; features allow-lists; groups stay out unless kept."""
    path = tmp_path / "t.csv"
    path.write_text(TABLE)
    dropped = next(iter(read_history(path, columns=Columns("target", ("sex",), drop=("leak",)))))
    assert dropped.features == {"age": 30.0, "job": "a"}
    assert dropped.group == {"sex": "F"}
    kept = next(iter(read_history(path, columns=Columns("target", ("sex",), keep_groups=True))))
    assert kept.features["sex"] == "F"
    only = next(iter(read_history(path, columns=Columns("target", features=("age",)))))
    assert only.features == {"age": 30.0}


def test_jsonl_gzip_and_time_column(tmp_path):
    """Gzip JSONL with an ISO event time: the time is parsed and not a feature."""
    path = tmp_path / "h.jsonl.gz"
    lines = [
        '{"x": 1, "t": "2024-01-01T00:00:00Z", "y": "a"}',
        '{"x": 2, "t": "2024-01-01T00:00:10", "y": "b"}',
    ]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    rows = list(read_history(path, columns=Columns("y", time="t")))
    assert rows[0].features == {"x": 1}
    assert rows[1].time - rows[0].time == 10.0


def test_not_text_is_a_clear_error(tmp_path):
    """Binary garbage is a StreamError, not a UnicodeDecodeError traceback."""
    path = tmp_path / "t.csv"
    path.write_bytes(b"\xff\xfe\x00garbage\xff\n")
    with pytest.raises(StreamError):
        read_history(path, "target")


def test_whole_file_by_default_and_n_caps(tmp_path):
    """Without n every row is read; n keeps the first n."""
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(12_345)))
    assert read_history(path, "y").info.n == 12_345
    assert read_history(path, "y", n=100).info.n == 100


def test_shuffle_is_seeded_and_keeps_the_items(tmp_path):
    """shuffled() is the same permutation for a seed, another for another seed."""
    stream = open_stream("stationary", 200, 0)
    a, b, c = (list(shuffled(stream, s)) for s in (1, 1, 2))
    assert a == b
    assert a != c
    assert sorted(map(repr, a)) == sorted(map(repr, stream))


def test_configured_classes_must_cover_the_labels():
    """with_classes sets the class order; a label outside them is an error."""
    stream = open_stream("stationary", 10, 0)
    assert with_classes(stream, ["1", "0"]).info.classes == ("1", "0")
    with pytest.raises(StreamError, match="not among the configured classes"):
        with_classes(stream, ["0", "x"])


def test_subgroups_stream_has_two_attributes():
    """The built-in subgroups stream carries sex and race near their documented shares."""
    rows = list(open_stream("subgroups", 6000, 0))
    women = sum(r.group["sex"] == "F" for r in rows) / len(rows)
    black = sum(r.group["race"] == "B" for r in rows) / len(rows)
    assert women == pytest.approx(0.33, abs=0.02)
    assert black == pytest.approx(0.15, abs=0.02)

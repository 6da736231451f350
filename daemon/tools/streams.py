"""Labeled streams for backtesting: named built-in generators and labeled history files.

Every stream yields :class:`Example` values (features, label, subgroup) in a fixed order that
depends only on its seed, and describes itself with a :class:`StreamInfo`. The built-in streams
come from River's synthetic generators and its bundled datasets, so they work offline.

>>> stream = open_stream("minority-concept", n=200, seed=1)
>>> stream.info.classes, stream.info.n, stream.info.has_drift
(('0', '1'), 200, False)
>>> again = open_stream("minority-concept", n=200, seed=1)
>>> [ex.label for ex in stream] == [ex.label for ex in again]
True
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any, NamedTuple

from river import datasets

from daemon.errors import LabelgateError

Features = dict[str, Any]


class StreamError(LabelgateError):
    """A stream name is unknown or a labeled history file cannot be read."""


class Example(NamedTuple):
    """One labeled item of a stream."""

    features: Features
    label: str
    group: dict[str, str]
    time: float | None = None
    """Event time in seconds (None: the item's index is its time)."""
    id: str | None = None
    """The item's id (None: its index); per-item random draws and request ids derive from it."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """What a stream is: its classes (sorted; the last one is the positive class), length, drift."""

    name: str
    classes: tuple[str, ...]
    n: int
    has_drift: bool
    description: str = ""


@dataclass(frozen=True)
class LabeledStream:
    """A re-iterable labeled stream: every iteration yields the same examples."""

    info: StreamInfo
    _factory: Callable[[], Iterator[Example]] = field(repr=False)

    def __iter__(self) -> Iterator[Example]:
        return islice(self._factory(), self.info.n)


def _label(y: Any) -> str:
    if isinstance(y, bool):
        return "1" if y else "0"
    return str(y)


def _from_river(dataset: Iterable[tuple[dict[str, Any], Any]]) -> Iterator[Example]:
    for x, y in dataset:
        yield Example({str(k): v for k, v in x.items()}, _label(y), {})


def _hyperplane_drift(n: int, seed: int) -> Iterator[Example]:
    return _from_river(
        datasets.synth.Hyperplane(
            seed=seed,
            n_features=10,
            n_drift_features=4,
            mag_change=0.002,
            noise_percentage=0.05,
            sigma=0.1,
        )
    )


def _sea_drift(n: int, seed: int) -> Iterator[Example]:
    # Abrupt concept changes at each quarter: thresholds 8 -> 9 -> 7 -> 9.5. River's
    # ConceptDriftStream cannot do this (width 1 overflows ``math.exp`` a few hundred items before
    # the drift point), so the variants are switched here; each keeps its own seeded generator.
    quarter = max(1, n // 4)
    variants = [
        iter(datasets.synth.SEA(variant=v, noise=0.05, seed=seed + v)) for v in (0, 1, 2, 3)
    ]
    i = 0
    while True:
        x, y = next(variants[min(i // quarter, 3)])
        i += 1
        yield Example({str(k): v for k, v in x.items()}, _label(y), {})


def _agrawal_drift(n: int, seed: int) -> Iterator[Example]:
    return _from_river(
        datasets.synth.ConceptDriftStream(
            stream=datasets.synth.Agrawal(classification_function=0, seed=seed),
            drift_stream=datasets.synth.Agrawal(classification_function=2, seed=seed + 1),
            position=n // 2,
            width=max(1, n // 10),
            seed=seed,
        )
    )


def _stationary(n: int, seed: int) -> Iterator[Example]:
    return _from_river(
        datasets.synth.RandomRBF(
            seed_model=seed, seed_sample=seed + 1, n_classes=2, n_features=8, n_centroids=12
        )
    )


def _imbalanced(n: int, seed: int) -> Iterator[Example]:
    # A fixed hyperplane concept; the owned RNG picks the class first (5% positives), then the
    # generator is drawn until it yields that class, so the ratio holds without label noise bias.
    rng = random.Random(seed)
    gen = iter(
        datasets.synth.Hyperplane(
            seed=seed, n_features=8, n_drift_features=0, noise_percentage=0.0, sigma=0.0
        )
    )
    while True:
        want = rng.random() < 0.05
        for x, y in gen:
            if bool(y) is want:
                yield Example({str(k): v for k, v in x.items()}, _label(y), {})
                break


def _multiclass(n: int, seed: int) -> Iterator[Example]:
    return _from_river(
        datasets.synth.RandomRBF(
            seed_model=seed, seed_sample=seed + 1, n_classes=4, n_features=6, n_centroids=8
        )
    )


def _minority_concept(n: int, seed: int) -> Iterator[Example]:
    # 10% of items belong to a minority segment whose label depends on other features than the
    # majority's: a model fitted to the majority is confidently wrong there, which is exactly the
    # case subgroup quotas exist for.
    rng = random.Random(seed)
    while True:
        x = {f"x{i}": rng.random() for i in range(6)}
        minority = rng.random() < 0.10
        minority_rule = x["x2"] - x["x3"] + 0.5 * x["x0"] > 0.25
        positive = minority_rule if minority else x["x0"] + x["x1"] > 1.0
        if rng.random() < 0.03:
            positive = not positive
        segment = "minority" if minority else "majority"
        features: Features = {**x, "segment": segment}
        yield Example(features, "1" if positive else "0", {"segment": segment})


def _subgroups(n: int, seed: int) -> Iterator[Example]:
    # Two attributes at once, as in census data: ``sex`` (F about 33%) and ``race`` (B about 15%),
    # independent of each other. Each minority's decision boundary is shifted from the majority's
    # (and race=B's also leans on x4), so a model fitted mostly to the majority is confidently
    # wrong near the minorities' boundaries; F-and-B items follow the race=B rule.
    rng = random.Random(seed)
    while True:
        x = {f"x{i}": rng.random() for i in range(6)}
        sex = "F" if rng.random() < 0.33 else "M"
        race = "B" if rng.random() < 0.15 else "W"
        if race == "B":
            positive = x["x0"] + x["x1"] + 0.8 * (x["x4"] - 0.5) > 1.25
        elif sex == "F":
            positive = x["x0"] + x["x1"] > 0.7
        else:
            positive = x["x0"] + x["x1"] > 1.0
        if rng.random() < 0.03:
            positive = not positive
        features: Features = {**x, "sex": sex, "race": race}
        yield Example(features, "1" if positive else "0", {"sex": sex, "race": race})


def _bananas(n: int, seed: int) -> Iterator[Example]:
    bananas: Any = datasets.Bananas  # untyped constructor
    return _from_river(bananas())


def _phishing(n: int, seed: int) -> Iterator[Example]:
    return _from_river(datasets.Phishing())


@dataclass(frozen=True, slots=True)
class _Builtin:
    make: Callable[[int, int], Iterator[Example]]
    classes: tuple[str, ...]
    has_drift: bool
    description: str
    size: int | None = None  # a bundled dataset has a fixed length


BUILTINS: dict[str, _Builtin] = {
    "hyperplane-drift": _Builtin(
        _hyperplane_drift,
        ("0", "1"),
        True,
        "River Hyperplane, 10 features, 4 rotating (mag_change=0.002), 5% label noise",
    ),
    "sea-drift": _Builtin(
        _sea_drift,
        ("0", "1"),
        True,
        "River SEA, abrupt concept changes at each quarter (ConceptDriftStream, width 1)",
    ),
    "agrawal-drift": _Builtin(
        _agrawal_drift,
        ("0", "1"),
        True,
        "River Agrawal function 0 -> 2, gradual drift centred mid-stream over n/10 items",
    ),
    "stationary": _Builtin(
        _stationary, ("0", "1"), False, "River RandomRBF, 2 classes, 8 features, no drift"
    ),
    "imbalanced": _Builtin(
        _imbalanced, ("0", "1"), False, "fixed Hyperplane concept, 5% positives (class '1')"
    ),
    "multiclass": _Builtin(
        _multiclass, ("0", "1", "2", "3"), False, "River RandomRBF, 4 classes, no drift"
    ),
    "minority-concept": _Builtin(
        _minority_concept,
        ("0", "1"),
        False,
        "10% minority segment (group segment=minority) with its own concept",
    ),
    "subgroups": _Builtin(
        _subgroups,
        ("0", "1"),
        False,
        "two group attributes (sex: F 33%, race: B 15%), each minority with a shifted boundary",
    ),
    "bananas": _Builtin(
        _bananas, ("0", "1"), False, "River's bundled Bananas dataset (5,300 items)", 5300
    ),
    "phishing": _Builtin(
        _phishing, ("0", "1"), False, "River's bundled Phishing dataset (1,250 items)", 1250
    ),
}


def open_stream(name: str, n: int = 10_000, seed: int = 0) -> LabeledStream:
    """A built-in stream of ``n`` items (fewer for a bundled dataset that is shorter)."""
    try:
        spec = BUILTINS[name]
    except KeyError:
        raise StreamError(f"unknown stream {name!r}; choose from {', '.join(BUILTINS)}") from None
    if n < 1:
        raise StreamError("a stream needs at least one item")
    length = min(n, spec.size) if spec.size is not None else n
    info = StreamInfo(name, spec.classes, length, spec.has_drift, spec.description)
    return LabeledStream(info, lambda: spec.make(length, seed))


def _value(raw: str) -> Any:
    try:
        value = float(raw)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw


def _time(raw: Any, where: str) -> float:
    """Event time from epoch seconds or an ISO 8601 timestamp (UTC when no zone is given)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    text = str(raw).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise StreamError(f"{where}: time {text!r} is neither epoch seconds nor ISO 8601") from None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


@dataclass(frozen=True)
class Columns:
    """How the fields of a history file become features, label, subgroups and time.

    ``features`` (when given) is the allow-list of feature columns; ``drop`` removes columns
    (e.g. one that leaks the label); group columns are kept as features too when
    ``keep_groups``; ``time`` names the event-time column (epoch seconds or ISO 8601).
    """

    label: str = "label"
    groups: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None
    drop: tuple[str, ...] = ()
    keep_groups: bool = False
    time: str | None = None

    def split(self, row: Mapping[str, Any], where: str) -> Example:
        """One row as an example (the label column is known to be present)."""
        group = {g: str(row[g]) for g in self.groups if g in row and row[g] not in ("", None)}
        skip = {self.label, *self.drop}
        if self.time is not None:
            skip.add(self.time)
        if not self.keep_groups:
            skip.update(self.groups)
        allowed = set(self.features) if self.features is not None else None
        features = {
            k: v
            for k, v in row.items()
            if k not in skip and v not in ("", None) and (allowed is None or k in allowed)
        }
        when = _time(row[self.time], where) if self.time is not None and self.time in row else None
        return Example(features, _label(row[self.label]), group, when)

    def check(self, found: Sequence[str], where: str) -> None:
        """Every named column exists; the error lists the columns found."""
        named = [self.label, *self.groups, *(self.features or ()), *self.drop]
        if self.time is not None:
            named.append(self.time)
        missing = [c for c in dict.fromkeys(named) if c not in found]
        if missing:
            raise StreamError(
                f"{where}: no column {', '.join(map(repr, missing))}; columns found: "
                f"{', '.join(found) or '(none)'}"
            )


def _open_text(path: Path) -> IO[str]:
    """A text handle on a plain or gzip-compressed file (by magic number, not only suffix)."""
    with path.open("rb") as fh:
        magic = fh.read(2)
    if magic == b"\x1f\x8b":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _is_csv(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in (".csv", ".tsv", ".txt")


def _csv_rows(path: Path, columns: Columns) -> Iterator[Example]:
    with _open_text(path) as fh:
        sample = fh.read(65536)
        fh.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.DictReader(fh, dialect=dialect)
        found = list(reader.fieldnames or [])
        shown = {"\t": "tab"}.get(dialect.delimiter, repr(dialect.delimiter))
        try:
            columns.check(found, f"{path} (delimiter guessed: {shown})")
        except StreamError as exc:
            raise StreamError(str(exc)) from None
        for lineno, row in enumerate(reader, 2):
            yield columns.split({k: _value(v) for k, v in row.items() if k is not None},
                                f"{path}:{lineno}")  # fmt: skip


def _jsonl_rows(path: Path, columns: Columns) -> Iterator[Example]:
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise StreamError(f"{where}: not JSON: {exc}") from exc
            if not isinstance(obj, dict) or columns.label not in obj:
                found = ", ".join(map(str, obj)) if isinstance(obj, dict) else type(obj).__name__
                raise StreamError(f"{where}: no {columns.label!r} field; fields found: {found}")
            if isinstance(obj.get("features"), dict):
                # A prediction event with its label attached.
                flat = {**obj["features"], columns.label: obj[columns.label]}
                if columns.time is not None and columns.time in obj:
                    flat[columns.time] = obj[columns.time]
                ex = columns.split(flat, where)
                group = {str(k): str(v) for k, v in (obj.get("group") or {}).items()}
                yield ex._replace(group={**group, **ex.group})
            else:
                yield columns.split({k: v for k, v in obj.items() if k != "id"}, where)


def read_history(
    path: Path,
    label_column: str = "label",
    group_columns: Sequence[str] = (),
    n: int | None = None,
    *,
    columns: Columns | None = None,
) -> LabeledStream:
    """A labeled history file as a stream: JSONL (events with ``features`` or flat) or CSV.

    Either may be gzip-compressed. The CSV delimiter is guessed (``,``, ``;``, tab or ``|``);
    cells that parse as finite numbers become floats, the rest stay categorical strings. The
    whole file is read once to learn its classes; ``n`` keeps only the first ``n`` items.
    ``columns`` (default: ``label_column`` and ``group_columns``) says which fields are what.
    """
    if not path.exists():
        raise StreamError(f"no such file: {path}")
    cols = columns or Columns(label_column, tuple(group_columns))
    rows = _csv_rows(path, cols) if _is_csv(path) else _jsonl_rows(path, cols)
    try:
        examples = list(islice(rows, n))
    except UnicodeDecodeError as exc:
        raise StreamError(f"{path}: not UTF-8 text (nor gzip): {exc}") from None
    if not examples:
        raise StreamError(f"{path}: no labeled items")
    classes = tuple(sorted({ex.label for ex in examples}))
    if len(classes) < 2:
        raise StreamError(f"{path}: needs at least two classes, found {classes}")
    info = StreamInfo(path.name, classes, len(examples), False, f"labeled history {path}")
    return LabeledStream(info, lambda: iter(examples))


def shuffled(stream: LabeledStream, seed: int) -> LabeledStream:
    """The same items in an order drawn from ``seed`` (for tables whose row order means nothing).

    Event times stay with their rows, so a shuffled stream has no time order; the items' index
    is used as their time instead.
    """
    items = [ex._replace(time=None) for ex in stream]
    random.Random(seed).shuffle(items)
    return LabeledStream(stream.info, lambda: iter(items))


def with_classes(stream: LabeledStream, classes: Sequence[str]) -> LabeledStream:
    """The stream under configured classes (their order sets the positive class).

    Raises
    ------
    StreamError
        When the stream has a label outside ``classes``.
    """
    extra = sorted(set(stream.info.classes) - set(classes))
    if extra:
        raise StreamError(
            f"{stream.info.name}: labels {extra} are not among the configured classes "
            f"{list(classes)}"
        )
    return LabeledStream(replace(stream.info, classes=tuple(classes)), stream._factory)


def population_shares(stream: Iterable[Example]) -> Mapping[str, float]:
    """Share of items per ``attribute=value`` subgroup (empty when the stream has no groups)."""
    counts: dict[str, int] = {}
    total = 0
    for ex in stream:
        total += 1
        for k, v in ex.group.items():
            key = f"{k}={v}"
            counts[key] = counts.get(key, 0) + 1
    return {k: c / total for k, c in sorted(counts.items())} if total else {}

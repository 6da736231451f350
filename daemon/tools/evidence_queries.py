"""``labelgate evidence``: answers an auditor's questions from the evidence trail.

The trail is the append-only stream of :class:`~daemon.contracts.messages.EvidenceRecord`
(a JSONL file or the audit topic). Aggregation (:class:`EvidenceSummary`, :func:`trace`) is pure and
works on records; reading (:func:`parse_lines`, :func:`read_trail`) and rendering are separate,
so tests feed records directly and the command stays a thin shell around them.

Counting rules, stated once:

* items, queries, reasons, queues and subgroups come from **decision** records only (label and
  expiry records repeat the request's reason and group; counting them would double count).
* budget ``spent`` is the **largest** ``budget_spent`` of the decision records in range, ``limit``
  the last ``budget_limit``. ``budget_spent`` is the daemon's own ledger after the decision, so it
  includes escalation and re-route charges and the items' cost hints, which a sum of queue costs
  could not reconstruct from the records. An absolute budget resets every period, so with a limit
  the value is the peak spend of any period in range: compared with ``limit`` it says whether
  the cap held. Without a limit the ledger counts from the daemon's start, so the value
  includes spend before ``since``; ``decisions.queries`` is the count within the range.
* the time range is ``since <= t < until``; ``t`` is ``decided_at`` for decision records and
  ``recorded_at`` for the others. Times without a zone are read as UTC.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from daemon.contracts.messages import EvidenceKind, EvidenceRecord
from daemon.errors import ConnectorError

__all__ = [
    "CLOSED",
    "TRACE_FIELDS",
    "EvidenceSummary",
    "TimeRange",
    "Trail",
    "add_parser",
    "parse_lines",
    "parse_time",
    "read_trail",
    "record_time",
    "render_json",
    "render_summary_table",
    "render_trace_table",
    "run",
    "trace",
]

CLOSED = ("expired", "evicted", "rerouted")
"""Expiry resolutions, always present per queue so that the JSON keys are stable."""

TRACE_FIELDS = (
    "time",
    "kind",
    "query",
    "reason",
    "queue",
    "request_id",
    "probability",
    "uncertainty",
    "threshold",
    "budget_spent",
    "budget_limit",
    "label",
    "labeler_role",
    "labeler_id",
    "labels_received",
    "agreement",
    "resolution",
    "used_for",
    "detail",
    "source",
)
"""The essential fields of a record in a per-item trace, in display order."""

_MALFORMED_LINES_SHOWN = 20
_TRACE_COLUMNS = ("time", "kind", "query", "reason", "queue", "label", "resolution", "used_for")


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def record_time(record: EvidenceRecord) -> datetime:
    """The time a record is filtered and ordered by (``decided_at`` for decisions), in UTC."""
    if record.kind is EvidenceKind.DECISION and record.decided_at is not None:
        return _utc(record.decided_at)
    return _utc(record.recorded_at)


def parse_time(text: str) -> datetime:
    """An ISO-8601 time for ``--since``/``--until``; without a zone it is UTC.

    >>> parse_time("2026-01-01T00:30:00Z").isoformat()
    '2026-01-01T00:30:00+00:00'
    """
    try:
        return _utc(datetime.fromisoformat(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO-8601 time: {text!r}") from exc


@dataclass(frozen=True, slots=True)
class TimeRange:
    """The half-open range ``since <= t < until``; a missing bound is open."""

    since: datetime | None = None
    until: datetime | None = None

    def __contains__(self, record: object) -> bool:
        if not isinstance(record, EvidenceRecord):
            return False
        t = record_time(record)
        if self.since is not None and t < _utc(self.since):
            return False
        return self.until is None or t < _utc(self.until)


@dataclass(frozen=True, slots=True)
class Trail:
    """Records parsed from the trail, in trail order, and the lines that were not records.

    ``malformed_lines`` holds 1-based line (or message) numbers, the first few only;
    ``malformed`` counts all of them.
    """

    records: tuple[EvidenceRecord, ...]
    malformed: int = 0
    malformed_lines: tuple[int, ...] = ()


def parse_lines(lines: Iterable[str | bytes | None]) -> Trail:
    """Parse JSONL evidence records; blank lines are skipped, bad ones counted, never raised.

    ``None`` (a Kafka message without a value) counts as malformed.

    >>> good = '{"id": "a", "source": {"topic": "p", "partition": 0, "offset": 0},'
    >>> good += ' "recorded_at": "2026-01-01T00:00:00Z", "config_hash": "h"}'
    >>> t = parse_lines([good, "", "{not json", '{"kind": "decision"}'])
    >>> len(t.records), t.malformed, t.malformed_lines
    (1, 2, (3, 4))
    """
    records: list[EvidenceRecord] = []
    bad: list[int] = []
    malformed = 0
    for number, line in enumerate(lines, start=1):
        if line is not None and not line.strip():
            continue
        try:
            if line is None:
                raise ValueError("no value")
            records.append(EvidenceRecord.model_validate_json(line))
        except (ValidationError, ValueError):
            # ValidationError covers invalid JSON and bad UTF-8 too; ValueError the empty value.
            malformed += 1
            if len(bad) < _MALFORMED_LINES_SHOWN:
                bad.append(number)
    return Trail(tuple(records), malformed, tuple(bad))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(slots=True)
class _Subgroup:
    items: int = 0
    queries: int = 0


@dataclass(slots=True)
class _Tallies:
    items: int = 0
    queries: int = 0
    decisions_per_reason: Counter[str] = field(default_factory=Counter)
    queries_per_reason: Counter[str] = field(default_factory=Counter)
    queries_per_queue: Counter[str] = field(default_factory=Counter)
    subgroups: defaultdict[str, _Subgroup] = field(default_factory=lambda: defaultdict(_Subgroup))
    spent: float | None = None
    limit: float | None = None
    labels: int = 0
    unmatched: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    resolved: Counter[str] = field(default_factory=Counter)
    used_for: Counter[str] = field(default_factory=Counter)
    agreement: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    closed: defaultdict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    escalated: Counter[str] = field(default_factory=Counter)
    unescalated: Counter[str] = field(default_factory=Counter)
    config_hashes: set[str] = field(default_factory=set)


class EvidenceSummary:
    """Aggregates evidence records into the auditor's summary; add records, read ``as_dict``.

    Pure bookkeeping: no I/O and no clock. Records outside ``time_range`` are skipped (and
    counted as such), so a whole trail can be fed as it is read.

    Parameters
    ----------
    time_range
        Only records whose :func:`record_time` falls in it count; default: all.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from daemon.contracts.messages import EvidenceRecord, SourcePosition
    >>> at = datetime(2026, 1, 1, tzinfo=UTC)
    >>> src = SourcePosition(topic="predictions", partition=0, offset=0)
    >>> summary = EvidenceSummary()
    >>> for i, query in enumerate([True, False, False, True]):
    ...     summary.add(EvidenceRecord(
    ...         id=f"item-{i}", source=src, recorded_at=at, decided_at=at, config_hash="h",
    ...         query=query, reason="uncertain" if query else "confident",
    ...         queue="experts" if query else None, group={"region": "EU"}))
    >>> doc = summary.as_dict()
    >>> doc["decisions"]["query_rate"], doc["decisions"]["per_queue"]
    (0.5, {'experts': 2})
    >>> doc["decisions"]["per_subgroup"]["region=EU"]
    {'items': 4, 'queries': 2, 'query_rate': 0.5}
    """

    def __init__(self, time_range: TimeRange | None = None) -> None:
        self.time_range = time_range if time_range is not None else TimeRange()
        self._t = _Tallies()
        self._seen = 0
        self._in_range = 0

    def update(self, records: Iterable[EvidenceRecord]) -> EvidenceSummary:
        """Add every record; returns ``self`` so that building and reading chain."""
        for record in records:
            self.add(record)
        return self

    def add(self, record: EvidenceRecord) -> None:
        """Count one record (if it is in the time range)."""
        self._seen += 1
        if record not in self.time_range:
            return
        self._in_range += 1
        self._t.config_hashes.add(record.config_hash)
        if record.kind is EvidenceKind.DECISION:
            self._decision(record)
        elif record.kind is EvidenceKind.LABEL:
            self._label(record)
        elif record.kind is EvidenceKind.EXPIRY:
            self._t.closed[record.queue or "-"][record.resolution or "-"] += 1
        elif record.resolution == "escalated":
            # The new, escalated request names the adjudicator queue.
            self._t.escalated[record.queue or "-"] += 1
        else:
            # Not escalated (adjudicator full or no budget): the record names the source queue.
            self._t.unescalated[record.queue or "-"] += 1

    def _decision(self, record: EvidenceRecord) -> None:
        t = self._t
        reason = record.reason or "-"
        t.items += 1
        t.decisions_per_reason[reason] += 1
        for attribute, value in record.group.items():
            t.subgroups[f"{attribute}={value}"].items += 1
        if record.query:
            t.queries += 1
            t.queries_per_reason[reason] += 1
            t.queries_per_queue[record.queue or "-"] += 1
            for attribute, value in record.group.items():
                t.subgroups[f"{attribute}={value}"].queries += 1
        if record.budget_spent is not None:
            t.spent = max(record.budget_spent, t.spent or 0.0)
        if record.budget_limit is not None:
            t.limit = record.budget_limit

    def _label(self, record: EvidenceRecord) -> None:
        t = self._t
        resolution = record.resolution or "-"
        t.labels += 1
        t.outcomes[resolution] += 1
        if resolution == "unmatched":
            t.unmatched += 1
        if record.used_for is not None:
            t.resolved[resolution] += 1
            t.used_for[record.used_for] += 1
        if record.agreement is not None:
            t.agreement[record.queue or "-"].append(record.agreement)

    def as_dict(self) -> dict[str, Any]:
        """The summary as one JSON-ready document; every key is always present."""
        t = self._t
        return {
            "records": {
                "read": self._seen,
                "in_range": self._in_range,
                "config_hashes": sorted(t.config_hashes),
            },
            "decisions": {
                "items": t.items,
                "queries": t.queries,
                "query_rate": _rate(t.queries, t.items),
                "per_reason": {
                    r: {"decisions": n, "queries": t.queries_per_reason[r]}
                    for r, n in sorted(t.decisions_per_reason.items())
                },
                "per_queue": dict(sorted(t.queries_per_queue.items())),
                "per_subgroup": {
                    name: {
                        "items": g.items,
                        "queries": g.queries,
                        "query_rate": _rate(g.queries, g.items),
                    }
                    for name, g in sorted(t.subgroups.items())
                },
            },
            "budget": {
                "spent": t.spent,
                "limit": t.limit,
                "spent_basis": "max budget_spent of decision records in range",
            },
            "labels": {
                "received": t.labels,
                "unmatched": t.unmatched,
                "by_resolution": dict(sorted(t.outcomes.items())),
                "resolved": sum(t.resolved.values()),
                "resolved_by_resolution": dict(sorted(t.resolved.items())),
                "used_for": {use: t.used_for[use] for use in ("training", "evaluation")},
                "agreement_per_queue": {
                    q: {"mean": _mean(v), "labels": len(v)} for q, v in sorted(t.agreement.items())
                },
            },
            "requests": {
                "closed_per_queue": {
                    q: {**dict.fromkeys(CLOSED, 0), **dict(sorted(c.items()))}
                    for q, c in sorted(t.closed.items())
                },
                "escalations_per_queue": dict(sorted(t.escalated.items())),
                "unescalated_per_queue": dict(sorted(t.unescalated.items())),
            },
        }


def _trace_row(record: EvidenceRecord) -> dict[str, Any]:
    row: dict[str, Any] = {
        "time": record_time(record).isoformat(),
        "kind": record.kind.value,
        "source": f"{record.source.topic}/{record.source.partition}@{record.source.offset}",
    }
    if record.kind is not EvidenceKind.DECISION:
        row["query"] = None  # only a decision decides; later records carry the default
    for name in TRACE_FIELDS:
        if name not in row:
            row[name] = getattr(record, name)
    return {name: row[name] for name in TRACE_FIELDS}


def trace(records: Iterable[EvidenceRecord], item_id: str) -> list[dict[str, Any]]:
    """Every record of one item, oldest first, as rows of :data:`TRACE_FIELDS`.

    Ordered by :func:`record_time`; records with equal times keep their trail order (the
    daemon keys evidence messages by item id, so one item's records share a partition).
    """
    mine = [r for r in records if r.id == item_id]
    return [_trace_row(r) for r in sorted(mine, key=record_time)]


def render_json(document: Any) -> str:
    """One JSON document with sorted keys, so equal answers are equal text."""
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)


def _rows(document: dict[str, Any], depth: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for key, value in document.items():
        name = "  " * depth + str(key)
        if isinstance(value, dict):
            rows.append((name, "" if value else "-"))
            rows.extend(_rows(value, depth + 1))
        else:
            rows.append((name, _cell(value)))
    return rows


def render_summary_table(document: dict[str, Any]) -> str:
    """The summary (or any nested document) as aligned two-column plain text."""
    rows = _rows(document, 0)
    width = max((len(name) for name, _ in rows), default=0)
    return "".join(f"{name.ljust(width)}  {value}".rstrip() + "\n" for name, value in rows)


def render_trace_table(rows: Sequence[dict[str, Any]]) -> str:
    """A per-item trace as an aligned table; fields beyond the columns follow as ``key=value``."""
    table = [[*_TRACE_COLUMNS, "details"]]
    for row in rows:
        rest = " ".join(
            f"{k}={_cell(row[k])}"
            for k in TRACE_FIELDS
            if k not in _TRACE_COLUMNS and row[k] is not None
        )
        table.append([*(_cell(row[k]) for k in _TRACE_COLUMNS), rest])
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n"
        for line in table
    )


def read_trail(file: Path | None = None, config: Path | None = None) -> Trail:
    """Read the trail from ``file``, or from where the config says the daemon writes it.

    Raises
    ------
    ConnectorError
        The file cannot be read (or the topic, from the Kafka connector).
    ConfigError
        The config file is invalid.
    """
    if file is None:
        from daemon.config import load_settings  # noqa: PLC0415 - only --config needs settings

        settings = load_settings(config)
        if settings.source == "kafka":
            from connectors.kafka import read_topic  # noqa: PLC0415 - loads librdkafka

            messages = read_topic(settings.kafka.common(), settings.kafka.topics.audit)
            return parse_lines(value for _key, value in messages)
        file = settings.files.audit
    try:
        with file.open("rb") as lines:
            return parse_lines(lines)
    except OSError as exc:
        raise ConnectorError(f"{file}: cannot read evidence trail: {exc.strerror}") from exc


def _input(trail: Trail, time_range: TimeRange) -> dict[str, Any]:
    since, until = time_range.since, time_range.until
    return {
        "malformed": trail.malformed,
        "malformed_lines": list(trail.malformed_lines),
        "since": since.isoformat() if since is not None else None,
        "until": until.isoformat() if until is not None else None,
    }


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run ``labelgate evidence`` with parsed arguments; returns the exit code.

    The output is the summary, or with ``--item`` that item's trace (exit code 1 when the item
    has no record in range). Malformed lines are counted on stderr and, except in a trace
    table, in the output's ``input`` section.
    """
    stream = out if out is not None else sys.stdout
    trail = read_trail(args.file, args.config)
    time_range = TimeRange(args.since, args.until)
    as_json = args.format == "json"
    if args.item is not None:
        rows = trace((r for r in trail.records if r in time_range), args.item)
        if as_json:
            stream.write(
                render_json(
                    {"input": _input(trail, time_range), "item": args.item, "records": rows}
                )
            )
        else:
            stream.write(render_trace_table(rows) if rows else f"no records for {args.item!r}\n")
        code = 0 if rows else 1
    else:
        summary = EvidenceSummary(time_range).update(trail.records).as_dict()
        document = {"input": _input(trail, time_range), **summary}
        stream.write(render_json(document) if as_json else render_summary_table(document))
        code = 0
    if trail.malformed:
        sys.stderr.write(f"labelgate: {trail.malformed} malformed evidence line(s) skipped\n")
    return code


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``evidence`` subcommand on ``parser.add_subparsers()``'s result.

    The subcommand's ``func`` default is :func:`run`, as for the other subcommands.
    """
    p = subparsers.add_parser(
        "evidence", help="summarise the evidence trail, or trace one item through it"
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--file", type=Path, help="evidence trail as JSONL of evidence records")
    source.add_argument("--config", type=Path, help="YAML config: read its `audit` topic or file")
    p.add_argument("--since", type=parse_time, help="ISO-8601 start, inclusive")
    p.add_argument("--until", type=parse_time, help="ISO-8601 end, exclusive")
    p.add_argument("--item", metavar="KEY", help="trace the records of this item id")
    p.add_argument("--format", choices=("table", "json"), default="table")
    p.set_defaults(func=run)

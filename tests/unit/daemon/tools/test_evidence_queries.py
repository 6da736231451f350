"""``labelgate evidence``: the auditor's summary and per-item trace from the evidence trail."""

import argparse
import io
import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from daemon.contracts.messages import EvidenceKind, EvidenceRecord, SourcePosition
from daemon.tools.evidence_queries import (
    EvidenceSummary,
    TimeRange,
    add_parser,
    parse_lines,
    render_json,
    render_summary_table,
    trace,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
QUEUES = ("crowd", "experts")
REASONS = ("uncertain", "random", "confident", "budget_exhausted")
REGIONS = ("EU", "US", "APAC")


def _record(kind, item_id, at, offset=0, **fields):
    times = {"decided_at": at} if kind is EvidenceKind.DECISION else {}
    return EvidenceRecord(
        kind=kind,
        id=item_id,
        source=SourcePosition(topic="t", partition=0, offset=offset),
        recorded_at=at,
        config_hash="cafe",
        **times,
        **fields,
    )


def _decisions(n, seed=7):
    """Random decision records, one minute apart; a query goes to a queue."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        reason = rng.choice(REASONS)
        query = reason in {"uncertain", "random"}
        out.append(
            _record(
                EvidenceKind.DECISION,
                f"item-{i}",
                T0 + timedelta(minutes=i),
                offset=i,
                query=query,
                reason=reason,
                queue=rng.choice(QUEUES) if query else None,
                group={"region": rng.choice(REGIONS), "tier": rng.choice(("gold", "free"))},
                budget_spent=float(i),
                budget_limit=1000.0,
            )
        )
    return out


def _as_jsonl(records):
    return "".join(r.model_dump_json() + "\n" for r in records)


def _cli(argv):
    parser = argparse.ArgumentParser(prog="labelgate")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    code = args.func(args, out)
    return code, out.getvalue()


def test_summary_counts_queries_per_queue_subgroup_and_reason():
    """Decision records give items, queries and per-queue/subgroup/reason counts."""
    records = _decisions(200)
    doc = EvidenceSummary().update(records).as_dict()["decisions"]
    queried = [r for r in records if r.query]
    assert doc["items"] == 200
    assert doc["queries"] == len(queried)
    assert doc["query_rate"] == pytest.approx(len(queried) / 200)
    assert doc["per_queue"] == dict(Counter(r.queue for r in queried))
    for reason in REASONS:
        expected = {
            "decisions": sum(r.reason == reason for r in records),
            "queries": sum(r.reason == reason for r in queried),
        }
        assert doc["per_reason"][reason] == expected
    for region in REGIONS:
        group = doc["per_subgroup"][f"region={region}"]
        assert group["items"] == sum(r.group["region"] == region for r in records)
        assert group["queries"] == sum(r.group["region"] == region for r in queried)
    assert set(doc["per_subgroup"]) == {f"region={x}" for x in REGIONS} | {
        "tier=gold",
        "tier=free",
    }


def test_labels_expiries_and_escalations_are_counted_per_queue():
    """Label, expiry and escalation records fill the labels and requests sections."""
    at = T0 + timedelta(hours=1)
    label, expiry, escalation = EvidenceKind.LABEL, EvidenceKind.EXPIRY, EvidenceKind.ESCALATION
    records = [
        _record(label, "a", at, queue="crowd", resolution="awaiting", labels_received=1),
        _record(label, "a", at, queue="crowd", resolution="escalated", agreement=0.5),
        _record(escalation, "a", at, queue="judges", resolution="escalated"),
        _record(label, "a", at, queue="judges", resolution="adjudicated", used_for="training"),
        _record(label, "b", at, queue="crowd", resolution="majority", agreement=1.0),
        _record(label, "c", at, queue="crowd", resolution="first", used_for="evaluation"),
        _record(label, "z", at, resolution="unmatched"),
        _record(expiry, "d", at, queue="crowd", resolution="expired"),
        _record(expiry, "d", at, queue="experts", resolution="rerouted"),
        _record(expiry, "e", at, queue="crowd", resolution="evicted"),
        _record(escalation, "f", at, queue="crowd", resolution="conflict"),
    ]
    doc = EvidenceSummary().update(records).as_dict()
    labels, requests = doc["labels"], doc["requests"]
    label_records = [r for r in records if r.kind is label]
    assert labels["received"] == len(label_records)
    assert labels["by_resolution"] == dict(Counter(r.resolution for r in label_records))
    assert labels["unmatched"] == sum(r.resolution == "unmatched" for r in label_records)
    assert labels["resolved"] == sum(r.used_for is not None for r in label_records)
    assert labels["used_for"] == {"training": 1, "evaluation": 1}
    assert labels["resolved_by_resolution"] == {"adjudicated": 1, "first": 1}
    assert labels["agreement_per_queue"] == {"crowd": {"mean": 0.75, "labels": 2}}
    assert requests["closed_per_queue"] == {
        "crowd": {"expired": 1, "evicted": 1, "rerouted": 0},
        "experts": {"expired": 0, "evicted": 0, "rerouted": 1},
    }
    assert requests["escalations_per_queue"] == {"judges": 1}
    assert requests["unescalated_per_queue"] == {"crowd": 1}


def test_budget_spent_is_the_largest_ledger_value_and_limit_the_last():
    """Budget ``spent`` is the max ``budget_spent`` in range, ``limit`` the last limit seen."""
    spends = [3.0, 7.0, 1.0, 4.0]  # 7 then 1: a new budget period started
    records = [
        _record(EvidenceKind.DECISION, f"i{k}", T0, budget_spent=s, budget_limit=10.0 + k)
        for k, s in enumerate(spends)
    ]
    budget = EvidenceSummary().update(records).as_dict()["budget"]
    assert budget["spent"] == max(spends)
    assert budget["limit"] == 10.0 + len(spends) - 1


def test_time_range_filters_decisions_by_decided_at_and_others_by_recorded_at():
    """Only records with ``since <= t < until`` count; decisions use ``decided_at``."""
    records = _decisions(60)
    since, until = T0 + timedelta(minutes=10), T0 + timedelta(minutes=30)
    # A decision recorded late but decided in range counts; a label recorded before does not.
    late = _record(EvidenceKind.DECISION, "late", since, query=True, reason="random", queue="x")
    late = late.model_copy(update={"recorded_at": until + timedelta(days=1)})
    early = _record(EvidenceKind.LABEL, "early", since - timedelta(seconds=1), resolution="first")
    summary = EvidenceSummary(TimeRange(since, until)).update([*records, late, early]).as_dict()
    inside = [r for r in records if since <= r.decided_at < until] + [late]
    assert summary["decisions"]["items"] == len(inside) == 21
    assert summary["decisions"]["queries"] == sum(r.query for r in inside)
    assert summary["labels"]["received"] == 0
    assert summary["records"] == {"read": 62, "in_range": 21, "config_hashes": ["cafe"]}


def test_trace_lists_one_items_records_in_time_order():
    """The trace holds only that item's records, oldest first, ties in trail order."""
    at = T0 + timedelta(minutes=5)
    mine = [
        _record(EvidenceKind.DECISION, "k", at, query=True, reason="uncertain", queue="crowd"),
        _record(EvidenceKind.EXPIRY, "k", at + timedelta(days=7), resolution="expired"),
        _record(EvidenceKind.EXPIRY, "k", at + timedelta(days=7), resolution="rerouted"),
        _record(EvidenceKind.LABEL, "k", at + timedelta(days=8), label="fraud", resolution="first"),
    ]
    shuffled = [mine[3], *_decisions(5), mine[0], mine[1], mine[2]]
    rows = trace(shuffled, "k")
    assert [(r["kind"], r["resolution"]) for r in rows] == [
        (r.kind.value, r.resolution) for r in mine
    ]
    assert rows[0]["query"] is True
    assert rows[3]["query"] is None  # a label record does not decide
    assert rows[3]["label"] == "fraud"
    assert trace(shuffled, "absent") == []


def test_json_output_round_trips():
    """The JSON rendering parses back to the same document and re-renders identically."""
    doc = EvidenceSummary().update(_decisions(50)).as_dict()
    text = render_json(doc)
    assert json.loads(text) == doc
    assert render_json(json.loads(text)) == text


def test_table_output_aligns_values():
    """Every table row starts its value in the same column."""
    doc = EvidenceSummary().update(_decisions(20)).as_dict()
    lines = [line for line in render_summary_table(doc).splitlines() if "  " in line.strip()]
    columns = {len(line) - len(line.rsplit("  ", 1)[1]) for line in lines}
    assert len(columns) == 1


def test_malformed_lines_are_counted_not_raised():
    """Bad JSON, schema violations, bad UTF-8 and empty values count; blank lines do not."""
    good = _as_jsonl(_decisions(3)).splitlines()
    lines = [good[0], "{not json", "", good[1], '{"kind": "decision"}', b"\xff\xfe", None, good[2]]
    trail = parse_lines(lines)
    assert [r.id for r in trail.records] == ["item-0", "item-1", "item-2"]
    assert trail.malformed == 4
    assert trail.malformed_lines == (2, 5, 6, 7)


def test_cli_summarises_a_jsonl_file(tmp_path, capsys):
    """``evidence --file --format json`` prints the summary and reports malformed lines."""
    records = _decisions(40)
    path = tmp_path / "audit.jsonl"
    path.write_text(_as_jsonl(records[:20]) + "garbage\n" + _as_jsonl(records[20:]))
    code, out = _cli(["evidence", "--file", str(path), "--format", "json"])
    doc = json.loads(out)
    assert code == 0
    assert doc["input"]["malformed"] == 1
    assert doc["input"]["malformed_lines"] == [21]
    assert doc["decisions"]["items"] == 40
    assert doc["decisions"]["queries"] == sum(r.query for r in records)
    assert "1 malformed" in capsys.readouterr().err


def test_cli_filters_by_time_and_traces_an_item(tmp_path):
    """``--since/--until`` narrow the summary; ``--item`` prints that item's trace."""
    records = _decisions(40)
    path = tmp_path / "audit.jsonl"
    path.write_text(_as_jsonl(records))
    since, until = "2026-01-01T00:10:00Z", "2026-01-01T00:15:00"
    argv = ["evidence", "--file", str(path), "--since", since, "--until", until]
    code, out = _cli([*argv, "--format", "json"])
    assert code == 0
    assert json.loads(out)["decisions"]["items"] == 5
    code, out = _cli(["evidence", "--file", str(path), "--item", "item-3"])
    assert code == 0
    header, row = out.splitlines()
    assert header.split()[:2] == ["time", "kind"]
    assert row.split()[:2] == [(T0 + timedelta(minutes=3)).isoformat(), "decision"]
    code, out = _cli(["evidence", "--file", str(path), "--item", "nope"])
    assert code == 1


def test_cli_reads_the_audit_file_named_by_the_config(tmp_path):
    """``--config`` with ``source: file`` reads ``files.audit`` (relative to the config)."""
    (tmp_path / "audit.jsonl").write_text(_as_jsonl(_decisions(7)))
    config = tmp_path / "labelgate.yaml"
    config.write_text("classes: [a, b]\nsource: file\nfiles:\n  audit: audit.jsonl\n")
    code, out = _cli(["evidence", "--config", str(config), "--format", "json"])
    assert code == 0
    assert json.loads(out)["decisions"]["items"] == 7


def test_cli_rejects_a_time_that_is_not_iso8601(tmp_path, capsys):
    """A bad ``--since`` is an argparse usage error, not a traceback."""
    with pytest.raises(SystemExit):
        _cli(["evidence", "--file", str(tmp_path / "x"), "--since", "yesterday"])
    assert "ISO-8601" in capsys.readouterr().err

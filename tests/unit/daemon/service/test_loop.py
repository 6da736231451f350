"""The daemon loop end to end on JSONL files (no Kafka): evidence, dead letters, budget, labels,
restart. Expectations are computed from the input files, parsed independently here."""

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import pytest

from daemon.config import Settings
from daemon.contracts.evidence import expand
from daemon.contracts.messages import DeadLetterReason, EvidenceRecord
from daemon.errors import DeliveryError, StateError
from daemon.service.app import serve
from daemon.service.lifecycle import StopFlag
from daemon.tools import replay
from policies import Reason
from policies.decision import QUERY_REASONS
from tests.unit.daemon.fakes import (
    MemoryChannels,
    MemorySink,
    MemorySource,
    memory_daemon,
    prediction,
)
from tests.unit.daemon.fakes import settings as memory_settings

N = 2000
FRACTION = 0.1
WINDOW = 200
COLD_START = 10
BATCH = 500
DELAY = 600.0  # seconds of event time; items are 4 s apart, so answers come 150 items later


def _reject_constant(name):
    raise ValueError(f"non-finite literal {name}")


def classify(path, classes):
    """Split a predictions file into valid items and malformed line numbers, independently of
    the daemon's parser: strict JSON, required fields, aware timestamps, known classes."""
    valid, malformed = [], []
    for offset, line in enumerate(path.read_text().splitlines()):
        try:
            doc = json.loads(line, parse_constant=_reject_constant)
            ok = (
                isinstance(doc, dict)
                and isinstance(doc.get("id"), str)
                and isinstance(doc.get("features"), dict)
                and doc.get("prediction") in classes
                and datetime.fromisoformat(doc["event_time"]).tzinfo is not None
                and set(doc.get("proba") or {}) <= set(classes)
            )
        except (ValueError, KeyError, TypeError):
            ok = False
        if ok:
            valid.append(doc)
        else:
            malformed.append(offset)
    return valid, malformed


def read_jsonl(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def make_settings(tmp_path, predictions, out, **overrides):
    """File-mode settings: event clock, no ops server, everything under ``out``."""
    out = tmp_path / out
    doc = replay.file_settings(
        predictions,
        out,
        files={"state": tmp_path / "state.jsonl"},
        policy={
            "budget": {"fraction": FRACTION, "window": WINDOW},
            "cold_start_items": COLD_START,
        },
        kafka={"consume_batch_size": BATCH},
        state_dir=tmp_path / "state",
    )
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return Settings.model_validate(doc)


@dataclass
class Outputs:
    """A run's files: decision and label evidence, live requests, dead letters."""

    decisions: list
    label_records: list
    requests: list
    dead: list


def outputs(settings):
    f = settings.files
    # The trail in its self-contained form: every field, policy_params joined from the config.
    audit = [
        EvidenceRecord.model_validate(r).model_dump(mode="json")
        for r in expand(read_jsonl(f.audit))
    ]
    return Outputs(
        decisions=[e for e in audit if e["kind"] == "decision"],
        label_records=[e for e in audit if e["kind"] == "label"],
        requests=[r for r in read_jsonl(f.requests) if not r["withdrawn"]],
        dead=read_jsonl(f.dead_letter),
    )


def counter(daemon, name, **labels):
    return daemon.metrics.registry.get_sample_value(name, labels or None) or 0.0


def budget_bound(items):
    """Most queries a FractionBudget(f, w) allows over ``items`` unit-cost items.

    A query is allowed only while the estimate u < f*w, so u < f*w + 1 always; each item decays
    u by u/w < f + 1/w, and queries = u_end - u_start + total decay < 1 + items*(f + 1/w).
    Cold-start queries are charged to the same budget, so they are inside this bound.
    """
    return items * (FRACTION + 1.0 / WINDOW) + 1.0


def label_line(item_id, label, when="2026-01-02T00:00:00Z"):
    return json.dumps({"id": item_id, "label": label, "labeled_at": when})


@pytest.fixture(scope="module")
def expert_run(tmp_path_factory):
    """One replay of 2,000 items (with malformed lines) answered by the simulated expert."""
    tmp_path = tmp_path_factory.mktemp("expert")
    predictions, truth = replay.generate(tmp_path / "replay", n=N)
    settings = make_settings(
        tmp_path, predictions, "out", expert={"truth": truth, "delay_seconds": DELAY}
    )
    daemon = serve(settings)
    valid, malformed = classify(predictions, replay.CLASSES)
    return settings, daemon, valid, malformed, outputs(settings)


def test_every_valid_prediction_has_exactly_one_decision_record(expert_run):
    """Decision evidence ids are exactly the valid prediction ids, each once, in input order."""
    _, daemon, valid, _, out = expert_run
    assert [e["id"] for e in out.decisions] == [d["id"] for d in valid]
    assert len(valid) == N
    assert counter(daemon, "labelgate_items_total") == N


def test_every_malformed_line_is_dead_lettered_with_a_reason(expert_run):
    """Each malformed input line appears once in the dead-letter file, with its payload."""
    settings, daemon, _, malformed, out = expert_run
    lines = settings.files.predictions.read_text().splitlines()
    assert malformed, "the replay mixes in malformed lines"
    assert sorted(d["source"]["offset"] for d in out.dead) == malformed
    for d in out.dead:
        assert d["reason"] in {r.value for r in DeadLetterReason}
        assert d["detail"]
        assert (d["kind"], d["payload"]) == ("prediction", lines[d["source"]["offset"]])
    for reason, count in Counter(d["reason"] for d in out.dead).items():
        labels = {"kind": "prediction", "reason": reason}
        assert counter(daemon, "labelgate_dead_letters_total", **labels) == count


def test_label_requests_stay_within_the_budget(expert_run):
    """Requests <= items*(fraction + 1/window) + 1, and match the queried decisions one to one."""
    _, _, valid, _, out = expert_run
    queried = [e for e in out.decisions if e["query"]]
    assert len(out.requests) <= budget_bound(len(valid))
    assert len(out.requests) > COLD_START, "the policy asks beyond the cold start"
    assert [r["id"] for r in out.requests] == [e["id"] for e in queried]
    assert [r["request_id"] for r in out.requests] == [e["request_id"] for e in queried]
    assert len({r["request_id"] for r in out.requests}) == len(out.requests)
    assert out.decisions[-1]["budget_spent"] == len(out.requests)
    assert sum(e["reason"] == Reason.COLD_START for e in out.decisions) == COLD_START


def test_decision_records_are_consistent(expert_run):
    """Spend never decreases, query reasons match query flags, probabilities are in [0, 1]."""
    settings, _, _, _, out = expert_run
    spent = [e["budget_spent"] for e in out.decisions]
    assert spent == sorted(spent)
    for e in out.decisions:
        assert e["query"] == (e["reason"] in QUERY_REASONS), e
        assert 0.0 <= e["probability"] <= 1.0
        assert (e["request_id"] is not None) == e["query"]
        assert e["config_hash"] == settings.fingerprint()


def test_expert_labels_answered_before_the_end_are_learned(expert_run):
    """Model version = requests whose answer was due by the last event time; each has a record."""
    _, daemon, valid, _, out = expert_run
    end = max(datetime.fromisoformat(d["event_time"]).timestamp() for d in valid)
    due = [
        r
        for r in out.requests
        if datetime.fromisoformat(r["requested_at"]).timestamp() + DELAY <= end
    ]
    assert daemon.learner.version == len(due) > 0
    assert counter(daemon, "labelgate_labels_total", outcome="learned") == len(due)
    assert sorted(e["request_id"] for e in out.label_records) == sorted(
        r["request_id"] for r in due
    )
    versions = [e["online_model_version"] for e in out.decisions]
    assert versions == sorted(versions)
    assert 0 < versions[-1] <= daemon.learner.version


def test_label_file_answers_are_learned(tmp_path):
    """With files.labels instead of the expert, every requested item's label is learned.

    The label file starts with one batch of padding (unknown ids and malformed lines), so the
    label of item i is read one batch after item i was decided: each request finds its label,
    every other label is unmatched, and malformed label lines are dead-lettered.
    """
    predictions, truth = replay.generate(tmp_path / "replay", n=N, malformed_every=0)
    bad_labels = ["{broken", label_line("x", "7")]
    padding = [label_line(f"none-{i}", "0") for i in range(BATCH - len(bad_labels))]
    answers = [label_line(d["id"], d["label"]) for d in read_jsonl(truth)]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(padding + bad_labels + answers) + "\n")
    settings = make_settings(tmp_path, predictions, "out", files={"labels": labels})
    daemon = serve(settings)
    out = outputs(settings)
    requested = len(out.requests)
    assert len(out.decisions) == N
    assert 0 < requested <= budget_bound(N)
    assert daemon.learner.version == requested
    assert counter(daemon, "labelgate_labels_total", outcome="learned") == requested
    unmatched = (BATCH - len(bad_labels)) + (N - requested)
    assert counter(daemon, "labelgate_labels_total", outcome="unmatched") == unmatched
    assert sorted((d["kind"], d["reason"]) for d in out.dead) == [
        ("label", DeadLetterReason.INVALID_JSON.value),
        ("label", DeadLetterReason.UNKNOWN_CLASS.value),
    ]


def _halves(tmp_path):
    predictions, truth = replay.generate(tmp_path / "replay", n=N, malformed_every=0)
    lines = predictions.read_text().splitlines(keepends=True)
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(lines[: N // 2]))
    second.write_text("".join(lines[N // 2 :]))
    return first, second, truth


def test_restart_restores_budget_and_pending_requests(tmp_path):
    """A second daemon on the same state resumes the spend and learns labels for old requests.

    Run 1 has no label source, so all its requests stay pending. Run 2 reads a label file whose
    answers for run-1 items follow one batch of padding: its first decision record already
    counts run 1's pending requests and spend, and every run-1 request's label is learned.
    """
    first, second, truth = _halves(tmp_path)
    run1 = make_settings(tmp_path, first, "run1")
    daemon1 = serve(run1)
    out1 = outputs(run1)
    assert len(out1.decisions) == N // 2
    assert out1.requests
    truth_of = {d["id"]: d["label"] for d in read_jsonl(truth)}
    padding = [label_line(f"none-{i}", "0") for i in range(BATCH)]
    answers = [label_line(r["id"], truth_of[r["id"]]) for r in out1.requests]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("\n".join(padding + answers) + "\n")

    run2 = make_settings(tmp_path, second, "run2", files={"labels": labels})
    daemon2 = serve(run2)
    out2 = outputs(run2)
    assert [e["id"] for e in out2.decisions] == [d["id"] for d in read_jsonl(second)]
    last1, first2 = out1.decisions[-1], out2.decisions[0]
    assert last1["budget_spent"] <= first2["budget_spent"] <= last1["budget_spent"] + 1
    assert sum(first2["queue_state"].values()) == len(out1.requests) + int(first2["query"])
    assert daemon2.learner.version == daemon1.learner.version + len(out1.requests)
    assert counter(daemon2, "labelgate_labels_total", outcome="learned") == len(out1.requests)
    assert out2.decisions[-1]["budget_spent"] == len(out1.requests) + len(out2.requests)


def test_restart_with_simulated_expert_learns_new_answers(tmp_path):
    """After a restart, the simulated expert's answers to run-2 requests are learned."""
    first, second, truth = _halves(tmp_path)
    expert = {"truth": truth, "delay_seconds": 60.0}
    daemon1 = serve(make_settings(tmp_path, first, "run1", expert=expert))
    assert daemon1.learner.version > 0
    daemon2 = serve(make_settings(tmp_path, second, "run2", expert=expert))
    assert counter(daemon2, "labelgate_labels_total", outcome="replayed") == 0
    assert daemon2.learner.version > daemon1.learner.version


def test_restart_after_adding_a_budget_limit_does_not_crash(tmp_path):
    """State saved under another budget shape is restored or refused with StateError."""
    first, second, _ = _halves(tmp_path)
    serve(make_settings(tmp_path, first, "run1"))
    capped = {"budget": {"fraction": FRACTION, "window": WINDOW, "limit": 1000.0}}
    run2 = make_settings(tmp_path, second, "run2", policy=capped)
    try:
        serve(run2)
    except StateError:
        return
    assert len(outputs(run2).decisions) == N // 2


def test_redelivered_pending_item_is_a_duplicate(tmp_path):
    """An item seen again while its request is pending is not asked twice (reason duplicate)."""

    def item(i, item_id):
        return json.dumps(
            {
                "id": item_id,
                "event_time": f"2026-01-01T00:00:{i:02d}Z",
                "features": {"x": float(i)},
                "prediction": "1",
            }
        )

    predictions = tmp_path / "p.jsonl"
    predictions.write_text("\n".join([item(0, "a"), item(1, "b"), item(2, "a")]) + "\n")
    everything = {"budget": {"fraction": 1.0, "window": WINDOW}}
    settings = make_settings(tmp_path, predictions, "out", policy=everything)
    daemon = serve(settings)
    out = outputs(settings)
    assert [(e["id"], e["reason"]) for e in out.decisions] == [
        ("a", "cold_start"),
        ("b", "cold_start"),
        ("a", "duplicate"),
    ]
    assert [r["id"] for r in out.requests] == ["a", "b"]
    assert counter(daemon, "labelgate_decisions_total", reason="duplicate") == 1


def test_a_delivery_error_still_closes_the_consumer_and_the_sinks(tmp_path):
    """run() raises DeliveryError when an output fails, and shuts down on the way out."""
    memory = MemoryChannels(
        MemorySource([prediction(i) for i in range(3)]), audit=MemorySink("audit", fail=True)
    )
    daemon = memory_daemon(memory_settings(tmp_path), memory)
    with pytest.raises(DeliveryError, match="delivery refused"):
        daemon.run(StopFlag())
    assert memory.predictions.closed
    assert memory.labels.closed
    assert memory.audit.closed
    assert memory.requests.closed
    assert memory.predictions.commits == 0, "nothing is committed past a lost output"
    assert daemon.health.stopping


def test_a_stop_request_ends_the_loop_with_a_final_commit(tmp_path):
    """With the stop flag set, run() processes nothing more, commits once and closes."""
    memory = MemoryChannels(MemorySource([prediction(0)]))
    daemon = memory_daemon(memory_settings(tmp_path), memory)
    stop = StopFlag()
    stop.set()
    daemon.run(stop)
    assert memory.audit.sent == []
    assert memory.predictions.commits == 1
    assert memory.predictions.closed


def test_a_failed_restore_closes_the_channels_and_commits_nothing(tmp_path):
    """StateError during startup: run() re-raises after closing, without writing state."""
    memory = MemoryChannels(MemorySource([prediction(0)]))
    daemon = memory_daemon(memory_settings(tmp_path), memory)

    def broken_state(_partitions):
        raise StateError("state log entry is not valid")

    daemon.parts.channels.read_state = broken_state
    with pytest.raises(StateError):
        daemon.run(StopFlag())
    assert memory.predictions.closed
    assert memory.state.closed
    assert memory.state.sent == []
    assert memory.predictions.commits == 0


def test_a_failure_while_closing_one_expired_request_does_not_stop_the_loop(tmp_path, monkeypatch):
    """Closing an expired request raises once: logged, and the run still ends normally."""
    from daemon.labeling.intake import LabelIntake  # noqa: PLC0415

    def close(self, request, now, outcome):
        raise RuntimeError("withdrawal failed")

    monkeypatch.setattr(LabelIntake, "close", close)
    memory = MemoryChannels(MemorySource([prediction(0), prediction(100)]))
    config = memory_settings(
        tmp_path,
        queues=[{"name": "default", "ttl_seconds": 10}],
        # No periodic commit however slow the machine: only the final one is counted.
        kafka={"consume_batch_size": 1, "commit_interval_seconds": 3600},
    )
    daemon = memory_daemon(config, memory)
    daemon.run(StopFlag())
    decisions = [d["id"] for d in memory.audit.documents() if d["kind"] == "decision"]
    assert decisions == ["it-000", "it-100"]
    assert memory.predictions.commits == 1

"""The fast hot path decides exactly as the straightforward one: 50,000 items, labels flowing,
a queue filling up, malformed input; every decision, reason, probability and evidence field."""

import gc
import json
import shutil

import pytest

from daemon.config import Settings
from daemon.contracts.evidence import expand
from daemon.contracts.messages import EvidenceRecord
from daemon.service.app import build_daemon, settle_heap
from daemon.service.lifecycle import StopFlag
from daemon.tools import replay

ITEMS = 50_000


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """The bundled replay (with its malformed lines) and its ground truth."""
    return replay.generate(tmp_path_factory.mktemp("replay"), n=ITEMS, malformed_every=997)


def run(tmp_path, stream, reference, model=None):
    """One file-mode run: a simulated expert answers after 30 minutes of event time, into a
    queue of 40 that fills up (the capacity gate thins, then refuses); ``model`` settings
    when given."""
    predictions, truth = stream
    # The same paths for both runs, so both have the same configuration (and config hash).
    out = tmp_path / "run"
    if out.exists():
        shutil.rmtree(out)
    settings = Settings.model_validate(
        replay.file_settings(
            predictions,
            out,
            truth,
            1800.0,
            queues=[{"name": "default", "capacity": 40}],
            **({"model": model} if model is not None else {}),
        )
    )
    daemon = build_daemon(settings, reference=reference)
    daemon.run(StopFlag())
    lines = (out / "audit.jsonl").read_text().splitlines()
    trail = [
        EvidenceRecord.model_validate(r).model_dump(mode="json")
        for r in expand(json.loads(x) for x in lines)
    ]
    for record in trail:
        if record["kind"] == "config":
            record.pop("recorded_at")  # wall-clock time of the start
    files = {name: (out / f"{name}.jsonl").read_text() for name in ("requests", "dead-letter")}
    # The state log is written at commits, which follow the wall clock: compare what it holds
    # (the last value per key, as the compacted topic keeps it), not when it was written; the
    # model checkpoint's token counts those commits, so it is left out too.
    state = {}
    for line in (out / "state.jsonl").read_text().splitlines():
        entry = json.loads(line)
        state[entry["key"]] = entry["value"]
    for key, value in state.items():
        if value is not None and "model_checkpoint" in value:
            state[key] = {k: v for k, v in value.items() if k != "model_checkpoint"}
    files["state"] = state
    return trail, files, daemon


@pytest.fixture(scope="module")
def runs(tmp_path_factory, stream):
    tmp = tmp_path_factory.mktemp("runs")
    return run(tmp, stream, reference=True), run(tmp, stream, reference=False)


@pytest.fixture(scope="module")
def crossed_runs(tmp_path_factory):
    """The same two runs with ``model.interactions: [region]``, on a shorter replay."""
    short = replay.generate(tmp_path_factory.mktemp("short"), n=ITEMS // 4, malformed_every=997)
    tmp = tmp_path_factory.mktemp("crossed")
    model = {"interactions": ["region"]}
    return run(tmp, short, True, model), run(tmp, short, False, model), run(tmp, short, True)


def test_with_interactions_every_record_and_the_model_are_the_same(crossed_runs):
    """Crossing ``region`` with the numeric features: the batch path still decides, writes
    and learns exactly as the per-item path, and the crossing really changed the model."""
    (ref, ref_files, a), (fast, fast_files, b), (plain, _, _) = crossed_runs
    assert len(ref) == len(fast)
    for x, y in zip(ref, fast, strict=True):
        assert x == y
    assert ref_files == fast_files
    assert dict(a.learner._model.weights) == dict(b.learner._model.weights)
    assert a.learner.version > 300
    assert {"region=EU", "region=EU*x0", "region=APAC*x1"} <= set(a.learner._model.weights)
    decisions = [r for r in ref if r["kind"] == "decision"]
    assert decisions != [r for r in plain if r["kind"] == "decision"]


def test_every_evidence_record_is_the_same(runs):
    """Decision, label and expiry records agree field for field, in order."""
    (ref, _, _), (fast, _, _) = runs
    assert len(ref) == len(fast)
    for a, b in zip(ref, fast, strict=True):
        assert a == b


def test_the_run_covers_queries_labels_a_full_queue_and_dead_letters(runs):
    """The comparison is not vacuous: every interesting path was taken."""
    (ref, files, daemon), _ = runs
    reasons = {r["reason"] for r in ref if r["kind"] == "decision"}
    assert {"uncertain", "random", "below_quantile", "cold_start"} <= reasons
    assert {"queue_tight", "queue_full"} & reasons
    assert sum(r["kind"] == "label" for r in ref) > 1000
    assert sum(r["kind"] == "decision" for r in ref) == ITEMS
    assert files["dead-letter"].count("\n") == ITEMS // 997
    assert daemon.learner.version > 1000


def test_requests_dead_letters_and_state_are_identical(runs):
    """What goes to the experts and the dead-letter topic (byte for byte), and what the state
    log holds at the end, do not change."""
    (_, ref, _), (_, fast, _) = runs
    assert ref == fast


def test_the_model_ends_in_the_same_state(runs):
    """Both learners saw the same items and labels: the same weights, bit for bit."""
    (_, _, a), (_, _, b) = runs
    assert a.learner.version == b.learner.version
    assert dict(a.learner._model.weights) == dict(b.learner._model.weights)


def test_settle_heap_freezes_what_start_up_left_and_raises_the_young_threshold():
    """After start-up the heap is frozen out of the collector's way (restored afterwards)."""
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (10_000, 10, 10)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_decision_fields_carry_what_they_name(runs, stream):
    """Each field holds its own value (the record is built positionally on the hot path)."""
    (ref, _, daemon), _ = runs
    predictions, _ = stream
    inputs = {}
    for line in predictions.read_text().splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        inputs.setdefault(item.get("id"), item)
    decisions = [r for r in ref if r["kind"] == "decision"]
    spent = 0.0
    for r in decisions:
        item = inputs[r["id"]]
        assert r["production_prediction"] == item["prediction"]
        assert r["model_version"] == item["model_version"]
        assert r["group"] == item["group"]
        assert r["event_time"].startswith(item["event_time"][:19])
        if r["reason"] in {"uncertain", "confident", "below_quantile", "random"}:
            # The default strategy's utility: one minus the top probability (cold start: 1).
            assert r["uncertainty"] == pytest.approx(1.0 - max(r["scores"].values()))
        assert r["score_source"] == "online"
        assert r["policy"] == daemon.policy.id
        assert (r["queue"] is not None) == (r["request_id"] is not None) == r["query"]
        assert r["budget_spent"] >= spent
        spent = r["budget_spent"]
        assert r["queue_state"]["default"] <= 40
        assert 0 <= r["online_model_version"] <= daemon.learner.version

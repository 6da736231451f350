"""The label path without a broker: verdicts become learning, evaluation or a counted outcome."""

from __future__ import annotations

import json

from connectors.record import Record
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.intake import LabelIntake
from tests.unit.daemon.fakes import MemoryChannels, MemorySource, NoLabels, memory_daemon, settings


def label(item_id, value="1", **extra):
    doc = {"id": item_id, "label": value, "labeled_at": "2026-01-01T00:00:00Z", **extra}
    return json.dumps(doc).encode()


def request(item_id, reason="uncertain"):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue="default",
        features={"x": 1.0},
        requested_at=0.0,
        deadline=1e12,
        probability=0.5,
        reason=reason,
        prediction="0",
    )


def _path(tmp_path):
    memory = MemoryChannels(MemorySource([]))
    daemon = memory_daemon(settings(tmp_path), memory)
    daemon.parts.restorer.restore()  # file mode: the one input partition is this replica's
    return daemon.parts, memory


def _open(parts, pending):
    """An open request of input partition 0, as admission would leave it."""
    parts.queues.track(pending)
    parts.intake.partitions.opened(pending.id, 0)


def record(payload, offset):
    return Record(payload, None, "labels", 0, offset)


def outcome(parts, name):
    value = parts.metrics.registry.get_sample_value("labelgate_labels_total", {"outcome": name})
    return value or 0.0


def test_a_training_label_is_learned_and_counted(tmp_path):
    """Verdict learn: the model learns once, outcome learned, latency observed."""
    parts, _ = _path(tmp_path)
    _open(parts, request("a"))
    parts.labels.take(record(label("a"), 0))
    assert parts.model.learner.version == 1
    assert outcome(parts, "learned") == 1.0
    registry = parts.metrics.registry
    assert registry.get_sample_value("labelgate_label_latency_seconds_count") == 1.0


def test_an_audit_label_is_evaluated_never_learned(tmp_path):
    """Verdict evaluate: outcome evaluation, model unchanged."""
    parts, _ = _path(tmp_path)
    _open(parts, request("a", reason="audit"))
    parts.labels.take(record(label("a"), 0))
    assert parts.model.learner.version == 0
    assert outcome(parts, "evaluation") == 1.0


def test_a_label_the_checkpoint_covers_is_replayed_not_learned_again(tmp_path):
    """After a restart, a label before the checkpoint's position only resolves its request."""
    parts, _ = _path(tmp_path)
    parts.model.learn({"x": 1.0}, "1")
    parts.model.save({0: {0: 5}}, final=True)
    parts.model.load()
    version = parts.model.learner.version
    _open(parts, request("a"))
    parts.labels.take(record(label("a"), 3))
    assert parts.model.learner.version == version
    assert outcome(parts, "replayed") == 1.0
    assert "a" not in parts.queues


def test_unmatched_and_malformed_labels_are_counted_and_dead_lettered(tmp_path):
    """No open request: unmatched; bad JSON: a label dead letter; positions advance for both."""
    parts, memory = _path(tmp_path)
    parts.labels.take(record(label("ghost"), 0))
    parts.labels.take(record(b"{broken", 1))
    assert outcome(parts, "unmatched") == 1.0
    [letter] = memory.dead_letter.documents()
    assert (letter["kind"], letter["reason"]) == ("label", "invalid_json")
    assert parts.positions.snapshot() == {0: 2}


def test_a_failure_in_intake_dead_letters_that_label_and_goes_on(tmp_path, monkeypatch):
    """An exception while resolving one label: processing_error dead letter; next label works."""
    parts, memory = _path(tmp_path)
    original = LabelIntake.take

    def take(self, event, rec, now):
        if event.id == "boom":
            raise KeyError("lost")
        return original(self, event, rec, now)

    monkeypatch.setattr(LabelIntake, "take", take)
    _open(parts, request("a"))
    assert parts.labels.take(record(label("boom"), 0)) is None
    assert parts.labels.take(record(label("a"), 1)) is not None
    [letter] = memory.dead_letter.documents()
    assert (letter["kind"], letter["reason"], letter["detail"]) == (
        "label",
        "processing_error",
        "KeyError: 'lost'",
    )
    assert parts.model.learner.version == 1


def test_poll_reads_the_opened_source_until_it_is_empty(tmp_path):
    """poll() takes what the label source has now; close() closes it."""
    parts, _ = _path(tmp_path)
    _open(parts, request("a"))
    source = NoLabels([label("a"), label("b")])
    parts.labels.open(source)
    parts.labels.poll()
    assert outcome(parts, "learned") == 1.0
    assert outcome(parts, "unmatched") == 1.0
    parts.labels.close()
    assert source.closed


def test_a_label_is_learned_with_its_requests_group_when_interactions_are_on(tmp_path):
    """``model.interactions``: the request's group (not among its features) is crossed."""
    memory = MemoryChannels(MemorySource([]))
    config = settings(tmp_path, model={"interactions": ["region"]})
    daemon = memory_daemon(config, memory)
    daemon.parts.restorer.restore()
    parts = daemon.parts
    pending = request("a").model_copy(update={"group": {"region": "EU"}})
    _open(parts, pending)
    parts.labels.take(record(label("a"), 0))
    assert parts.model.learner.version == 1
    assert {"region=EU", "region=EU*x"} <= set(parts.model.learner._model.weights)

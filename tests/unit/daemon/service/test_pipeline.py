"""The stage pipeline without a broker: failures dead-letter one item, order and offsets hold."""

from __future__ import annotations

import pytest

from daemon.contracts.messages import DeadLetterReason
from daemon.model.batch import BatchScorer
from daemon.model.learner import Learner
from daemon.service.lifecycle import StopFlag
from daemon.service.pipeline import Decoded
from tests.unit.daemon.fakes import (
    MemoryChannels,
    MemorySource,
    memory_daemon,
    prediction,
    settings,
)


def _run(tmp_path, payloads, patch=None, **overrides):
    memory = MemoryChannels(MemorySource(payloads))
    daemon = memory_daemon(settings(tmp_path, **overrides), memory)
    if patch is not None:
        patch(daemon)
    daemon.run(StopFlag())
    return daemon, memory


def _raise_for(item_id, original):
    def wrapped(item, *args):
        if item.key == item_id:
            raise ZeroDivisionError("policy broke on this one")
        return original(item, *args)

    return wrapped


def test_a_policy_that_raises_on_one_item_dead_letters_that_item_and_goes_on(tmp_path):
    """The item whose decision raised is dead-lettered (processing_error, exception type and
    message, source position); every other item gets its decision record."""
    payloads = [prediction(i) for i in range(5)]

    def patch(daemon):
        policy = daemon.parts.policy
        policy.decide = _raise_for("it-002", policy.decide)

    daemon, memory = _run(tmp_path, payloads, patch)
    [letter] = memory.dead_letter.documents()
    assert letter["reason"] == DeadLetterReason.PROCESSING_ERROR.value == "processing_error"
    assert letter["detail"] == "ZeroDivisionError: policy broke on this one"
    assert letter["source"] == {"topic": "predictions", "partition": 0, "offset": 2}
    assert letter["kind"] == "prediction"
    assert letter["payload"] == payloads[2].decode()
    decisions = [d["id"] for d in memory.audit.documents() if d["kind"] == "decision"]
    assert decisions == ["it-000", "it-001", "it-003", "it-004"]
    labels = {"kind": "prediction", "reason": "processing_error"}
    registry = daemon.metrics.registry
    assert registry.get_sample_value("labelgate_dead_letters_total", labels) == 1.0
    # The failed item still counts as processed: the offset moves past it.
    assert memory.predictions.stored == {("predictions", 0): 5}


def test_a_learner_that_raises_on_one_item_dead_letters_that_item(tmp_path, monkeypatch):
    """A scoring failure is contained the same way as a decision failure."""
    payloads = [prediction(i) for i in range(4)]
    original = Learner.score

    def score(self, features, group=None):
        if features["x"] == 1.0:
            raise ValueError("bad features")
        return original(self, features, group)

    def batch_score(self, learner, batch, groups=None):
        # The batch scorer meets the same bad item; the stage then scores item by item.
        if any(features["x"] == 1.0 for features in batch):
            raise ValueError("bad features")
        return [learner.score(x) for x in batch]

    monkeypatch.setattr(Learner, "score", score)
    monkeypatch.setattr(BatchScorer, "score", batch_score)
    _, memory = _run(tmp_path, payloads)
    [letter] = memory.dead_letter.documents()
    assert (letter["reason"], letter["detail"]) == ("processing_error", "ValueError: bad features")
    assert letter["source"]["offset"] == 1
    decisions = [d["id"] for d in memory.audit.documents() if d["kind"] == "decision"]
    assert decisions == ["it-000", "it-002", "it-003"]


def test_dead_letters_and_decisions_keep_record_order_and_offsets_advance(tmp_path):
    """A malformed record between valid ones is dead-lettered in place; offsets pass all."""
    payloads = [prediction(0), b"{not json", prediction(2)]
    _, memory = _run(tmp_path, payloads)
    assert [d["source"]["offset"] for d in memory.dead_letter.documents()] == [1]
    offsets = [d["source"]["offset"] for d in memory.audit.documents() if d["kind"] == "decision"]
    assert offsets == [0, 2]
    assert memory.predictions.stored == {("predictions", 0): 3}


def test_each_decision_sees_the_spend_of_the_one_before_it_in_the_batch(tmp_path):
    """Decide and admit run item by item: budget_spent in the evidence rises within a batch."""
    payloads = [prediction(i) for i in range(4)]
    _, memory = _run(tmp_path, payloads, kafka={"consume_batch_size": 10})
    spent = [d["budget_spent"] for d in memory.audit.documents() if d["kind"] == "decision"]
    assert spent == [1.0, 2.0, 3.0, 4.0]


def test_values_between_stages_are_frozen(tmp_path):
    """A stage cannot change the value it was handed."""
    daemon = memory_daemon(settings(tmp_path), MemoryChannels(MemorySource([prediction(0)])))
    [decoded] = daemon.parts.pipeline.decode(daemon.parts.channels.predictions.poll(1, 0))
    assert isinstance(decoded, Decoded)
    with pytest.raises(AttributeError):  # frozen structs refuse assignment
        decoded.now = 0.0  # type: ignore[misc]

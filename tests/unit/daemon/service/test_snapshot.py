"""Status assembly: one snapshot from budget, queues, model, lag and feedback."""

from __future__ import annotations

import math

from daemon.contracts.pending_request import PendingRequest
from tests.unit.daemon.fakes import MemoryChannels, MemorySource, memory_daemon, settings


def test_the_snapshot_reports_budget_queues_model_and_items(tmp_path):
    """Queue depth and capacity, budget spend, model version and items come from their owners."""
    config = settings(
        tmp_path,
        queues=[{"name": "a", "capacity": 3, "ttl_seconds": 60}, {"name": "b"}],
        routing={"default": ["a"]},
    )
    parts = memory_daemon(config, MemoryChannels(MemorySource([]))).parts
    parts.queues.track(
        PendingRequest(
            id="x",
            request_id="r",
            queue="a",
            features={},
            requested_at=0.0,
            deadline=60.0,
            probability=1.0,
            reason="uncertain",
        )
    )
    status = parts.reporter.assemble()
    assert (status.pending, status.pending_capacity) == (1, 3 + 10_000)
    assert (status.queues["a"].outstanding, status.queues["a"].capacity) == (1, 3)
    assert status.queues["a"].ttl_seconds == 60
    assert (status.model_version, status.items, status.last_commit) == (0, 0, None)
    assert status.policy == parts.policy.id
    assert status.budget_fraction_target == config.policy.budget.fraction


def test_feedback_statistics_refresh_only_when_due(tmp_path):
    """refresh_feedback(mono) recomputes after refresh_seconds; without mono it always does."""
    parts = memory_daemon(settings(tmp_path), MemoryChannels(MemorySource([]))).parts
    reporter = parts.reporter
    first = reporter.assemble().feedback
    reporter.refresh_feedback(reporter.refresh_seconds + 1.0)
    second = reporter.assemble().feedback
    assert second is not first
    reporter.refresh_feedback(reporter.refresh_seconds + 1.5)
    assert reporter.assemble().feedback is second
    reporter.refresh_feedback()
    assert reporter.assemble().feedback is not second


def test_a_model_rolled_back_after_non_finite_scores_shows_in_the_metrics(tmp_path):
    """The learner's non-finite detections and recoveries reach the snapshot and Prometheus."""
    config = settings(tmp_path)
    parts = memory_daemon(config, MemoryChannels(MemorySource([]))).parts
    learner = parts.model.learner
    learner.learn({"x": 1.0}, config.classes[0])
    learner._model._weights["x"] = float("nan")  # what an overflowing update leaves behind
    scores = learner.score({"x": 2.0})
    assert all(math.isfinite(v) for v in scores.values())  # finite again: rolled back or reset
    status = parts.reporter.assemble()
    assert (status.model_nonfinite_scores, status.model_recoveries) == (1, 1)
    parts.metrics.watch(lambda: status, lambda: 0.0, lambda: True)
    registry = parts.metrics.registry
    assert registry.get_sample_value("labelgate_model_nonfinite_scores_total") == 1
    assert registry.get_sample_value("labelgate_model_recoveries_total") == 1


def test_items_beyond_the_crossed_values_cap_show_in_the_metrics(tmp_path):
    """Items whose crossed attribute's value came after ``model.interaction_values`` others
    reach the snapshot and Prometheus as labelgate_model_uncrossed_items."""
    config = settings(tmp_path)
    config = config.model_copy(
        update={"model": config.model.model_copy(
            update={"interactions": ("user",), "interaction_values": 2}
        )}
    )  # fmt: skip
    parts = memory_daemon(config, MemoryChannels(MemorySource([]))).parts
    learner = parts.model.learner
    for user in ["a", "b", "c", "d", "a"]:
        learner.score({"x": 1.0}, {"user": user})
    status = parts.reporter.assemble()
    assert status.model_uncrossed_items == 2
    parts.metrics.watch(lambda: status, lambda: 0.0, lambda: True)
    registry = parts.metrics.registry
    assert registry.get_sample_value("labelgate_model_uncrossed_items_total") == 2


def test_the_event_clock_is_exported_only_once_it_has_seen_an_event(tmp_path):
    """Before the first item an event clock reads 0: not exported, so a per-clock-second burn
    rate (increase(charged) / delta(clock)) never spans a jump from 0 to the stream's time."""
    daemon = memory_daemon(settings(tmp_path), MemoryChannels(MemorySource([])))
    parts = daemon.parts
    parts.metrics.watch(parts.reporter.assemble, lambda: 0.0, lambda: True)
    registry = parts.metrics.registry
    assert parts.reporter.assemble().clock is None
    assert registry.get_sample_value("labelgate_clock_timestamp_seconds") is None
    parts.reporter.clock.observe(1.7e9)
    assert parts.reporter.assemble().clock == 1.7e9
    assert registry.get_sample_value("labelgate_clock_timestamp_seconds") == 1.7e9

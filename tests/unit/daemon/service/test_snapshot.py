"""Status assembly: one snapshot from budget, queues, model, lag and feedback."""

from __future__ import annotations

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

"""Metrics on an injected registry: hot-path counters and status gauges at scrape time."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from daemon.monitoring.metrics import Metrics
from daemon.monitoring.status import QueueStatus, Status


def test_status_gauges_are_read_from_the_latest_snapshot_at_scrape_time():
    """watch(): each scrape reads the current snapshot; per-queue gauges carry the queue label."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    current = {"status": Status(budget_spent=3.0, queues={"q": QueueStatus(2, 5, 1.0, 60.0)})}
    metrics.watch(lambda: current["status"], lambda: 0.5, lambda: True)
    assert registry.get_sample_value("labelgate_budget_spent") == 3.0
    assert registry.get_sample_value("labelgate_queue_outstanding_requests", {"queue": "q"}) == 2
    assert registry.get_sample_value("labelgate_ready") == 1.0
    current["status"] = Status(budget_spent=4.0)
    assert registry.get_sample_value("labelgate_budget_spent") == 4.0
    assert registry.get_sample_value("labelgate_budget_limit") is None


def test_counters_end_in_total_and_count_by_bounded_labels():
    """Decisions by reason and dead letters by kind and reason."""
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    metrics.decisions.labels("uncertain").inc()
    metrics.dead_letters.labels("prediction", "processing_error").inc(2)
    assert registry.get_sample_value("labelgate_decisions_total", {"reason": "uncertain"}) == 1
    labels = {"kind": "prediction", "reason": "processing_error"}
    assert registry.get_sample_value("labelgate_dead_letters_total", labels) == 2

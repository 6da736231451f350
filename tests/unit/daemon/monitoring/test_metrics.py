"""Metric families: the batch histogram behaves like prometheus-client's."""

import random

from prometheus_client import CollectorRegistry, Histogram

from daemon.monitoring.metrics import BatchHistogram


def test_batch_histogram_matches_prometheus_histogram():
    """Observed as a batch, the buckets, count and sum equal prometheus-client's histogram's."""
    bounds = (0.001, 0.002, 0.01, 0.1)
    values = [random.Random(3).choice([0.0, 0.001, 0.0015, 0.002, 0.05, 1.0]) for _ in range(5)]
    values += [random.Random(i).expovariate(100.0) for i in range(500)]
    a, b = CollectorRegistry(), CollectorRegistry()
    BatchHistogram("x_seconds", "x", bounds, a).observe_many(values)
    reference = Histogram("x_seconds", "x", buckets=bounds, registry=b)
    for v in values:
        reference.observe(v)
    for le in ("0.001", "0.002", "0.01", "0.1", "+Inf"):
        labels = {"le": le}
        assert a.get_sample_value("x_seconds_bucket", labels) == b.get_sample_value(
            "x_seconds_bucket", labels
        )
    assert a.get_sample_value("x_seconds_count") == b.get_sample_value("x_seconds_count")
    assert abs(a.get_sample_value("x_seconds_sum") - b.get_sample_value("x_seconds_sum")) < 1e-9

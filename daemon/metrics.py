"""Prometheus metrics, prefix ``labelgate_``, on an injected registry.

Counters and histograms are updated on the hot path; state that is simply read (budget left,
pending requests, lag) is exposed by a collector at scrape time from the latest :class:`Status`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from daemon.status import Status

_LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)


class _StatusCollector(Collector):
    def __init__(
        self,
        status: Callable[[], Status],
        heartbeat_age: Callable[[], float],
        ready: Callable[[], bool],
    ) -> None:
        self._status = status
        self._heartbeat_age = heartbeat_age
        self._ready = ready

    def collect(self) -> Iterator[GaugeMetricFamily]:
        s = self._status()

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            return GaugeMetricFamily(f"labelgate_{name}", doc, value=value)

        yield gauge(
            "budget_spent", "Label budget spent in the current period (cost units).", s.budget_spent
        )
        if s.budget_limit is not None:
            yield gauge(
                "budget_limit", "Absolute label budget per period (cost units).", s.budget_limit
            )
            yield gauge(
                "budget_remaining",
                "Label budget left in the current period.",
                s.budget_remaining or 0.0,
            )
        yield gauge(
            "budget_exhausted",
            "1 when the absolute budget of the period is used up.",
            1.0 if s.exhausted else 0.0,
        )
        yield gauge(
            "budget_fraction_target",
            "Configured share of the stream to query.",
            s.budget_fraction_target,
        )
        if s.budget_fraction_estimate is not None:
            yield gauge(
                "budget_fraction_estimate",
                "Estimated share of recent items queried (sliding window).",
                s.budget_fraction_estimate,
            )
        if s.period_end is not None:
            yield gauge(
                "budget_period_end_timestamp_seconds",
                "End of the current budget period.",
                s.period_end,
            )
        yield gauge("pending_requests", "Label requests awaiting an answer.", s.pending)
        yield gauge("pending_capacity", "Maximum outstanding label requests.", s.pending_capacity)
        yield gauge(
            "pending_oldest_age_seconds",
            "Age of the oldest outstanding request.",
            s.oldest_pending_age_seconds,
        )
        yield gauge(
            "model_labels_learned",
            "Labels the online model has learned (its version).",
            s.model_version,
        )
        yield gauge(
            "heartbeat_age_seconds", "Seconds since the poll loop last ran.", self._heartbeat_age()
        )
        yield gauge(
            "ready",
            "1 when partitions are assigned and state is restored.",
            1.0 if self._ready() else 0.0,
        )
        lag = GaugeMetricFamily(
            "labelgate_consumer_lag",
            "Messages behind the end of the topic.",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(s.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag


class Metrics:
    """All of labelgate's metric families on one registry.

    >>> from prometheus_client import CollectorRegistry
    >>> m = Metrics(CollectorRegistry())
    >>> m.items.inc(); m.registry.get_sample_value("labelgate_items_total")
    1.0
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.items = Counter("labelgate_items", "Valid predictions processed.", registry=registry)
        self.decisions = Counter(
            "labelgate_decisions", "Decisions by reason.", ["reason"], registry=registry
        )
        self.queries = Counter(
            "labelgate_queries", "Label requests sent, by queue.", ["queue"], registry=registry
        )
        self.dead_letters = Counter(
            "labelgate_dead_letters",
            "Rejected inputs by kind and reason.",
            ["kind", "reason"],
            registry=registry,
        )
        self.labels = Counter(
            "labelgate_labels", "Label events by outcome.", ["outcome"], registry=registry
        )
        self.expired = Counter(
            "labelgate_requests_expired",
            "Requests that expired unanswered.",
            ["queue"],
            registry=registry,
        )
        self.commits = Counter("labelgate_commits", "Offset commits made.", registry=registry)
        self.decision_latency = Histogram(
            "labelgate_decision_latency_seconds",
            "Parse-to-decision time per item.",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.label_latency = Histogram(
            "labelgate_label_latency_seconds",
            "Request-to-label time (by the daemon's clock).",
            buckets=(60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400, 7 * 86400),
            registry=registry,
        )

    def watch(
        self,
        status: Callable[[], Status],
        heartbeat_age: Callable[[], float],
        ready: Callable[[], bool],
    ) -> None:
        """Expose state read at scrape time."""
        self.registry.register(_StatusCollector(status, heartbeat_age, ready))

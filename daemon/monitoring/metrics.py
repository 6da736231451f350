"""Prometheus metrics, prefix ``labelgate_``, on an injected registry.

Counters and histograms are updated on the hot path; state that is simply read (budget left,
pending requests, lag) is exposed by a collector at scrape time from the latest :class:`Status`.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from daemon.monitoring.status import QueueStatus, Status

_LATENCY_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0015,
    0.002,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.5,
)


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

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        s = self._status()
        scalars: list[tuple[str, str, float | None]] = [
            (
                "budget_spent",
                "Label budget spent in the current period (cost units).",
                s.budget_spent,
            ),
            ("budget_limit", "Absolute label budget per period (cost units).", s.budget_limit),
            ("budget_remaining", "Label budget left in the current period.", s.budget_remaining),
            (
                "budget_exhausted",
                "1 when the absolute budget of the period is used up.",
                1.0 if s.exhausted else 0.0,
            ),
            (
                "budget_fraction_target",
                "Configured share of the stream to query.",
                s.budget_fraction_target,
            ),
            (
                "budget_fraction_estimate",
                "Estimated share of recent items queried.",
                s.budget_fraction_estimate,
            ),
            (
                "budget_period_start_timestamp_seconds",
                "Start of the current budget period.",
                s.period_start,
            ),
            (
                "budget_period_end_timestamp_seconds",
                "End of the current budget period.",
                s.period_end,
            ),
            (
                "clock_timestamp_seconds",
                "The daemon's clock (event time with clock=event): budget periods run on it.",
                s.clock,
            ),
            (
                "model_labels_learned",
                "Labels the online model has learned (its version).",
                s.model_version,
            ),
            ("last_commit_timestamp_seconds", "When offsets were last committed.", s.last_commit),
            (
                "budget_burn_rate",
                "Cost units charged per second over the trailing window.",
                s.burn_rate,
            ),
            (
                "budget_exhaustion_forecast_seconds",
                "Seconds until the period's budget runs out at the current burn rate.",
                s.exhaustion_forecast_seconds,
            ),
            (
                "effective_sample_size",
                "Kish effective sample size of the IPW-weighted labels.",
                s.feedback.effective_sample_size,
            ),
            (
                "heartbeat_age_seconds",
                "Seconds since the poll loop last ran.",
                self._heartbeat_age(),
            ),
            (
                "ready",
                "1 when state is restored and the consumer has joined its group.",
                1.0 if self._ready() else 0.0,
            ),
        ]
        for name, doc, value in scalars:
            if value is not None:
                yield GaugeMetricFamily(f"labelgate_{name}", doc, value=value)
        yield CounterMetricFamily(
            "labelgate_model_nonfinite_scores",
            "Items whose online-model scores came out non-finite (each rolled the model back).",
            value=s.model_nonfinite_scores,
        )
        yield CounterMetricFamily(
            "labelgate_model_recoveries",
            "Times the online model was rolled back to its last healthy snapshot (or reset).",
            value=s.model_recoveries,
        )
        yield CounterMetricFamily(
            "labelgate_model_uncrossed_items",
            "Items scored or learned without a crossed attribute's interactions: their value "
            "came after model.interaction_values others.",
            value=s.model_uncrossed_items,
        )

        per_queue: list[tuple[str, str, Callable[[QueueStatus], float | None]]] = [
            (
                "queue_outstanding_requests",
                "Label requests awaiting an answer.",
                lambda q: q.outstanding,
            ),
            ("queue_capacity", "Maximum outstanding requests of a queue.", lambda q: q.capacity),
            (
                "queue_oldest_request_age_seconds",
                "Age of the oldest outstanding request.",
                lambda q: q.oldest_age_seconds,
            ),
            (
                "label_agreement_ratio",
                "Mean agreement among overlapping labels (recent resolved items).",
                lambda q: q.agreement,
            ),
            (
                "queue_request_ttl_seconds",
                "How long a request may wait before it expires.",
                lambda q: q.ttl_seconds,
            ),
        ]
        for name, doc, read in per_queue:
            family = GaugeMetricFamily(f"labelgate_{name}", doc, labels=["queue"])
            for queue, q in sorted(s.queues.items()):
                value = read(q)
                if value is not None:
                    family.add_metric([queue], value)
            yield family

        yield from _feedback_families(s)

        lag = GaugeMetricFamily(
            "labelgate_consumer_lag",
            "Messages behind the end of the topic.",
            labels=["topic", "partition"],
        )
        for (topic, partition), value in sorted(s.lag.items()):
            lag.add_metric([topic, str(partition)], value)
        yield lag


def _feedback_families(s: Status) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
    f = s.feedback
    sub = ["attribute", "group"]
    items = CounterMetricFamily("labelgate_subgroup_items", "Items seen per subgroup.", labels=sub)
    queries = CounterMetricFamily(
        "labelgate_subgroup_queries", "Label requests per subgroup.", labels=sub
    )
    for (attribute, group), n in sorted(f.subgroup_items_total.items()):
        items.add_metric([attribute, group], n)
        queries.add_metric([attribute, group], f.subgroup_queries_total.get((attribute, group), 0))
    yield from (items, queries)
    population = GaugeMetricFamily(
        "labelgate_subgroup_population_share", "Share of recent items in the subgroup.", labels=sub
    )
    queried = GaugeMetricFamily(
        "labelgate_subgroup_queried_share", "Share of recent queries in the subgroup.", labels=sub
    )
    ratio = GaugeMetricFamily(
        "labelgate_subgroup_representation_ratio",
        "Queried share / population share (1 = proportional).",
        labels=sub,
    )
    for share in f.subgroups:
        key = [share.attribute, share.group]
        population.add_metric(key, share.population_share)
        queried.add_metric(key, share.queried_share)
        if share.representation_ratio is not None:
            ratio.add_metric(key, share.representation_ratio)
    yield from (population, queried, ratio)
    disparity = GaugeMetricFamily(
        "labelgate_subgroup_selection_rate_disparity",
        "Max / min selection rate across an attribute's groups.",
        labels=["attribute"],
    )
    for attribute, value in sorted(f.disparity.items()):
        disparity.add_metric([attribute], value)
    yield disparity
    psi = GaugeMetricFamily(
        "labelgate_labeled_shift_psi",
        "PSI between the labeled items and the stream.",
        labels=["feature"],
    )
    js = GaugeMetricFamily(
        "labelgate_labeled_shift_jensen_shannon",
        "Jensen-Shannon distance between the labeled items and the stream.",
        labels=["feature"],
    )
    for feature, (p, j) in sorted(f.shift.items()):
        psi.add_metric([feature], p)
        js.add_metric([feature], j)
    yield from (psi, js)
    detections = CounterMetricFamily(
        "labelgate_drift_detections", "ADWIN drift detections.", labels=["signal"]
    )
    for signal, n in sorted(f.drift_detections.items()):
        detections.add_metric([signal], n)
    yield detections
    error = GaugeMetricFamily(
        "labelgate_error_rate",
        "Production model error: audit slice, IPW-weighted, naive.",
        labels=["estimator"],
    )
    calibration = GaugeMetricFamily(
        "labelgate_calibration_error",
        "Expected calibration error of the production model.",
        labels=["estimator"],
    )
    for name, est in sorted(f.estimates.items()):
        error.add_metric([name], est.error_rate)
        if est.calibration_error is not None:
            calibration.add_metric([name], est.calibration_error)
    yield from (error, calibration)
    updates = CounterMetricFamily(
        "labelgate_model_updates", "Model updates by oracle kind.", labels=["oracle"]
    )
    for oracle, n in sorted(f.model_updates.items()):
        updates.add_metric([oracle], n)
    yield updates


def _le(bound: float) -> str:
    """A bucket bound as prometheus-client writes it ("0.001", "1.0", "+Inf")."""
    return "+Inf" if bound == float("inf") else repr(bound)


class BatchHistogram(Collector):
    """A histogram that takes a whole batch of observations under one lock.

    ``prometheus_client.Histogram.observe`` takes a lock and walks the buckets for every value,
    about a microsecond each; on the hot path the latencies of a batch are observed together
    (:meth:`observe_many`) and exposed as an ordinary histogram at scrape time.

    >>> from prometheus_client import CollectorRegistry
    >>> registry = CollectorRegistry()
    >>> h = BatchHistogram("demo_seconds", "Demo.", (0.1, 1.0), registry)
    >>> h.observe_many([0.05, 0.5, 5.0])
    >>> registry.get_sample_value("demo_seconds_bucket", {"le": "1.0"})
    2.0
    """

    def __init__(
        self, name: str, documentation: str, buckets: Iterable[float], registry: CollectorRegistry
    ) -> None:
        self.name = name
        self.documentation = documentation
        self._bounds = sorted(float(b) for b in buckets)
        self._counts = [0] * (len(self._bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()
        registry.register(self)

    def observe(self, value: float) -> None:
        """One observation."""
        self.observe_many((value,))

    def observe_many(self, values: Iterable[float]) -> None:
        """Several observations at once (e.g. the latencies of one batch)."""
        bounds, counts = self._bounds, self._counts
        total = 0.0
        with self._lock:
            for value in values:
                counts[bisect_left(bounds, value)] += 1
                total += value
            self._sum += total

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts = list(self._counts)
            total = self._sum
        cumulative = 0
        buckets = []
        for bound, count in zip([*self._bounds, float("inf")], counts, strict=True):
            cumulative += count
            buckets.append((_le(bound), float(cumulative)))
        yield HistogramMetricFamily(self.name, self.documentation, buckets=buckets, sum_value=total)


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
        self.budget_charged = Counter(
            "labelgate_budget_charged",
            "Cost units charged to the budget (rate() = burn rate).",
            registry=registry,
        )
        self.decision_latency = BatchHistogram(
            "labelgate_decision_latency_seconds",
            "Time from an item's batch arriving in the process to its evidence being handed on.",
            _LATENCY_BUCKETS,
            registry,
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

"""The bridge's own Prometheus metrics (prefix ``labelgate_bridge_``), on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 86400)


class BridgeMetrics:
    """Tasks created and withdrawn, answers forwarded, dead letters, errors, lag, liveness of
    Label Studio. Label values come from small closed sets (never ids)."""

    def __init__(self, registry: CollectorRegistry, queue: str) -> None:
        self.registry = registry
        self.queue = queue
        labels = ["queue"]
        self.tasks_created = Counter(
            "labelgate_bridge_tasks_created_total",
            "Label Studio tasks created, one per label request.",
            labels,
            registry=registry,
        ).labels(queue)
        self.tasks_duplicate = Counter(
            "labelgate_bridge_requests_duplicate_total",
            "Replayed label requests whose task already existed (no second task).",
            labels,
            registry=registry,
        ).labels(queue)
        self._withdrawn = Counter(
            "labelgate_bridge_tasks_withdrawn_total",
            "Tasks removed because their request was withdrawn (expired, evicted, ...).",
            [*labels, "reason"],
            registry=registry,
        )
        self._forwarded = Counter(
            "labelgate_bridge_annotations_forwarded_total",
            "Annotations sent on as label events, by kind (label, abstain, update).",
            [*labels, "kind"],
            registry=registry,
        )
        self.annotations_deleted = Counter(
            "labelgate_bridge_annotations_deleted_total",
            "Annotations deleted in Label Studio after they were handled (not retracted).",
            labels,
            registry=registry,
        ).labels(queue)
        self._dead_letters = Counter(
            "labelgate_bridge_dead_letters_total",
            "Answers or requests the bridge could not use, by reason.",
            [*labels, "reason"],
            registry=registry,
        )
        self.webhooks = Counter(
            "labelgate_bridge_webhooks_received_total",
            "Webhook calls from Label Studio handled by the loop.",
            labels,
            registry=registry,
        ).labels(queue)
        self._errors = Counter(
            "labelgate_bridge_errors_total",
            "Failed Label Studio or Kafka operations (retried later), by operation.",
            [*labels, "operation"],
            registry=registry,
        )
        self.label_studio_up = Gauge(
            "labelgate_bridge_label_studio_up",
            "1 when the last Label Studio call succeeded.",
            labels,
            registry=registry,
        ).labels(queue)
        self.open_tasks = Gauge(
            "labelgate_bridge_tasks_open",
            "Tasks of the project that hold a labelgate request.",
            labels,
            registry=registry,
        ).labels(queue)
        self.request_lag = Gauge(
            "labelgate_bridge_requests_lag",
            "Label requests not yet turned into tasks (consumer lag, messages).",
            labels,
            registry=registry,
        ).labels(queue)
        self.answer_lag = Histogram(
            "labelgate_bridge_answer_lag_seconds",
            "From an annotation's submission in Label Studio to its label event on Kafka.",
            labels,
            buckets=_LAG_BUCKETS,
            registry=registry,
        ).labels(queue)
        self.last_poll = Gauge(
            "labelgate_bridge_last_catch_up_timestamp_seconds",
            "When the last catch-up poll of annotations completed.",
            labels,
            registry=registry,
        ).labels(queue)

    def withdrawn(self, reason: str) -> None:
        """A task removed for a withdrawn request."""
        self._withdrawn.labels(self.queue, reason if reason in _REASONS else "other").inc()

    def forwarded(self, kind: str) -> None:
        """An annotation forwarded (label, abstain or update)."""
        self._forwarded.labels(self.queue, kind).inc()

    def dead_letter(self, reason: str) -> None:
        """An answer or request dead-lettered."""
        self._dead_letters.labels(self.queue, reason).inc()

    def error(self, operation: str) -> None:
        """A failed operation that will be retried."""
        self._errors.labels(self.queue, operation).inc()


_REASONS = frozenset({"expired", "evicted", "withdrawn", "replaced", "rerouted", "skipped"})

"""The processing loop: poll, parse, score, decide, emit, store offsets, commit when due."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import structlog
from pydantic import BaseModel
from river import compose

from connectors.record import Record
from daemon.burn import BurnRate, seconds_to_exhaustion
from daemon.clock import Clock
from daemon.config import ScoreSource, Settings
from daemon.errors import DeliveryError
from daemon.feedback import FeedbackMonitor, FeedbackSnapshot
from daemon.health import Health
from daemon.learner import Learner
from daemon.lifecycle import StopFlag
from daemon.messages import (
    DeadLetterRecord,
    EvidenceRecord,
    LabelEvent,
    LabelRequest,
    PredictionEvent,
    SourcePosition,
)
from daemon.metrics import Metrics
from daemon.offsets import OffsetTracker
from daemon.parsing import Parser
from daemon.pending import PendingRequest, PendingStore
from daemon.state import PolicyState, StateLog
from daemon.status import QueueStatus, Status
from daemon.wiring import Channels
from policies import Decision, ItemView, Policy, Reason

log = structlog.get_logger("labelgate.loop")

_LAG_INTERVAL = 5.0


def _json(model: BaseModel) -> bytes:
    return model.__pydantic_serializer__.to_json(model)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class Daemon:
    """One labelgate instance: wires a policy, a learner and the channels into a loop.

    Nothing happens in the constructor; :meth:`restore` reads durable state and :meth:`run`
    processes until asked to stop (or until a finite source is exhausted).
    """

    def __init__(
        self,
        settings: Settings,
        channels: Channels,
        policy: Policy,
        learner: Learner,
        metrics: Metrics,
        health: Health,
        clock: Clock,
        on_tick: Callable[[Status], None] | None = None,
    ) -> None:
        self.settings = settings
        self.channels = channels
        self.policy = policy
        self.learner = learner
        self.metrics = metrics
        self.health = health
        self.clock = clock
        self.on_tick = on_tick
        self.parser = Parser(
            settings.classes, settings.schema_.strict, settings.schema_.max_message_bytes
        )
        self.pending = PendingStore(settings.pending.capacity)
        self.tracker = OffsetTracker()
        self.state_log = StateLog(channels.state, settings.instance_id)
        self.config_hash = settings.fingerprint()
        self.checkpoint_path = settings.state_dir / f"model-{settings.instance_id}.pkl"
        self._online_scores = settings.model.score_source is ScoreSource.ONLINE
        self._queue = settings.pending.queue
        self._ttl = settings.pending.ttl_seconds
        self._batch = settings.kafka.consume_batch_size
        self._poll_timeout = settings.kafka.poll_timeout_seconds
        self._label_positions: dict[int, int] = {}
        self._model_offsets: dict[int, int] = {}
        self._model_dirty = False
        self._labels: Any = None
        self._last_commit = time.monotonic()
        self._last_commit_wall: float | None = None
        self._last_lag = 0.0
        self._lag: dict[tuple[str, int], int] = {}
        self._items = 0
        self._status = Status(pending_capacity=settings.pending.capacity)
        mon = settings.monitoring
        self.feedback = FeedbackMonitor(
            window=mon.window,
            top_k=mon.subgroup_top_k,
            attributes=mon.subgroup_attributes,
            shift_features=mon.shift_features,
            shift_bins=mon.shift_bins,
            shift_warmup=mon.shift_warmup,
            drift_delta=mon.drift_delta,
            audit_reasons=frozenset(mon.audit_reasons),
            non_human_roles=frozenset(mon.non_human_roles),
        )
        self.burn = BurnRate(mon.burn_window_seconds)
        self._feedback = FeedbackSnapshot()
        self._last_feedback = 0.0
        self._decisions = {r: metrics.decisions.labels(r.value) for r in Reason}
        self._queries = metrics.queries.labels(self._queue)

    # ------------------------------------------------------------------ lifecycle
    @property
    def status(self) -> Status:
        """The latest snapshot (safe to read from another thread)."""
        return self._status

    def restore(self) -> None:
        """Rebuild budget, outstanding requests and the model from durable sources."""
        restored = self.state_log.restore(self.channels.read_state())
        self.pending.restore(restored.pending)
        state_offsets: dict[int, int] = {}
        if restored.policy is not None:
            self.policy.load_state(restored.policy.policy)
            state_offsets = {int(p): o for p, o in restored.policy.label_offsets.items()}
        checkpoint = Learner.load(self.checkpoint_path)
        if checkpoint is not None:
            self.learner, extra = checkpoint
            self._model_offsets = {int(p): o for p, o in extra["label_offsets"].items()}
            # Labels between the state's and the model's positions only resolve requests; the
            # model has already learned them.
            start = {p: min(o, self._model_offsets.get(p, o)) for p, o in state_offsets.items()}
            for p, o in self._model_offsets.items():
                start.setdefault(p, o)
        else:
            if restored.policy is not None:
                log.warning("model_checkpoint_missing", path=str(self.checkpoint_path))
            start = state_offsets
        self._label_positions = dict(start)
        self._labels = self.channels.open_labels(start)
        self.health.restored = True
        log.info(
            "state_restored",
            pending=len(self.pending),
            model_version=self.learner.version,
            label_offsets=start,
            budget_spent=self.policy.snapshot(self.clock.now()).spent,
        )
        self._refresh_status()

    def run(self, stop: StopFlag) -> None:
        """Process until ``stop`` is set or a finite source is exhausted, then shut down cleanly."""
        if self._labels is None:
            self.restore()
        predictions = self.channels.predictions
        with compose.learn_during_predict():
            while not stop.is_set:
                self.health.beat()
                self._poll_labels()
                records = predictions.poll(self._batch, self._poll_timeout)
                for record in records:
                    self._on_prediction(record)
                self._tick(time.monotonic())
                if predictions.exhausted and not records:
                    break
        self.shutdown()

    def shutdown(self) -> None:
        """Stop consuming; deliver, checkpoint, commit; close. Bounded by the grace period."""
        self.health.stopping = True
        self._feedback = self.feedback.snapshot()
        deadline = time.monotonic() + self.settings.shutdown_grace_seconds
        try:
            self._commit(deadline, final=True)
            self._refresh_status()
        finally:
            if self._labels is not None:
                self._labels.close()
            self.channels.close(max(0.0, deadline - time.monotonic()))
        log.info(
            "stopped",
            items=self._items,
            model_version=self.learner.version,
            pending=len(self.pending),
        )

    # ------------------------------------------------------------------ predictions
    def _on_prediction(self, record: Record) -> None:
        started = time.perf_counter()
        tp = (record.topic, record.partition)
        parsed = self.parser.prediction(record, self.clock.now())
        if isinstance(parsed, DeadLetterRecord):
            self._dead_letter(parsed, record, self.tracker.begin(tp, record.offset, 1).delivered)
            return
        self.clock.observe(parsed.event_time.timestamp())
        now = self.clock.now()
        online = self.learner.score(parsed.features)
        scores = online if self._online_scores or parsed.proba is None else parsed.proba
        item = ItemView(
            parsed.id, scores, parsed.cost or 1.0, self.learner.classes_seen, parsed.group
        )
        if parsed.id in self.pending:
            decision = Decision(False, Reason.DUPLICATE, 0.0, 0.0, None)
        else:
            decision = self.policy.decide(item, now)
            if decision.query and self.pending.full:
                decision = decision.refused(Reason.QUEUE_FULL)
        ticket = self.tracker.begin(tp, record.offset, 2 if decision.query else 1)
        request_id = None
        if decision.query:
            request_id = hashlib.blake2b(
                f"{self.policy.id}\x1f{parsed.id}".encode(), digest_size=12
            ).hexdigest()
            self.policy.commit(decision, item, now)
            self.metrics.budget_charged.inc(item.cost)
            self.burn.add(now, item.cost)
            self._send_request(parsed, decision, request_id, now, ticket.delivered)
        self._decisions[decision.reason].inc()
        self._send_evidence(
            parsed, record, online, scores, item, decision, request_id, now, ticket.delivered
        )
        self.feedback.observe_item(parsed.group, decision.query, decision.utility, parsed.features)
        self._items += 1
        self.metrics.items.inc()
        self.metrics.decision_latency.observe(time.perf_counter() - started)

    def _send_request(
        self,
        event: PredictionEvent,
        decision: Decision,
        request_id: str,
        now: float,
        on_delivery: Callable[[Exception | None], None],
    ) -> None:
        deadline = now + self._ttl
        self.pending.add(
            PendingRequest(
                id=event.id,
                request_id=request_id,
                queue=self._queue,
                features=event.features,
                requested_at=now,
                deadline=deadline,
                probability=decision.probability,
                reason=decision.reason.value,
                utility=decision.utility,
                prediction=event.prediction,
                confidence=max(event.proba.values()) if event.proba else None,
                group=event.group,
            )
        )
        request = LabelRequest.model_construct(
            schema_version=1,
            request_id=request_id,
            id=event.id,
            queue=self._queue,
            requested_at=_utc(now),
            deadline=_utc(deadline),
            priority=decision.utility,
            reason=decision.reason.value,
            event_time=event.event_time,
            features=event.features,
            prediction=event.prediction,
            proba=event.proba,
            model_version=event.model_version,
            group=event.group,
        )
        self.channels.requests.send(_json(request), event.id.encode(), on_delivery)
        self._queries.inc()

    def _send_evidence(
        self,
        event: PredictionEvent,
        record: Record,
        online: dict[str, float],
        scores: dict[str, float] | Any,
        item: ItemView,
        decision: Decision,
        request_id: str | None,
        now: float,
        on_delivery: Callable[[Exception | None], None],
    ) -> None:
        budget = self.policy.snapshot(now)
        evidence = EvidenceRecord.model_construct(
            schema_version=1,
            id=event.id,
            source=SourcePosition.model_construct(
                topic=record.topic, partition=record.partition, offset=record.offset
            ),
            event_time=event.event_time,
            decided_at=_utc(now),
            model_version=event.model_version,
            online_model_version=self.learner.version,
            policy=self.policy.id,
            config_hash=self.config_hash,
            scores=dict(scores),
            score_source="online" if self._online_scores or event.proba is None else "production",
            online_prediction=self.learner.predict(online),
            production_prediction=event.prediction,
            uncertainty=decision.utility,
            threshold=decision.threshold,
            probability=decision.probability,
            query=decision.query,
            reason=decision.reason.value,
            budget_spent=budget.spent,
            budget_limit=budget.limit,
            budget_fraction=budget.fraction,
            pending=len(self.pending),
            pending_capacity=self.pending.capacity,
            queue=self._queue if decision.query else None,
            request_id=request_id,
            group=event.group,
        )
        self.channels.audit.send(_json(evidence), event.id.encode(), on_delivery)

    def _dead_letter(
        self,
        record: DeadLetterRecord,
        source: Record,
        on_delivery: Callable[[Exception | None], None] | None,
    ) -> None:
        self.channels.dead_letter.send(_json(record), source.key, on_delivery)
        self.metrics.dead_letters.labels(record.kind, record.reason.value).inc()
        log.warning(
            "dead_lettered",
            kind=record.kind,
            reason=record.reason.value,
            topic=source.topic,
            partition=source.partition,
            offset=source.offset,
        )

    # ------------------------------------------------------------------ labels
    def _poll_labels(self) -> None:
        records = self._labels.poll(self._batch, 0.0)
        for record in records:
            self._on_label(record)

    def _on_label(self, record: Record) -> None:
        now = self.clock.now()
        self._label_positions[record.partition] = record.offset + 1
        parsed = self.parser.label(record, now)
        if isinstance(parsed, DeadLetterRecord):
            self._dead_letter(parsed, record, None)
            return
        self._resolve(parsed, record, now)

    def _resolve(self, label: LabelEvent, record: Record, now: float) -> None:
        request = self.pending.pop(label.id)
        if request is None:
            self.metrics.labels.labels("unmatched").inc()
            log.info(
                "label_unmatched",
                id_hash=hashlib.blake2b(label.id.encode(), digest_size=6).hexdigest(),
            )
            return
        if label.abstain or label.label is None:
            self.metrics.labels.labels("abstained").inc()
            return
        if record.offset < self._model_offsets.get(record.partition, 0):
            self.metrics.labels.labels("replayed").inc()
            return
        self.learner.learn(request.features, label.label)
        self._model_dirty = True
        self.feedback.observe_label(
            label=label.label,
            production_prediction=request.prediction,
            production_confidence=request.confidence,
            probability=request.probability,
            reason=request.reason,
            uncertainty=request.utility,
            features=request.features,
            role=label.labeler_role,
        )
        self.metrics.labels.labels("learned").inc()
        self.metrics.label_latency.observe(max(0.0, now - request.requested_at))

    # ------------------------------------------------------------------ bookkeeping
    def _tick(self, mono: float) -> None:
        for sink in self.channels.outputs():
            sink.serve_deliveries()
        self._store_offsets()
        for request in self.pending.expire(self.clock.now()):
            self.metrics.expired.labels(request.queue).inc()
        if mono - self._last_commit >= self.settings.kafka.commit_interval_seconds:
            self._commit(mono + self.settings.kafka.flush_timeout_seconds)
        if mono - self._last_feedback >= self.settings.monitoring.refresh_seconds:
            self._feedback = self.feedback.snapshot()
            self._last_feedback = mono
        if mono - self._last_lag >= _LAG_INTERVAL:
            self._lag = self.channels.predictions.lag()
            self._last_lag = mono
        self.health.assigned = self.channels.predictions.assigned
        self._refresh_status()

    def _store_offsets(self) -> None:
        moved = self.tracker.advance()
        if self.tracker.failures:
            raise DeliveryError(f"output delivery failed: {self.tracker.failures[0]}")
        if moved:
            self.channels.predictions.store_offsets(moved)

    def _commit(self, deadline: float, final: bool = False) -> None:
        """Deliver everything, checkpoint the model, write state, then commit offsets."""
        left = self.channels.flush(max(0.0, deadline - time.monotonic()))
        self._store_offsets()
        if left:
            log.warning("flush_incomplete", undelivered=left, final=final)
            if not final:
                return
        now = self.clock.now()
        offsets = {str(p): o for p, o in self._label_positions.items()}
        if self._model_dirty or final:
            self.learner.save(self.checkpoint_path, {"label_offsets": offsets})
            self._model_offsets = dict(self._label_positions)
            self._model_dirty = False
        policy_state = PolicyState(
            policy=self.policy.state_dict(), label_offsets=offsets, saved_at=now
        )
        self.state_log.write(self.pending.drain_changes(), policy_state)
        left = self.channels.flush_state(max(0.0, deadline - time.monotonic()))
        if left:
            log.error("state_flush_incomplete", undelivered=left)
            return
        self.channels.predictions.commit()
        self.metrics.commits.inc()
        self._last_commit = time.monotonic()
        self._last_commit_wall = time.time()

    def _refresh_status(self) -> None:
        now = self.clock.now()
        budget = self.policy.snapshot(now)
        self._status = Status(
            budget_spent=budget.spent,
            budget_limit=budget.limit,
            budget_remaining=budget.remaining,
            budget_fraction_target=self.settings.policy.budget.fraction,
            budget_fraction_estimate=budget.fraction,
            period_start=budget.period_start,
            period_end=budget.period_end,
            pending=len(self.pending),
            pending_capacity=self.pending.capacity,
            oldest_pending_age_seconds=self.pending.oldest_age(now),
            queues={
                self._queue: QueueStatus(
                    len(self.pending),
                    self.pending.capacity,
                    self.pending.oldest_age(now),
                    self._ttl,
                )
            },
            last_commit=self._last_commit_wall,
            burn_rate=self.burn.rate(now),
            exhaustion_forecast_seconds=seconds_to_exhaustion(
                budget.remaining, self.burn.rate(now)
            ),
            feedback=self._feedback,
            model_version=self.learner.version,
            classes_seen=self.learner.classes_seen,
            policy=self.policy.id,
            lag=self._lag,
            items=self._items,
        )
        if self.on_tick is not None:
            self.on_tick(self._status)

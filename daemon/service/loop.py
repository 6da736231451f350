"""The processing loop: poll, parse, score, decide, route, emit, store offsets, commit when due."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import structlog

from connectors.record import Record
from daemon.config import ScoreSource, Settings
from daemon.config import Strategy as StrategyName
from daemon.contracts.evidence import EvidenceBuilder
from daemon.contracts.messages import DeadLetterRecord, PredictionEvent, encode
from daemon.contracts.parsing import Parser
from daemon.contracts.pending_request import PendingRequest
from daemon.errors import DeliveryError
from daemon.labeling.intake import LabelIntake
from daemon.labeling.queues import ExpertQueues
from daemon.model.learner import Learner
from daemon.monitoring.burn import BurnRate, seconds_to_exhaustion
from daemon.monitoring.feedback import FeedbackMonitor, FeedbackSnapshot
from daemon.monitoring.metrics import Metrics
from daemon.monitoring.status import QueueStatus, Status
from daemon.service.clock import Clock
from daemon.service.health import Health
from daemon.service.lifecycle import StopFlag
from daemon.service.offsets import OffsetTracker
from daemon.service.rebalance import RebalanceHandler
from daemon.service.state import PolicyState, StateLog
from daemon.service.wiring import Channels
from policies import (
    Decision,
    ItemView,
    Policy,
    QueueCapacityGate,
    Reason,
    least_confidence,
    set_share,
)

log = structlog.get_logger("labelgate.loop")

_LAG_INTERVAL = 5.0
_STATUS_INTERVAL = 0.5
Delivered = Callable[[Exception | None], None]


class Daemon:
    """One labelgate instance: wires a policy, a learner, the queues and the channels.

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
        self.queues = ExpertQueues(settings, channels.requests)
        self.pending = self.queues.pending
        self.tracker = OffsetTracker()
        self.state_log = StateLog(channels.state, settings.instance_id)
        self.config_hash = settings.fingerprint()
        self.evidence = EvidenceBuilder(
            self.config_hash, policy.id, settings.policy.model_dump(mode="json")
        )
        self.checkpoint_path = settings.state_dir / f"model-{settings.instance_id}.pkl"
        self._online_scores = settings.model.score_source is ScoreSource.ONLINE
        self._batch = settings.kafka.consume_batch_size
        self._poll_timeout = settings.kafka.poll_timeout_seconds
        self._label_positions: dict[int, int] = {}
        self._model_offsets: dict[int, int] = {}
        self._model_dirty = False
        self._labels: Any = None
        self._last_commit = time.monotonic()
        self._last_commit_wall: float | None = None
        self._last_lag = 0.0
        self._last_status = 0.0
        self._lag: dict[tuple[str, int], int] = {}
        self._items = 0
        self._status = Status(pending_capacity=self.pending.capacity)
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
            classes=len(settings.classes),
        )
        self.burn = BurnRate(mon.burn_window_seconds)
        self._feedback = FeedbackSnapshot()
        self._last_feedback = 0.0
        self.rebalance = RebalanceHandler(
            self._commit, self.tracker, settings.kafka.flush_timeout_seconds, self._reshare
        )
        self.intake = LabelIntake(
            self.queues, policy, metrics, self.burn, self.evidence, channels.audit, self._learn
        )
        self._decisions = {r: metrics.decisions.labels(r.value) for r in Reason}
        p = settings.policy
        exponent = p.queue_gate_exponent
        self._gates = (
            {q.name: QueueCapacityGate(q.capacity, exponent, p.seed) for q in settings.queues}
            if exponent is not None
            else {}
        )
        # Decide once which optional views of an item the configured strategy needs.
        self._needs_vector = p.diversity is not None
        self._needs_committee = p.strategy is StrategyName.QUERY_BY_COMMITTEE

    # ------------------------------------------------------------------ lifecycle
    @property
    def status(self) -> Status:
        """The latest snapshot (safe to read from another thread)."""
        return self._status

    def restore(self) -> None:
        """Rebuild budget, outstanding requests and the model from durable sources."""
        restored = self.state_log.restore(self.channels.read_state())
        self.pending.restore([r for r in restored.pending if r.queue in self.pending.capacities])
        state_offsets: dict[int, int] = {}
        if restored.policy is not None:
            problems = self.policy.load_state(restored.policy.policy)
            if problems:
                log.warning(
                    "policy_state_not_restored",
                    parts=problems,
                    hint="the configuration changed; these parts start fresh",
                )
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
        uncertainty = least_confidence(scores)
        queue: str | None = None
        rule: str | None = None
        cost = parsed.cost or 1.0
        if parsed.id in self.pending:
            # A redelivered item whose request is still open: never a second request.
            decision = Decision(
                query=False,
                reason=Reason.DUPLICATE,
                probability=0.0,
                utility=uncertainty,
                threshold=None,
            )
            item = ItemView(parsed.id, scores)
        else:
            route = self.queues.route(parsed, uncertainty)
            rule = route.rule
            queue = self.queues.choose(route)
            cost = self.queues.cost(queue, parsed.cost or 1.0)
            item = self._item(parsed, scores, online, cost)
            decision = self.policy.decide(item, now)
            decision = self._gate(decision, item, queue, parsed.cost or 1.0, now)
            if decision.query:
                queue, cost, decision = self._admit(parsed, queue, cost, decision, now)
        ticket = self.tracker.begin(tp, record.offset, 2 if decision.query else 1)
        redaction: dict[str, str] = {}
        request: PendingRequest | None = None
        if decision.query and queue is not None:
            self.policy.commit(decision, replace(item, cost=cost), now)
            self.metrics.budget_charged.inc(cost)
            self.burn.add(now, cost)
            request = self.queues.pending_for(parsed, decision, queue, rule, self.policy.id, now)
            redaction = self.queues.open(request, ticket.delivered)
            self.metrics.queries.labels(queue).inc()
        self._decisions[decision.reason].inc()
        self._send_decision(
            parsed, record, online, scores, decision, request, redaction, now, ticket.delivered
        )
        self.feedback.observe_item(
            parsed.group, decision.query, decision.utility, parsed.features, decision.reason.value
        )
        self._items += 1
        self.metrics.items.inc()
        self.metrics.decision_latency.observe(time.perf_counter() - started)

    def _item(
        self, event: PredictionEvent, scores: Any, online: dict[str, float], cost: float
    ) -> ItemView:
        vector: tuple[float, ...] = ()
        if self._needs_vector:
            vector = tuple(
                float(v)
                for _, v in sorted(event.features.items())
                if isinstance(v, int | float) and not isinstance(v, bool)
            )
        committee: tuple[Any, ...] = ()
        if self._needs_committee and event.proba is not None and online:
            committee = (event.proba, online)
        return ItemView(
            event.id, scores, cost, self.learner.classes_seen, event.group, committee, vector
        )

    def _gate(
        self, decision: Decision, item: ItemView, queue: str, item_cost: float, now: float
    ) -> Decision:
        """The queue's say, applied to every decision so the logged probability stays marginal.

        With room, the capacity gate thins (an independent draw). A full queue admits only what
        its overflow rule takes, which depends on the item's utility and the queue's state, not
        on a draw: an unqueried item's probability keeps or loses all of its mass accordingly.
        """
        if self.pending.has_room(queue):
            gate = self._gates.get(queue)
            if gate is None:
                return decision
            return gate.apply(decision, item, self.pending.outstanding(queue))
        if decision.query or decision.probability == 0.0:
            return decision
        landing = self.queues.would_admit(queue, decision.utility)
        if landing is None:
            return decision.scaled(0.0)
        spilled_cost = self.queues.cost(landing, item_cost)
        if landing != queue and not self.policy.budget.allows(spilled_cost, now):
            return decision.scaled(0.0)
        return decision

    def _admit(
        self, event: PredictionEvent, queue: str, cost: float, decision: Decision, now: float
    ) -> tuple[str | None, float, Decision]:
        """Capacity and overflow; a refusal is not charged (decide first, then commit)."""
        admission = self.queues.admit(queue, decision.utility)
        if admission.queue is None:
            return None, cost, decision.refused(Reason.QUEUE_FULL)
        if admission.evicted is not None:
            self.intake.close(admission.evicted, now, "evicted")
        if admission.spilled:
            cost = self.queues.cost(admission.queue, event.cost or 1.0)
            if not self.policy.budget.allows(cost, now):
                return None, cost, decision.refused(Reason.BUDGET_EXHAUSTED)
        return admission.queue, cost, decision

    def _send_decision(
        self,
        event: PredictionEvent,
        record: Record,
        online: dict[str, float],
        scores: Any,
        decision: Decision,
        request: PendingRequest | None,
        redaction: dict[str, str],
        now: float,
        on_delivery: Delivered,
    ) -> None:
        budget = self.policy.snapshot(now)
        queue = request.queue if request is not None else None
        evidence = self.evidence.decision(
            record,
            now,
            id=event.id,
            event_time=event.event_time,
            model_version=event.model_version,
            online_model_version=self.learner.version,
            scores=dict(scores),
            score_source="online" if scores is online else "production",
            online_prediction=self.learner.predict(online),
            production_prediction=event.prediction,
            uncertainty=decision.utility,
            threshold=decision.threshold,
            probability=decision.probability,
            query=decision.query,
            reason=decision.reason.value,
            budget_spent=budget.spent,
            budget_limit=budget.limit,
            budget_remaining=budget.remaining,
            budget_fraction=budget.fraction,
            queue_state=self.pending.counts(),
            queue=queue,
            route_rule=request.route_rule if request is not None else None,
            request_id=request.request_id if request is not None else None,
            instructions_id=(
                self.queues.queue_settings(queue).instructions_id if queue is not None else None
            ),
            redaction=redaction,
            group=event.group,
        )
        self.channels.audit.send(evidence, event.id.encode(), on_delivery)

    def _dead_letter(
        self, record: DeadLetterRecord, source: Record, on_delivery: Delivered | None
    ) -> None:
        self.channels.dead_letter.send(encode(record), source.key, on_delivery)
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
        for record in self._labels.poll(self._batch, 0.0):
            self._on_label(record)

    def _on_label(self, record: Record) -> None:
        now = self.clock.now()
        self._label_positions[record.partition] = record.offset + 1
        parsed = self.parser.label(record, now)
        if isinstance(parsed, DeadLetterRecord):
            self._dead_letter(parsed, record, None)
            return
        self.intake.take(parsed, record, now)

    def _learn(
        self,
        request: PendingRequest,
        label: str,
        role: str,
        record: Record,
        used_for: str,
        now: float,
    ) -> None:
        if record.offset < self._model_offsets.get(record.partition, 0):
            self.metrics.labels.labels("replayed").inc()
            return
        self.feedback.observe_label(
            label=label,
            production_prediction=request.prediction,
            production_confidence=request.confidence,
            probability=request.probability,
            reason=request.reason,
            uncertainty=request.utility,
            features=request.features,
            roles=tuple(x.labeler_role for x in request.labels if x.label == label) or (role,),
            trained=used_for != "evaluation",
        )
        self.metrics.label_latency.observe(max(0.0, now - request.requested_at))
        if used_for == "evaluation":
            self.metrics.labels.labels("evaluation").inc()
            return
        self.learner.learn(request.features, label)
        self._model_dirty = True
        self.metrics.labels.labels("learned").inc()

    # ------------------------------------------------------------------ bookkeeping
    def _tick(self, mono: float) -> None:
        for sink in self.channels.outputs():
            sink.serve_deliveries()
        self._store_offsets()
        now = self.clock.now()
        for request in self.pending.expire(now):
            self.intake.close(request, now, "expired")
        if mono - self._last_commit >= self.settings.kafka.commit_interval_seconds:
            self._commit(mono + self.settings.kafka.flush_timeout_seconds)
        if mono - self._last_feedback >= self.settings.monitoring.refresh_seconds:
            self._feedback = self.feedback.snapshot()
            self._last_feedback = mono
        if mono - self._last_lag >= _LAG_INTERVAL:
            self._lag = self.channels.predictions.lag()
            self._last_lag = mono
        self.health.assigned = self.channels.predictions.assigned
        if self.on_tick is not None or mono - self._last_status >= _STATUS_INTERVAL:
            self._refresh_status()
            self._last_status = mono

    def _reshare(self) -> None:
        """Own the absolute budget in proportion to the partitions owned: the group as a whole
        honours the configured limit."""
        share = self.channels.predictions.share()
        set_share(self.policy.budget, share)
        log.info("budget_share", share=round(share, 4))

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
        rate = self.burn.rate(now)
        ages = self.pending.oldest_ages(now)
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
            oldest_pending_age_seconds=max(ages.values(), default=0.0),
            queues={
                q.name: QueueStatus(
                    self.pending.outstanding(q.name),
                    q.capacity,
                    ages[q.name],
                    q.ttl_seconds,
                    agreement=self.intake.mean_agreement(q.name),
                )
                for q in self.settings.queues
            },
            last_commit=self._last_commit_wall,
            burn_rate=rate,
            exhaustion_forecast_seconds=seconds_to_exhaustion(budget.remaining, rate),
            feedback=self._feedback,
            model_version=self.learner.version,
            classes_seen=self.learner.classes_seen,
            policy=self.policy.id,
            lag=self._lag,
            items=self._items,
            clock=now,
        )
        if self.on_tick is not None:
            self.on_tick(self._status)

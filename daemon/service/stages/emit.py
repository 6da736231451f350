"""Emit: every output of a batch, in record order, each input tracked until delivered."""

from __future__ import annotations

import time
from collections import Counter

from connectors.protocols import Sink
from daemon.contracts.evidence import DecisionEvidence, EvidenceBuilder, utc
from daemon.contracts.messages import RequestOutcome
from daemon.labeling.intake import LabelIntake
from daemon.labeling.queues import ExpertQueues
from daemon.monitoring.feedback import FeedbackMonitor
from daemon.monitoring.metrics import Metrics
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.commit import CommitProtocol
from daemon.service.dead_letters import DeadLetters
from daemon.service.pipeline import Failed, Rejections, Selected
from policies import Reason


class Emit:
    """Per record, in order: the dead letter, or the evicted request's withdrawal, the label
    request and the decision evidence; then the feedback statistics and the counters see the
    batch's items, once per batch.

    Everything that can fail for one item (building messages) happens before the input is
    tracked, so a failure dead-letters that item instead of leaving an offset that never
    settles.
    """

    def __init__(
        self,
        commit: CommitProtocol,
        queues: ExpertQueues,
        intake: LabelIntake,
        evidence: EvidenceBuilder,
        trail: Sink,
        dead_letters: DeadLetters,
        model: ModelCheckpoint,
        feedback: FeedbackMonitor,
        metrics: Metrics,
        rejections: Rejections,
    ) -> None:
        self.commit = commit
        self.queues = queues
        self.intake = intake
        self.evidence = evidence
        self.trail = trail
        self.dead_letters = dead_letters
        self.model = model
        self.feedback = feedback
        self.metrics = metrics
        self.rejections = rejections
        self.items = 0
        self._decisions = {r: metrics.decisions.labels(r.value) for r in Reason}
        self._configured = False

    def __call__(self, batch: tuple[Selected | Failed, ...], arrived: float) -> int:
        """Emit the batch; return the number of valid predictions.

        ``arrived`` is when the batch reached the process: each item's latency runs from there
        to its evidence being handed to the producer. Counters and the latency histogram are
        updated once per batch.
        """
        if not self._configured:
            # The policy's parameters, once per config hash, before the first decision record.
            self.trail.send(self.evidence.config(time.time()), self.evidence.config_hash.encode())
            self._configured = True
        latencies: list[float] = []
        reasons: Counter[Reason] = Counter()
        sent: list[Selected] = []
        clock = time.perf_counter
        for value in batch:
            if isinstance(value, Selected):
                try:
                    evidence, message = self._build(value)
                except Exception as exc:  # one item must not stop the loop
                    decoded = value.decided.scored.decoded
                    self._failed(self.rejections.failed(decoded.record, exc, decoded.now))
                    continue
                self._send(value, evidence, message)
                sent.append(value)
                latencies.append(clock() - arrived)
            else:
                self._failed(value)
        items = len(sent)
        if items:
            self._observe(sent, reasons)
            for reason, n in reasons.items():
                self._decisions[reason].inc(n)
            self.metrics.items.inc(items)
            self.metrics.decision_latency.observe_many(latencies)
        self.items += items
        return items

    def _observe(self, sent: list[Selected], reasons: Counter[Reason]) -> None:
        """The feedback statistics see the batch's items once, in order; count the reasons."""
        decisions = [s.admitted.decision for s in sent]
        events = [s.decided.scored.decoded.event for s in sent]
        reasons.update(d.reason for d in decisions)
        self.feedback.observe_items(
            [e.group for e in events],
            [d.query for d in decisions],
            [d.utility for d in decisions],
            [e.features for e in events],
            [d.reason.value for d in decisions],
        )

    def _failed(self, failed: Failed) -> None:
        record = failed.record
        done = self.commit.track((record.topic, record.partition), record.offset, 1)
        self.dead_letters.send(failed.dead_letter, record, done)

    def _build(self, selected: Selected) -> tuple[bytes, bytes]:
        """Close an evicted request; build the label request and the decision evidence."""
        decided = selected.decided
        scored = decided.scored
        record, event, now = scored.decoded.record, scored.decoded.event, scored.decoded.now
        decision, request = selected.admitted.decision, selected.admitted.request
        if selected.admitted.evicted is not None:
            self.intake.close(selected.admitted.evicted, now, RequestOutcome.EVICTED)
        message = b""
        redaction: dict[str, str] = {}
        if request is not None:
            message, redaction = self.queues.prepare(request)
        budget = selected.budget
        queue = request.queue if request is not None else None
        builder = self.evidence
        when = utc(now)
        evidence = builder.decision(
            DecisionEvidence(  # positional, in field order (see DecisionEvidence)
                1,  # schema_version
                "decision",  # kind
                event.id,
                builder.source(record),
                when,  # recorded_at
                builder.config_hash,
                event.event_time,
                when,  # decided_at
                builder.policy,
                self.model.learner.version,  # online_model_version
                scored.scores,
                scored.score_source,
                event.prediction,  # production_prediction
                decision.utility,  # uncertainty
                decision.probability,
                decision.query,
                decision.reason.value,
                budget.spent,
                selected.queue_state,
                event.model_version,
                scored.online_prediction,
                decision.threshold,
                budget.limit,
                budget.remaining,
                budget.fraction,
                queue,
                request.route_rule if request is not None else None,
                request.request_id if request is not None else None,
                self.queues.queue_settings(queue).instructions_id if queue is not None else None,
                redaction,
                event.group,
            )
        )
        return evidence, message

    def _send(self, selected: Selected, evidence: bytes, message: bytes) -> None:
        """Track the input, then send its request (if any) and its evidence (the feedback
        statistics and counters follow once per batch)."""
        record = selected.decided.scored.decoded.record
        request = selected.admitted.request
        if request is None:
            done = self.commit.track((record.topic, record.partition), record.offset, 1)
        else:
            done = self.commit.track((record.topic, record.partition), record.offset, 2)
            self.queues.send(request, message, done)
        self.trail.send(evidence, selected.decided.scored.decoded.event.id.encode(), done)

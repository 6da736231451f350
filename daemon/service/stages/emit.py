"""Emit: every output of a batch, in record order, each input tracked until delivered."""

from __future__ import annotations

from connectors.protocols import Sink
from daemon.contracts.evidence import DecisionEvidence, EvidenceBuilder
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
    request and the decision evidence; then the feedback statistics see the item.

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

    def __call__(self, batch: tuple[Selected | Failed, ...]) -> int:
        """Emit the batch; return the number of valid predictions."""
        items = 0
        for value in batch:
            if isinstance(value, Selected):
                try:
                    evidence, message = self._build(value)
                except Exception as exc:  # one item must not stop the loop
                    decoded = value.decided.scored.decoded
                    self._failed(self.rejections.failed(decoded.record, exc, decoded.now))
                    continue
                self._send(value, evidence, message)
                items += 1
            else:
                self._failed(value)
        self.items += items
        return items

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
        evidence = self.evidence.decision(
            record,
            now,
            DecisionEvidence(
                id=event.id,
                event_time=event.event_time,
                model_version=event.model_version,
                online_model_version=self.model.learner.version,
                scores=dict(scored.scores),
                score_source=scored.score_source,
                online_prediction=scored.online_prediction,
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
                queue_state=selected.queue_state,
                queue=queue,
                route_rule=request.route_rule if request is not None else None,
                request_id=request.request_id if request is not None else None,
                instructions_id=(
                    self.queues.queue_settings(queue).instructions_id if queue is not None else None
                ),
                redaction=redaction,
                group=event.group,
            ),
        )
        return evidence, message

    def _send(self, selected: Selected, evidence: bytes, message: bytes) -> None:
        """Track the input, then send its request (if any) and its evidence."""
        decoded = selected.decided.scored.decoded
        record, event = decoded.record, decoded.event
        decision, request = selected.admitted.decision, selected.admitted.request
        outputs = 2 if request is not None else 1
        done = self.commit.track((record.topic, record.partition), record.offset, outputs)
        if request is not None:
            self.queues.send(request, message, done)
        self._decisions[decision.reason].inc()
        self.trail.send(evidence, event.id.encode(), done)
        self.feedback.observe_item(
            event.group, decision.query, decision.utility, event.features, decision.reason.value
        )
        self.metrics.items.inc()

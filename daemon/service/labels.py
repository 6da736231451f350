"""The label path: label records → intake's verdict → the model learns (or evaluates).

Intake says what happened to a label; this module, which holds the model, acts on it: it
learns from training labels, feeds the feedback statistics, and counts every outcome.
"""

from __future__ import annotations

import structlog

from connectors.protocols import Source
from connectors.record import Record
from daemon.contracts.messages import DeadLetterReason, DeadLetterRecord
from daemon.contracts.parsing import Parser
from daemon.labeling.intake import LabelIntake, LabelUse, LabelVerdict
from daemon.monitoring.feedback import FeedbackMonitor
from daemon.monitoring.metrics import Metrics
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint
from daemon.service.clock import Clock
from daemon.service.dead_letters import DeadLetters

log = structlog.get_logger("labelgate.labels")

# The metric outcome of each verdict that does not reach the model (None: not counted).
_COUNTED: dict[LabelUse, str | None] = {
    LabelUse.UNMATCHED: "unmatched",
    LabelUse.ABSTAINED: "abstained",
    LabelUse.DUPLICATE: "duplicate",
    LabelUse.CONFLICT: "conflict",
    LabelUse.AWAITING: None,
    LabelUse.ESCALATED: None,
}


class LabelPath:
    """Reads label records, resolves them through intake and acts on the verdict.

    Parameters
    ----------
    parser
        Validates label events.
    intake
        Resolves a label against its open request and says what became of it.
    model
        Learns training labels; skips those its checkpoint already covers (replayed).
    positions
        Advanced for every label record read, valid or not.
    feedback, metrics, dead_letters, clock
        Statistics of labels that reached the model, counters, rejected labels, time.
    batch
        Label records read per poll.
    """

    def __init__(
        self,
        parser: Parser,
        intake: LabelIntake,
        model: ModelCheckpoint,
        positions: LabelPositions,
        feedback: FeedbackMonitor,
        metrics: Metrics,
        dead_letters: DeadLetters,
        clock: Clock,
        batch: int,
    ) -> None:
        self.parser = parser
        self.intake = intake
        self.model = model
        self.positions = positions
        self.feedback = feedback
        self.metrics = metrics
        self.dead_letters = dead_letters
        self.clock = clock
        self.batch = batch
        self._source: Source | None = None

    def open(self, source: Source) -> None:
        """Start reading from ``source`` (positioned where the restored state left off)."""
        self._source = source

    def poll(self) -> None:
        """Take every label record available now (without waiting)."""
        if self._source is None:
            return
        for record in self._source.poll(self.batch, 0.0):
            self.take(record)

    def close(self) -> None:
        """Stop reading labels."""
        if self._source is not None:
            self._source.close()

    def take(self, record: Record) -> LabelVerdict | None:
        """One label record; a failure dead-letters it (``processing_error``)."""
        now = self.clock.now()
        self.positions.advance(record.partition, record.offset)
        try:
            parsed = self.parser.label(record, now)
            if isinstance(parsed, DeadLetterRecord):
                self.dead_letters.send(parsed, record, None)
                return None
            verdict = self.intake.take(parsed, record, now)
            self._act(verdict, record, now)
        except Exception as exc:  # one label's failure must not stop the loop
            detail = f"{type(exc).__name__}: {exc}"
            log.error("label_processing_failed", error=detail, offset=record.offset, exc_info=exc)
            letter = self.parser.dead_letter(
                record, "label", DeadLetterReason.PROCESSING_ERROR, detail, now
            )
            self.dead_letters.send(letter, record, None)
            return None
        return verdict

    def _act(self, verdict: LabelVerdict, record: Record, now: float) -> None:
        request, label = verdict.request, verdict.label
        if verdict.use not in (LabelUse.LEARN, LabelUse.EVALUATE):
            outcome = _COUNTED[verdict.use]
            if outcome is not None:
                self.metrics.labels.labels(outcome).inc()
            return
        assert request is not None  # a standing label has its request and its label
        assert label is not None
        if self.model.replayed(record.partition, record.offset, request.id):
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
            roles=tuple(x.labeler_role for x in request.labels if x.label == label)
            or (verdict.role,),
            trained=verdict.use is LabelUse.LEARN,
        )
        self.metrics.label_latency.observe(max(0.0, now - request.requested_at))
        if verdict.use is LabelUse.EVALUATE:
            self.metrics.labels.labels("evaluation").inc()
            return
        self.model.learn(request.features, label, request.group)
        self.metrics.labels.labels("learned").inc()

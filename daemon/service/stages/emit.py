"""Emit: every output of a batch, in record order, each input tracked until delivered."""

from __future__ import annotations

import time
from collections import Counter

from connectors.protocols import Sink
from daemon.contracts.evidence import DecisionEvidence, EvidenceBuilder, Source, utc
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
        for value, built in zip(batch, self._build_all(batch), strict=True):
            if isinstance(value, Selected):
                decoded = value.scored.decoded
                try:
                    if value.evicted is not None:
                        self.intake.close(value.evicted, decoded.now, RequestOutcome.EVICTED)
                    if isinstance(built, Exception):
                        raise built
                    assert built is not None  # a Selected value is always built or failed
                except Exception as exc:  # one item must not stop the loop
                    self._failed(self.rejections.failed(decoded.record, exc, decoded.now))
                    continue
                self._send(value, *built)
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
        events = [s.scored.decoded.event for s in sent]
        reasons.update(s.reason for s in sent)
        self.feedback.observe_items(
            [e.group for e in events],
            [s.query for s in sent],
            [s.utility for s in sent],
            [e.features for e in events],
            [s.reason for s in sent],
        )

    def _failed(self, failed: Failed) -> None:
        record = failed.record
        done = self.commit.track((record.topic, record.partition), record.offset, 1)
        self.dead_letters.send(failed.dead_letter, record, done)

    def _build_all(
        self, batch: tuple[Selected | Failed, ...]
    ) -> list[tuple[bytes, bytes] | Exception | None]:
        """Per value of the batch: the evidence and the label request message (empty when not
        queried), the exception that building them raised, or None for a failed value.

        The records are built one by one and encoded together (:meth:`EvidenceBuilder.decisions`);
        nothing here has a side effect, so closing evicted requests stays in record order.
        """
        out: list[tuple[bytes, bytes] | Exception | None] = [None] * len(batch)
        records: list[DecisionEvidence] = []
        messages: list[bytes] = []
        where: list[int] = []
        build = self._build
        for i, value in enumerate(batch):
            if isinstance(value, Selected):
                try:
                    evidence, message = build(value)
                except Exception as exc:  # that item is dead-lettered, the batch goes on
                    out[i] = exc
                    continue
                records.append(evidence)
                messages.append(message)
                where.append(i)
        encoded = self.evidence.decisions(records)
        for i, evidence_bytes, message in zip(where, encoded, messages, strict=True):
            out[i] = (
                evidence_bytes
                if isinstance(evidence_bytes, Exception)
                else (
                    evidence_bytes,
                    message,
                )
            )
        return out

    def _build(self, selected: Selected) -> tuple[DecisionEvidence, bytes]:
        """The decision evidence of an item and its label request message (if queried)."""
        scored = selected.scored
        decoded = scored.decoded
        record, event = decoded.record, decoded.event
        request = selected.request
        message = b""
        redaction: dict[str, str] = {}
        queue = None
        rule = None
        request_id = None
        instructions = None
        if request is not None:
            message, redaction = self.queues.prepare(request)
            queue = request.queue
            rule = request.route_rule
            request_id = request.request_id
            instructions = self.queues.queue_settings(queue).instructions_id
        budget = selected.budget
        builder = self.evidence
        when = utc(decoded.now)
        evidence = DecisionEvidence(  # positional, in field order (see DecisionEvidence)
            1,  # schema_version
            "decision",  # kind
            event.id,
            Source(record.topic, record.partition, record.offset),
            when,  # recorded_at
            builder.config_hash,
            event.event_time,
            when,  # decided_at
            builder.policy,
            self.model.learner.version,  # online_model_version
            scored.scores,
            scored.score_source,
            event.prediction,  # production_prediction
            selected.utility,  # uncertainty
            selected.probability,
            selected.query,
            selected.reason,  # a StrEnum: msgspec writes its value
            budget.spent,
            selected.queue_state,
            event.model_version,
            scored.online_prediction,
            selected.threshold,
            budget.limit,
            budget.remaining,
            budget.fraction,
            queue,
            rule,
            request_id,
            instructions,
            redaction,
            event.group,
        )
        return evidence, message

    def _send(self, selected: Selected, evidence: bytes, message: bytes) -> None:
        """Track the input, then send its request (if any) and its evidence (the feedback
        statistics and counters follow once per batch)."""
        decoded = selected.scored.decoded
        record = decoded.record
        request = selected.request
        outputs = 2 if request is not None else 1
        done = self.commit.track((record.topic, record.partition), record.offset, outputs)
        if request is not None:
            self.queues.send(request, message, done)
        self.trail.send(evidence, decoded.event.id.encode(), done)

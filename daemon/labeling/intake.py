"""Label intake: label events become resolved labels, escalations or conflicts; open requests
that run out of time are closed (withdrawn, recorded, maybe re-routed)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from connectors.protocols import Sink
from connectors.record import Record
from daemon.contracts.evidence import EvidenceBuilder, LaterEvidence
from daemon.contracts.messages import EvidenceKind, LabelEvent, RequestOutcome, encode
from daemon.contracts.pending_request import PendingRequest, ReceivedLabel
from daemon.labeling.admission import AdmissionStep
from daemon.labeling.queues import ExpertQueues
from daemon.labeling.resolution import Outcome, resolve
from daemon.monitoring.metrics import Metrics
from policies import Reason

_AGREEMENT_WINDOW = 500


class LabelUse(StrEnum):
    """What became of one label event; the service acts on ``learn`` and ``evaluate``."""

    LEARN = "learn"  # the label stands: train the model on it
    EVALUATE = "evaluate"  # the label stands, for the random audit slice: evaluate, never train
    UNMATCHED = "unmatched"  # no open request for the item
    ABSTAINED = "abstained"  # the labeler declined; the request is closed
    DUPLICATE = "duplicate"  # the same labeler answered the same request again
    AWAITING = "awaiting"  # the queue wants more labels (overlap)
    ESCALATED = "escalated"  # labels disagreed: the adjudicator queue was asked
    CONFLICT = "conflict"  # labels disagreed and nobody adjudicates: nothing is learned


@dataclass(frozen=True, slots=True)
class LabelVerdict:
    """The outcome of one label event: what to do, and with which request, label and role."""

    use: LabelUse
    request: PendingRequest | None = None
    label: str | None = None
    role: str = "expert"


class LabelIntake:
    """Resolves labels against open requests, records each step, and says what happened.

    It never learns: :meth:`take` returns a :class:`LabelVerdict`, and the service, which owns
    the model, acts on it. Re-asks (escalation, re-routing after expiry) go through the
    admission step, which checks capacity and charges the spend ledger.
    """

    def __init__(
        self,
        queues: ExpertQueues,
        admission: AdmissionStep,
        metrics: Metrics,
        evidence: EvidenceBuilder,
        trail: Sink,
    ) -> None:
        self.queues = queues
        self.admission = admission
        self.metrics = metrics
        self.evidence = evidence
        self.trail = trail
        self.agreement = {name: deque[float](maxlen=_AGREEMENT_WINDOW) for name in queues.settings}

    def mean_agreement(self, queue: str) -> float | None:
        """Mean agreement among overlapping labels of the queue's recent resolved items."""
        values = self.agreement[queue]
        return sum(values) / len(values) if values else None

    def take(  # noqa: PLR0911 - one return per verdict, each next to its evidence record
        self, label: LabelEvent, record: Record, now: float
    ) -> LabelVerdict:
        """One valid label event: resolve it against its request and record what happened."""
        request = self.queues.get(label.id)
        common: LaterEvidence = {
            "label": label.label,
            "labeler_role": label.labeler_role,
            "labeler_id": label.labeler_id,
            "label_confidence": label.confidence,
        }
        role = label.labeler_role
        if request is None:
            common["resolution"] = "unmatched"
            self._record(EvidenceKind.LABEL, None, label.id, now, record, common)
            return LabelVerdict(LabelUse.UNMATCHED, role=role)
        if label.abstain or label.label is None:
            self.queues.remove(label.id)
            common["resolution"] = "abstained"
            self._record(EvidenceKind.LABEL, request, label.id, now, record, common)
            return LabelVerdict(LabelUse.ABSTAINED, request, role=role)
        if label.labeler_id is not None and any(
            x.labeler_id == label.labeler_id for x in request.labels
        ):
            return LabelVerdict(LabelUse.DUPLICATE, request, role=role)
        received = ReceivedLabel(
            label=label.label, labeler_id=label.labeler_id, labeler_role=label.labeler_role
        )
        request = request.model_copy(update={"labels": (*request.labels, received)})
        verdict = resolve(
            request.labels, self.queues.queue_settings(request.queue), request.escalated
        )
        common["labels_received"] = len(request.labels)
        common["agreement"] = verdict.agreement
        common["resolution"] = verdict.resolution
        if verdict.agreement is not None:
            self.agreement[request.queue].append(verdict.agreement)
        if verdict.outcome is Outcome.AWAITING:
            self.queues.track(request)
            self._record(EvidenceKind.LABEL, request, label.id, now, record, common)
            return LabelVerdict(LabelUse.AWAITING, request, role=role)
        self.queues.remove(label.id)
        if verdict.outcome is Outcome.ESCALATE:
            self._record(EvidenceKind.LABEL, request, label.id, now, record, common)
            use = LabelUse.ESCALATED if self._escalate(request, now) else LabelUse.CONFLICT
            return LabelVerdict(use, request, role=role)
        if verdict.outcome is Outcome.CONFLICT or verdict.label is None:
            self._record(EvidenceKind.LABEL, request, label.id, now, record, common)
            return LabelVerdict(LabelUse.CONFLICT, request, role=role)
        # Labels of the random audit slice are kept for evaluation, never for training.
        evaluate = request.reason == Reason.AUDIT.value
        if verdict.label != label.label:
            # The record carries the label that stands; keep what this labeler said too, so
            # agreement and who-agreed can be recomputed from the records.
            common["answer"] = label.label
        common["label"] = verdict.label
        common["used_for"] = "evaluation" if evaluate else "training"
        self._record(EvidenceKind.LABEL, request, label.id, now, record, common)
        use = LabelUse.EVALUATE if evaluate else LabelUse.LEARN
        return LabelVerdict(use, request, verdict.label, role)

    def close(self, request: PendingRequest, now: float, outcome: RequestOutcome) -> None:
        """An open request leaves its queue unanswered: withdraw it, record it, maybe re-route."""
        self.queues.withdraw(request, outcome)
        self.metrics.expired.labels(request.queue).inc()
        self._record(
            EvidenceKind.EXPIRY, request, request.id, now, fields={"resolution": outcome.value}
        )
        fallback = self.queues.queue_settings(request.queue).fallback_on_expiry
        if outcome is RequestOutcome.EXPIRED and fallback is not None:
            self._reask(request, fallback, now, escalated=False)

    def _escalate(self, request: PendingRequest, now: float) -> bool:
        """Disagreeing labels: ask the adjudicator queue, if it has room and the budget allows."""
        target = self.queues.queue_settings(request.queue).escalate_to
        assert target is not None  # resolve() escalates only where a target is configured
        if self._reask(request, target, now, escalated=True):
            return True
        detail = f"adjudicator queue {target!r} full or budget exhausted"
        self._record(
            EvidenceKind.ESCALATION,
            request,
            request.id,
            now,
            fields={"resolution": "conflict", "detail": detail},
        )
        return False

    def _reask(self, request: PendingRequest, target: str, now: float, escalated: bool) -> bool:
        """Ask another queue about the same item; False if it is full or the budget refuses."""
        again = self.admission.reask(request, target, now, escalated)
        if again is None:
            return False
        message, _ = self.queues.prepare(again)
        self.queues.send(again, message, None)
        kind = EvidenceKind.ESCALATION if escalated else EvidenceKind.EXPIRY
        resolution = "escalated" if escalated else RequestOutcome.REROUTED.value
        detail = f"from {request.queue}"
        self._record(
            kind, again, request.id, now, fields={"resolution": resolution, "detail": detail}
        )
        return True

    def _record(
        self,
        kind: EvidenceKind,
        request: PendingRequest | None,
        item_id: str,
        now: float,
        record: Record | None = None,
        fields: LaterEvidence | None = None,
    ) -> None:
        evidence = self.evidence.about(kind, request, item_id, now, record, fields)
        self.trail.send(encode(evidence), item_id.encode(), None)

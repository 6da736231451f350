"""Label intake: label events become resolved labels, escalations or conflicts; open requests
that run out of time are closed (withdrawn, recorded, maybe re-routed)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from connectors.protocols import Sink
from connectors.record import Record
from daemon.contracts.evidence import EvidenceBuilder
from daemon.contracts.messages import EvidenceKind, LabelEvent, encode
from daemon.contracts.pending_request import PendingRequest, ReceivedLabel
from daemon.labeling.queues import ExpertQueues
from daemon.labeling.resolution import Outcome, resolve
from daemon.monitoring.burn import BurnRate
from daemon.monitoring.metrics import Metrics
from policies import Policy

_AUDIT = "audit"
_AGREEMENT_WINDOW = 500

#: Called with (request, resolved label, labeler role, label record, used_for, now).
Learn = Callable[[PendingRequest, str, str, Record, str, float], None]


class LabelIntake:
    """Resolves labels against outstanding requests and keeps the audit trail of each step.

    Learning itself is a callback into the daemon, which owns the model and its checkpoint.
    """

    def __init__(
        self,
        queues: ExpertQueues,
        policy: Policy,
        metrics: Metrics,
        burn: BurnRate,
        evidence: EvidenceBuilder,
        audit: Sink,
        learn: Learn,
    ) -> None:
        self.queues = queues
        self.pending = queues.pending
        self.policy = policy
        self.metrics = metrics
        self.burn = burn
        self.evidence = evidence
        self.audit = audit
        self.learn = learn
        self.agreement = {name: deque[float](maxlen=_AGREEMENT_WINDOW) for name in queues.settings}

    def mean_agreement(self, queue: str) -> float | None:
        """Mean agreement among overlapping labels of the queue's recent resolved items."""
        values = self.agreement[queue]
        return sum(values) / len(values) if values else None

    def take(self, label: LabelEvent, record: Record, now: float) -> None:
        """One valid label event."""
        request = self.pending.get(label.id)
        common: dict[str, Any] = {
            "label": label.label,
            "labeler_role": label.labeler_role,
            "labeler_id": label.labeler_id,
            "label_confidence": label.confidence,
        }
        if request is None:
            self.metrics.labels.labels("unmatched").inc()
            self._record(
                EvidenceKind.LABEL, None, label.id, now, record, resolution="unmatched", **common
            )
            return
        if label.abstain or label.label is None:
            self.metrics.labels.labels("abstained").inc()
            self.pending.pop(label.id)
            self._record(
                EvidenceKind.LABEL, request, label.id, now, record, resolution="abstained", **common
            )
            return
        if label.labeler_id is not None and any(
            x.labeler_id == label.labeler_id for x in request.labels
        ):
            self.metrics.labels.labels("duplicate").inc()
            return
        received = ReceivedLabel(
            label=label.label, labeler_id=label.labeler_id, labeler_role=label.labeler_role
        )
        request = request.model_copy(update={"labels": (*request.labels, received)})
        verdict = resolve(
            request.labels, self.queues.queue_settings(request.queue), request.escalated
        )
        common.update(
            labels_received=len(request.labels),
            agreement=verdict.agreement,
            resolution=verdict.resolution,
        )
        if verdict.agreement is not None:
            self.agreement[request.queue].append(verdict.agreement)
        if verdict.outcome is Outcome.AWAITING:
            self.pending.add(request)
            self._record(EvidenceKind.LABEL, request, label.id, now, record, **common)
            return
        self.pending.pop(label.id)
        if verdict.outcome is Outcome.ESCALATE:
            self._record(EvidenceKind.LABEL, request, label.id, now, record, **common)
            self._escalate(request, now)
            return
        if verdict.outcome is Outcome.CONFLICT or verdict.label is None:
            self.metrics.labels.labels("conflict").inc()
            self._record(EvidenceKind.LABEL, request, label.id, now, record, **common)
            return
        # Labels of the random audit slice are kept for evaluation, never for training.
        used_for = "evaluation" if request.reason == _AUDIT else "training"
        self._record(
            EvidenceKind.LABEL,
            request,
            label.id,
            now,
            record,
            used_for=used_for,
            **{**common, "label": verdict.label},
        )
        self.learn(request, verdict.label, label.labeler_role, record, used_for, now)

    def close(self, request: PendingRequest, now: float, why: str) -> None:
        """An open request leaves its queue unanswered: withdraw it, record it, maybe re-route."""
        self.queues.withdraw(request, now, why)
        self.metrics.expired.labels(request.queue).inc()
        self._record(EvidenceKind.EXPIRY, request, request.id, now, resolution=why)
        fallback = self.queues.queue_settings(request.queue).fallback_on_expiry
        if why == "expired" and fallback is not None:
            self._reask(request, fallback, now, escalated=False)

    def _escalate(self, request: PendingRequest, now: float) -> None:
        """Disagreeing labels: ask the adjudicator queue, if it has room and the budget allows."""
        target = self.queues.queue_settings(request.queue).escalate_to
        assert target is not None  # resolve() escalates only where a target is configured
        if not self._reask(request, target, now, escalated=True):
            self.metrics.labels.labels("conflict").inc()
            self._record(
                EvidenceKind.ESCALATION,
                request,
                request.id,
                now,
                resolution="conflict",
                detail=f"adjudicator queue {target!r} full or budget exhausted",
            )

    def _reask(self, request: PendingRequest, target: str, now: float, escalated: bool) -> bool:
        """Ask another queue about the same item, charged to the budget; False if it cannot."""
        cost = self.queues.cost(target, 1.0)
        if not self.pending.has_room(target) or not self.policy.budget.allows(cost, now):
            return False
        self.policy.budget.charge(cost, now)
        self.metrics.budget_charged.inc(cost)
        self.burn.add(now, cost)
        again = self.queues.reopen(request, target, self.policy.id, now, escalated=escalated)
        self.queues.open(again, None)
        self.metrics.queries.labels(target).inc()
        kind = EvidenceKind.ESCALATION if escalated else EvidenceKind.EXPIRY
        self._record(
            kind,
            again,
            request.id,
            now,
            resolution="escalated" if escalated else "rerouted",
            detail=f"from {request.queue}",
        )
        return True

    def _record(
        self,
        kind: EvidenceKind,
        request: PendingRequest | None,
        item_id: str,
        now: float,
        record: Record | None = None,
        **fields: Any,
    ) -> None:
        evidence = self.evidence.about(kind, request, item_id, now, record, **fields)
        self.audit.send(encode(evidence), item_id.encode(), None)

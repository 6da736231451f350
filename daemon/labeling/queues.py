"""Expert queues: routing, capacity and overflow, minimised requests, withdrawals."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.protocols import DeliveryCallback, Sink
from daemon.config import Overflow, QueueSettings, Settings
from daemon.contracts.messages import LabelRequest, PredictionEvent, encode
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.pending import PendingStore
from daemon.labeling.redaction import Redactor
from daemon.labeling.routing import Route, Router
from policies import Decision


def request_id(policy: str, item_id: str, queue: str) -> str:
    """The idempotency key of a request: stable for (policy, item, queue)."""
    return hashlib.blake2b(f"{policy}\x1f{item_id}\x1f{queue}".encode(), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True)
class Admission:
    """Where a query may go: the queue (None = refused) and a request it displaced, if any."""

    queue: str | None
    evicted: PendingRequest | None = None
    spilled: bool = False


class ExpertQueues:
    """The configured queues with their outstanding requests and outgoing sinks.

    Capacity is enforced per queue; a full queue applies its overflow rule (skip, spill to another
    queue, or replace its lowest-utility waiting request). Requests leave redacted: only
    allow-listed fields, masked or hashed where configured.
    """

    def __init__(self, settings: Settings, sinks: dict[str, Sink]) -> None:
        self.settings = {q.name: q for q in settings.queues}
        self.sinks = sinks
        self.router = Router(settings.routing, settings.queues)
        salt = (
            settings.redaction_salt.get_secret_value().encode() if settings.redaction_salt else b""
        )
        self.redactors = {q.name: Redactor(q, salt) for q in settings.queues}
        self.pending = PendingStore({q.name: q.capacity for q in settings.queues})

    def route(self, event: PredictionEvent, uncertainty: float) -> Route:
        """Candidate queues for an item."""
        return self.router.route(event, uncertainty)

    def choose(self, route: Route) -> str:
        """The cheapest candidate with room, else the first candidate (which will overflow)."""
        best = self.router.cheapest_with_room(route, self.pending.has_room)
        return best if best is not None else route.queues[0]

    def cost(self, queue: str, item_cost: float) -> float:
        """Budget units one label from this queue costs."""
        return self.settings[queue].cost * item_cost

    def would_admit(self, queue: str, utility: float) -> str | None:
        """The queue a new request of ``utility`` would land in, without changing anything."""
        if self.pending.has_room(queue):
            return queue
        q = self.settings[queue]
        if q.overflow is Overflow.SPILL and q.spill_to is not None:
            return q.spill_to if self.pending.has_room(q.spill_to) else None
        if q.overflow is Overflow.REPLACE:
            lowest = self.pending.lowest_utility(queue)
            if lowest is not None and lowest.utility < utility:
                return queue
        return None

    def admit(self, queue: str, utility: float) -> Admission:
        """Apply capacity and the overflow rule for a new request of ``utility``."""
        if self.pending.has_room(queue):
            return Admission(queue)
        q = self.settings[queue]
        if q.overflow is Overflow.SPILL and q.spill_to is not None:
            if self.pending.has_room(q.spill_to):
                return Admission(q.spill_to, spilled=True)
            return Admission(None)
        if q.overflow is Overflow.REPLACE:
            lowest = self.pending.lowest_utility(queue)
            if lowest is not None and lowest.utility < utility:
                self.pending.pop(lowest.id)
                return Admission(queue, evicted=lowest)
        return Admission(None)

    def pending_for(
        self,
        event: PredictionEvent,
        decision: Decision,
        queue: str,
        rule: str | None,
        policy: str,
        now: float,
    ) -> PendingRequest:
        """The request record for a new query (not yet tracked or sent)."""
        return PendingRequest(
            id=event.id,
            request_id=request_id(policy, event.id, queue),
            queue=queue,
            features=event.features,
            requested_at=now,
            deadline=now + self.settings[queue].ttl_seconds,
            probability=decision.probability,
            reason=decision.reason.value,
            utility=decision.utility,
            prediction=event.prediction,
            confidence=max(event.proba.values()) if event.proba else None,
            group=event.group,
            route_rule=rule,
            event_time=event.event_time.timestamp(),
            model_version=event.model_version,
            proba=event.proba,
        )

    def reopen(
        self, previous: PendingRequest, queue: str, policy: str, now: float, escalated: bool
    ) -> PendingRequest:
        """The same item asked again elsewhere (escalation to an adjudicator, or re-routing)."""
        return previous.model_copy(
            update={
                "request_id": request_id(policy, previous.id, queue),
                "queue": queue,
                "requested_at": now,
                "deadline": now + self.settings[queue].ttl_seconds,
                "escalated": escalated,
                "labels": previous.labels if escalated else (),
            }
        )

    def open(self, pending: PendingRequest, on_delivery: DeliveryCallback | None) -> dict[str, str]:
        """Track and send a request, minimised for its queue; return the redaction applied."""
        self.pending.add(pending)
        features, group, applied = self.redactors[pending.queue].apply(
            pending.features, pending.group
        )
        reason = "escalated" if pending.escalated else pending.reason
        message = self._message(pending, reason, features, group, withdrawn=False)
        self.sinks[pending.queue].send(encode(message), pending.id.encode(), on_delivery)
        return applied

    def withdraw(self, request: PendingRequest, now: float, reason: str) -> None:
        """Tell the queue an outstanding request is cancelled (expired or displaced)."""
        message = self._message(request, reason, {}, {}, withdrawn=True)
        self.sinks[request.queue].send(encode(message), request.id.encode(), None)

    def _message(
        self,
        pending: PendingRequest,
        reason: str,
        features: dict[str, Any],
        group: dict[str, str],
        withdrawn: bool,
    ) -> LabelRequest:
        q = self.settings[pending.queue]
        event_time = None
        if pending.event_time is not None and not withdrawn:
            event_time = datetime.fromtimestamp(pending.event_time, UTC)
        return LabelRequest.model_construct(
            schema_version=1,
            request_id=pending.request_id,
            id=pending.id,
            queue=pending.queue,
            role=q.role,
            requested_at=datetime.fromtimestamp(pending.requested_at, UTC),
            deadline=datetime.fromtimestamp(pending.deadline, UTC),
            priority=pending.utility,
            reason=reason,
            route_rule=pending.route_rule,
            instructions_id=q.instructions_id,
            instructions_version=q.instructions_version,
            labels_required=1 if pending.escalated else q.labels_required,
            event_time=event_time,
            features=features,
            prediction=None if withdrawn else pending.prediction,
            proba=None if withdrawn else pending.proba,
            model_version=None if withdrawn else pending.model_version,
            group=group,
            withdrawn=withdrawn,
        )

    def queue_settings(self, name: str) -> QueueSettings:
        """One queue's configuration."""
        return self.settings[name]

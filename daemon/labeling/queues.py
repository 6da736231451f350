"""Expert queues: the open requests of each queue, minimised request messages, withdrawals."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from connectors.protocols import DeliveryCallback, Sink
from daemon.config import QueueSettings, Settings
from daemon.contracts.messages import LabelRequest, RequestOutcome, encode
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.pending import PendingStore
from daemon.labeling.redaction import Redactor


class ExpertQueues:
    """The configured queues: their outstanding requests, outgoing sinks and redaction.

    The one owner of the pending-request store: everything else asks the queues (is an item
    open, how deep is a queue) and tells them what happened (a request opened, answered,
    evicted). Requests leave redacted: only allow-listed fields, masked or hashed where
    configured. Capacity is enforced by :class:`~daemon.labeling.admission.AdmissionStep`.
    """

    def __init__(self, settings: Settings, sinks: dict[str, Sink]) -> None:
        self.settings = {q.name: q for q in settings.queues}
        self.sinks = sinks
        salt = (
            settings.redaction_salt.get_secret_value().encode() if settings.redaction_salt else b""
        )
        self.redactors = {q.name: Redactor(q, salt) for q in settings.queues}
        self._pending = PendingStore({q.name: q.capacity for q in settings.queues})

    # ------------------------------------------------------------------ questions
    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, item_id: object) -> bool:
        """Whether an item has an open request."""
        return item_id in self._pending

    def get(self, item_id: str) -> PendingRequest | None:
        """The open request for an item, if any."""
        return self._pending.get(item_id)

    @property
    def capacity(self) -> int:
        """Total capacity over all queues."""
        return self._pending.capacity

    def has_room(self, queue: str) -> bool:
        """Whether one more request fits in the queue."""
        return self._pending.has_room(queue)

    def depth(self, queue: str) -> int:
        """Requests waiting in one queue."""
        return self._pending.outstanding(queue)

    def counts(self) -> dict[str, int]:
        """Outstanding requests per configured queue."""
        return self._pending.counts()

    def oldest_ages(self, now: float) -> dict[str, float]:
        """Per queue, seconds since its oldest outstanding request was made."""
        return self._pending.oldest_ages(now)

    def lowest_utility(self, queue: str) -> PendingRequest | None:
        """The waiting request of a queue that is least worth its place."""
        return self._pending.lowest_utility(queue)

    def cost(self, queue: str, item_cost: float) -> float:
        """Budget units one label from this queue costs."""
        return self.settings[queue].cost * item_cost

    # ------------------------------------------------------------------ changes
    def track(self, request: PendingRequest) -> None:
        """Hold a request as open (new, moved to another queue, or with one more label)."""
        self._pending.add(request)

    def remove(self, item_id: str) -> PendingRequest | None:
        """Stop holding an item's request (answered, abstained, evicted); None if not open."""
        return self._pending.pop(item_id)

    def forget(self, item_id: str) -> None:
        """Drop a request without recording a change (its partition moved to another replica,
        which restores it from the state log)."""
        self._pending.forget(item_id)

    def expire(self, now: float) -> list[PendingRequest]:
        """Remove and return the requests whose deadline has passed."""
        return self._pending.expire(now)

    def drain_changes(self) -> dict[str, PendingRequest | None]:
        """Changes since the last call, for the state log: request = upsert, None = removed."""
        return self._pending.drain_changes()

    def restore(self, requests: list[PendingRequest]) -> int:
        """Hold requests read back from the state log (those of queues still configured)."""
        kept = [r for r in requests if r.queue in self.settings]
        self._pending.restore(kept)
        return len(kept)

    # ------------------------------------------------------------------ messages
    def prepare(self, pending: PendingRequest) -> tuple[bytes, dict[str, str]]:
        """The request message minimised for its queue, and the redaction applied."""
        features, group, applied = self.redactors[pending.queue].apply(
            pending.features, pending.group
        )
        reason = "escalated" if pending.escalated else pending.reason
        message = self._message(pending, reason, features, group, withdrawn=False)
        return encode(message), applied

    def send(
        self, pending: PendingRequest, message: bytes, on_delivery: DeliveryCallback | None
    ) -> None:
        """Send a prepared request message to its queue's sink."""
        self.sinks[pending.queue].send(message, pending.id.encode(), on_delivery)

    def open(self, pending: PendingRequest, on_delivery: DeliveryCallback | None) -> dict[str, str]:
        """Track and send a request, minimised for its queue; return the redaction applied."""
        self.track(pending)
        message, applied = self.prepare(pending)
        self.send(pending, message, on_delivery)
        return applied

    def withdraw(self, request: PendingRequest, outcome: RequestOutcome) -> None:
        """Tell the queue an outstanding request is cancelled (expired or displaced)."""
        message = self._message(request, outcome.value, {}, {}, withdrawn=True)
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

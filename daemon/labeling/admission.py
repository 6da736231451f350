"""Admission: where a query goes, what it costs, and whether the queue and the budget take it.

One step owns the whole way from a decision to an open request: routing (which queues may
label the item), choosing among them (the cheapest with room), the cost of a label there, the
queue-capacity gate, capacity and overflow (refuse, spill to another queue, or evict the
lowest-utility waiting request) and the charge (through the :class:`SpendLedger`). It is
asked twice per item: :meth:`AdmissionStep.place` before the policy decides (the policy needs
the cost), :meth:`AdmissionStep.admit` after. Re-asks of an open request (escalation,
re-routing) pass the same capacity and budget checks in :meth:`AdmissionStep.reask`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

from daemon.config import Overflow, Settings
from daemon.contracts.fast_decode import Prediction
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.queues import ExpertQueues
from daemon.labeling.routing import Route, Router
from daemon.labeling.spend import SpendLedger
from policies import (
    Decision,
    ItemView,
    PolicyBatch,
    QueueCapacityGate,
    Reason,
    Row,
    as_decision,
    as_row,
)

_Choice = tuple[str, str | None, float, bool, bool]
"""A placement without the item's cost: queue, rule, cost per label, room, spilled."""


def request_id(policy: str, item_id: str, queue: str) -> str:
    """The idempotency key of a request: stable for (policy, item, queue)."""
    return hashlib.blake2b(f"{policy}\x1f{item_id}\x1f{queue}".encode(), digest_size=12).hexdigest()


def numeric_vector(features: Mapping[str, Any]) -> tuple[float, ...]:
    """The numeric features in name order (the vector diversity filtering compares)."""
    return tuple(
        float(v)
        for _, v in sorted(features.items())
        if isinstance(v, int | float) and not isinstance(v, bool)
    )


class Placement(msgspec.Struct, frozen=True, gc=False):
    """Where a query for an item would go, decided before the policy sees the item.

    ``queue`` is the target after overflow-by-spill is resolved, so ``cost`` (the label's
    price there, in budget units) is computed once and is what the policy decides with and
    what is charged. ``room`` is False when the target is full (the query can then only evict
    a less useful request, if the queue's overflow rule says so); ``spilled`` when the target
    is the chosen queue's spill queue.
    """

    queue: str
    rule: str | None
    cost: float
    room: bool
    spilled: bool = False


class Admitted(msgspec.Struct, frozen=True, gc=False):
    """The final decision, the request it opened (None: not queried) and a request it evicted."""

    decision: Decision
    request: PendingRequest | None = None
    evicted: PendingRequest | None = None


def queue_gates(settings: Settings) -> dict[str, QueueCapacityGate]:
    """One capacity gate per expert queue (none when ``policy.queue_gate_exponent`` is null).

    The daemon's admission and the backtest both build their gates here.
    """
    exponent = settings.policy.queue_gate_exponent
    if exponent is None:
        return {}
    seed = settings.policy.seed
    return {q.name: QueueCapacityGate(q.capacity, exponent, seed) for q in settings.queues}


class AdmissionStep:
    """Routes, prices, gates, admits and charges queries; the queues hold what it opens.

    Parameters
    ----------
    settings
        Queues, routing rules and the queue gate's exponent and seed.
    queues
        The expert queues (owner of the open requests).
    ledger
        Where admitted queries are paid for.
    policy_id
        The policy's id, part of every request's idempotency key.
    vectors
        Whether re-asks carry the numeric feature vector (only diversity filtering reads it).
    """

    def __init__(
        self,
        settings: Settings,
        queues: ExpertQueues,
        ledger: SpendLedger,
        policy_id: str,
        vectors: bool = False,
    ) -> None:
        self.queues = queues
        self.ledger = ledger
        self.policy_id = policy_id
        self.vectors = vectors
        self.router = Router(settings.routing, settings.queues)
        self._overflow = {q.name: (q.overflow, q.spill_to) for q in settings.queues}
        self._ttl = {q.name: q.ttl_seconds for q in settings.queues}
        self._unit = {q.name: q.cost for q in settings.queues}
        self._gates = queue_gates(settings)
        # What depends only on the queues' depths is worked out once per change of them: the
        # queues' counts mapping is rebuilt on every change, so its identity says when.
        self._static = not self.router.has_rules
        self._seen: dict[str, int] | None = None
        self._choice: _Choice = ("", None, 1.0, False, False)
        self._factors: dict[str, float] = {}
        self._factors_seen: dict[str, int] | None = None

    def place(self, event: Prediction, uncertainty: float) -> Placement:
        """Route the item and choose its queue: the cheapest candidate with room, else the
        first candidate's overflow (its spill queue when that has room, else itself, full)."""
        if self._static:  # every item takes the default route: one choice per change of depths
            counts = self.queues.counts()
            if counts is not self._seen:
                self._choice = self._choose(self.router.default)
                self._seen = counts
            queue, rule, unit, room, spilled = self._choice
        else:
            queue, rule, unit, room, spilled = self._choose(self.router.route(event, uncertainty))
        return Placement(queue, rule, unit * (event.cost or 1.0), room, spilled)

    def _choose(self, route: Route) -> _Choice:
        """Queue, rule, cost per label, room and spilled for a route, as the queues are now."""
        has_room = self.queues.has_room
        queue = self.router.cheapest_with_room(route, has_room)
        if queue is not None:
            return (queue, route.rule, self._unit[queue], True, False)
        first = route.queues[0]
        overflow, spill_to = self._overflow[first]
        if overflow is Overflow.SPILL and spill_to is not None and has_room(spill_to):
            return (spill_to, route.rule, self._unit[spill_to], True, True)
        return (first, route.rule, self._unit[first], False, False)

    def _factor(self, queue: str, gate: QueueCapacityGate) -> float:
        """The gate's keep probability at the queue's depth, once per change of the queues."""
        counts = self.queues.counts()
        if counts is not self._factors_seen:
            self._factors = {}
            self._factors_seen = counts
        factor = self._factors.get(queue)
        if factor is None:
            factor = self._factors[queue] = gate.factor(self.queues.depth(queue))
        return factor

    def admit(
        self,
        event: Prediction,
        item: ItemView,
        decision: Decision,
        placement: Placement,
        now: float,
    ) -> Admitted:
        """Gate, admit and charge a decision; open its request. A refusal is not charged.

        Every decision, queried or not, gets the queue's say, so the logged probability stays the
        item's marginal chance of a query: with room, the capacity gate thins it (an independent
        draw); a full queue keeps it only if its overflow rule would take the item.
        """
        queue = placement.queue
        if placement.room and not placement.spilled:
            gate = self._gates.get(queue)
            if gate is not None:
                decision = gate.apply(decision, item, self.queues.depth(queue))
        elif not decision.query:
            return Admitted(self._overflow_chance(decision, placement, now))
        if not decision.query:
            return Admitted(decision)
        return self._open(event, item, decision, placement, now)

    def admit_row(
        self,
        event: Prediction,
        row: Row,
        placement: Placement,
        now: float,
        batch: PolicyBatch,
        index: int,
    ) -> tuple[Row, PendingRequest | None, PendingRequest | None]:
        """:meth:`admit` for item ``index`` of a batch decided as rows: the final row, the
        request opened and the request evicted.

        Only the items that open a request, or meet a full queue with a chance of a query,
        become decision objects; the others are gated on the row.
        """
        if placement.room and not placement.spilled:
            gate = self._gates.get(placement.queue)
            if gate is not None:
                row = gate.thin_row(row, event.id, self._factor(placement.queue, gate))
            if not row[0]:
                return row, None, None
        elif not row[0]:
            if row[2] == 0.0:  # no chance of a query: the overflow rule has nothing to take
                return row, None, None
            return as_row(self._overflow_chance(as_decision(row), placement, now)), None, None
        item = batch.item(index, placement.cost)
        admitted = self._open(event, item, as_decision(row), placement, now)
        return as_row(admitted.decision), admitted.request, admitted.evicted

    def _open(
        self,
        event: Prediction,
        item: ItemView,
        decision: Decision,
        placement: Placement,
        now: float,
    ) -> Admitted:
        """Open the request of a query that passed the gate, if the queue and budget let it."""
        queue = placement.queue
        victim: PendingRequest | None = None
        if not placement.room:
            victim = self._victim(queue, decision.utility)
            if victim is None:
                return Admitted(decision.refused(Reason.QUEUE_FULL))
        elif placement.spilled and not self.ledger.allows(placement.cost, now):
            return Admitted(decision.refused(Reason.BUDGET_EXHAUSTED))
        request = self._request(event, decision, queue, placement.rule, now)
        self.ledger.charge(decision, item, queue, now)
        if victim is not None:
            self.queues.remove(victim.id)
        self.queues.track(request)
        return Admitted(decision, request, victim)

    def reask(
        self, request: PendingRequest, target: str, now: float, escalated: bool
    ) -> PendingRequest | None:
        """Ask ``target`` about an open request's item, charged like a new query; the new
        request is tracked (not yet sent), or None when the queue is full or the budget
        refuses."""
        cost = self.queues.cost(target, 1.0)
        if not self.queues.has_room(target) or not self.ledger.allows(cost, now):
            return None
        again = request.model_copy(
            update={
                "request_id": request_id(self.policy_id, request.id, target),
                "queue": target,
                "requested_at": now,
                "deadline": now + self._ttl[target],
                "escalated": escalated,
                "labels": request.labels if escalated else (),
            }
        )
        item = ItemView(
            request.id,
            request.proba or {},
            cost,
            group=request.group,
            vector=numeric_vector(request.features) if self.vectors else (),
        )
        self.ledger.charge(_repeat(request), item, target, now)
        self.queues.track(again)
        return again

    def would_admit(self, queue: str, utility: float) -> str | None:
        """The queue a new request of ``utility`` for ``queue`` would land in (its spill queue,
        or itself by replacing a less useful request), without changing anything."""
        if self.queues.has_room(queue):
            return queue
        overflow, spill_to = self._overflow[queue]
        if overflow is Overflow.SPILL and spill_to is not None:
            return spill_to if self.queues.has_room(spill_to) else None
        return queue if self._victim(queue, utility) is not None else None

    def _overflow_chance(self, decision: Decision, placement: Placement, now: float) -> Decision:
        """An unqueried item for a full queue: had it been queried, would the overflow rule
        have taken it? That depends on its utility and the queues, not on a draw, so the
        probability keeps all of its mass or none."""
        if decision.probability == 0.0:
            return decision
        if placement.spilled:
            # The spill queue has room; its label would have had to fit the budget.
            taken = self.ledger.allows(placement.cost, now)
        else:
            taken = self.would_admit(placement.queue, decision.utility) is not None
        return decision if taken else decision.scaled(0.0)

    def _victim(self, queue: str, utility: float) -> PendingRequest | None:
        """The waiting request a query of ``utility`` may replace (overflow ``replace``)."""
        overflow, _ = self._overflow[queue]
        if overflow is not Overflow.REPLACE:
            return None
        lowest = self.queues.lowest_utility(queue)
        if lowest is not None and lowest.utility < utility:
            return lowest
        return None

    def _request(
        self,
        event: Prediction,
        decision: Decision,
        queue: str,
        rule: str | None,
        now: float,
    ) -> PendingRequest:
        # Every value comes from a validated event or the decision: built without validating
        # again (one is built per query).
        return PendingRequest.model_construct(
            id=event.id,
            request_id=request_id(self.policy_id, event.id, queue),
            queue=queue,
            features=event.features,
            requested_at=now,
            deadline=now + self._ttl[queue],
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


def _repeat(request: PendingRequest) -> Decision:
    """The decision a re-ask repeats: the original query's reason, probability and utility."""
    try:
        reason = Reason(request.reason)
    except ValueError:  # a request restored from an older state with a retired reason
        reason = Reason.UNCERTAIN
    return Decision(
        query=True, reason=reason, probability=request.probability, utility=request.utility
    )

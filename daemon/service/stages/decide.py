"""Decide: the policy's decision for each item, priced at the queue it would go to."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from daemon.labeling.admission import AdmissionStep, numeric_vector
from daemon.labeling.queues import ExpertQueues
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.pipeline import Decided, Scored
from policies import Decision, ItemView, Policy, Reason

Committee = Callable[[Scored], tuple[Mapping[str, float], ...]]


def _no_vector(features: Mapping[str, Any]) -> tuple[float, ...]:
    return ()


def _no_committee(scored: Scored) -> tuple[Mapping[str, float], ...]:
    return ()


def prod_and_online(scored: Scored) -> tuple[Mapping[str, float], ...]:
    """The production and the online model as a committee of two (when both can say)."""
    proba = scored.decoded.event.proba
    if proba is None or not scored.online:
        return ()
    return (proba, scored.online)


class Decide:
    """Asks the policy about each item; an item whose request is still open is a duplicate.

    Parameters
    ----------
    policy
        Decides without spending (admission charges what it admits).
    queues
        Asked whether the item already has an open request.
    admission
        Places the item (route, queue, cost) before the policy decides.
    model
        How many classes the online model has seen (cold start).
    vectors, committee
        Which optional views of an item the configured strategy needs (diversity filtering,
        query by committee); decided here, once.
    """

    def __init__(
        self,
        policy: Policy,
        queues: ExpertQueues,
        admission: AdmissionStep,
        model: ModelCheckpoint,
        vectors: bool = False,
        committee: bool = False,
    ) -> None:
        self.policy = policy
        self.queues = queues
        self.admission = admission
        self.model = model
        self._vector = numeric_vector if vectors else _no_vector
        self._committee: Committee = prod_and_online if committee else _no_committee

    def __call__(self, scored: Scored) -> Decided:
        """Decide for one item."""
        event = scored.decoded.event
        if event.id in self.queues:
            # A redelivered item whose request is still open: never a second request.
            decision = Decision(
                query=False, reason=Reason.DUPLICATE, probability=0.0, utility=scored.uncertainty
            )
            return Decided(scored, ItemView(event.id, scored.scores), decision, None)
        placement = self.admission.place(event, scored.uncertainty)
        item = ItemView(
            event.id,
            scored.scores,
            placement.cost,
            self.model.learner.classes_seen,
            event.group,
            self._committee(scored),
            self._vector(event.features),
        )
        return Decided(scored, item, self.policy.decide(item, scored.decoded.now), placement)

"""Select: decide and admit a whole batch, the independent part at once, the rest item by item.

The fast form of :class:`~daemon.service.pipeline.ItemSelect` (decide, then admit, one item
after the other, with a decision object per layer): the policy decides what does not depend on
earlier items for the whole batch (:meth:`policies.Policy.batch`), and one pass over the batch
runs what does, on rows: the partition's ledger, duplicates, placement, the budget and the
ranking, the capacity gate, the request. Decision objects are made only for the items that
open a request (the spend ledger and the strategy's commit hook take them). The outcome is the
reference's, field for field (``tests/unit/daemon/service/test_fast_path.py``).
"""

from __future__ import annotations

from daemon.labeling.admission import AdmissionStep, numeric_vector
from daemon.labeling.queues import ExpertQueues
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.partitions import PartitionState
from daemon.service.pipeline import Failed, ItemSelect, Rejections, Scored, Selected
from daemon.service.stages.decide import prod_and_online
from policies import ItemColumns, Policy, PolicyBatch, Reason


class BatchSelect:
    """Decides and admits a batch: the policy's rows for the batch, then one pass in order.

    Parameters
    ----------
    policy, queues, admission, partitions, model
        As for the decide and admit stages.
    rejections
        Dead letters for items whose selection raised.
    fallback
        The item-by-item selection, for a batch whose columns cannot be built (one bad item
        then fails alone).
    vectors, committee
        Which optional views of an item the configured strategy needs; decided here, once.
    """

    def __init__(
        self,
        policy: Policy,
        queues: ExpertQueues,
        admission: AdmissionStep,
        partitions: PartitionState,
        model: ModelCheckpoint,
        rejections: Rejections,
        fallback: ItemSelect,
        vectors: bool = False,
        committee: bool = False,
    ) -> None:
        self.policy = policy
        self.queues = queues
        self.admission = admission
        self.partitions = partitions
        self.model = model
        self.rejections = rejections
        self.fallback = fallback
        self.vectors = vectors
        self.committee = committee
        self._snapshot = policy.budget.snapshot  # what Policy.snapshot returns, one call less

    def __call__(self, batch: tuple[Scored | Failed, ...]) -> tuple[Selected | Failed, ...]:
        """Select every item of the batch, in order."""
        scored = [v for v in batch if not isinstance(v, Failed)]
        if not scored:
            return tuple(v for v in batch if isinstance(v, Failed))
        try:
            plan = self.policy.batch(self._columns(scored))
        except Exception:  # a bad item among them: item by item, where it fails alone
            return self.fallback(batch)
        out: list[Selected | Failed] = []
        one = self._one
        index = 0
        for value in batch:
            if isinstance(value, Failed):
                out.append(value)
                continue
            try:
                out.append(one(value, plan, index))
            except Exception as exc:  # one item's failure must not stop the loop
                out.append(self.rejections.failed(value.decoded.record, exc, value.decoded.now))
            index += 1
        return tuple(out)

    def _columns(self, scored: list[Scored]) -> ItemColumns:
        events = [s.decoded.event for s in scored]
        return ItemColumns(
            [e.id for e in events],
            [s.scores for s in scored],
            [e.group for e in events],
            self.model.learner.classes_seen,
            [prod_and_online(s) for s in scored] if self.committee else None,
            [numeric_vector(e.features) for e in events] if self.vectors else None,
        )

    def _one(self, scored: Scored, plan: PolicyBatch, index: int) -> Selected:
        decoded = scored.decoded
        event, now = decoded.event, decoded.now
        key = event.id
        partition = decoded.record.partition
        parts = self.partitions
        parts.select(partition)
        if parts.is_closed(key) or key in self.queues:
            # A redelivered item whose request is open or closed: never a second request.
            return Selected(
                scored,
                False,
                Reason.DUPLICATE,
                0.0,
                scored.uncertainty,
                None,
                self._snapshot(now),
                self.queues.counts(),
            )
        placement = self.admission.place(event, scored.uncertainty)
        row = plan.decide(index, placement.cost, now)
        (query, reason, probability, utility, threshold, _), request, evicted = (
            self.admission.admit_row(event, row, placement, now, plan, index)
        )
        if request is not None:
            parts.opened(request.id, partition)
        return Selected(
            scored,
            query,
            reason,
            probability,
            utility,
            threshold,
            self._snapshot(now),
            self.queues.counts(),
            request,
            evicted,
        )

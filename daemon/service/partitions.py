"""State that belongs to an input partition and moves with it: budget ledger, requests, labels.

A replica owns some partitions of the predictions topic. For each it keeps the spend of the
absolute budget charged to that partition's items (each partition may spend ``limit / N`` per
period, so the group can never spend more than the limit, however partitions move), the
partition's open requests, a bounded memory of its closed requests, and how far the label stream
has been applied to its requests. All of it is written to the state log inside the transaction
and restored by the next owner when the partition moves (see :mod:`daemon.service.state`).

Labels are read by every replica; a label is applied to a request only by the replica owning the
request's partition, and only if its offset is at or past that partition's label position, so
a label is applied once however often it is read (after a rewind, a crash or a hand-over).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from connectors.protocols import Sink
from connectors.record import Record
from daemon.contracts.evidence import EvidenceBuilder
from daemon.contracts.messages import LabelEvent, RequestOutcome
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.admission import AdmissionStep
from daemon.labeling.intake import LabelIntake, LabelUse, LabelVerdict
from daemon.labeling.queues import ExpertQueues
from daemon.monitoring.metrics import Metrics
from daemon.service.closed_requests import ClosedRequests
from daemon.service.pipeline import Decided, ItemStage, Scored, Selected
from daemon.service.state import (
    ClosedRequest,
    LedgerState,
    PartitionRecords,
    RequestRecord,
    StateLog,
)
from policies import BudgetManager, BudgetSnapshot, Decision, ItemView, Reason
from policies.budget import absolute_members


class PartitionState:
    """Per input partition: ledger, open and closed requests, label positions.

    Parameters
    ----------
    queues
        The owner of the open requests; this object tells it which requests arrive and leave
        with a partition, and reads its changes at commit.
    budget
        The policy's budget; its absolute members are switched to the ledger of the partition of
        the item being decided (:meth:`select`).
    horizon_seconds, memory
        How long, and how many per partition, closed request ids are remembered. Longer means a
        later redelivery is still recognised; the state log grows with it.
    """

    def __init__(
        self,
        queues: ExpertQueues,
        budget: BudgetManager,
        horizon_seconds: float = 7 * 86400.0,
        memory: int = 100_000,
    ) -> None:
        self.pending = queues
        self.horizon_seconds = horizon_seconds
        self.memory = memory
        self._caps = absolute_members(budget)
        self._total = 1
        self._limits: list[list[float]] = [[cap.limit] for cap in self._caps]
        self.owned: set[int] = set()
        self._ledgers: dict[int, list[dict[str, object]]] = {}
        self._current: int | None = None
        self._of: dict[str, int] = {}
        # The closed requests remembered, per partition: only the id and the closing time, since
        # the record itself goes to the state log when written.
        self._closed = ClosedRequests(memory, horizon_seconds)
        self._floors: dict[int, dict[int, int]] = {}
        self._written: dict[int, str] = {}
        self._forgotten: list[tuple[int, str]] = []
        self._why: dict[str, tuple[str, str, float]] = {}

    # ------------------------------------------------------------------ ownership
    @property
    def total(self) -> int:
        """Partitions of the input topic."""
        return self._total

    def set_total(self, partitions: int) -> None:
        """The input topic's partition count: each partition's ledger gets ``limit / N``.

        An integral limit is split into integral caps that add up to it (700 over 3
        partitions: 234, 233, 233), so whole-label costs can spend the limit exactly.
        """
        n = self._total = max(1, partitions)
        self._limits = []
        for cap in self._caps:
            limit = cap.limit
            if float(limit).is_integer():
                base, extra = divmod(int(limit), n)
                self._limits.append([float(base + (1 if p < extra else 0)) for p in range(n)])
            else:
                self._limits.append([limit / n] * n)

    @property
    def owns_all(self) -> bool:
        """Whether this replica owns every input partition (a label it cannot match is then
        unmatched, not someone else's)."""
        return len(self.owned) >= self._total

    def assign(
        self, restored: Mapping[int, PartitionRecords], reader: Mapping[int, int]
    ) -> dict[int, int] | None:
        """Take over partitions with what the log held about them.

        ``reader`` is the label reader's next offset per label partition. Returns where the
        reader must restart (per label partition) when a new partition's labels are behind it,
        else None. Partitions already owned keep their position, so nothing is applied twice.
        """
        rewind: dict[int, int] = {}
        self._closed.reserve(len(self.owned | set(restored)))
        for p, records in restored.items():
            self._select_none()
            ledger = records.ledger
            if ledger is not None and len(ledger.budgets) == len(self._caps):
                self._ledgers[p] = [dict(b) for b in ledger.budgets]
            else:
                self._ledgers[p] = [_fresh() for _ in self._caps]
            floors = {int(k): v for k, v in (ledger.label_offsets if ledger else {}).items()}
            for lp, offset in reader.items():
                # A partition without a ledger has no requests: no earlier label concerns it. A
                # label partition its previous owner never read has nothing applied: from 0.
                floors.setdefault(lp, offset if ledger is None else 0)
                if floors[lp] < offset:
                    rewind[lp] = min(rewind.get(lp, offset), floors[lp])
            self._floors[p] = floors
            self._closed.extend(p, sorted(records.closed.items(), key=lambda kv: kv[1]))
            self.pending.restore(records.open)
            for request in records.open:
                self._of[request.id] = p
            self.owned.add(p)
        if not rewind:
            return None
        # Partitions owned before keep what they have applied: freeze it before rewinding.
        for p in self.owned - set(restored):
            for lp, offset in reader.items():
                self._floors[p][lp] = max(self._floors[p].get(lp, 0), offset)
        return {lp: min(rewind.get(lp, offset), offset) for lp, offset in reader.items()}

    def revoke(self, partitions: Iterable[int]) -> None:
        """Hand partitions over (after a commit): forget their requests, ledger and memory."""
        gone = set(partitions) & self.owned
        if not gone:
            return
        if self._current in gone:
            self._current = None
        for item_id in [i for i, p in self._of.items() if p in gone]:
            self.pending.forget(item_id)
            del self._of[item_id]
        for p in gone:
            self._closed.drop(p)
            self._ledgers.pop(p, None)
            self._floors.pop(p, None)
            self._written.pop(p, None)
            self.owned.discard(p)
        self._forgotten = [(p, i) for p, i in self._forgotten if p not in gone]

    # ------------------------------------------------------------------ per item
    def select(self, partition: int) -> None:
        """Point the absolute budget at this partition's ledger before deciding or charging."""
        if partition == self._current or partition not in self._ledgers:
            return
        self._select_none()
        for i, (cap, state) in enumerate(zip(self._caps, self._ledgers[partition], strict=True)):
            cap.load_state(state)  # type: ignore[arg-type]
            cap.set_cap(self._limits[i][partition % self._total])
        self._current = partition

    def _select_none(self) -> None:
        if self._current is not None and self._current in self._ledgers:
            self._ledgers[self._current] = [cap.state_dict() for cap in self._caps]
        self._current = None

    def opened(self, item_id: str, partition: int) -> None:
        """A request was opened for an item of this partition."""
        self._of[item_id] = partition
        self._closed.discard(item_id)

    def partition_of(self, item_id: str) -> int | None:
        """The partition owning an item's open (or just closed) request."""
        return self._of.get(item_id)

    def is_closed(self, item_id: str) -> bool:
        """Whether the item's request was already closed (answered, withdrawn, expired)."""
        if item_id in self._closed:
            return True
        return item_id in self._of and item_id not in self.pending

    def applies(self, item_id: str, label_partition: int, offset: int) -> bool:
        """Whether a label at this position is still to be applied to the item's request (open
        or closed here): False for a label re-read below its partition's label position."""
        p = self._of.get(item_id)
        if p is None:
            p = self._closed.partition_of(item_id)
        if p is None:
            return True
        return offset >= self._floors.get(p, {}).get(label_partition, 0)

    def snapshot(self, base: BudgetSnapshot, now: float) -> BudgetSnapshot:
        """The policy's budget snapshot with the absolute figures summed over owned partitions."""
        if not self._caps or not self._ledgers:
            return base
        self._select_none()
        cap = self._caps[0]
        spent = 0.0
        for p in self.owned:
            cap.load_state(self._ledgers[p][0])  # type: ignore[arg-type]
            spent += cap.snapshot(now).spent
        limit = sum(self._limits[0][p % self._total] for p in self.owned)
        self._current = None
        return BudgetSnapshot(
            spent,
            limit,
            max(0.0, limit - spent),
            base.fraction,
            base.period_start,
            base.period_end,
        )

    # ------------------------------------------------------------------ commit
    def positions(self, reader: Mapping[int, int]) -> dict[int, dict[int, int]]:
        """Per owned partition, the next label offset not yet applied to its requests."""
        return {
            p: {
                lp: max(self._floors[p].get(lp, 0), reader.get(lp, 0))
                for lp in {*reader, *self._floors[p]}
            }
            for p in self.owned
        }

    def write(self, log: StateLog, reader: Mapping[int, int], now: float) -> None:
        """Write every change since the last call: requests, closed memory, ledgers."""
        for item_id, request in self.pending.drain_changes().items():
            p = self._of.get(item_id)
            if p is None:
                continue
            if request is not None:
                log.write_request(p, item_id, RequestRecord(open=request))
                continue
            del self._of[item_id]
            closed = self._remember(p, item_id, request_id=item_id, why="closed", at=now)
            log.write_request(p, item_id, RequestRecord(closed=closed))
        for p, item_id in self._forgotten:
            log.write_request(p, item_id, None)
        self._forgotten = []
        self._expire_memory(now)
        for p, item_id in self._forgotten:
            log.write_request(p, item_id, None)
        self._forgotten = []
        self._select_none()
        for p, labels in self.positions(reader).items():
            ledger = LedgerState(
                budgets=self._ledgers[p], label_offsets={str(k): v for k, v in labels.items()}
            )
            text = ledger.model_dump_json()
            if self._written.get(p) != text:
                log.write_ledger(p, ledger)
                self._written[p] = text

    def closing(self, request: PendingRequest, why: str, at: float) -> None:
        """Note why and when (on the daemon's clock) a request is being closed: answered,
        expired, evicted, withdrawn. The moment of closing, not of the next state write, so
        the closed-request memory does not depend on when commits happen."""
        self._why[request.id] = (request.request_id, why, at)

    def _remember(
        self, p: int, item_id: str, request_id: str, why: str, at: float
    ) -> ClosedRequest:
        """Remember a closed request (its time) and return its record for the state log."""
        request_id, why, at = self._why.pop(item_id, (request_id, why, at))
        self._closed.add(p, item_id, at)
        return ClosedRequest(request_id=request_id, why=why, at=at)

    def _expire_memory(self, now: float) -> None:
        self._forgotten.extend(self._closed.expire(now))


def _fresh() -> dict[str, object]:
    """The state of an absolute budget that has spent nothing yet."""
    return {"period": None, "spent": 0.0}


class PartitionIntake(LabelIntake):
    """Label intake that knows which partition owns each request.

    A label whose request this replica does not hold is someone else's when another replica
    owns partitions (every replica reads every label): it is skipped silently and counted
    ``not_owned``, so a label is recorded once, by the owner of its request. A label already
    applied to its request's partition (re-read after a rewind or a crash) is skipped too.
    Before a label or a closing can charge a re-ask, the request's ledger is selected.
    """

    def __init__(
        self,
        partitions: PartitionState,
        queues: ExpertQueues,
        admission: AdmissionStep,
        metrics: Metrics,
        evidence: EvidenceBuilder,
        audit: Sink,
    ) -> None:
        super().__init__(queues, admission, metrics, evidence, audit)
        self.partitions = partitions

    def take(self, label: LabelEvent, record: Record, now: float) -> LabelVerdict:
        """Resolve the label if this replica owns its request and has not applied it yet."""
        parts = self.partitions
        if not parts.applies(label.id, record.partition, record.offset):
            # Read again (after a rewind or a restart): applied already, recorded already.
            return LabelVerdict(LabelUse.AWAITING, role=label.labeler_role)
        request = self.queues.get(label.id)
        if request is None and not parts.owns_all and not parts.is_closed(label.id):
            self.metrics.labels.labels("not_owned").inc()
            return LabelVerdict(LabelUse.AWAITING, role=label.labeler_role)
        owner = parts.partition_of(label.id)
        if owner is not None:
            parts.select(owner)
        verdict = super().take(label, record, now)
        if request is not None and label.id not in self.queues:
            parts.closing(request, "answered", now)
        return verdict

    def close(self, request: PendingRequest, now: float, outcome: RequestOutcome) -> None:
        """Close an open request, on its partition's ledger, remembering why."""
        owner = self.partitions.partition_of(request.id)
        if owner is not None:
            self.partitions.select(owner)
        self.partitions.closing(request, outcome.value, now)
        super().close(request, now, outcome)


class LedgerDecide:
    """The decide stage on the ledger of the item's partition; a closed request is final.

    A redelivered item whose request was answered, withdrawn or expired gets no new request
    (reason ``duplicate``), as long as the closed-request memory remembers it.
    """

    def __init__(self, partitions: PartitionState, decide: ItemStage[Scored, Decided]) -> None:
        self.partitions = partitions
        self.decide = decide

    def __call__(self, scored: Scored) -> Decided:
        """Select the partition's ledger, then decide."""
        decoded = scored.decoded
        self.partitions.select(decoded.record.partition)
        if self.partitions.is_closed(decoded.event.id):
            decision = Decision(
                query=False,
                reason=Reason.DUPLICATE,
                probability=0.0,
                utility=scored.uncertainty,
                threshold=None,
            )
            return Decided(scored, ItemView(decoded.event.id, scored.scores), decision, None)
        return self.decide(scored)


class OwnedAdmit:
    """The admit stage, telling the partition state which partition a new request belongs to."""

    def __init__(self, partitions: PartitionState, admit: ItemStage[Decided, Selected]) -> None:
        self.partitions = partitions
        self.admit = admit

    def __call__(self, decided: Decided) -> Selected:
        """Admit, then note the new request's partition."""
        selected = self.admit(decided)
        if selected.request is not None:
            record = decided.scored.decoded.record
            self.partitions.opened(selected.request.id, record.partition)
        return selected

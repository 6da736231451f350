"""Partition state: per-partition ledgers, requests and label positions that move together."""

from daemon.config import Settings
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.queues import ExpertQueues
from daemon.service.partitions import PartitionState
from daemon.service.state import (
    LedgerState,
    PartitionRecords,
    RequestRecord,
    StateLog,
)
from policies import AbsoluteBudget, CombinedBudget, FractionBudget


class Recorder:
    """A state sink that keeps what was written."""

    name = "state"

    def __init__(self):
        self.sent = []

    def send(self, value, key=None, on_delivery=None):
        self.sent.append((key, value))


def req(item_id, deadline=1e9):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue="default",
        features={"x": 1.0},
        requested_at=0.0,
        deadline=deadline,
        probability=1.0,
        reason="uncertain",
    )


def queues():
    return ExpertQueues(Settings(classes=["0", "1"]), {"default": Recorder()})


def state(limit=10, partitions=3):
    q = queues()
    cap = AbsoluteBudget(limit, 1e9)
    ps = PartitionState(q, CombinedBudget(FractionBudget(1.0, 10), cap))
    ps.set_total(partitions)
    return ps, q, cap


def spend_all(ps, cap, partition):
    ps.select(partition)
    spent = 0
    while cap.allows(1.0, 1.0):
        cap.charge(1.0, 1.0)
        spent += 1
    return spent


def test_each_partition_spends_its_integral_share_of_the_limit():
    """A limit of 10 over 3 partitions is 4 + 3 + 3: the partitions together spend exactly it."""
    ps, _, cap = state()
    ps.assign({p: PartitionRecords() for p in range(3)}, {})
    assert [spend_all(ps, cap, p) for p in range(3)] == [4, 3, 3]
    assert ps.snapshot(cap.snapshot(1.0), 1.0).spent == 10


def test_a_moved_partition_keeps_its_spend_so_the_group_cannot_overspend():
    """The ledger written at hand-over comes back at the new owner: nothing is spent twice."""
    a, _, cap_a = state()
    a.assign({0: PartitionRecords()}, {})
    assert spend_all(a, cap_a, 0) == 4
    log = StateLog(Recorder(), "a")
    a.write(log, {}, now=1.0)
    ledger = LedgerState.model_validate_json(log.sink.sent[-1][1])
    b, _, cap_b = state()
    b.assign({0: PartitionRecords(ledger=ledger)}, {})
    assert spend_all(b, cap_b, 0) == 0


def test_revoked_partitions_take_their_requests_with_them():
    """After revocation the requests of the partition are gone without a tombstone (its next
    owner restores them); the other partition's stay."""
    ps, q, _ = state()
    ps.assign({0: PartitionRecords(open=[req("a")]), 1: PartitionRecords(open=[req("b")])}, {})
    assert "a" in q
    assert "b" in q
    ps.revoke([0])
    assert "a" not in q
    assert "b" in q
    log = StateLog(Recorder(), "x")
    ps.write(log, {}, now=1.0)
    assert not [k for k, _ in log.sink.sent if b"/req/" in k]


def test_a_closed_request_is_remembered_and_forgotten_after_the_horizon():
    """An answered request's item counts as closed (no new request) until the horizon passes;
    then its record is tombstoned."""
    q = queues()
    ps = PartitionState(q, FractionBudget(1.0, 10), horizon_seconds=100.0)
    ps.assign({0: PartitionRecords()}, {})
    q.track(req("a"))
    ps.opened("a", 0)
    log = StateLog(Recorder(), "x")
    ps.write(log, {}, now=1.0)
    assert not ps.is_closed("a")
    ps.closing(req("a"), "answered", at=1.5)
    q.remove("a")
    assert ps.is_closed("a")
    ps.write(log, {}, now=2.0)
    closed = RequestRecord.model_validate_json(
        log.sink.sent[-2][1] if b"ledger" in log.sink.sent[-1][0] else log.sink.sent[-1][1]
    )
    assert closed.closed is not None
    assert closed.closed.why == "answered"
    assert ps.is_closed("a")
    assert closed.closed.at == 1.5  # when it was closed, not when the state was written
    ps.write(log, {}, now=200.0)
    assert not ps.is_closed("a")
    assert (b"p/0/req/a", None) in log.sink.sent


def test_restored_closed_requests_block_redelivered_items():
    """Closed requests restored with a partition still count as closed."""
    ps, _, _ = state()
    ps.assign({0: PartitionRecords(closed={"a": 0.0})}, {})
    assert ps.is_closed("a")
    ps.revoke([0])
    assert not ps.is_closed("a")


def test_labels_behind_a_new_partition_rewind_the_reader_but_apply_once():
    """A partition whose labels were applied up to 5 while the reader is at 9 rewinds the
    reader to 5; labels 5..8 apply to its requests only, not to those of partitions owned
    before (they had them already)."""
    ps, _q, _ = state()
    ps.assign({0: PartitionRecords(open=[req("old")])}, {0: 0})
    rewind = ps.assign(
        {
            1: PartitionRecords(
                ledger=LedgerState(
                    budgets=[{"period": None, "spent": 0.0}], label_offsets={"0": 5}
                ),
                open=[req("new")],
            )
        },
        {0: 9},
    )
    assert rewind == {0: 5}
    assert ps.applies("new", 0, 5)
    assert not ps.applies("new", 0, 4)
    assert not ps.applies("old", 0, 8)
    assert ps.applies("old", 0, 9)
    assert ps.positions({0: 9}) == {0: {0: 9}, 1: {0: 9}}


def test_a_label_read_again_for_a_closed_request_is_not_applied_again():
    """After a rewind, a label below the partition's position whose request is closed already
    is not applied (no second label record); a later label for it is."""
    ps, q, _ = state()
    ps.assign({0: PartitionRecords(open=[req("a")])}, {0: 0})
    ps.closing(req("a"), "answered", at=0.5)
    q.remove("a")
    ps.write(StateLog(Recorder(), "x"), {0: 7}, now=1.0)
    ps.assign({1: PartitionRecords()}, {0: 7})
    rewind = ps.assign(
        {
            2: PartitionRecords(
                ledger=LedgerState(budgets=[{"period": None, "spent": 0.0}], label_offsets={"0": 3})
            )
        },
        {0: 7},
    )
    assert rewind == {0: 3}
    assert ps.is_closed("a")
    assert not ps.applies("a", 0, 5)
    assert ps.applies("a", 0, 7)


def test_a_remembered_closed_request_costs_little_memory():
    """Up to closed_request_memory (100,000) closed requests are remembered per partition, so
    each must be small: the remembered entry (beyond the item id itself) stays under 250 bytes,
    while its full record still goes to the state log."""
    import tracemalloc  # noqa: PLC0415

    q = queues()
    ps = PartitionState(q, FractionBudget(1.0, 10), horizon_seconds=1e12)
    ps.assign({0: PartitionRecords()}, {})
    log = StateLog(Recorder(), "x")
    n = 5_000
    ids = [f"item-{i:07d}" for i in range(n)]
    for item_id in ids:
        q.track(req(item_id))
        ps.opened(item_id, 0)
    ps.write(log, {}, now=1.0)
    for item_id in ids:
        ps.closing(req(item_id), "answered", at=2.0)
        q.remove(item_id)
    log.sink.sent.clear()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    ps.write(log, {}, now=3.0)
    log.sink.sent.clear()  # what was written is the log's, not the memory's
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert all(ps.is_closed(i) for i in ids)
    assert (after - before) / n < 250, (after - before) / n

"""The state log: instance and partition records written through a sink and folded back."""

import pytest

from connectors.jsonl import JsonlSink, read_keyed
from daemon.contracts.pending_request import PendingRequest
from daemon.errors import StateError
from daemon.service.state import (
    ClosedRequest,
    LedgerState,
    PolicyState,
    RequestRecord,
    StateLog,
)


def req(item_id, deadline=100.0):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue="q",
        features={"x": 1.5, "region": "EU"},
        requested_at=deadline - 10,
        deadline=deadline,
        probability=0.25,
        reason="random",
    )


def policy(spent, offset=0):
    return PolicyState(
        policy={"budget": {"u": 1.5, "spent": spent}, "strategy": {}, "forced": 2},
        label_offsets={"0": offset},
        saved_at=spent,
    )


class PartitionedSink:
    """A sink that records the state partition each record is sent to."""

    name = "state"

    def __init__(self):
        self.sent = []

    def send(self, value, key=None, on_delivery=None):
        self.sent.append((None, key, value))

    def send_to(self, partition, value, key=None, on_delivery=None):
        self.sent.append((partition, key, value))


def test_instance_policy_round_trip_keeps_the_latest(tmp_path):
    """The instance's policy state comes back as last written; other instances are ignored."""
    path = tmp_path / "state.jsonl"
    sink = JsonlSink(path, keyed=True)
    StateLog(sink, "a").write(policy(1.0))
    StateLog(sink, "a").write(policy(3.0, 7))
    StateLog(sink, "b").write(policy(9.0))
    sink.close()
    restored = StateLog(JsonlSink(path, keyed=True), "a").restore(read_keyed(path))
    assert restored.policy is not None
    assert restored.policy.policy["budget"]["spent"] == 3.0
    assert restored.policy.label_offsets == {"0": 7}


def test_partition_records_round_trip_open_closed_and_tombstones(tmp_path):
    """Ledgers, open and closed requests of the asked partitions come back; a tombstone
    forgets a request; other partitions are not mixed in."""
    path = tmp_path / "state.jsonl"
    sink = JsonlSink(path, keyed=True)
    log = StateLog(sink, "a")
    log.write_ledger(1, LedgerState(budgets=[{"period": 0, "spent": 4.0}], label_offsets={"0": 9}))
    log.write_request(1, "x", RequestRecord(open=req("x")))
    log.write_request(1, "y", RequestRecord(open=req("y")))
    log.write_request(
        1, "y", RequestRecord(closed=ClosedRequest(request_id="r-y", why="answered", at=5.0))
    )
    log.write_request(1, "z", RequestRecord(open=req("z")))
    log.write_request(1, "z", None)
    log.write_request(2, "w", RequestRecord(open=req("w")))
    log.write_request(11, "v", RequestRecord(open=req("v")))
    sink.close()
    got = log.restore_partitions(read_keyed(path), [1])
    assert list(got) == [1]
    assert got[1].ledger is not None
    assert got[1].ledger.budgets == [{"period": 0, "spent": 4.0}]
    assert [r.id for r in got[1].open] == ["x"]
    assert got[1].closed["y"].why == "answered"


def test_records_of_a_partition_go_to_its_state_partition():
    """Partition p's records go to state partition p % N; the instance's to a fixed one."""
    sink = PartitionedSink()
    log = StateLog(sink, "a", partitions=3)
    log.write_request(4, "x", RequestRecord(open=req("x")))
    log.write_ledger(5, LedgerState(budgets=[]))
    log.write(policy(1.0))
    assert [s[0] for s in sink.sent] == [1, 2, log.instance_partition()]
    assert 0 <= log.instance_partition() < 3


def test_a_corrupt_record_is_a_state_error(tmp_path):
    """A state record that does not validate fails loudly instead of starting from nothing."""
    log = StateLog(PartitionedSink(), "a")
    with pytest.raises(StateError):
        log.restore([(b"i/a/policy", b'{"policy": 1}')])
    with pytest.raises(StateError):
        log.restore_partitions([(b"p/0/ledger", b"{}")], [0])

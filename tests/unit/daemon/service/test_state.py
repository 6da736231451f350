"""The state log: instance and partition records written through a sink and folded back."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.jsonl import JsonlSink, read_keyed
from daemon.contracts.pending_request import PendingRequest, ReceivedLabel
from daemon.errors import StateError
from daemon.service.state import (
    ClosedRequest,
    LedgerState,
    PolicyState,
    RequestRecord,
    StateLog,
    decode,
    encode,
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
    assert got[1].closed == {"y": 5.0}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b'{"closed":{"request_id":"r","why":"answered","at":5}}', 5.0),
        (b'{"closed":{"request_id":"r","why":"answered","at":"5.5"}}', 5.5),  # pydantic's lax
        (b'{"closed":{"request_id":"r","why":"answered","at":5.0,"later":1}}', 5.0),
        (b"{}", None),
    ],
)
def test_a_record_is_read_back_as_pydantic_reads_it(value, expected):
    """The fast reading of a closed record gives its closing time; what msgspec refuses but
    pydantic accepts is still accepted."""
    assert decode(value) == expected
    record = RequestRecord.model_validate_json(value)
    assert (record.closed.at if record.closed else None) == expected


@pytest.mark.parametrize(
    "value",
    [b'{"closed":{"request_id":"r","why":"answered"}}', b'{"closed":{"request_id":1}}', b"[", b""],
)
def test_an_invalid_record_is_a_state_error_with_pydantics_message(tmp_path, value):
    """A closed record that is not valid fails the restore as pydantic would have."""
    with pytest.raises(StateError, match="validation error"):
        StateLog(None, "a").restore_partitions([(b"p/0/req/a", value)], [0])


def test_an_open_record_comes_back_whole():
    """An open record is read by pydantic, every field kept."""
    record = RequestRecord(open=req("x"))
    assert decode(encode(record)) == record.open


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


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
NONE_OR_TEXT = st.none() | st.text(max_size=8)
REQUESTS = st.builds(
    PendingRequest,
    id=st.text(min_size=1, max_size=8),
    request_id=st.text(max_size=8),
    queue=st.text(max_size=8),
    features=st.dictionaries(st.text(max_size=4), JSONISH, max_size=4),
    requested_at=st.floats(allow_nan=False, allow_infinity=False),
    deadline=st.floats(allow_nan=False, allow_infinity=False),
    probability=st.floats(0, 1),
    reason=st.text(max_size=8),
    utility=st.floats(allow_nan=False, allow_infinity=False),
    prediction=NONE_OR_TEXT,
    confidence=st.none() | st.floats(0, 1),
    group=st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
    route_rule=NONE_OR_TEXT,
    labels=st.lists(
        st.builds(ReceivedLabel, label=st.text(max_size=3), labeler_id=NONE_OR_TEXT), max_size=2
    ).map(tuple),
    escalated=st.booleans(),
    event_time=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    model_version=NONE_OR_TEXT,
    proba=st.none() | st.dictionaries(st.text(max_size=2), st.floats(0, 1), max_size=3),
)
RECORDS = st.builds(RequestRecord, open=REQUESTS) | st.builds(
    RequestRecord,
    closed=st.builds(ClosedRequest, request_id=st.text(max_size=8), why=st.text(max_size=8),
                     at=st.floats(allow_nan=False, allow_infinity=False)),
)  # fmt: skip


@given(record=RECORDS)
def test_a_request_record_is_encoded_as_pydantic_would(record):
    """The fast encoding of a state record is the JSON value of pydantic's (``exclude_none``,
    None kept inside features) but for the nulls of unset optional fields, and reads back to
    the same record."""
    fast = json.loads(encode(record))
    if "open" in fast:
        fast["open"] = {k: v for k, v in fast["open"].items() if v is not None}
        for label in fast["open"]["labels"]:
            if label["labeler_id"] is None:
                del label["labeler_id"]
    assert fast == json.loads(record.model_dump_json(exclude_none=True))
    assert RequestRecord.model_validate_json(encode(record)) == record


def test_non_finite_numbers_are_written_as_pydantic_writes_them():
    """NaN and infinities become null in both encodings."""
    record = RequestRecord(
        open=req("a").model_copy(update={"features": {"x": float("nan"), "y": float("-inf")}}),
        closed=ClosedRequest(request_id="r", why="expired", at=float("inf")),
    )
    fast = json.loads(encode(record))
    assert fast["open"]["features"] == {"x": None, "y": None}
    assert fast["closed"] == {"request_id": "r", "why": "expired", "at": None}


def test_a_value_msgspec_does_not_know_takes_pydantics_way():
    """A numpy scalar among the features is written as pydantic writes it, not refused."""
    record = RequestRecord(open=req("a").model_copy(update={"features": {"x": np.float64(0.5)}}))
    assert encode(record) == record.model_dump_json(exclude_none=True).encode()
    assert json.loads(encode(record))["open"]["features"] == {"x": 0.5}


def test_keys_of_other_shapes_are_passed_over():
    """Only ``p/<partition as written>/...`` keys of the asked partitions are read."""
    closed = encode(RequestRecord(closed=ClosedRequest(request_id="r", why="answered", at=1.0)))
    records = [
        (None, closed),
        (b"p/", closed),
        (b"p/0", closed),
        (b"p/00/req/a", closed),
        (b"p/x/req/a", closed),
        (b"q/0/req/a", closed),
        (b"p/1/req/b", closed),
        (b"p/0/req/c/d", closed),
    ]
    got = StateLog(None, "a").restore_partitions(records, [0])
    assert got[0].closed == {"c/d": 1.0}

"""The state log: keyed changes written through a sink and folded back at startup."""

import pytest

from connectors.jsonl import JsonlSink, read_keyed
from daemon.contracts.pending_request import PendingRequest
from daemon.errors import StateError
from daemon.service.state import PolicyState, StateLog


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


def write(path, instance, *batches):
    sink = JsonlSink(path, keyed=True)
    log = StateLog(sink, instance)
    delivered = []
    for changes, state in batches:
        log.write(changes, state, on_delivery=delivered.append)
    sink.close()
    return delivered


def test_write_then_restore_round_trip(tmp_path):
    """Pending requests and the policy state come back as written."""
    path = tmp_path / "state.jsonl"
    a, b = req("a"), req("b", 200.0)
    write(path, "0", ({"a": a, "b": b}, policy(3.0, 7)))
    restored = StateLog(JsonlSink(tmp_path / "unused.jsonl"), "0").restore(read_keyed(path))
    assert sorted(restored.pending, key=lambda r: r.id) == [a, b]
    assert restored.policy == policy(3.0, 7)


def test_last_value_per_key_wins_and_tombstones_remove(tmp_path):
    """Later writes replace earlier ones; a None change removes the request."""
    path = tmp_path / "state.jsonl"
    a1, a2, b = req("a", 100.0), req("a", 150.0), req("b")
    write(
        path,
        "0",
        ({"a": a1, "b": b}, policy(1.0)),
        ({"a": a2, "b": None}, policy(2.0)),
    )
    restored = StateLog(JsonlSink(tmp_path / "x"), "0").restore(read_keyed(path))
    assert restored.pending == [a2]
    assert restored.policy.saved_at == 2.0


def test_tombstone_then_upsert_resurrects(tmp_path):
    """A request removed and later re-added is pending again."""
    path = tmp_path / "state.jsonl"
    a = req("a")
    write(path, "0", ({"a": a}, policy(1)), ({"a": None}, policy(1)), ({"a": a}, policy(1)))
    assert StateLog(JsonlSink(tmp_path / "x"), "0").restore(read_keyed(path)).pending == [a]


def test_keys_of_another_instance_are_ignored(tmp_path):
    """Two replicas share one log; each restores only its own keys."""
    path = tmp_path / "state.jsonl"
    write(path, "0", ({"a": req("a")}, policy(1.0)))
    write(path, "1", ({"b": req("b")}, policy(9.0)))
    write(path, "10", ({"c": req("c")}, policy(5.0)))
    mine = StateLog(JsonlSink(tmp_path / "x"), "1").restore(read_keyed(path))
    assert [r.id for r in mine.pending] == ["b"]
    assert mine.policy.saved_at == 9.0
    other = StateLog(JsonlSink(tmp_path / "x"), "0").restore(read_keyed(path))
    assert [r.id for r in other.pending] == ["a"]


def test_empty_log_restores_nothing(tmp_path):
    """A missing state file means a fresh start."""
    restored = StateLog(JsonlSink(tmp_path / "x"), "0").restore(read_keyed(tmp_path / "none"))
    assert (restored.pending, restored.policy) == ([], None)


def test_write_reports_messages_sent_and_delivers_them(tmp_path):
    """write sends one message per change plus the policy state, each with a delivery report."""
    path = tmp_path / "state.jsonl"
    delivered = write(path, "0", ({"a": req("a"), "b": None}, policy(1.0)))
    assert delivered == [None, None, None]
    keys = [k for k, _ in read_keyed(path)]
    assert keys == [b"0/pending/a", b"0/pending/b", b"0/policy"]


def test_corrupt_entry_is_a_state_error(tmp_path):
    """A value that does not match its key's model raises StateError, not a crash."""
    records = [(b"0/pending/a", b'{"id": "a"}')]
    with pytest.raises(StateError, match="not valid"):
        StateLog(JsonlSink(tmp_path / "x"), "0").restore(records)

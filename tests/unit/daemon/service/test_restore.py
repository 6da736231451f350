"""Restore without a broker: policy state, model, partition state and where labels resume."""

from __future__ import annotations

from connectors.jsonl import JsonlSink, read_keyed
from daemon.contracts.pending_request import PendingRequest
from daemon.service.state import PolicyState, RequestRecord, StateLog
from tests.unit.daemon.fakes import MemoryChannels, MemorySource, memory_daemon, settings


def request(item_id, queue="default"):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue=queue,
        features={},
        requested_at=0.0,
        deadline=1e12,
        probability=1.0,
        reason="uncertain",
    )


def _parts(tmp_path, state_records):
    memory = MemoryChannels(MemorySource([]))
    daemon = memory_daemon(settings(tmp_path), memory)
    parts = daemon.parts
    parts.channels.read_state = lambda _partitions: state_records
    return parts


def _log(tmp_path, pending, label_offsets, policy=None):
    sink = JsonlSink(tmp_path / "state.jsonl", keyed=True)
    state = PolicyState(policy=policy or {}, label_offsets=label_offsets, saved_at=0.0)
    log = StateLog(sink)
    for r in pending:
        log.write_request(0, r.id, RequestRecord(open=r))
    log.write(state)
    sink.close()
    return list(read_keyed(tmp_path / "state.jsonl"))


def test_a_fresh_start_restores_nothing_and_reads_labels_from_the_beginning(tmp_path):
    """Empty log, no checkpoint: no requests, labels from position {} (the start)."""
    parts = _parts(tmp_path, [])
    assert parts.restorer.restore() == {}
    assert len(parts.queues) == 0


def test_requests_of_configured_queues_and_the_label_position_come_back(tmp_path):
    """Open requests of the (file mode: only) partition are held again (retired queues
    dropped); labels resume at the state's position."""
    records = _log(tmp_path, [request("a"), request("b", queue="retired")], {"0": 12})
    parts = _parts(tmp_path, records)
    assert parts.restorer.restore() == {0: 12}
    assert "a" in parts.queues
    assert "b" not in parts.queues


def test_labels_resume_at_the_state_and_the_checkpoint_says_what_is_learned(tmp_path):
    """Labels resume at the committed positions; the checkpoint (written just before the
    commit, so never behind it) comes back with the positions it covers per partition."""
    records = _log(tmp_path, [request("a")], {"0": 12, "1": 4})
    parts = _parts(tmp_path, records)
    parts.model.learn({"x": 1.0}, "1")
    parts.model.save({0: {0: 14, 1: 4}})
    assert parts.restorer.restore() == {0: 12, 1: 4}
    assert parts.model.learner.version == 1
    assert parts.model.replayed(0, 13, "a")
    assert not parts.model.replayed(0, 14, "a")


def test_policy_state_of_another_shape_starts_fresh_instead_of_failing(tmp_path):
    """A budget state that does not fit the configured policy is reported, not fatal."""
    records = _log(tmp_path, [], {"0": 1}, policy={"budget": {"nonsense": True}, "strategy": {}})
    parts = _parts(tmp_path, records)
    assert parts.restorer.restore() == {0: 1}

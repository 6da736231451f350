"""Expert queues: the one holder of open requests, minimised messages and withdrawals."""

from __future__ import annotations

import json

from daemon.contracts.messages import LabelRequest, RequestOutcome
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.queues import ExpertQueues
from tests.unit.daemon.fakes import MemorySink, settings


def _queues(tmp_path, **queue):
    config = settings(
        tmp_path,
        queues=[
            {
                "name": "q",
                "capacity": 2,
                "role": "crowd",
                "instructions_id": "guide-7",
                "fields": ["x", "email"],
                "redact": {"email": "mask", "group.customer": "drop"},
                **queue,
            },
            {"name": "other"},
        ],
        routing={"default": ["q"]},
    )
    sink = MemorySink("requests")
    return ExpertQueues(config, {"q": sink, "other": sink}), sink


def request(item_id="a", queue="q", **extra):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue=queue,
        features={"x": 1.0, "email": "a@b", "secret": 3},
        requested_at=10.0,
        deadline=100.0,
        probability=0.25,
        reason="uncertain",
        utility=0.7,
        prediction="1",
        proba={"0": 0.3, "1": 0.7},
        group={"region": "EU", "customer": "c-1"},
        event_time=5.0,
        **extra,
    )


def test_prepare_minimises_the_request_and_reports_the_redaction(tmp_path):
    """The message carries only allow-listed, redacted fields and the queue's instructions."""
    queues, sink = _queues(tmp_path)
    message, applied = queues.prepare(request())
    doc = LabelRequest.model_validate_json(message)
    assert doc.features == {"x": 1.0, "email": "***"}
    assert doc.group == {"region": "EU"}
    assert applied == {"email": "mask", "secret": "drop", "group.customer": "drop"}
    assert (doc.role, doc.instructions_id, doc.priority, doc.withdrawn) == (
        "crowd",
        "guide-7",
        0.7,
        False,
    )
    assert sink.sent == [], "prepare does not send"
    queues.send(request(), message, None)
    assert sink.sent == [(message, b"a")]


def test_an_escalated_request_asks_for_one_label_with_reason_escalated(tmp_path):
    """An adjudication request needs a single label, whatever the queue's overlap."""
    queues, _ = _queues(tmp_path, labels_required=3)
    doc = json.loads(queues.prepare(request(escalated=True))[0])
    assert (doc["labels_required"], doc["reason"]) == (1, "escalated")


def test_withdraw_sends_a_withdrawal_without_features_or_prediction(tmp_path):
    """A withdrawal names the request and the outcome, and carries no item data."""
    queues, sink = _queues(tmp_path)
    queues.withdraw(request(), RequestOutcome.EXPIRED)
    [doc] = sink.documents()
    assert (doc["withdrawn"], doc["reason"], doc["request_id"]) == (True, "expired", "r-a")
    assert (doc["features"], doc["prediction"], doc["event_time"]) == ({}, None, None)


def test_track_remove_and_expire_keep_depth_and_room(tmp_path):
    """The queues answer for their store: membership, depth, room, counts, expiry."""
    queues, _ = _queues(tmp_path)
    queues.track(request("a"))
    queues.track(request("b"))
    assert ("a" in queues, len(queues), queues.depth("q"), queues.has_room("q")) == (
        True,
        2,
        2,
        False,
    )
    assert queues.counts() == {"q": 2, "other": 0}
    assert queues.remove("a").id == "a"
    assert queues.remove("a") is None
    assert [r.id for r in queues.expire(now=100.0)] == ["b"]
    assert queues.counts() == {"q": 0, "other": 0}
    assert set(queues.drain_changes()) == {"a", "b"}


def test_restore_keeps_only_requests_of_configured_queues(tmp_path):
    """Requests of a queue no longer configured are not restored (and not logged as changes)."""
    queues, _ = _queues(tmp_path)
    kept = queues.restore([request("a"), request("b", queue="retired")])
    assert kept == 1
    assert "a" in queues
    assert "b" not in queues
    assert queues.drain_changes() == {}


def test_cost_is_queue_cost_times_item_cost(tmp_path):
    """A label's price: the queue's cost per label times the item's cost hint."""
    queues, _ = _queues(tmp_path, cost=2.5)
    assert queues.cost("q", 2.0) == 5.0

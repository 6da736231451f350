"""The pending-request contract: what the state log stores and intake learns from."""

from daemon.contracts.pending_request import PendingRequest, ReceivedLabel


def req(item_id, deadline):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue="default",
        features={"x": 1.0},
        requested_at=deadline - 100,
        deadline=deadline,
        probability=1.0,
        reason="uncertain",
    )


def test_pending_request_round_trips_through_json():
    """A request survives the JSON form the state log stores."""
    r = req("a", 10)
    assert PendingRequest.model_validate_json(r.model_dump_json()) == r


def test_collected_labels_round_trip_with_the_request():
    """Labels collected for overlap are part of the durable record."""
    r = req("a", 10).model_copy(
        update={"labels": (ReceivedLabel(label="1", labeler_id="ann", labeler_role="crowd"),)}
    )
    back = PendingRequest.model_validate_json(r.model_dump_json())
    assert back.labels == r.labels
    assert back.labels[0].labeler_role == "crowd"

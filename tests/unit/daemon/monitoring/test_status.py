"""The status snapshot and its /status document."""

from __future__ import annotations

import math

from daemon.monitoring.status import QueueStatus, Status, status_document


def test_document_flattens_tuple_keys_and_nulls_non_finite_floats():
    """Lag keys become 'topic/partition'; infinities become null; exhausted is added."""
    status = Status(
        budget_remaining=0.5,
        burn_rate=math.inf,
        lag={("predictions", 3): 12},
        queues={"q": QueueStatus(1, 10, 4.0, 60.0)},
    )
    doc = status_document(status)
    assert doc["lag"] == {"predictions/3": 12}
    assert doc["burn_rate"] is None
    assert doc["budget_exhausted"] is True
    assert doc["queues"]["q"]["outstanding"] == 1


def test_exhausted_needs_an_absolute_budget_with_less_than_one_unit_left():
    """No limit is never exhausted; a limit with a unit or more left is not."""
    assert not Status().exhausted
    assert not Status(budget_remaining=1.0).exhausted
    assert Status(budget_remaining=0.0).exhausted

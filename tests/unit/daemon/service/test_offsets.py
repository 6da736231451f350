"""Offset tracking: commit positions move only past fully delivered messages."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.service.offsets import OffsetTracker


def inflight(t):
    """Messages whose outputs are not all delivered yet (the tracker's queue lengths)."""
    return sum(len(q) for q in t._inflight.values())


def test_position_waits_for_every_output_of_earlier_messages():
    """A later message fully delivered does not move the position past an earlier one."""
    t = OffsetTracker()
    a = t.begin(("p", 0), 10, outputs=2)
    b = t.begin(("p", 0), 11, outputs=1)
    b.delivered(None)
    assert t.advance() == {}
    a.delivered(None)
    assert t.advance() == {}
    a.delivered(None)
    assert t.advance() == {("p", 0): 12}
    assert inflight(t) == 0


def test_advance_reports_only_partitions_that_moved():
    """Each call returns the partitions whose position moved since the previous call."""
    t = OffsetTracker()
    t.begin(("p", 0), 0, 1).delivered(None)
    t.begin(("p", 1), 5, 1)
    assert t.advance() == {("p", 0): 1}
    assert t.advance() == {}


def test_failed_delivery_stops_the_partition_and_is_recorded():
    """A failed output blocks its partition (later successes too) and is kept in failures."""
    t = OffsetTracker()
    error = RuntimeError("broker down")
    t.begin(("p", 0), 0, 1).delivered(None)
    t.begin(("p", 0), 1, 1).delivered(error)
    t.begin(("p", 0), 2, 1).delivered(None)
    t.begin(("q", 0), 0, 1).delivered(None)
    assert t.advance() == {("p", 0): 1, ("q", 0): 1}
    assert t.failures[0] is error
    assert t.advance() == {}
    assert inflight(t) == 2


def test_drop_forgets_revoked_partitions():
    """Dropped partitions lose their in-flight messages and never report a position again."""
    t = OffsetTracker()
    keep = t.begin(("p", 0), 0, 1)
    gone = t.begin(("p", 1), 0, 1)
    t.drop([("p", 1), ("p", 9)])
    assert inflight(t) == 1
    gone.delivered(None)
    keep.delivered(None)
    assert t.advance() == {("p", 0): 1}


@st.composite
def scenarios(draw):
    """Messages on up to 3 partitions with 1-3 outputs each, and a delivery order."""
    messages = []
    next_offset = {}
    for _ in range(draw(st.integers(1, 30))):
        p = draw(st.integers(0, 2))
        offset = next_offset.get(p, draw(st.integers(0, 100)))
        next_offset[p] = offset + draw(st.integers(1, 3))  # gaps, like compacted topics
        messages.append((p, offset, draw(st.integers(1, 3))))
    deliveries = [i for i, (_, _, n) in enumerate(messages) for _ in range(n)]
    order = draw(st.permutations(deliveries))
    return messages, order


@given(scenarios())
def test_position_is_one_past_the_longest_delivered_prefix(scenario):
    """After any delivery order, each partition's position is one past its delivered prefix."""
    messages, order = scenario
    t = OffsetTracker()
    tickets = [t.begin(("t", p), offset, n) for p, offset, n in messages]
    remaining = [n for _, _, n in messages]
    committed = {}
    for i in order:
        tickets[i].delivered(None)
        remaining[i] -= 1
        moved = t.advance()
        for tp, pos in moved.items():
            assert pos > committed.get(tp, -1), "positions only move forward"
        committed.update(moved)
        for p in {m[0] for m in messages}:
            prefix_end = None
            for j, (q, offset, _) in enumerate(messages):
                if q != p:
                    continue
                if remaining[j] > 0:
                    break
                prefix_end = offset + 1
            assert committed.get(("t", p)) == prefix_end
    assert inflight(t) == 0
    assert not t.failures


@pytest.mark.parametrize("outputs", [1, 2, 5])
def test_ticket_counts_down_its_outputs(outputs):
    """A ticket is complete after exactly ``outputs`` delivery reports."""
    t = OffsetTracker()
    ticket = t.begin(("p", 0), 7, outputs)
    for _ in range(outputs - 1):
        ticket.delivered(None)
        assert t.advance() == {}
    ticket.delivered(None)
    assert t.advance() == {("p", 0): 8}

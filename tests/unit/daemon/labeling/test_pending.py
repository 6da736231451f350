"""Pending label requests: bounded, expiring by deadline, and logged as changes."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.pending import PendingStore


def req(item_id, deadline, requested_at=None):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue="default",
        features={"x": 1.0},
        requested_at=deadline - 100 if requested_at is None else requested_at,
        deadline=deadline,
        probability=1.0,
        reason="uncertain",
    )


def test_capacity_is_per_queue():
    """A queue has room until it holds its capacity; other queues are unaffected."""
    store = PendingStore({"default": 2, "other": 1})
    assert store.capacity == 3
    store.add(req("a", 10))
    assert store.has_room("default")
    store.add(req("b", 11))
    assert not store.has_room("default")
    assert store.has_room("other")
    assert not store.has_room("unconfigured")
    assert store.pop("a").id == "a"
    assert store.has_room("default")
    assert (len(store), "b" in store, "a" in store) == (1, True, False)
    assert store.counts() == {"default": 1, "other": 0}


def test_pop_of_unknown_item_returns_none_and_logs_nothing():
    """Popping an id that is not pending returns None and records no change."""
    store = PendingStore({"default": 5})
    assert store.pop("ghost") is None
    assert store.drain_changes() == {}


def test_expire_removes_exactly_the_requests_past_their_deadline():
    """expire(now) returns and removes requests with deadline <= now, oldest first."""
    store = PendingStore({"default": 10})
    for i, deadline in enumerate([5, 10, 15, 20]):
        store.add(req(f"i{i}", deadline))
    assert [r.id for r in store.expire(now=10)] == ["i0", "i1"]
    assert [r.id for r in store] == ["i2", "i3"]
    assert store.expire(now=14.9) == []


def test_drain_changes_gives_upserts_and_tombstones_once():
    """Changes since the last drain: added requests as values, removed ones as None."""
    store = PendingStore({"default": 10})
    a, b, c = req("a", 1), req("b", 2), req("c", 50)
    for r in (a, b, c):
        store.add(r)
    store.pop("a")
    store.expire(now=2)
    assert store.drain_changes() == {"a": None, "b": None, "c": c}
    assert store.drain_changes() == {}
    store.pop("c")
    assert store.drain_changes() == {"c": None}


def test_restore_does_not_log_changes():
    """Requests restored from the state log are not written back as changes."""
    store = PendingStore({"default": 10})
    store.restore([req("a", 3), req("b", 1)])
    assert store.drain_changes() == {}
    assert len(store) == 2


@given(st.lists(st.floats(0, 1000), min_size=1, max_size=40), st.floats(0, 1000))
def test_restore_in_any_order_keeps_expiry_exact(deadlines, now):
    """After restoring in any order, expire(now) returns exactly the overdue requests."""
    requests = [req(f"i{i}", d) for i, d in enumerate(deadlines)]
    shuffled = requests[:]
    random.Random(len(deadlines)).shuffle(shuffled)
    store = PendingStore({"default": 100})
    store.restore(shuffled)
    expired = store.expire(now)
    assert {r.id for r in expired} == {r.id for r in requests if r.deadline <= now}
    assert [r.deadline for r in expired] == sorted(r.deadline for r in expired)
    assert {r.id for r in store} == {r.id for r in requests if r.deadline > now}


def test_oldest_age_is_measured_from_the_oldest_request():
    """oldest_ages is, per queue, now minus its first outstanding request time (0 when empty)."""
    store = PendingStore({"default": 10, "other": 5})
    assert store.oldest_ages(100.0) == {"default": 0.0, "other": 0.0}
    store.add(req("a", 200, requested_at=40))
    store.add(req("b", 210, requested_at=50))
    assert store.oldest_ages(100.0)["default"] == pytest.approx(60.0)
    store.pop("a")
    assert store.oldest_ages(100.0)["default"] == pytest.approx(50.0)
    assert store.oldest_ages(100.0)["other"] == 0.0


@given(
    st.lists(st.tuples(st.sampled_from(["fast", "slow"]), st.floats(0, 1000)), max_size=40),
    st.floats(0, 1000),
)
def test_expiry_is_exact_when_queues_have_different_ttls(entries, now):
    """Requests added in any deadline order (per-queue TTLs) expire exactly when overdue."""
    store = PendingStore({"fast": 100, "slow": 100})
    requests = []
    for i, (queue, deadline) in enumerate(entries):
        r = req(f"i{i}", deadline).model_copy(update={"queue": queue})
        store.add(r)
        requests.append(r)
    expired = store.expire(now)
    assert sorted(r.id for r in expired) == sorted(r.id for r in requests if r.deadline <= now)
    overdue_free = [r for r in requests if r.deadline > now]
    assert store.counts() == {q: sum(r.queue == q for r in overdue_free) for q in ("fast", "slow")}

"""The durable cursor: handled versions, the read mark with its slack, closed requests."""

from __future__ import annotations

from daemon.bridge.cursor import CLOSED_MEMORY, Cursor, MemoryCursorStore


def test_updates_are_new_versions():
    """An annotation is handled per version: an update is unseen again."""
    c = Cursor()
    c.mark(1, "2026-03-01T10:00:00Z")
    assert c.seen(1, "2026-03-01T10:00:00Z")
    assert not c.seen(1, "2026-03-01T10:05:00Z")


def test_read_mark_covers_older_annotations_and_prunes():
    """Versions older than the mark minus the slack count as seen and are pruned."""
    c = Cursor()
    c.mark(1, "2026-03-01T10:00:00Z")
    c.mark(2, "2026-03-01T11:59:00Z")
    c.advance("2026-03-01T12:00:00Z")
    assert set(c.handled) == {2}
    assert c.seen(7, "2026-03-01T09:00:00Z")
    assert not c.seen(8, "2026-03-01T11:59:30Z")
    assert c.poll_from == "2026-03-01T11:58:00Z"


def test_mark_never_moves_back():
    """advance() to an earlier time keeps the later mark."""
    c = Cursor(since="2026-03-01T12:00:00Z")
    c.advance("2026-03-01T11:00:00Z")
    assert c.since == "2026-03-01T12:00:00Z"


def test_round_trip_through_a_store():
    """Saved and loaded cursors are equal; saving clears the dirty flag."""
    store = MemoryCursorStore()
    c = Cursor()
    c.mark(3, "2026-03-01T10:00:00Z")
    c.close("r-1")
    c.advance("2026-03-01T10:00:30Z")
    assert c.dirty
    store.save(c)
    assert not c.dirty
    again = store.load()
    assert again.handled == c.handled
    assert again.since == c.since
    assert again.is_closed("r-1")
    assert not again.is_closed("r-2")


def test_closed_memory_is_bounded():
    """The oldest closed requests are forgotten first."""
    c = Cursor(closed=[f"r-{i}" for i in range(CLOSED_MEMORY)])
    c.close("new")
    assert len(c.closed) == CLOSED_MEMORY
    assert not c.is_closed("r-0")
    assert c.is_closed("new")


def test_forget_drops_deleted_annotations():
    """Deleted annotations leave the cursor."""
    c = Cursor({1: "2026-03-01T10:00:00Z", 2: "2026-03-01T10:00:00Z"})
    c.forget([1, 99])
    assert set(c.handled) == {2}

"""The compact closed-request memory against a plain model of it (dicts in insertion order)."""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from daemon.service.closed_requests import ClosedRequests


class Model:
    """What the memory must do, written the obvious way: per partition, id -> time, oldest
    first; an id lives in one partition at a time."""

    def __init__(self, memory: int, horizon: float) -> None:
        self.memory, self.horizon = memory, horizon
        self.parts: dict[int, dict[str, float]] = {}

    def where(self, item_id: str) -> int | None:
        return next((p for p, ids in self.parts.items() if item_id in ids), None)

    def add(self, p: int, item_id: str, at: float) -> None:
        self.discard(item_id)
        self.parts.setdefault(p, {})[item_id] = at

    def discard(self, item_id: str) -> int | None:
        p = self.where(item_id)
        if p is not None:
            del self.parts[p][item_id]
        return p

    def expire(self, now: float) -> list[tuple[int, str]]:
        gone = []
        for p, ids in self.parts.items():
            while ids:
                item_id, at = next(iter(ids.items()))
                if at > now - self.horizon and len(ids) <= self.memory:
                    break
                del ids[item_id]
                gone.append((p, item_id))
        return gone

    def drop(self, p: int) -> None:
        self.parts.pop(p, None)


def poor_hash(item_id: str) -> int:
    """Few distinct values, negative ones and zero among them: collisions on every path."""
    return (len(item_id) % 5) - 2


IDS = st.sampled_from([f"i{n}" for n in range(40)] + ["", "é", "x" * 600, "i1\x00"])
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3), IDS, st.floats(0, 100)),
        st.tuples(st.just("discard"), IDS),
        st.tuples(st.just("expire"), st.floats(0, 200)),
        st.tuples(st.just("drop"), st.integers(0, 3)),
        st.tuples(
            st.just("extend"), st.integers(0, 3), st.lists(st.tuples(IDS, st.floats(0, 100)))
        ),
    ),
    max_size=120,
)


@given(ops=OPS, memory=st.integers(0, 6), poor=st.booleans())
def test_the_memory_does_what_the_model_does(
    ops: list[tuple[object, ...]], memory: int, poor: bool
) -> None:
    """Adds (one or many), re-opens, expiry by age and by count, hand-overs: the same answers
    as the model, with Python's hash and with one that makes every id collide (the table
    starts small, so it also grows on the way)."""
    real = ClosedRequests(memory, 50.0, poor_hash if poor else hash)
    model = Model(memory, 50.0)
    now = 0.0
    for op in ops:
        if op[0] == "add":
            _, p, item_id, at = op
            now = max(now, at)  # type: ignore[call-overload]
            real.add(p, item_id, now)  # type: ignore[arg-type]
            model.add(p, item_id, now)  # type: ignore[arg-type]
        elif op[0] == "extend":
            _, p, pairs = op
            timed = []
            for item_id, at in pairs:  # type: ignore[attr-defined]
                now = max(now, at)
                timed.append((item_id, now))
            real.extend(p, timed)  # type: ignore[arg-type]
            for item_id, at in timed:
                model.add(p, item_id, at)  # type: ignore[arg-type]
        elif op[0] == "discard":
            assert real.discard(op[1]) == model.discard(op[1])  # type: ignore[arg-type]
        elif op[0] == "expire":
            now = max(now, op[1])  # type: ignore[call-overload]
            assert real.expire(now) == model.expire(now)
        else:
            real.drop(op[1])  # type: ignore[arg-type]
            model.drop(op[1])  # type: ignore[arg-type]
        for item_id in [f"i{n}" for n in range(40)] + ["", "é", "x" * 600, "i1\x00", "i1\x00\x00"]:
            assert (item_id in real) == (model.where(item_id) is not None)
            assert real.partition_of(item_id) == model.where(item_id)
        for p in range(4):
            assert real.items(p) == list(model.parts.get(p, {}).items())
        assert len(real) == sum(len(ids) for ids in model.parts.values())


def test_a_long_run_keeps_the_memory_bounded_and_exact() -> None:
    """300,000 closings through a memory of 40,000 per partition: the expired head is cut off
    as it goes (the arrays hold at most 1/7 more than the live entries), and what is
    remembered is exactly the newest."""
    memory = ClosedRequests(40_000, 1e9)
    longest = 0
    for n in range(300_000):
        memory.add(n % 2, f"item-{n}", float(n))
        if n % 500 == 0:
            memory.expire(float(n))
            longest = max(longest, *(len(ring.times) for ring in memory._rings.values()))
    memory.expire(300_000.0)
    assert len(memory) == 80_000
    assert "item-219999" not in memory
    assert "item-220000" in memory
    assert longest <= 40_250 * 8 / 7 + 1, longest


def test_a_remembered_id_costs_its_bytes_and_a_few_dozen_more() -> None:
    """With the table reserved for the partitions, each remembered id costs its UTF-8 bytes
    plus its position, length and time (about 20 B of arrays): no Python object per id."""
    memory = ClosedRequests(100_000, 1e9)
    memory.reserve(3)
    ids = [f"item-{n:07d}" for n in range(100_000)]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n, item_id in enumerate(ids):
        memory.add(n % 3, item_id, float(n))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per_id = (after - before) / len(ids)
    assert per_id < 12 + 40, per_id  # 12 bytes of id, array growth included

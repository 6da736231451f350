"""The closed-request memory: which items had their request closed lately, per partition, compactly.

A redelivered item (a rewind, a replay, a crash before the commit) whose request was already
answered, withdrawn or expired must not be asked again, so the ids of closed requests are
remembered: up to ``memory`` per partition (100,000 by default) for ``horizon_seconds``. It is
the largest structure the daemon keeps, and it fills by design, so it holds no Python object per
id: each partition's ids sit as UTF-8 bytes in one arena, with their positions and closing times
in typed arrays (oldest first), and one open-addressing table (linear probing on ``hash(id)``,
checked against the stored bytes) maps an id to its partition and slot. About 30 B plus the id's
bytes per entry, and 16 B per table slot, against ~170 B for a dict of strings and floats.

>>> memory = ClosedRequests(memory=2, horizon_seconds=100.0)
>>> memory.add(0, "a", 1.0); memory.add(0, "b", 2.0); memory.add(0, "c", 3.0)
>>> memory.expire(now=3.0)  # over the limit of 2: the oldest leaves
[(0, 'a')]
>>> "a" in memory, memory.partition_of("c")
(False, 0)
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Iterator

_DEAD = 0xFFFF
"""The length mark of a slot whose id has left (closed again later, or re-opened)."""
_SLOT_BITS = 40
_SLOT_MASK = (1 << _SLOT_BITS) - 1
_MAX_LOAD = 0.3
"""Linear probing's runs stay short below this (a miss probes 1.5 slots on average)."""
_MAX_RESERVED = 1 << 20
"""Table slots reserved up front at most (16 MiB: three full partitions at the default memory);
beyond, the table doubles as it fills."""
_COMPACT_AT = 4096
"""A partition's arrays drop their expired head once it is this long and an eighth of them: a
full memory then holds at most 1/7 more than its live entries (cutting is a memmove, about
0.3 ms for 100,000 entries, once per 12,500 expiries)."""


class _Ring:
    """One partition's closed ids, oldest first: bytes in an arena, positions, lengths, times.

    Slots are numbered from the partition's first entry on and never reused, so the table's
    values stay valid when the expired head is cut off (``start`` counts what was cut).
    """

    __slots__ = ("arena", "base", "head", "lengths", "live", "offsets", "start", "times")

    def __init__(self) -> None:
        self.arena = bytearray()
        self.base = 0  # absolute offset of arena[0]
        self.offsets = array("q")
        self.lengths = array("H")
        self.times = array("d")
        self.start = 0  # absolute slot of offsets[0]
        self.head = 0  # index of the oldest slot not yet expired
        self.live = 0

    def append(self, data: bytes, at: float) -> int:
        slot = self.start + len(self.times)
        self.offsets.append(self.base + len(self.arena))
        self.arena += data
        self.lengths.append(len(data))
        self.times.append(at)
        self.live += 1
        return slot

    def key(self, slot: int) -> str:
        i = slot - self.start
        offset = self.offsets[i] - self.base
        return self.arena[offset : offset + self.lengths[i]].decode()

    def holds(self, slot: int, data: bytes) -> bool:
        i = slot - self.start
        offset = self.offsets[i] - self.base
        return self.lengths[i] == len(data) and self.arena[offset : offset + len(data)] == data

    def kill(self, slot: int) -> None:
        self.lengths[slot - self.start] = _DEAD
        self.live -= 1

    def oldest(self) -> int | None:
        """The oldest live slot, or None (dead slots at the head are passed over for good)."""
        lengths, head = self.lengths, self.head
        while head < len(lengths) and lengths[head] == _DEAD:
            head += 1
        self.head = head
        return self.start + head if head < len(lengths) else None

    def time(self, slot: int) -> float:
        return self.times[slot - self.start]

    def pop_oldest(self) -> None:
        """Drop the oldest live slot (just returned by :meth:`oldest`)."""
        self.lengths[self.head] = _DEAD
        self.live -= 1
        self.head += 1
        if self.head >= _COMPACT_AT and 8 * self.head >= len(self.lengths):
            self._compact()

    def _compact(self) -> None:
        cut = self.head
        end = self.offsets[cut] - self.base if cut < len(self.offsets) else len(self.arena)
        del self.offsets[:cut]
        del self.lengths[:cut]
        del self.times[:cut]
        del self.arena[:end]
        self.base += end
        self.start += cut
        self.head = 0

    def slots(self) -> Iterator[int]:
        """The live slots, oldest first."""
        lengths = self.lengths
        for i in range(self.head, len(lengths)):
            if lengths[i] != _DEAD:
                yield self.start + i


class ClosedRequests:
    """The bounded memory of closed requests' item ids, per partition, oldest first.

    Parameters
    ----------
    memory
        Most ids remembered per partition; older ones are forgotten first.
    horizon_seconds
        How long an id is remembered after its request closed.
    hasher
        The hash of an id, a signed 64-bit int (Python's ``hash``); a test may pass a poor one
        to force collisions.
    """

    def __init__(
        self,
        memory: int = 100_000,
        horizon_seconds: float = 7 * 86400.0,
        hasher: Callable[[str], int] = hash,
    ) -> None:
        self.memory = memory
        self.horizon_seconds = horizon_seconds
        self.hasher = hasher
        self._rings: dict[int, _Ring] = {}
        self._count = 0
        self._size = 0
        self._mask = 0
        self._keys = array("q")
        self._values = array("q")
        self._resize(1024)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, item_id: str) -> bool:
        return self._find(item_id) >= 0

    def reserve(self, partitions: int) -> None:
        """Size the table for ``partitions`` full partitions (at most 2**20 slots up front), so
        it does not grow, nor the process's memory with it, while the memory fills."""
        wanted = int(self.memory * max(partitions, 1) / _MAX_LOAD) + 1
        size = self._size
        while size < min(wanted, _MAX_RESERVED):
            size *= 2
        if size > self._size:
            self._resize(size)

    def partition_of(self, item_id: str) -> int | None:
        """The partition whose closed request this item had, or None."""
        i = self._find(item_id)
        return None if i < 0 else self._values[i] >> _SLOT_BITS

    def add(self, partition: int, item_id: str, at: float) -> None:
        """Remember a closed request as the partition's newest (again, if it was remembered)."""
        i = self._find(item_id)
        if i >= 0:
            self._delete(i)
        slot = self._ring(partition).append(item_id.encode(), at)
        self._insert(self._hash(item_id), (partition << _SLOT_BITS) | slot)

    def extend(self, partition: int, items: Iterable[tuple[str, float]]) -> None:
        """Remember many closed requests, oldest first, as :meth:`add` one by one would (a
        restore reads up to ``memory`` of them per partition before the daemon is ready, so
        an id not remembered yet, the usual case, is hashed and probed once)."""
        ring = self._ring(partition)
        hasher, high = self.hasher, partition << _SLOT_BITS
        for item_id, at in items:
            h = hasher(item_id) or 1
            keys, mask = self._keys, self._mask
            i = h & mask
            k = keys[i]
            while k:
                if k == h:
                    break
                i = (i + 1) & mask
                k = keys[i]
            if k:  # the same hash is there: maybe the same id, which add() handles
                self.add(partition, item_id, at)
                continue
            slot = ring.append(item_id.encode(), at)
            if (self._count + 1) > self._size * _MAX_LOAD:
                self._insert(h, high | slot)
                continue
            keys[i] = h
            self._values[i] = high | slot
            self._count += 1

    def discard(self, item_id: str) -> int | None:
        """Forget an item (its request was opened again); the partition it was in, or None."""
        i = self._find(item_id)
        if i < 0:
            return None
        partition = self._values[i] >> _SLOT_BITS
        self._delete(i)
        return partition

    def expire(self, now: float) -> list[tuple[int, str]]:
        """Forget what is past the horizon or over the limit, oldest first; what was forgotten,
        as (partition, item id)."""
        horizon = now - self.horizon_seconds
        gone: list[tuple[int, str]] = []
        for partition, ring in self._rings.items():
            while True:
                slot = ring.oldest()
                if slot is None or (ring.time(slot) > horizon and ring.live <= self.memory):
                    break
                item_id = ring.key(slot)
                self._unlink(self._hash(item_id), (partition << _SLOT_BITS) | slot)
                ring.pop_oldest()
                gone.append((partition, item_id))
        return gone

    def drop(self, partition: int) -> None:
        """Forget a partition's ids (it was handed over)."""
        ring = self._rings.pop(partition, None)
        if ring is None:
            return
        for slot in list(ring.slots()):
            self._unlink(self._hash(ring.key(slot)), (partition << _SLOT_BITS) | slot)

    def items(self, partition: int) -> list[tuple[str, float]]:
        """A partition's remembered ids and closing times, oldest first."""
        ring = self._rings.get(partition)
        if ring is None:
            return []
        return [(ring.key(slot), ring.time(slot)) for slot in ring.slots()]

    def _ring(self, partition: int) -> _Ring:
        ring = self._rings.get(partition)
        if ring is None:
            ring = self._rings[partition] = _Ring()
        return ring

    # ------------------------------------------------------------------ the table
    def _hash(self, item_id: str) -> int:
        return self.hasher(item_id) or 1  # 0 marks an empty slot

    def _find(self, item_id: str) -> int:
        # On every item's path (is it a redelivery?): a miss, the usual answer, is this loop
        # over typed arrays, with no further call.
        h = self.hasher(item_id) or 1
        keys, mask = self._keys, self._mask
        i = h & mask
        k = keys[i]
        while k:
            if k == h:
                value = self._values[i]
                if self._rings[value >> _SLOT_BITS].holds(value & _SLOT_MASK, item_id.encode()):
                    return i
            i = (i + 1) & mask
            k = keys[i]
        return -1

    def _insert(self, h: int, value: int) -> None:
        if (self._count + 1) > self._size * _MAX_LOAD:
            self._resize(self._size * 2)
        keys, mask = self._keys, self._mask
        i = h & mask
        while keys[i] != 0:
            i = (i + 1) & mask
        keys[i] = h
        self._values[i] = value
        self._count += 1

    def _unlink(self, h: int, value: int) -> None:
        """Remove the table entry of a slot (its ring slot is retired by the caller)."""
        keys, values, mask = self._keys, self._values, self._mask
        i = h & mask
        while not (keys[i] == h and values[i] == value):
            i = (i + 1) & mask
        self._remove(i)

    def _delete(self, i: int) -> None:
        """Remove table entry ``i`` and retire its ring slot."""
        value = self._values[i]
        self._rings[value >> _SLOT_BITS].kill(value & _SLOT_MASK)
        self._remove(i)

    def _remove(self, i: int) -> None:
        # Backward-shift deletion: later entries of the probe run move up, so lookups stop at
        # the first empty slot without tombstones.
        keys, values, mask = self._keys, self._values, self._mask
        j = i
        while True:
            j = (j + 1) & mask
            k = keys[j]
            if k == 0:
                break
            home = k & mask
            # Entry j may fill the hole at i when its home is not cyclically within (i, j].
            if (i <= j and (home <= i or home > j)) or (i > j and i >= home > j):
                keys[i] = k
                values[i] = values[j]
                i = j
        keys[i] = 0
        values[i] = 0
        self._count -= 1

    def _resize(self, size: int) -> None:
        old_keys, old_values = self._keys, self._values
        self._keys = array("q", bytes(8 * size))
        self._values = array("q", bytes(8 * size))
        self._size = size
        self._mask = size - 1
        self._count = 0
        for k, v in zip(old_keys, old_values, strict=True):
            if k != 0:
                self._insert(k, v)

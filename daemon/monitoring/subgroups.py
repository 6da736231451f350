"""Per-subgroup population and query shares over a sliding window, with bounded cardinality."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

OTHER = "other"
MIN_ITEMS = 30  # a group's selection rate over fewer items is too noisy to compare


@dataclass(frozen=True, slots=True)
class SubgroupShare:
    """One subgroup's figures over the window."""

    attribute: str
    group: str
    items: int
    queries: int
    population_share: float
    queried_share: float
    representation_ratio: float | None
    selection_rate: float


class _SpaceSaving:
    """The most frequent values of a stream in bounded memory (Metwally et al. 2005).

    ``capacity`` values are counted; a new value replaces the least counted one. For each value
    the count since it entered (``count - error``) is exact, and every value occurring more than
    ``n / capacity`` times is guaranteed to be counted from (nearly) the start.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: dict[str, list[int]] = {}  # value -> [count, error, queries]

    def add(self, value: str, queried: bool, count: int = 1) -> None:
        """Count ``value`` ``count`` times (a count above 1 only when no eviction is due)."""
        entry = self._entries.get(value)
        if entry is None:
            floor = 0
            if len(self._entries) >= self.capacity:
                victim = min(self._entries, key=lambda v: self._entries[v][0])
                floor = self._entries.pop(victim)[0]
            entry = self._entries[value] = [floor, floor, 0]
        entry[0] += count
        if queried:
            entry[2] += count

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, value: str) -> bool:
        return value in self._entries

    def top(self, k: int) -> list[tuple[str, int, int]]:
        """The ``k`` values with the most items counted: (value, items, queries)."""
        exact = [(v, e[0] - e[1], e[2]) for v, e in self._entries.items()]
        exact.sort(key=lambda x: (-x[1], x[0]))
        return exact[:k]


class SubgroupMonitor:
    """Who gets labels: items and queries per (attribute, value) over the last ``window`` items.

    Label values are bounded: only ``attributes`` (or the first ``max_attributes`` seen) are
    tracked, and per attribute only the ``top_k`` most frequent values keep their own series;
    the rest are summed into ``other``. For the window's shares the top K are the K values with
    the most items in the window (exact); for the cumulative counters they are the K values with
    the most items counted by a bounded heavy-hitters sketch (Space-Saving, ``4 * top_k`` values,
    at least 40), each counted exactly from when it entered the sketch; ``other`` is the
    attribute's total minus the named values. Ties are broken by value, alphabetically. The
    representation ratio is the subgroup's share of queries divided by its share of items
    (1 = proportional, < 1 = under-sampled).

    >>> m = SubgroupMonitor(window=100)
    >>> for i in range(100):
    ...     m.observe({"region": "EU" if i % 2 else "US"}, queried=i % 2 == 1)
    >>> {s.group: s.representation_ratio for s in m.shares()}
    {'EU': 2.0, 'US': 0.0}
    """

    def __init__(
        self,
        window: int = 5000,
        top_k: int = 10,
        attributes: list[str] | None = None,
        max_attributes: int = 5,
    ) -> None:
        self.window = window
        self.top_k = top_k
        self.attributes = list(attributes) if attributes else None
        self.max_attributes = max_attributes
        self._capacity = max(4 * top_k, 40)
        self._sketches: dict[str, _SpaceSaving] = {
            a: _SpaceSaving(self._capacity) for a in attributes or []
        }
        self._totals: dict[str, list[int]] = {a: [0, 0] for a in attributes or []}
        self._recent: deque[tuple[tuple[tuple[str, str], ...], bool]] = deque()
        self._items: Counter[tuple[str, str]] = Counter()
        self._queries: Counter[tuple[str, str]] = Counter()
        self._n_queries = 0

    def key(self, group: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The tracked (attribute, value) pairs of one item."""
        out = []
        for attribute, value in group.items():
            if attribute not in self._sketches:
                if self.attributes is not None or len(self._sketches) >= self.max_attributes:
                    continue
                self._sketches[attribute] = _SpaceSaving(self._capacity)
                self._totals[attribute] = [0, 0]
            out.append((attribute, value))
        return tuple(out)

    def observe(self, group: Mapping[str, str], queried: bool) -> None:
        """Count one decided item."""
        key = self.key(group)
        self._recent.append((key, queried))
        for pair in key:
            self._items[pair] += 1
            self._sketches[pair[0]].add(pair[1], queried)
            totals = self._totals[pair[0]]
            totals[0] += 1
            totals[1] += queried
            if queried:
                self._queries[pair] += 1
        self._n_queries += queried
        if len(self._recent) > self.window:
            old, was_queried = self._recent.popleft()
            for pair in old:
                left = self._items[pair] - 1
                if left:
                    self._items[pair] = left
                else:
                    del self._items[pair]
                if was_queried:
                    self._queries[pair] -= 1
                    if not self._queries[pair]:
                        del self._queries[pair]
            self._n_queries -= was_queried

    def observe_many(self, groups: Sequence[Mapping[str, str]], queried: Sequence[bool]) -> None:
        """Count a batch of decided items: the same figures as :meth:`observe` item by item.

        The window's counters are updated once per distinct (subgroup key, queried) pair of
        the batch; the heavy-hitters sketches too, unless the batch brings more new values
        than a sketch has room for (evictions depend on the order: then item by item).
        """
        keys = [self.key(g) for g in groups]
        counts = Counter(zip(keys, queried, strict=True))
        items, queries, sketches, totals = self._items, self._queries, self._sketches, self._totals
        sequential = self._crowded(counts)
        n_queries = 0
        for (key, q), c in counts.items():
            for pair in key:
                items[pair] += c
                attribute_totals = totals[pair[0]]
                attribute_totals[0] += c
                if q:
                    queries[pair] += c
                    attribute_totals[1] += c
                if not sequential:
                    sketches[pair[0]].add(pair[1], q, c)
            if q:
                n_queries += c
        if sequential:
            for key, q in zip(keys, queried, strict=True):
                for attribute, value in key:
                    sketches[attribute].add(value, q)
        self._n_queries += n_queries
        self._recent.extend(zip(keys, queried, strict=True))
        self._expire()

    def _expire(self) -> None:
        """Drop what fell out of the window, once per distinct (key, queried) pair."""
        recent = self._recent
        overflow = len(recent) - self.window
        if overflow <= 0:
            return
        items, queries = self._items, self._queries
        gone = Counter(recent.popleft() for _ in range(overflow))
        for (old, was_queried), c in gone.items():
            for pair in old:
                left = items[pair] - c
                if left:
                    items[pair] = left
                else:
                    del items[pair]
                if was_queried:
                    left = queries[pair] - c
                    if left:
                        queries[pair] = left
                    else:
                        del queries[pair]
            if was_queried:
                self._n_queries -= c

    def _crowded(self, counts: Counter[tuple[tuple[tuple[str, str], ...], bool]]) -> bool:
        """Whether some sketch would have to evict a value during this batch."""
        new: dict[str, set[str]] = {}
        for key, _ in counts:
            for attribute, value in key:
                if value not in self._sketches[attribute]:
                    new.setdefault(attribute, set()).add(value)
        return any(
            len(self._sketches[a]) + len(values) > self._capacity for a, values in new.items()
        )

    @property
    def items_total(self) -> dict[tuple[str, str], int]:
        """Items per (attribute, value) since start, for the top K values and ``other``."""
        return self._cumulative(1)

    @property
    def queries_total(self) -> dict[tuple[str, str], int]:
        """Queries per (attribute, value) since start, for the top K values and ``other``."""
        return self._cumulative(2)

    def _cumulative(self, field: int) -> dict[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for attribute, sketch in self._sketches.items():
            top = sketch.top(self.top_k)
            named = 0
            for value, items, queries in top:
                count = items if field == 1 else queries
                out[(attribute, value)] = count
                named += count
            total = self._totals[attribute][field - 1]
            if total - named > 0 or len(top) < len(sketch):
                out[(attribute, OTHER)] = total - named
        return out

    def shares(self) -> list[SubgroupShare]:
        """Figures per subgroup over the current window (top K values per attribute + other)."""
        n = len(self._recent)
        if n == 0:
            return []
        by_attribute: dict[str, list[tuple[str, int]]] = {}
        for (attribute, group), items in self._items.items():
            by_attribute.setdefault(attribute, []).append((group, items))
        out = []
        for attribute in sorted(by_attribute):
            ranked = sorted(by_attribute[attribute], key=lambda x: (-x[1], x[0]))
            rows = [(g, i, self._queries.get((attribute, g), 0)) for g, i in ranked[: self.top_k]]
            rest = ranked[self.top_k :]
            if rest:
                rest_queries = sum(self._queries.get((attribute, g), 0) for g, _ in rest)
                rows.append((OTHER, sum(i for _, i in rest), rest_queries))
            for group, items, queries in sorted(rows):
                population = items / n
                queried = queries / self._n_queries if self._n_queries else 0.0
                ratio = queried / population if self._n_queries else None
                out.append(
                    SubgroupShare(
                        attribute,
                        group,
                        items,
                        queries,
                        population,
                        queried,
                        ratio,
                        queries / items,
                    )
                )
        return out

    @staticmethod
    def disparity(shares: list[SubgroupShare], min_items: int = MIN_ITEMS) -> dict[str, float]:
        """Per attribute: max / min smoothed selection rate across its named groups.

        A group's smoothed rate is ``(queries + 1) / (items + 2)`` (Laplace's rule of succession),
        so a group with no queries has a small positive rate and the ratio stays finite. Only
        groups with at least ``min_items`` items in the window count, ``other`` never; an
        attribute with fewer than two such groups has no disparity.
        """
        rates: dict[str, list[float]] = {}
        for s in shares:
            if s.items >= min_items and s.group != OTHER:
                rates.setdefault(s.attribute, []).append((s.queries + 1) / (s.items + 2))
        return {a: max(v) / min(v) for a, v in rates.items() if len(v) >= 2}

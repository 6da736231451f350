"""Per-subgroup population and query shares over a sliding window, with bounded cardinality."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

OTHER = "other"


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


class SubgroupMonitor:
    """Who gets labels: items and queries per (attribute, value) over the last ``window`` items.

    Label values are bounded: only ``attributes`` (or the first ``max_attributes`` seen) are
    tracked, and per attribute the first ``top_k`` values seen keep their own series; later values
    are folded into ``other``. The representation ratio is the subgroup's share of queries divided
    by its share of items (1 = proportional, < 1 = under-sampled).

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
        self._known: dict[str, set[str]] = {a: set() for a in attributes or []}
        self._recent: deque[tuple[tuple[tuple[str, str], ...], bool]] = deque()
        self._items: Counter[tuple[str, str]] = Counter()
        self._queries: Counter[tuple[str, str]] = Counter()
        self._n_queries = 0
        self.items_total: Counter[tuple[str, str]] = Counter()
        self.queries_total: Counter[tuple[str, str]] = Counter()

    def key(self, group: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
        """The bounded (attribute, value) pairs of one item."""
        out = []
        for attribute, raw in group.items():
            value = raw
            known = self._known.get(attribute)
            if known is None:
                if self.attributes is not None or len(self._known) >= self.max_attributes:
                    continue
                known = self._known[attribute] = set()
            if value not in known:
                if len(known) >= self.top_k:
                    value = OTHER
                else:
                    known.add(value)
            out.append((attribute, value))
        return tuple(out)

    def observe(self, group: Mapping[str, str], queried: bool) -> None:
        """Count one decided item."""
        key = self.key(group)
        self._recent.append((key, queried))
        for pair in key:
            self._items[pair] += 1
            self.items_total[pair] += 1
            if queried:
                self._queries[pair] += 1
                self.queries_total[pair] += 1
        self._n_queries += queried
        if len(self._recent) > self.window:
            old, was_queried = self._recent.popleft()
            for pair in old:
                self._items[pair] -= 1
                if was_queried:
                    self._queries[pair] -= 1
            self._n_queries -= was_queried

    def shares(self) -> list[SubgroupShare]:
        """Figures per subgroup over the current window."""
        n = len(self._recent)
        if n == 0:
            return []
        out = []
        for (attribute, group), items in sorted(self._items.items()):
            if items <= 0:
                continue
            queries = self._queries[(attribute, group)]
            population = items / n
            queried = queries / self._n_queries if self._n_queries else 0.0
            ratio = queried / population if self._n_queries else None
            out.append(
                SubgroupShare(
                    attribute, group, items, queries, population, queried, ratio, queries / items
                )
            )
        return out

    @staticmethod
    def disparity(shares: list[SubgroupShare], min_items: int = 30) -> dict[str, float]:
        """Per attribute: max / min selection rate across its groups (inf if one gets none)."""
        rates: dict[str, list[float]] = {}
        for s in shares:
            if s.items >= min_items:
                rates.setdefault(s.attribute, []).append(s.selection_rate)
        out = {}
        for attribute, values in rates.items():
            if len(values) >= 2 and max(values) > 0:
                low = min(values)
                out[attribute] = max(values) / low if low > 0 else float("inf")
        return out

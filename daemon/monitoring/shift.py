"""Distribution shift between the labeled set and the stream: PSI and Jensen-Shannon.

Each tracked value (the uncertainty score, configured numeric features) gets fixed bins: ``bins``
equal-width bins on [0, ``uncertainty_max``] for the uncertainty (values above fall in the last
bin), the deciles (``bins``-quantiles, duplicates merged) of the first ``warmup`` stream values for
a feature. Both histograms cover the same period, the last ``window`` streamed items: the stream
histogram counts those items' values, the labeled one the labels that arrived while they were
streamed. They are compared on demand once the period holds at least ``min_labeled`` labels.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Mapping, Sequence


def psi(expected: list[float], actual: list[float], eps: float = 1e-4) -> float:
    """Population stability index of ``actual`` against ``expected`` (both bin shares).

    >>> round(psi([0.5, 0.5], [0.5, 0.5]), 6)
    0.0
    """
    total = 0.0
    for exp_share, act_share in zip(expected, actual, strict=True):
        e, a = max(exp_share, eps), max(act_share, eps)
        total += (a - e) * math.log(a / e)
    return total


def jensen_shannon(p: list[float], q: list[float]) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two discrete distributions.

    >>> jensen_shannon([1.0, 0.0], [0.0, 1.0])
    1.0
    """

    def kl(a: list[float], b: list[float]) -> float:
        return sum(x * math.log2(x / y) for x, y in zip(a, b, strict=True) if x > 0)

    m = [(x + y) / 2 for x, y in zip(p, q, strict=True)]
    return math.sqrt(max(0.0, (kl(p, m) + kl(q, m)) / 2))


class _Histogram:
    """Bin counts of the values added during the last ``window`` stream positions."""

    def __init__(self, n_bins: int, window: int) -> None:
        self.counts = [0] * n_bins
        self.recent: deque[tuple[int, int]] = deque()  # (stream position, bin)
        self.window = window

    def add(self, position: int, b: int) -> None:
        self.counts[b] += 1
        self.recent.append((position, b))

    def expire(self, position: int) -> None:
        """Drop what was added at or before ``position - window``."""
        horizon = position - self.window
        while self.recent and self.recent[0][0] <= horizon:
            self.counts[self.recent.popleft()[1]] -= 1

    def shares(self) -> list[float]:
        n = len(self.recent)
        return [c / n for c in self.counts] if n else [0.0] * len(self.counts)


class _Tracked:
    def __init__(self, edges: list[float] | None, bins: int, window: int, warmup: int) -> None:
        self.edges = edges
        self.bins = bins
        self.window = window
        self.warmup = warmup
        self.pending: list[tuple[int, float]] = []
        self.stream = _Histogram(bins, window)
        self.labeled = _Histogram(bins, window)

    def _bin(self, value: float) -> int:
        assert self.edges is not None
        return bisect_right(self.edges, value)

    def add_stream(self, position: int, value: float) -> None:
        if self.edges is None:
            self.pending.append((position, value))
            if len(self.pending) >= self.warmup:
                ordered = sorted(v for _, v in self.pending)
                cuts = [ordered[len(ordered) * i // self.bins] for i in range(1, self.bins)]
                self.edges = sorted(set(cuts))
                self.stream = _Histogram(len(self.edges) + 1, self.window)
                self.labeled = _Histogram(len(self.edges) + 1, self.window)
                for pos, v in self.pending:
                    self.stream.add(pos, self._bin(v))
                self.pending = []
            return
        self.stream.add(position, self._bin(value))

    def add_labeled(self, position: int, value: float) -> None:
        if self.edges is not None:
            self.labeled.add(position, self._bin(value))

    def expire(self, position: int) -> None:
        self.stream.expire(position)
        self.labeled.expire(position)


class ShiftMonitor:
    """Histograms of tracked values for the stream and for the labeled items, over one period.

    >>> m = ShiftMonitor(features=[], window=1000)
    >>> for i in range(1000):
    ...     m.observe_stream(i / 1000, {})
    ...     if i % 5 == 0:
    ...         m.observe_labeled(0.95, {})
    >>> m.compute()["uncertainty"][0] > 0.2
    True
    """

    def __init__(
        self,
        features: list[str],
        bins: int = 10,
        window: int = 5000,
        warmup: int = 500,
        min_labeled: int = 50,
        uncertainty_max: float = 1.0,
    ) -> None:
        if uncertainty_max <= 0.0:
            raise ValueError("uncertainty_max must be > 0")
        self.features = list(features)
        self.min_labeled = min_labeled
        self.window = window
        self._position = 0
        edges = [uncertainty_max * i / bins for i in range(1, bins)]
        self._tracked: dict[str, _Tracked] = {"uncertainty": _Tracked(edges, bins, window, 0)}
        for name in features:
            self._tracked[name] = _Tracked(None, bins, window, warmup)

    def observe_stream(self, uncertainty: float | None, features: dict[str, object]) -> None:
        """One streamed item; ``None`` when it has no real uncertainty (e.g. a cold start)."""
        self._position += 1
        position = self._position
        if uncertainty is not None:
            self._tracked["uncertainty"].add_stream(position, uncertainty)
        for name in self.features:
            value = features.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._tracked[name].add_stream(position, float(value))
        for t in self._tracked.values():
            t.expire(position)

    def observe_stream_many(
        self,
        uncertainties: Sequence[float | None],
        features: Sequence[Mapping[str, object]] | None = None,
    ) -> None:
        """A batch of streamed items: the same histograms as :meth:`observe_stream` item by
        item (``features`` may be left out when no feature is tracked)."""
        start = self._position
        self._position += len(uncertainties)
        tracked = self._tracked["uncertainty"]
        edges = tracked.edges
        assert edges is not None
        stream = tracked.stream
        counts = stream.counts
        added = [
            (start + i, bisect_right(edges, u))
            for i, u in enumerate(uncertainties, 1)
            if u is not None
        ]
        for b, c in Counter(b for _, b in added).items():
            counts[b] += c
        stream.recent.extend(added)
        if self.features:
            assert features is not None
            for i, x in enumerate(features, 1):
                for name in self.features:
                    value = x.get(name)
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        self._tracked[name].add_stream(start + i, float(value))
        for t in self._tracked.values():
            t.expire(self._position)

    def observe_labeled(self, uncertainty: float | None, features: dict[str, object]) -> None:
        """One item whose label was obtained now (counted in the current period)."""
        if uncertainty is not None:
            self._tracked["uncertainty"].add_labeled(self._position, uncertainty)
        for name in self.features:
            value = features.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._tracked[name].add_labeled(self._position, float(value))

    def compute(self) -> dict[str, tuple[float, float]]:
        """(PSI of labeled against stream, Jensen-Shannon distance) per tracked value with at
        least ``min_labeled`` labels in the period."""
        out = {}
        for name, t in self._tracked.items():
            if len(t.labeled.recent) < self.min_labeled or not t.stream.recent:
                continue
            stream, labeled = t.stream.shares(), t.labeled.shares()
            out[name] = (psi(stream, labeled), jensen_shannon(stream, labeled))
        return out

"""Distribution shift between the labeled set and the stream: PSI and Jensen-Shannon.

Each tracked value (the uncertainty score, configured numeric features) gets fixed bins: equal
width on [0, 1] for the uncertainty, deciles of the first ``warmup`` stream values for features.
Two sliding windows of bin counts (all items, labeled items) are compared on demand.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque


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
    """Bin counts over the last ``window`` values."""

    def __init__(self, n_bins: int, window: int) -> None:
        self.counts = [0] * n_bins
        self.recent: deque[int] = deque()
        self.window = window

    def add(self, b: int) -> None:
        self.counts[b] += 1
        self.recent.append(b)
        if len(self.recent) > self.window:
            self.counts[self.recent.popleft()] -= 1

    def shares(self) -> list[float]:
        n = len(self.recent)
        return [c / n for c in self.counts] if n else [0.0] * len(self.counts)


class _Tracked:
    def __init__(self, edges: list[float] | None, bins: int, window: int, warmup: int) -> None:
        self.edges = edges
        self.bins = bins
        self.window = window
        self.warmup = warmup
        self.pending: list[float] = []
        self.stream = _Histogram(bins, window)
        self.labeled = _Histogram(bins, window)

    def _bin(self, value: float) -> int:
        assert self.edges is not None
        return bisect_right(self.edges, value)

    def add_stream(self, value: float) -> None:
        if self.edges is None:
            self.pending.append(value)
            if len(self.pending) >= self.warmup:
                ordered = sorted(self.pending)
                cuts = [ordered[len(ordered) * i // self.bins] for i in range(1, self.bins)]
                self.edges = sorted(set(cuts))
                self.stream = _Histogram(len(self.edges) + 1, self.window)
                self.labeled = _Histogram(len(self.edges) + 1, self.window)
                for v in self.pending:
                    self.stream.add(self._bin(v))
                self.pending = []
            return
        self.stream.add(self._bin(value))

    def add_labeled(self, value: float) -> None:
        if self.edges is not None:
            self.labeled.add(self._bin(value))


class ShiftMonitor:
    """Windowed histograms of tracked values for the stream and for the labeled items.

    >>> m = ShiftMonitor(features=[], window=1000)
    >>> for i in range(1000):
    ...     m.observe_stream(i / 1000, {})
    >>> for i in range(200):
    ...     m.observe_labeled(0.95, {})
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
    ) -> None:
        self.features = list(features)
        self.min_labeled = min_labeled
        uniform = [i / bins for i in range(1, bins)]
        self._tracked: dict[str, _Tracked] = {"uncertainty": _Tracked(uniform, bins, window, 0)}
        for name in features:
            self._tracked[name] = _Tracked(None, bins, window, warmup)

    def observe_stream(self, uncertainty: float, features: dict[str, object]) -> None:
        """One streamed item."""
        self._tracked["uncertainty"].add_stream(uncertainty)
        for name in self.features:
            value = features.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._tracked[name].add_stream(float(value))

    def observe_labeled(self, uncertainty: float, features: dict[str, object]) -> None:
        """One item whose label was obtained."""
        self._tracked["uncertainty"].add_labeled(uncertainty)
        for name in self.features:
            value = features.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._tracked[name].add_labeled(float(value))

    def compute(self) -> dict[str, tuple[float, float]]:
        """(PSI, Jensen-Shannon distance) per tracked value with enough labeled items."""
        out = {}
        for name, t in self._tracked.items():
            if len(t.labeled.recent) < self.min_labeled or not t.stream.recent:
                continue
            stream, labeled = t.stream.shares(), t.labeled.shares()
            out[name] = (psi(stream, labeled), jensen_shannon(stream, labeled))
        return out

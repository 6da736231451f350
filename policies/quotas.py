"""Subgroup quotas: a minimum and maximum share of recent queries per subgroup, any attributes."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.strategy import Strategy, commit_hook

UNKNOWN_GROUP = ""

Key = tuple[str, str]
"""A subgroup: (attribute, value)."""


class SubgroupQuotas:
    """Wrap a strategy; keep each subgroup's share of the last ``window`` queries in bounds.

    A subgroup is an ``(attribute, value)`` pair of ``item.group`` (value ``""`` when missing);
    floors and ceilings may be set on several attributes at once (e.g. ``sex`` and ``race``), and
    an item belongs to one subgroup per attribute. Once at least ``warmup`` queries are
    remembered, an item of a subgroup below its floor is queried whenever the budget allows
    (reason ``quota_min``, probability 1), so a confidently-wrong minority is still sampled; a
    query that would lift one of the item's subgroups above its ceiling is refused (reason
    ``quota_max``, probability 0), and so is any query that would push another subgroup under its
    floor: the budget is kept for the under-sampled subgroup's next item. A floor of ``None`` is
    the subgroup's observed share of the stream so far, times ``population_factor``: the subgroup
    is then queried at least as often as uniform random sampling would. Only queries that were
    really made count (``commit``). Memory is the window of subgroup keys, one counter per key in
    it, and one item counter per population floor.

    Parameters
    ----------
    inner
        The strategy being constrained.
    attribute, min_share, max_share
        One-attribute form: floors and ceilings of the values of ``attribute``.
    window
        How many recent queries the shares are measured over.
    warmup
        Queries remembered before the quotas act (shares of a few queries are noise).
    floors, ceilings
        ``attribute -> value -> share`` bounds; subgroups not listed are unbounded. A floor of
        None is the observed population share.
    population_factor
        Multiplies observed population shares used as floors (1: match the population).

    >>> from policies import FixedUncertainty
    >>> q = SubgroupQuotas(FixedUncertainty(0.6), "region", min_share={"EU": 0.3}, warmup=2)
    >>> for i in range(3):
    ...     it = ItemView(f"us{i}", {"x": 0.5, "y": 0.5}, group={"region": "US"})
    ...     q.commit(q.decide(it, True), it)
    >>> q.decide(ItemView("eu", {"x": 0.9, "y": 0.1}, group={"region": "EU"}), True).reason
    <Reason.QUOTA_MIN: 'quota_min'>
    """

    name = "quotas"
    version = "2"

    def __init__(
        self,
        inner: Strategy,
        attribute: str | None = None,
        min_share: Mapping[str, float | None] | None = None,
        max_share: Mapping[str, float] | None = None,
        window: int = 200,
        warmup: int = 20,
        *,
        floors: Mapping[str, Mapping[str, float | None]] | None = None,
        ceilings: Mapping[str, Mapping[str, float]] | None = None,
        population_factor: float = 1.0,
    ) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        if not 0 <= warmup <= window:
            raise ValueError("warmup must be in [0, window]")
        if population_factor <= 0.0:
            raise ValueError("population_factor must be > 0")
        self.inner = inner
        self.attribute = attribute
        self.min_share = dict(min_share or {})
        self.max_share = dict(max_share or {})
        self.window = window
        self.warmup = warmup
        self.population_factor = population_factor
        self.floors = {a: dict(vs) for a, vs in (floors or {}).items()}
        self.ceilings = {a: dict(vs) for a, vs in (ceilings or {}).items()}
        if attribute is not None:
            self.floors.setdefault(attribute, {}).update(self.min_share)
            self.ceilings.setdefault(attribute, {}).update(self.max_share)
        elif self.min_share or self.max_share:
            raise ValueError("min_share/max_share need an attribute")
        for attr, values in self.floors.items():
            if sum(v for v in values.values() if v is not None) > 1.0:
                raise ValueError(f"minimum shares of {attr!r} add up to more than 1")
        self._attributes = tuple(sorted({*self.floors, *self.ceilings}))
        self._lo: dict[Key, float | None] = {
            (a, v): f for a, vs in self.floors.items() for v, f in vs.items()
        }
        self._hi: dict[Key, float] = {
            (a, v): c for a, vs in self.ceilings.items() for v, c in vs.items()
        }
        self.name = f"quotas({inner.name})"
        self.version = f"2+{inner.version}"
        self._recent: deque[tuple[Key, ...]] = deque()
        self._counts: dict[Key, int] = {}
        self._present: set[Key] = set()  # floor subgroups seen in the stream (bounded)
        self._seen: dict[Key, int] = {k: 0 for k, f in self._lo.items() if f is None}
        self._items = 0
        self._inner_hook = commit_hook(inner)

    def share(self, group: str, attribute: str | None = None) -> float:
        """The subgroup's share of the remembered queries (``attribute`` defaults to the
        one-attribute form's)."""
        n = len(self._recent)
        key = (attribute or self.attribute or "", group)
        return self._counts.get(key, 0) / n if n else 0.0

    def floor(self, attribute: str, value: str) -> float | None:
        """The floor of a subgroup now (a population floor moves with the stream)."""
        key = (attribute, value)
        if key not in self._lo:
            return None
        return self._floor(key)

    def _floor(self, key: Key) -> float:
        lo = self._lo[key]
        if lo is not None:
            return lo
        if not self._items:
            return 0.0
        # Capped so that the floors of one attribute stay satisfiable together.
        return min(0.9, self.population_factor * self._seen[key] / self._items)

    def _keys(self, item: ItemView) -> tuple[Key, ...]:
        return tuple((a, item.group.get(a, UNKNOWN_GROUP)) for a in self._attributes)

    def _over_max(self, key: Key) -> bool:
        hi = self._hi.get(key)
        if hi is None:
            return False
        n = len(self._recent)
        count = self._counts.get(key, 0) + 1
        if n >= self.window:
            count -= key in self._recent[0]
            return count / self.window > hi
        return count / (n + 1) > hi

    def _under_min(self, key: Key) -> bool:
        """Would the subgroup fall below its floor if the next query went to another subgroup?

        Acting one query early keeps the share at or above the floor, instead of dipping under it
        every time before being topped up.
        """
        lo = self._floor(key)
        n = len(self._recent)
        count = self._counts.get(key, 0)
        if n >= self.window:
            count -= key in self._recent[0]
            return count / self.window < lo
        return count / (n + 1) < lo

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        d = self.inner.decide(item, allowed)
        keys = self._keys(item)
        self._items += 1
        for key in keys:
            if key in self._lo:
                self._present.add(key)
                if key in self._seen:
                    self._seen[key] += 1
        if len(self._recent) < self.warmup:
            return d
        if any(self._over_max(k) for k in keys):
            return d.refused(Reason.QUOTA_MAX) if d.query else d.scaled(0.0)
        if allowed and any(k in self._lo and self._under_min(k) for k in keys):
            return Decision(
                query=True,
                reason=Reason.QUOTA_MIN,
                probability=1.0,
                utility=d.utility,
                threshold=d.threshold,
                unranked=1.0,  # the floor overrides any ranking
            )
        if self._starves_another(keys):
            # A query here would push a subgroup under its floor: keep the budget for it. The
            # check does not depend on the inner draw, so an unqueried item's chance is 0 too.
            return d.refused(Reason.QUOTA_MAX) if d.query else d.scaled(0.0)
        return d

    def _starves_another(self, keys: tuple[Key, ...]) -> bool:
        # Only subgroups that occur in the stream are waited for; an absent one never arrives.
        mine = set(keys)
        return any(other not in mine and self._under_min(other) for other in self._present)

    def commit(self, decision: Decision, item: ItemView) -> None:
        keys = self._keys(item)
        if len(self._recent) >= self.window:
            for old in self._recent.popleft():
                left = self._counts[old] - 1
                if left:
                    self._counts[old] = left
                else:
                    del self._counts[old]
        self._recent.append(keys)
        for key in keys:
            self._counts[key] = self._counts.get(key, 0) + 1
        if self._inner_hook is not None:
            self._inner_hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return {
            "inner": self.inner.state_dict(),
            "recent": [[list(k) for k in keys] for keys in self._recent],
            "seen": [[a, v, c] for (a, v), c in self._seen.items()],
            "items": self._items,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state["inner"])
        recent: list[tuple[Key, ...]] = []
        for entry in state["recent"][-self.window :]:
            if isinstance(entry, str):  # one-attribute state of version 1
                recent.append(((self.attribute or "", entry),))
            else:
                recent.append(tuple((str(a), str(v)) for a, v in entry))
        self._recent = deque(tuple(k for k in keys if k[0] in self._attributes) for keys in recent)
        self._counts = {}
        for keys in self._recent:
            for k in keys:
                self._counts[k] = self._counts.get(k, 0) + 1
        for a, v, c in state.get("seen", []):
            if (a, v) in self._seen:
                self._seen[(a, v)] = int(c)
        self._items = int(state.get("items", 0))

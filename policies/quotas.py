"""Subgroup quotas: a minimum and maximum share of recent queries per subgroup."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.strategy import Strategy, commit_hook

UNKNOWN_GROUP = ""


class SubgroupQuotas:
    """Wrap a strategy; keep each subgroup's share of the last ``window`` queries in bounds.

    The subgroup of an item is ``item.group[attribute]`` (``""`` when missing). Once at least
    ``warmup`` queries are remembered, an item of a subgroup below its ``min_share`` is queried
    whenever the budget allows (reason ``quota_min``, probability 1), so a confidently-wrong
    minority is still sampled; a query that would lift a subgroup above its ``max_share`` is
    refused (reason ``quota_max``, probability 0), and so is any query that would push another
    subgroup under its floor: the budget is kept for the under-sampled subgroup's next item. Only
    queries that were really made count (``commit``). Memory is the window of subgroup keys and
    one counter per key in it.

    Parameters
    ----------
    inner
        The strategy being constrained.
    attribute
        Which ``item.group`` attribute defines the subgroup.
    min_share, max_share
        Per-subgroup bounds on the share of recent queries; subgroups not listed are unbounded.
    window
        How many recent queries the shares are measured over.
    warmup
        Queries remembered before the quotas act (shares of a few queries are noise).

    >>> from policies import FixedUncertainty
    >>> q = SubgroupQuotas(FixedUncertainty(0.6), "region", min_share={"EU": 0.3}, warmup=2)
    >>> for i in range(3):
    ...     it = ItemView(f"us{i}", {"x": 0.5, "y": 0.5}, group={"region": "US"})
    ...     q.commit(q.decide(it, True), it)
    >>> q.decide(ItemView("eu", {"x": 0.9, "y": 0.1}, group={"region": "EU"}), True).reason
    <Reason.QUOTA_MIN: 'quota_min'>
    """

    name = "quotas"
    version = "1"

    def __init__(
        self,
        inner: Strategy,
        attribute: str,
        min_share: Mapping[str, float] | None = None,
        max_share: Mapping[str, float] | None = None,
        window: int = 200,
        warmup: int = 20,
    ) -> None:
        if window < 1:
            raise ValueError("window must be >= 1")
        if not 0 <= warmup <= window:
            raise ValueError("warmup must be in [0, window]")
        self.inner = inner
        self.attribute = attribute
        self.min_share = dict(min_share or {})
        self.max_share = dict(max_share or {})
        if sum(self.min_share.values()) > 1.0:
            raise ValueError("minimum shares add up to more than 1")
        self.window = window
        self.warmup = warmup
        self.name = f"quotas({inner.name})"
        self.version = f"1+{inner.version}"
        self._recent: deque[str] = deque()
        self._counts: dict[str, int] = {}
        self._present: set[str] = set()  # floor subgroups seen in the stream (bounded)
        self._inner_hook = commit_hook(inner)

    def share(self, group: str) -> float:
        """The subgroup's share of the remembered queries."""
        n = len(self._recent)
        return self._counts.get(group, 0) / n if n else 0.0

    def _group(self, item: ItemView) -> str:
        return item.group.get(self.attribute, UNKNOWN_GROUP)

    def _over_max(self, group: str) -> bool:
        hi = self.max_share.get(group)
        if hi is None:
            return False
        n = len(self._recent)
        count = self._counts.get(group, 0) + 1
        if n >= self.window:
            count -= self._recent[0] == group
            return count / self.window > hi
        return count / (n + 1) > hi

    def _under_min(self, group: str, lo: float) -> bool:
        """Would the group fall below its floor if the next query went to another group?

        Acting one query early keeps the share at or above the floor, instead of dipping under it
        every time before being topped up.
        """
        n = len(self._recent)
        count = self._counts.get(group, 0)
        if n >= self.window:
            count -= self._recent[0] == group
            return count / self.window < lo
        return count / (n + 1) < lo

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        d = self.inner.decide(item, allowed)
        group = self._group(item)
        if group in self.min_share:
            self._present.add(group)
        if len(self._recent) < self.warmup:
            return d
        if self._over_max(group):
            return d.refused(Reason.QUOTA_MAX) if d.query else d.scaled(0.0)
        lo = self.min_share.get(group)
        if allowed and lo is not None and self._under_min(group, lo):
            return Decision(
                query=True,
                reason=Reason.QUOTA_MIN,
                probability=1.0,
                utility=d.utility,
                threshold=d.threshold,
                unranked=1.0,  # the floor overrides any ranking
            )
        if self._starves_another(group):
            # A query here would push a subgroup under its floor: keep the budget for it. The
            # check does not depend on the inner draw, so an unqueried item's chance is 0 too.
            return d.refused(Reason.QUOTA_MAX) if d.query else d.scaled(0.0)
        return d

    def _starves_another(self, group: str) -> bool:
        # Only subgroups that occur in the stream are waited for; an absent one never arrives.
        return any(
            other != group and other in self._present and self._under_min(other, lo)
            for other, lo in self.min_share.items()
        )

    def commit(self, decision: Decision, item: ItemView) -> None:
        group = self._group(item)
        if len(self._recent) >= self.window:
            old = self._recent.popleft()
            left = self._counts[old] - 1
            if left:
                self._counts[old] = left
            else:
                del self._counts[old]
        self._recent.append(group)
        self._counts[group] = self._counts.get(group, 0) + 1
        if self._inner_hook is not None:
            self._inner_hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict(), "recent": list(self._recent)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state["inner"])
        self._recent = deque(str(g) for g in state["recent"][-self.window :])
        self._counts = {}
        for g in self._recent:
            self._counts[g] = self._counts.get(g, 0) + 1

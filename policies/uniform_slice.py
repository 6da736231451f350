"""A uniform slice of the budget around a selection rule: the shared mechanics of the random
audit slice and the random exploration share."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar

from policies.batch import BatchStrategy, ItemColumns, Row, Rows
from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform, item_uniforms
from policies.strategy import Strategy, commit_hook


class UniformSlice:
    """Wrap a strategy; query each item with probability ``share * budget`` regardless of it.

    The draw is a per-item hash (so a redelivered item gets the same answer); slice queries
    carry ``reason``; the wrapped strategy sees every item; the logged inclusion probability is
    the overall one, ``r + (1 - r) * p_inner``. Subclasses name the reason, the draw's salt and
    whether slice queries count as the wrapped strategy's own (``commit``).
    """

    name: str = "slice"
    version: str = "1"
    reason: ClassVar[Reason]
    salt: ClassVar[str]
    commits_slice: ClassVar[bool]

    def __init__(self, inner: Strategy, share: float, budget: float, seed: int = 0) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be in [0, 1]")
        if not 0.0 <= budget <= 1.0:
            raise ValueError("budget must be in [0, 1]")
        self.inner = inner
        self.share = share
        self.budget = budget
        self.seed = seed
        self.name = f"{type(self).name}({inner.name})"
        self.version = f"{type(self).version}+{inner.version}"
        self._rate = share * budget
        self._inner_hook = commit_hook(inner)
        self._batchable = isinstance(inner, BatchStrategy)  # decided once, not per batch

    @property
    def rate(self) -> float:
        """Per-item probability of a slice query."""
        return self._rate

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        d = self.inner.decide(item, allowed)
        if not allowed:
            return d
        r = self._rate
        # Queried if the slice draw hits, or else if the wrapped rule queries (independent draws).
        p = r + (1.0 - r) * d.probability
        unranked = r + (1.0 - r) * d.unranked
        if item_uniform(item.key, self.salt, self.seed) < r:
            return Decision(
                query=True,
                reason=self.reason,
                probability=p,
                utility=d.utility,
                threshold=d.threshold,
                unranked=unranked,
            )
        return replace(d, probability=p, unranked=unranked)

    def decide_batch(self, items: ItemColumns) -> Rows | None:
        """Rows for a batch when the wrapped strategy has them: the slice draws at once."""
        if not self._batchable:
            return None
        inner = self.inner.decide_batch(items)  # type: ignore[attr-defined]  # see _batchable
        if inner is None:
            return None
        r = self._rate
        keep = 1.0 - r
        reason = self.reason
        draws = item_uniforms(items.keys, self.salt, self.seed)
        allowed: list[Row] = [
            (True, reason, r + keep * p, utility, threshold, r + keep * unranked)
            if u < r
            else (query, why, r + keep * p, utility, threshold, r + keep * unranked)
            for (query, why, p, utility, threshold, unranked), u in zip(
                inner.allowed, draws, strict=True
            )
        ]
        # A refused budget leaves the wrapped strategy's decision as it is (no draw).
        return Rows(allowed, inner.refused)

    def commit(self, decision: Decision, item: ItemView) -> None:
        if self._inner_hook is None:
            return
        if self.commits_slice or decision.reason is not self.reason:
            self._inner_hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state["inner"])

"""Deciding a batch of items: what is independent per item at once, the sequential rest on rows.

A decision on the hot path is a :data:`Row`, a plain tuple with the fields of
:class:`~policies.decision.Decision` in order, instead of an object per layer of a composed
strategy: ``(query, reason, probability, utility, threshold, unranked)``. A strategy whose
decision is a function of the item alone (no adaptive state) can decide a whole batch up front
(:class:`BatchStrategy`); the budget, the cold start and the ranking, which depend on what was
charged before, stay sequential (:meth:`policies.policy.Policy.batch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from policies.decision import Decision, Reason
from policies.item import ItemView

Row = tuple[bool, Reason, float, float, float | None, float]
"""A decision as ``(query, reason, probability, utility, threshold, unranked)``."""


def as_row(decision: Decision) -> Row:
    """The row of a decision object.

    >>> as_row(Decision(query=False, reason=Reason.CONFIDENT, probability=0.0, utility=0.2))
    (False, <Reason.CONFIDENT: 'confident'>, 0.0, 0.2, None, 0.0)
    """
    d = decision
    return (d.query, d.reason, d.probability, d.utility, d.threshold, d.unranked)


def as_decision(row: Row) -> Decision:
    """The decision object of a row (for the few items that need one: queries, hooks)."""
    query, reason, probability, utility, threshold, unranked = row
    return Decision(
        query=query,
        reason=reason,
        probability=probability,
        utility=utility,
        threshold=threshold,
        unranked=unranked,
    )


@dataclass(frozen=True, slots=True)
class ItemColumns:
    """The decision-relevant view of a batch of items, one sequence per field of
    :class:`~policies.item.ItemView` (the cost is only known per item, when it is decided).

    ``committees`` and ``vectors`` are None when the configured strategy does not read them.
    """

    keys: Sequence[str]
    probas: Sequence[Mapping[str, float]]
    groups: Sequence[Mapping[str, str]]
    classes_seen: int = 0
    committees: Sequence[tuple[Mapping[str, float], ...]] | None = None
    vectors: Sequence[tuple[float, ...]] | None = None

    def __len__(self) -> int:
        return len(self.keys)

    def item(self, i: int, cost: float) -> ItemView:
        """Item ``i`` as an :class:`~policies.item.ItemView` at this cost."""
        return ItemView(
            self.keys[i],
            self.probas[i],
            cost,
            self.classes_seen,
            self.groups[i],
            self.committees[i] if self.committees is not None else (),
            self.vectors[i] if self.vectors is not None else (),
        )

    @classmethod
    def of(cls, items: Sequence[ItemView]) -> ItemColumns:
        """Columns of item views that share ``classes_seen`` (their costs are not kept)."""
        seen = {item.classes_seen for item in items}
        if len(seen) > 1:
            raise ValueError("items of one batch share classes_seen")
        return cls(
            [item.key for item in items],
            [item.proba for item in items],
            [item.group for item in items],
            seen.pop() if seen else 0,
            [item.committee for item in items],
            [item.vector for item in items],
        )


@dataclass(frozen=True, slots=True)
class Rows:
    """A stateless strategy's decisions for a batch: per item, the row when the budget allows
    a query and the row when it does not."""

    allowed: list[Row]
    refused: list[Row]


@runtime_checkable
class BatchStrategy(Protocol):
    """A strategy that can decide a whole batch at once.

    ``decide_batch`` returns, per item, exactly what ``decide(item, True)`` and
    ``decide(item, False)`` would, as rows, or None when this instance cannot (e.g. a wrapper
    around a strategy with adaptive state): then the policy decides item by item. It must not
    change the strategy's state, so that deciding item by item afterwards is still exact.
    """

    def decide_batch(self, items: ItemColumns) -> Rows | None:
        """Rows for every item, or None."""

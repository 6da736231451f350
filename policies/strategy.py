"""The protocol every query strategy follows, and the optional commit hook."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from policies.decision import Decision
from policies.item import ItemView


@runtime_checkable
class Strategy(Protocol):
    """Maps one item to a query decision.

    ``allowed`` says whether the budget could pay for a query now; a strategy still computes the
    item's utility when it is not, so the evidence record shows what was given up.
    """

    name: str
    version: str

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        """Decide for one item; may update the strategy's adaptive state (e.g. a threshold)."""

    def state_dict(self) -> dict[str, Any]:
        """Durable adaptive state (JSON-compatible), persisted across restarts."""

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


@runtime_checkable
class CommittingStrategy(Strategy, Protocol):
    """A strategy that remembers the queries that were really made.

    :class:`~policies.policy.Policy` calls ``commit`` from its own ``commit``, i.e. only for
    queries that nothing downstream refused, so memories such as recent query vectors (diversity)
    or recent query subgroups (quotas) hold real requests only.
    """

    def commit(self, decision: Decision, item: ItemView) -> None:
        """Record a query that was made."""


def commit_hook(strategy: Strategy) -> CommittingStrategy | None:
    """The strategy itself when it has a ``commit`` hook, else ``None`` (decided once, at build)."""
    return strategy if isinstance(strategy, CommittingStrategy) else None

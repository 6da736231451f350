"""The protocol every query strategy follows."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

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

    def state_dict(self) -> dict[str, float]:
        """Durable adaptive state, persisted across restarts."""

    def load_state(self, state: dict[str, float]) -> None:
        """Restore what ``state_dict`` returned."""

"""A random audit slice: a uniform sample kept apart from training selection."""

from __future__ import annotations

from typing import Any

from policies.decision import Decision, Reason
from policies.item import ItemView
from policies.randomness import item_uniform
from policies.strategy import Strategy, commit_hook


class RandomAudit:
    """Wrap a strategy; query a uniform ``share`` of the ``budget`` regardless of the model.

    Each item is audited with probability ``a = share * budget`` (a per-item hash draw, so a
    redelivered item is audited again or not at all); audited items carry reason ``audit``, so
    reports can estimate error and calibration on them without any weighting, apart from the
    labels the selection rule chose. The wrapped strategy sees every item; the logged inclusion
    probability is the item's overall one, ``a + (1 - a) * p_inner``, for inverse-propensity
    weighting over all labels. Audit queries are not passed to the wrapped strategy's ``commit``
    (they are not part of its selection). Give the wrapped strategy the remaining
    ``(1 - share) * budget``.

    Parameters
    ----------
    inner
        The training-selection strategy.
    share
        Share of the budget reserved for the audit slice.
    budget
        The budget as a fraction of the stream.
    seed
        Seed of the audit draw.

    >>> from policies import FixedUncertainty
    >>> s = RandomAudit(FixedUncertainty(0.6), share=0.2, budget=0.5)
    >>> d = s.decide(ItemView("a", {"x": 0.9, "y": 0.1}), allowed=True)
    >>> round(d.probability, 2), d.reason in (Reason.AUDIT, Reason.CONFIDENT)
    (0.1, True)
    """

    name = "audit"
    version = "1"

    def __init__(self, inner: Strategy, share: float, budget: float, seed: int = 0) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError("share must be in [0, 1]")
        if not 0.0 <= budget <= 1.0:
            raise ValueError("budget must be in [0, 1]")
        self.inner = inner
        self.share = share
        self.budget = budget
        self.seed = seed
        self.name = f"audit({inner.name})"
        self.version = f"1+{inner.version}"
        self._rate = share * budget
        self._inner_hook = commit_hook(inner)

    @property
    def rate(self) -> float:
        """Per-item audit probability."""
        return self._rate

    @property
    def audit_rate(self) -> float:
        """Per-item probability of an audit query."""
        return self._rate

    @property
    def unranked_rate(self) -> float:
        """Per-item probability of a query that no ranking budget may refuse."""
        inner = float(getattr(self.inner, "unranked_rate", 0.0))
        return self._rate + (1.0 - self._rate) * inner

    def decide(self, item: ItemView, allowed: bool) -> Decision:
        d = self.inner.decide(item, allowed)
        if not allowed:
            return d
        a = self._rate
        p = a + (1.0 - a) * d.probability
        if item_uniform(item.key, "audit", self.seed) < a:
            return Decision(True, Reason.AUDIT, p, d.utility, d.threshold)
        return Decision(d.query, d.reason, p, d.utility, d.threshold)

    def commit(self, decision: Decision, item: ItemView) -> None:
        if decision.reason is not Reason.AUDIT and self._inner_hook is not None:
            self._inner_hook.commit(decision, item)

    def state_dict(self) -> dict[str, Any]:
        return {"inner": self.inner.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.inner.load_state(state["inner"])

"""The outcome of one acquisition decision, with the reason and inclusion probability."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Reason(StrEnum):
    """Closed set of reasons a decision can give; a metric label and an audit field."""

    COLD_START = "cold_start"
    RANDOM = "random"
    UNCERTAIN = "uncertain"
    CONFIDENT = "confident"
    NOT_SAMPLED = "not_sampled"
    BUDGET_EXHAUSTED = "budget_exhausted"  # the period's absolute budget is used up
    OVER_PACE = "over_pace"  # recent spending is at the pace limit; budget is left for later
    QUEUE_FULL = "queue_full"
    DUPLICATE = "duplicate"
    AUDIT = "audit"
    DISAGREEMENT = "disagreement"
    NEAR_DUPLICATE = "near_duplicate"
    QUOTA_MIN = "quota_min"
    QUOTA_MAX = "quota_max"
    QUEUE_TIGHT = "queue_tight"
    BELOW_QUANTILE = "below_quantile"
    TOO_COSTLY = "too_costly"


QUERY_REASONS = frozenset(
    {
        Reason.COLD_START,
        Reason.RANDOM,
        Reason.UNCERTAIN,
        Reason.AUDIT,
        Reason.DISAGREEMENT,
        Reason.QUOTA_MIN,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """Whether to ask for a label, and why.

    Fields are keyword-only: several are floats in a row, and a swapped pair would type-check.

    Parameters
    ----------
    query
        True when a label should be requested.
    reason
        Why; one of :class:`Reason`.
    probability
        The marginal probability that this item is queried under the policy, given the policy's
        state when the item arrived, queried or not: over every random draw the decision depends
        on (slices, randomized rules, thinning), never only the draw's own path. It is what makes
        inverse-propensity-weighted estimates unbiased downstream; a deterministic rule logs 1.0
        or 0.0.
    utility
        The strategy's usefulness score for the item (higher = more worth a label).
    threshold
        The threshold the utility was compared with, when the rule has one.
    unranked
        The part of ``probability`` that a ranking budget cannot take away: the chance of a query
        through a route that bypasses the ranking (a random audit or exploration draw, a random
        share, a quota floor). When a ranking budget refuses the item, ``probability`` becomes
        this.

    Examples
    --------
    >>> Decision(query=True, reason=Reason.RANDOM, probability=0.1, utility=0.0).query
    True
    """

    query: bool
    reason: Reason
    probability: float
    utility: float
    threshold: float | None = None
    unranked: float = 0.0

    def refused(self, reason: Reason) -> Decision:
        """The same item, surely not queried because a deterministic check refused it."""
        return Decision(
            query=False,
            reason=reason,
            probability=0.0,
            utility=self.utility,
            threshold=self.threshold,
        )

    def scaled(self, factor: float) -> Decision:
        """The same outcome with the inclusion probabilities multiplied by ``factor``.

        A filter that would refuse this item for sure (``factor = 0``) or keep a query with an
        independent chance ``factor`` changes the propensity without changing the reason.
        """
        return replace(self, probability=self.probability * factor, unranked=self.unranked * factor)

    def thinned(self, reason: Reason, factor: float) -> Decision:
        """A query dropped by an independent draw that keeps queries with chance ``factor``.

        Unlike :meth:`refused`, the item keeps its (scaled) inclusion probability: had the draw
        gone the other way it would have been queried.
        """
        return replace(self.scaled(factor), query=False, reason=reason)

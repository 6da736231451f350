"""The outcome of one acquisition decision, with the reason and inclusion probability."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether to ask for a label, and why.

    Parameters
    ----------
    query
        True when a label should be requested.
    reason
        Why; one of :class:`Reason`.
    probability
        Inclusion probability (propensity) of this item under the policy, queried or not. It is
        what makes inverse-propensity-weighted estimates possible downstream; a deterministic rule
        logs 1.0 or 0.0.
    utility
        The strategy's usefulness score for the item (higher = more worth a label).
    threshold
        The threshold the utility was compared with, when the rule has one.

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

    def refused(self, reason: Reason) -> Decision:
        """The same item, not queried because something downstream refused it."""
        return Decision(False, reason, 0.0, self.utility, self.threshold)

    def scaled(self, factor: float) -> Decision:
        """The same outcome with the inclusion probability multiplied by ``factor``.

        A filter that would refuse this item for sure (``factor = 0``) or keep it for sure
        (``factor = 1``) changes the propensity without changing the reason.
        """
        return Decision(
            self.query, self.reason, self.probability * factor, self.utility, self.threshold
        )

"""A random audit slice: a uniform sample kept apart from training selection."""

from __future__ import annotations

from policies.decision import Reason
from policies.uniform_slice import UniformSlice


class RandomAudit(UniformSlice):
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

    >>> from policies import FixedUncertainty, ItemView
    >>> s = RandomAudit(FixedUncertainty(0.6), share=0.2, budget=0.5)
    >>> d = s.decide(ItemView("a", {"x": 0.9, "y": 0.1}), allowed=True)
    >>> round(d.probability, 2), d.reason in (Reason.AUDIT, Reason.CONFIDENT)
    (0.1, True)
    """

    reason = Reason.AUDIT
    name = "audit"
    version = "1"
    salt = "audit"
    commits_slice = False  # audit labels are kept apart from the selection rule

    @property
    def audit_rate(self) -> float:
        """Per-item probability of an audit query."""
        return self.rate

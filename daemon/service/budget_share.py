"""Budget re-sharing: each replica owns the absolute budget in proportion to its partitions."""

from __future__ import annotations

import structlog

from connectors.protocols import CommittingSource
from policies import Policy, set_share

log = structlog.get_logger("labelgate.budget_share")


class BudgetShare:
    """Called after every assignment, so the group as a whole honours the configured limit."""

    def __init__(self, source: CommittingSource, policy: Policy) -> None:
        self.source = source
        self.policy = policy

    def __call__(self) -> None:
        """Set the policy's budget share to the share of partitions this replica owns."""
        share = self.source.share()
        set_share(self.policy.budget, share)
        log.info("budget_share", share=round(share, 4))

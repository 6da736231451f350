"""Admit: each decision through the admission step, with the state its evidence reports."""

from __future__ import annotations

from daemon.labeling.admission import AdmissionStep, Admitted
from daemon.labeling.queues import ExpertQueues
from daemon.service.pipeline import Decided, Selected
from policies import Policy


class Admit:
    """Gates, admits and charges one decision; records budget and queue state right after.

    The snapshot is taken here, per item, because the evidence of an item reports the budget
    and the queues as its own admission left them, not as the end of the batch does.
    """

    def __init__(self, admission: AdmissionStep, queues: ExpertQueues, policy: Policy) -> None:
        self.admission = admission
        self.queues = queues
        self.policy = policy

    def __call__(self, decided: Decided) -> Selected:
        """Admit one decision."""
        now = decided.scored.decoded.now
        if decided.placement is None:
            admitted = Admitted(decided.decision)
        else:
            admitted = self.admission.admit(
                decided.scored.decoded.event,
                decided.item,
                decided.decision,
                decided.placement,
                now,
            )
        return Selected.of(
            decided.scored, admitted, self.policy.snapshot(now), self.queues.counts()
        )

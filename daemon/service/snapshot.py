"""Status assembly: the immutable snapshot that metrics and /status read.

The feedback statistics are expensive, so they are recomputed every
``monitoring.refresh_seconds``; the rest is read from its owners whenever a snapshot is made.
"""

from __future__ import annotations

from collections.abc import Callable

from daemon.config import Settings
from daemon.labeling.intake import LabelIntake
from daemon.labeling.queues import ExpertQueues
from daemon.monitoring.burn import BurnRate, seconds_to_exhaustion
from daemon.monitoring.feedback import FeedbackMonitor, FeedbackSnapshot
from daemon.monitoring.status import QueueStatus, Status
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.clock import Clock
from daemon.service.commit import CommitProtocol
from daemon.service.lag import LagPoller
from policies import BudgetSnapshot, Policy


class StatusAssembler:
    """Asks budget, queues, model, lag and feedback for their state and makes a :class:`Status`.

    Parameters
    ----------
    items
        How many valid predictions have been processed (asked at each snapshot).
    budget_view
        Turns the policy's budget snapshot into the one reported (the absolute figures summed
        over the partition ledgers this replica owns).
    """

    def __init__(
        self,
        settings: Settings,
        policy: Policy,
        queues: ExpertQueues,
        intake: LabelIntake,
        burn: BurnRate,
        feedback: FeedbackMonitor,
        model: ModelCheckpoint,
        lag: LagPoller,
        commit: CommitProtocol,
        clock: Clock,
        items: Callable[[], int],
        budget_view: Callable[[BudgetSnapshot, float], BudgetSnapshot] = lambda b, _now: b,
    ) -> None:
        self.queue_settings = list(settings.queues)
        self.fraction_target = settings.policy.budget.fraction
        self.refresh_seconds = settings.monitoring.refresh_seconds
        self.policy = policy
        self.queues = queues
        self.intake = intake
        self.burn = burn
        self.feedback = feedback
        self.model = model
        self.lag = lag
        self.commit = commit
        self.clock = clock
        self.items = items
        self.budget_view = budget_view
        self._feedback = FeedbackSnapshot()
        self._last_feedback = 0.0

    def refresh_feedback(self, mono: float | None = None) -> None:
        """Recompute the feedback statistics when they are due (always when ``mono`` is None)."""
        if mono is None or mono - self._last_feedback >= self.refresh_seconds:
            self._feedback = self.feedback.snapshot()
            if mono is not None:
                self._last_feedback = mono

    def assemble(self) -> Status:
        """A fresh snapshot."""
        now = self.clock.now()
        budget = self.budget_view(self.policy.snapshot(now), now)
        rate = self.burn.rate(now)
        ages = self.queues.oldest_ages(now)
        learner = self.model.learner
        return Status(
            budget_spent=budget.spent,
            budget_limit=budget.limit,
            budget_remaining=budget.remaining,
            budget_fraction_target=self.fraction_target,
            budget_fraction_estimate=budget.fraction,
            period_start=budget.period_start,
            period_end=budget.period_end,
            pending=len(self.queues),
            pending_capacity=self.queues.capacity,
            oldest_pending_age_seconds=max(ages.values(), default=0.0),
            queues={
                q.name: QueueStatus(
                    self.queues.depth(q.name),
                    q.capacity,
                    ages[q.name],
                    q.ttl_seconds,
                    agreement=self.intake.mean_agreement(q.name),
                )
                for q in self.queue_settings
            },
            last_commit=self.commit.last_commit,
            burn_rate=rate,
            exhaustion_forecast_seconds=seconds_to_exhaustion(budget.remaining, rate),
            feedback=self._feedback,
            model_version=learner.version,
            classes_seen=learner.classes_seen,
            model_nonfinite_scores=learner.nonfinite_scores,
            model_recoveries=learner.recoveries,
            model_uncrossed_items=learner.uncrossed,
            policy=self.policy.id,
            lag=self.lag.lag,
            items=self.items(),
            # Not exported before an event clock has seen an event: a series that jumps from 0
            # to the stream's time would wreck every rate taken per second of this clock.
            clock=now if self.clock.started else None,
        )

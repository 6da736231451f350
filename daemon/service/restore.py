"""Restore at startup: budget, open requests and the model, from the durable sources.

The state log gives the open requests and the policy state with the label positions it is
consistent with; the model checkpoint gives the model and the label positions it covers.
Labels are then read from the earlier of the two positions: those the model has learned
already only resolve requests (the label path skips them as replayed).
"""

from __future__ import annotations

import structlog

from daemon.labeling.queues import ExpertQueues
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.clock import Clock
from daemon.service.state import StateLog
from daemon.service.wiring import Channels
from policies import Policy

log = structlog.get_logger("labelgate.restore")


class Restorer:
    """Rebuilds the state of one instance; :meth:`restore` returns where labels resume."""

    def __init__(
        self,
        channels: Channels,
        state_log: StateLog,
        queues: ExpertQueues,
        policy: Policy,
        model: ModelCheckpoint,
        clock: Clock,
    ) -> None:
        self.channels = channels
        self.state_log = state_log
        self.queues = queues
        self.policy = policy
        self.model = model
        self.clock = clock

    def restore(self) -> dict[int, int]:
        """Restore queues, policy and model; return the label position to resume from, per
        label partition."""
        restored = self.state_log.restore(self.channels.read_state())
        self.queues.restore(restored.pending)
        state_offsets: dict[int, int] = {}
        if restored.policy is not None:
            problems = self.policy.load_state(restored.policy.policy)
            if problems:
                log.warning(
                    "policy_state_not_restored",
                    parts=problems,
                    hint="the configuration changed; these parts start fresh",
                )
            state_offsets = {int(p): o for p, o in restored.policy.label_offsets.items()}
        if self.model.load():
            covered = self.model.covered
            # Labels between the state's and the model's positions only resolve requests; the
            # model has already learned them.
            start = {p: min(o, covered.get(p, o)) for p, o in state_offsets.items()}
            for p, o in covered.items():
                start.setdefault(p, o)
        else:
            if restored.policy is not None:
                log.warning("model_checkpoint_missing", path=str(self.model.path))
            start = state_offsets
        log.info(
            "state_restored",
            pending=len(self.queues),
            model_version=self.model.learner.version,
            label_offsets=start,
            budget_spent=self.policy.snapshot(self.clock.now()).spent,
        )
        return start

"""Restore: the instance's state at startup, each partition's state when it is assigned.

At startup the transaction is started first, which fences an earlier incarnation of this
instance and aborts what it left open (so the state read next is final, and the read does not
wait for it). The state log then gives the instance's policy state and its label reader's
positions; the model checkpoint the state names gives the model and the label positions it
covers, per input partition (a checkpoint prepared for a commit that never happened is
dropped). When partitions are assigned, their ledgers, open requests and closed-request memory
are read from their state partitions, as their previous owner committed them; if the labels
applied to them are behind this replica's label reader, the reader is rewound, and labels
already applied elsewhere are skipped per partition.
"""

from __future__ import annotations

import time

import structlog

from connectors.protocols import TopicPartition
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint
from daemon.service.clock import Clock
from daemon.service.labels import LabelPath
from daemon.service.partitions import PartitionState
from daemon.service.state import StateLog
from daemon.service.wiring import Channels
from policies import Policy

log = structlog.get_logger("labelgate.restore")


class Restorer:
    """Rebuilds the state of one instance and of the partitions it is given.

    Parameters
    ----------
    channels
        The state log reader, the label reader factory and the transaction to start.
    partitions
        Receives each assigned partition's state.
    labels, positions
        The label path and its positions, rewound when an assigned partition needs it.
    file_mode
        A file source has one partition and no consumer group: it is assigned at startup.
    start_timeout
        Seconds to wait for the transaction coordinator at startup.
    """

    def __init__(
        self,
        channels: Channels,
        state_log: StateLog,
        partitions: PartitionState,
        policy: Policy,
        model: ModelCheckpoint,
        labels: LabelPath,
        positions: LabelPositions,
        clock: Clock,
        file_mode: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        self.channels = channels
        self.state_log = state_log
        self.partitions = partitions
        self.policy = policy
        self.model = model
        self.labels = labels
        self.positions = positions
        self.clock = clock
        self.file_mode = file_mode
        self.start_timeout = start_timeout

    def restore(self) -> dict[int, int]:
        """Restore policy and model; return the label position to resume from, per label
        partition."""
        if self.channels.transaction is not None:
            self.channels.transaction.start(self.start_timeout)
        records = self.channels.read_state([self.state_log.instance_partition()])
        restored = self.state_log.restore(records)
        start: dict[int, int] = {}
        if restored.policy is not None:
            problems = self.policy.load_state(restored.policy.policy)
            if problems:
                log.warning(
                    "policy_state_not_restored",
                    parts=problems,
                    hint="the configuration changed; these parts start fresh",
                )
            start = {int(p): o for p, o in restored.policy.label_offsets.items()}
        self.partitions.set_total(self.channels.predictions.partition_count())
        committed = None if restored.policy is None else restored.policy.model_checkpoint
        if not self.model.load(committed) and restored.policy is not None:
            log.warning("model_checkpoint_missing", path=str(self.model.path))
        log.info(
            "state_restored",
            model_version=self.model.learner.version,
            label_offsets=start,
        )
        if self.file_mode:
            self.positions.reset(start)
            self.assign([(self.channels.predictions.name, 0)])
        return start

    def assign(self, tps: list[TopicPartition]) -> None:
        """Partitions arrive: restore what their previous owner committed about them."""
        parts = sorted({p for _, p in tps} - self.partitions.owned)
        if not parts:
            return
        started = time.monotonic()
        state_parts = sorted({self.state_log.partition_of(p) for p in parts})
        records = self.state_log.restore_partitions(self.channels.read_state(state_parts), parts)
        rewind = self.partitions.assign(records, self.positions.snapshot())
        if rewind is not None and not self.file_mode:
            self.labels.close()
            self.positions.reset(rewind)
            self.labels.open(self.channels.open_labels(rewind))
        log.info(
            "partitions_restored",
            partitions=parts,
            pending=sum(len(r.open) for r in records.values()),
            closed=sum(len(r.closed) for r in records.values()),
            labels_rewound=rewind,
            seconds=round(time.monotonic() - started, 3),
        )

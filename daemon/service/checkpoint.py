"""The online model's checkpoint and the label positions it is consistent with.

The model is a function of the labels it has learned, so a checkpoint records the label
positions it covers, per input partition (a label is learned by the replica owning its
request's partition, and partitions move): for each partition, the next label offset per label
partition that had been applied to its requests when the model was saved. After a restart,
labels before those positions only resolve requests, the model does not learn them again.
The checkpoint is written just before the commit that records the same positions, so it is
never behind the committed state (a crash in between leaves it ahead, which is what this
check is for).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from daemon.model.learner import Features, Learner


class LabelPositions:
    """Next label offset to read, per label partition (what the state and checkpoint record).

    >>> p = LabelPositions({0: 5}); p.advance(0, 7); p.advance(1, 0); p.snapshot()
    {0: 8, 1: 1}
    """

    def __init__(self, start: Mapping[int, int] | None = None) -> None:
        self._next = dict(start or {})

    def advance(self, partition: int, offset: int) -> None:
        """A label record at ``offset`` was read."""
        self._next[partition] = offset + 1

    def reset(self, start: Mapping[int, int]) -> None:
        """Start over from restored positions."""
        self._next = dict(start)

    def snapshot(self) -> dict[int, int]:
        """A copy of the positions."""
        return dict(self._next)


class ModelCheckpoint:
    """Holds the online learner, saves it atomically, and knows which labels it has learned.

    Parameters
    ----------
    learner
        The model to start with (replaced by :meth:`load` when a checkpoint exists).
    path
        Where the checkpoint lives.
    """

    def __init__(
        self,
        learner: Learner,
        path: Path,
        owner: Callable[[str], int | None] = lambda _item: 0,
    ) -> None:
        self.learner = learner
        self.path = path
        self.owner = owner
        self._covered: dict[int, dict[int, int]] = {}
        self._dirty = False

    @property
    def covered(self) -> dict[int, dict[int, int]]:
        """Per input partition, the label positions the saved model has learned up to."""
        return {p: dict(o) for p, o in self._covered.items()}

    def load(self) -> bool:
        """Replace the learner by the saved one, if a checkpoint exists; say whether it did."""
        loaded = Learner.load(self.path)
        if loaded is None:
            return False
        self.learner, extra = loaded
        self._covered = {
            int(p): {int(lp): o for lp, o in offsets.items()}
            for p, offsets in extra.get("partition_label_offsets", {}).items()
        }
        return True

    def replayed(self, partition: int, offset: int, item_id: str) -> bool:
        """Whether the saved model has already learned the label at this position (label
        ``partition`` and ``offset``) for the request of ``item_id``."""
        owner = self.owner(item_id)
        if owner is None:
            return False
        return offset < self._covered.get(owner, {}).get(partition, 0)

    def learn(self, features: Features, label: str) -> None:
        """Learn one label; the next :meth:`save` writes the model."""
        self.learner.learn(features, label)
        self._dirty = True

    def save(self, positions: Mapping[int, Mapping[int, int]], final: bool = False) -> None:
        """Write the model (when it changed, or always when ``final``) as covering
        ``positions`` (per input partition, per label partition)."""
        if not (self._dirty or final):
            return
        offsets = {
            str(p): {str(lp): o for lp, o in labels.items()} for p, labels in positions.items()
        }
        if not self.learner.save(self.path, {"partition_label_offsets": offsets}):
            # A model with non-finite parameters was rolled back, not written: the previous
            # checkpoint and the positions it covers stay the ones a restart resumes from.
            return
        self._covered.update({p: dict(labels) for p, labels in positions.items()})
        self._dirty = False

"""The online model's checkpoint and the label positions it is consistent with.

The model is a function of the labels it has learned, so a checkpoint records the label
positions (next offset per label partition) it covers; after a restart, labels before those
positions only resolve requests, the model does not learn them again.
"""

from __future__ import annotations

from collections.abc import Mapping
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

    def __init__(self, learner: Learner, path: Path) -> None:
        self.learner = learner
        self.path = path
        self._covered: dict[int, int] = {}
        self._dirty = False

    @property
    def covered(self) -> dict[int, int]:
        """Label positions the saved model has learned up to."""
        return dict(self._covered)

    def load(self) -> bool:
        """Replace the learner by the saved one, if a checkpoint exists; say whether it did."""
        loaded = Learner.load(self.path)
        if loaded is None:
            return False
        self.learner, extra = loaded
        self._covered = {int(p): o for p, o in extra["label_offsets"].items()}
        return True

    def replayed(self, partition: int, offset: int) -> bool:
        """Whether the saved model has already learned the label at this position."""
        return offset < self._covered.get(partition, 0)

    def learn(self, features: Features, label: str) -> None:
        """Learn one label; the next :meth:`save` writes the model."""
        self.learner.learn(features, label)
        self._dirty = True

    def save(self, positions: Mapping[int, int], final: bool = False) -> None:
        """Write the model (when it changed, or always when ``final``) as covering
        ``positions``."""
        if not (self._dirty or final):
            return
        offsets = {str(p): o for p, o in positions.items()}
        self.learner.save(self.path, {"label_offsets": offsets})
        self._covered = dict(positions)
        self._dirty = False

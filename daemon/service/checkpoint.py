"""The online model's checkpoint and the label positions it is consistent with.

The model is a function of the labels it has learned, so a checkpoint records the label
positions it covers, per input partition (a label is learned by the replica owning its
request's partition, and partitions move): for each partition, the next label offset per label
partition that had been applied to its requests when the model was saved. After a restart,
labels before those positions only resolve requests, the model does not learn them again.
A checkpoint is made durable in two phases, so that after any crash the model on disk is the
one the committed state names, neither ahead of it nor behind it:

1. :meth:`ModelCheckpoint.prepare` writes the model, fsynced, to ``<path>.prepared-<token>``
   before the commit; the state committed with it names ``<token>``;
2. :meth:`ModelCheckpoint.promote` renames it over ``<path>`` once the commit succeeded.

At startup :meth:`ModelCheckpoint.load` is given the token the committed state names: a
prepared file with that token is promoted (the commit happened, the rename did not), any other
is deleted (its commit never happened; the labels it had learned are learned again from the
committed positions). Before, the checkpoint was renamed in place before the commit: a replica
killed between the two left a model that had learned labels its partitions' next owner learned
again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog

from daemon.config import ModelSettings
from daemon.model.learner import Features, Groups, Learner

log = structlog.get_logger("labelgate.checkpoint")

_PREPARED = ".prepared-"


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
    """Holds the online learner, checkpoints it in two phases, and knows which labels it has
    learned.

    Parameters
    ----------
    learner
        The model to start with (replaced by :meth:`load` when a checkpoint exists).
    path
        Where the checkpoint lives.
    owner
        The input partition an item's request belongs to (None: unknown).
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
        self._token = 0
        self._prepared: tuple[int, dict[int, dict[int, int]]] | None = None
        self.unapplied: tuple[str, ...] = ()
        """Configured model settings the loaded checkpoint's model was not built with."""

    @property
    def covered(self) -> dict[int, dict[int, int]]:
        """Per input partition, the label positions the saved model has learned up to."""
        return {p: dict(o) for p, o in self._covered.items()}

    @property
    def token(self) -> int:
        """The checkpoint the state written now is consistent with: the prepared one, else
        the one in place (0: none yet)."""
        return self._token if self._prepared is None else self._prepared[0]

    def prepared_path(self, token: int) -> Path:
        """Where the checkpoint ``token`` waits for its commit."""
        return self.path.with_name(f"{self.path.name}{_PREPARED}{token}")

    def load(self, committed: int | None = None) -> bool:
        """Replace the learner by the saved one, if a checkpoint exists; say whether it did.

        ``committed`` is the checkpoint token the committed state names (None: the state names
        none). A prepared checkpoint with that token is promoted first; others are deleted.
        """
        self._settle_prepared(committed)
        loaded = Learner.load(self.path)
        if loaded is None:
            return False
        configured = self.learner.settings
        self.learner, extra = loaded
        self.unapplied = _unapplied(configured, self.learner.settings)
        if self.unapplied:
            log.warning(
                "model_settings_not_applied",
                path=str(self.path),
                settings=list(self.unapplied),
                hint="the checkpoint keeps the model it learned, with the settings it was built "
                "with; to start a model with the configured ones, move the checkpoint away",
            )
        self._covered = {
            int(p): {int(lp): o for lp, o in offsets.items()}
            for p, offsets in extra.get("partition_label_offsets", {}).items()
        }
        self._token = int(extra.get("token", 0))
        if committed is not None and committed != self._token:
            log.warning(
                "model_checkpoint_mismatch",
                path=str(self.path),
                checkpoint=self._token,
                committed=committed,
                hint="the checkpoint is not the one the committed state was written with "
                "(restored from elsewhere?); labels learned in between are not learned again",
            )
        return True

    def replayed(self, partition: int, offset: int, item_id: str) -> bool:
        """Whether the saved model has already learned the label at this position (label
        ``partition`` and ``offset``) for the request of ``item_id``."""
        owner = self.owner(item_id)
        if owner is None:
            return False
        return offset < self._covered.get(owner, {}).get(partition, 0)

    def learn(self, features: Features, label: str, group: Groups | None = None) -> None:
        """Learn one label (``group``: the item's subgroup attributes); the next
        :meth:`prepare` writes the model."""
        self.learner.learn(features, label, group)
        self._dirty = True

    def prepare(self, positions: Mapping[int, Mapping[int, int]], final: bool = False) -> bool:
        """Phase one: write the model (when it changed, or always when ``final``) as covering
        ``positions`` (per input partition, per label partition) beside the checkpoint in
        place; say whether one was written. :attr:`token` names it from now on."""
        if not (self._dirty or final):
            return False
        token = self._token + 1
        covered = {p: dict(labels) for p, labels in positions.items()}
        offsets = {str(p): {str(lp): o for lp, o in ls.items()} for p, ls in covered.items()}
        extra = {"partition_label_offsets": offsets, "token": token}
        if not self.learner.save(self.prepared_path(token), extra):
            # A model with non-finite parameters was rolled back, not written: the previous
            # checkpoint and the positions it covers stay the ones a restart resumes from.
            return False
        self._prepared = (token, covered)
        return True

    def promote(self) -> None:
        """Phase two, after the commit that names :attr:`token`: the prepared checkpoint
        becomes the one in place (nothing to do when none was prepared)."""
        if self._prepared is None:
            return
        token, covered = self._prepared
        self._put_in_place(self.prepared_path(token))
        self._token = token
        self._covered.update(covered)
        self._prepared = None
        self._dirty = False

    def save(self, positions: Mapping[int, Mapping[int, int]], final: bool = False) -> None:
        """Both phases at once, for a model written outside a commit (tools, tests)."""
        if self.prepare(positions, final):
            self.promote()

    def _settle_prepared(self, committed: int | None) -> None:
        # A write cut short leaves its temporary file (named after the checkpoint, ``.tmp``):
        # no one else writes this instance's checkpoint, so at startup it is garbage.
        for partial in self.path.parent.glob(f"{self.path.name}*.tmp"):
            partial.unlink(missing_ok=True)
        named = None if committed is None else self.prepared_path(committed)
        for prepared in self.path.parent.glob(f"{self.path.name}{_PREPARED}*"):
            if prepared == named:
                self._put_in_place(prepared)
                log.info("model_checkpoint_promoted", path=str(self.path), token=committed)
            else:
                prepared.unlink(missing_ok=True)
                log.info("model_checkpoint_discarded", path=str(prepared), committed=committed)

    def _put_in_place(self, prepared: Path) -> None:
        """Rename a prepared checkpoint over the one in place, durably (the directory is
        fsynced, so the rename survives a crash)."""
        os.replace(prepared, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _unapplied(configured: ModelSettings, saved: ModelSettings) -> tuple[str, ...]:
    """The model settings (those the learner is built with) that differ between the
    configuration and a saved model; ``score_source`` is read from the configuration."""
    return tuple(
        name
        for name in type(configured).model_fields
        if name != "score_source" and getattr(configured, name) != getattr(saved, name)
    )

"""Model checkpoint and label positions: what the model has learned, saved atomically."""

from __future__ import annotations

from daemon.config import ModelSettings
from daemon.model.learner import Learner
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint


def _model(tmp_path, owners=None):
    owners = owners or {}
    return ModelCheckpoint(
        Learner(ModelSettings(), ["0", "1"]), tmp_path / "m" / "model.pkl", owners.get
    )


def test_positions_are_next_offsets_per_partition():
    """advance(p, o) makes o + 1 the next position; reset replaces; snapshot copies."""
    positions = LabelPositions()
    positions.advance(0, 4)
    positions.advance(2, 9)
    snap = positions.snapshot()
    snap[0] = 99
    assert positions.snapshot() == {0: 5, 2: 10}
    positions.reset({1: 3})
    assert positions.snapshot() == {1: 3}


def test_save_writes_only_a_changed_model_unless_final(tmp_path):
    """A model that learned nothing is not rewritten; final always writes."""
    model = _model(tmp_path)
    model.save({0: {0: 1}})
    assert not model.path.exists()
    model.save({0: {0: 1}}, final=True)
    assert model.path.exists()
    assert model.covered == {0: {0: 1}}


def test_load_restores_the_learner_and_the_positions_it_covers(tmp_path):
    """After load, labels before the saved positions of the request's input partition count
    as replayed; other partitions and label partitions are not covered."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    model.save({2: {0: 7}})
    fresh = _model(tmp_path, {"a": 2, "b": 1})
    assert fresh.load()
    assert fresh.learner.version == 1
    assert fresh.replayed(0, 6, "a")
    assert not fresh.replayed(0, 7, "a")
    assert not fresh.replayed(1, 0, "a")
    assert not fresh.replayed(0, 6, "b")
    assert not fresh.replayed(0, 6, "unknown")


def test_load_without_a_checkpoint_keeps_the_fresh_learner(tmp_path):
    """No file: load() says so and nothing changes."""
    model = _model(tmp_path)
    learner = model.learner
    assert not model.load()
    assert model.learner is learner
    assert model.covered == {}


def test_a_model_turned_non_finite_is_not_checkpointed(tmp_path):
    """A poisoned model is rolled back, not written; the covered positions do not advance."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    model.save({0: {0: 1}})
    model.learn({"x": 1.0}, "1")
    model.learner._model._weights["x"] = float("nan")  # as an overflow in learning would
    model.save({0: {0: 2}})
    assert model.covered == {0: {0: 1}}
    assert model.learner.recoveries == 1
    assert model.learner.healthy


def test_a_prepared_checkpoint_waits_beside_the_one_in_place(tmp_path):
    """prepare() writes the model under its token without touching the checkpoint in place;
    promote() puts it there and only then covers its positions."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    model.save({0: {0: 1}})
    assert model.token == 1
    model.learn({"x": 2.0}, "0")
    assert model.prepare({0: {0: 2}})
    assert model.token == 2
    assert model.prepared_path(2).exists()
    in_place = Learner.load(model.path)
    assert in_place is not None
    assert in_place[0].version == 1
    assert model.covered == {0: {0: 1}}
    model.promote()
    assert not model.prepared_path(2).exists()
    assert model.covered == {0: {0: 2}}
    fresh = _model(tmp_path)
    assert fresh.load(committed=2)
    assert (fresh.learner.version, fresh.token) == (2, 2)


def _saved_then_prepared(tmp_path):
    """Checkpoint 1 (one label, positions {0: {0: 1}}) in place, checkpoint 2 (a second label)
    prepared: what a crash around the second commit leaves."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    model.save({0: {0: 1}})
    model.learn({"x": 2.0}, "0")
    model.prepare({0: {0: 2}})


def test_a_prepared_checkpoint_whose_commit_never_happened_is_dropped(tmp_path):
    """Killed between prepare and commit: the committed state names the older checkpoint, so
    the restart loads that one and deletes the prepared file (its labels are learned again)."""
    _saved_then_prepared(tmp_path)
    fresh = _model(tmp_path, {"a": 0})
    assert fresh.load(committed=1)
    assert (fresh.learner.version, fresh.token) == (1, 1)
    assert not fresh.replayed(0, 1, "a")
    assert list(tmp_path.joinpath("m").iterdir()) == [fresh.path]


def test_a_prepared_checkpoint_whose_commit_happened_is_promoted_at_start(tmp_path):
    """Killed after the commit but before the rename: the committed state names the prepared
    checkpoint, so the restart puts it in place and skips the labels it covers."""
    _saved_then_prepared(tmp_path)
    fresh = _model(tmp_path, {"a": 0})
    assert fresh.load(committed=2)
    assert (fresh.learner.version, fresh.token) == (2, 2)
    assert fresh.replayed(0, 1, "a")
    assert list(tmp_path.joinpath("m").iterdir()) == [fresh.path]


def test_without_committed_state_a_prepared_first_checkpoint_is_dropped(tmp_path):
    """The very first commit never landed: nothing names the prepared checkpoint, so the
    daemon starts from a fresh model."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    model.prepare({0: {0: 1}})
    fresh = _model(tmp_path)
    assert not fresh.load(committed=None)
    assert fresh.learner.version == 0
    assert not model.prepared_path(1).exists()


def test_files_left_by_a_write_cut_short_are_removed_at_start(tmp_path):
    """A crash mid-write leaves a temporary file beside the checkpoint (in place or prepared);
    the next start deletes it and loads the checkpoint in place."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    model.save({0: {0: 1}})
    folder = tmp_path / "m"
    (folder / "model.pkl1a2b3c.tmp").write_bytes(b"half a pickle")
    (folder / "model.pkl.prepared-2x9y8z.tmp").write_bytes(b"half a pickle")
    (folder / "other.tmp").write_bytes(b"not ours")
    fresh = _model(tmp_path)
    assert fresh.load(committed=1)
    assert sorted(p.name for p in folder.iterdir()) == ["model.pkl", "other.tmp"]


def test_a_checkpoint_built_with_other_model_settings_says_which_are_not_applied(tmp_path):
    """The loaded model keeps the settings it learned with; the configured ones that differ
    (not the score source, which the daemon reads from the configuration) are named."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    model.save({0: {0: 1}})
    configured = ModelSettings(interactions=["segment"], clip=3.0, score_source="production")
    changed = ModelCheckpoint(Learner(configured, ["0", "1"]), model.path)
    assert changed.load()
    assert changed.unapplied == ("clip", "interactions")
    assert changed.learner.settings.interactions == ()
    same = _model(tmp_path)
    assert same.load()
    assert same.unapplied == ()


def test_a_checkpoint_from_before_a_model_setting_existed_loads_with_its_default(tmp_path):
    """Settings pickled before ``interactions`` existed lack it: the loaded model has the
    default (what it was built with), and nothing is reported as not applied."""
    model = _model(tmp_path)
    model.learn({"x": 1.0}, "1")
    del model.learner.settings.__dict__["interactions"]  # as an older version pickled it
    model.save({0: {0: 1}})
    fresh = _model(tmp_path)
    assert fresh.load()
    assert fresh.learner.settings.interactions == ()
    assert fresh.unapplied == ()

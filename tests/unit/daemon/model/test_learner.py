"""The online learner: class-named scores, label counting, scaling and atomic checkpoints."""

import pickle
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from river import compose

from daemon.config import ModelSettings
from daemon.errors import StateError
from daemon.model import learner as learner_module
from daemon.model.learner import Learner

BINARY = ["ok", "fraud"]
CENTERS = {"a": (-3.0, 0.0), "b": (3.0, 0.0), "c": (0.0, 4.0)}


def _train_clusters(learner, n=600, seed=0):
    rng = random.Random(seed)
    with compose.learn_during_predict():
        for _ in range(n):
            c = rng.choice(sorted(CENTERS))
            x = {"x": CENTERS[c][0] + rng.gauss(0, 0.5), "y": CENTERS[c][1] + rng.gauss(0, 0.5)}
            learner.score(x)
            learner.learn(x, c)


@settings(max_examples=30, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "y", "z"]), st.floats(-1e3, 1e3), max_size=3))
def test_binary_scores_use_class_names_and_sum_to_one(features):
    """A binary learner scores with the configured class names, probabilities summing to 1."""
    learner = Learner(ModelSettings(), BINARY)
    learner.learn({"x": 1.0}, "fraud")
    scores = learner.score(features)
    assert set(scores) == set(BINARY)
    assert sum(scores.values()) == pytest.approx(1.0)
    assert all(0.0 <= p <= 1.0 for p in scores.values())


def test_learn_counts_labels_and_classes():
    """Each label increments the version; classes_seen counts distinct labels."""
    learner = Learner(ModelSettings(), BINARY)
    assert (learner.version, learner.classes_seen) == (0, 0)
    for i, label in enumerate(["ok", "ok", "fraud", "ok"], 1):
        learner.learn({"x": float(i)}, label)
        assert learner.version == i
    assert learner.classes_seen == 2


def test_predict_is_none_until_something_was_learned():
    """The online prediction is None before the first label, then the argmax class."""
    learner = Learner(ModelSettings(), BINARY)
    assert learner.predict({"ok": 0.2, "fraud": 0.8}) is None
    learner.learn({"x": 1.0}, "ok")
    assert learner.predict({"ok": 0.2, "fraud": 0.8}) == "fraud"
    assert learner.predict({}) is None


def test_binary_learner_learns_the_positive_class():
    """Positive = the last configured class: training on it raises its score for that input."""
    learner = Learner(ModelSettings(scale=False, learning_rate=0.5), BINARY)
    for _ in range(30):
        learner.learn({"x": 1.0}, "fraud")
        learner.learn({"x": -1.0}, "ok")
    assert learner.score({"x": 1.0})["fraud"] > 0.9
    assert learner.score({"x": -1.0})["ok"] > 0.9


def test_scaler_learns_from_every_scored_item_and_not_again_from_labels():
    """Scoring updates the scaler's mean (labeled or not); learning a label does not recount."""
    learner = Learner(ModelSettings(), BINARY)
    scaler = learner._features.scaler
    values = [10.0, 20.0, 60.0]
    for v in values:
        learner.score({"x": v})
    assert scaler.means["x"] == pytest.approx(sum(values) / len(values))
    assert scaler.counts["x"] == len(values)
    learner.learn({"x": 10.0}, "fraud")
    assert scaler.counts["x"] == len(values)
    assert learner.version == 1


def test_unscaled_pipeline_has_no_scaler():
    """scale: false leaves numeric features unscaled."""
    learner = Learner(ModelSettings(scale=False), BINARY)
    assert learner._features.scaler is None
    assert learner._features({"x": 5.0, "c": "EU"}, learn=True) == {"x": 5.0, "c_EU": 1}


@pytest.mark.parametrize(
    "classifier", ["softmax_regression", "gaussian_nb", "hoeffding_tree", "adaptive_random_forest"]
)
def test_multiclass_classifiers_learn_three_classes(classifier):
    """Multiclass learners score the three classes summing to 1 and separate clear clusters."""
    learner = Learner(ModelSettings(classifier=classifier, learning_rate=0.1), ["a", "b", "c"])
    assert learner.score({"x": 0.0, "y": 0.0}) == {}
    _train_clusters(learner)
    assert learner.classes_seen == 3
    for cls, (x, y) in CENTERS.items():
        scores = learner.score({"x": x, "y": y})
        assert set(scores) <= {"a", "b", "c"}
        assert sum(scores.values()) == pytest.approx(1.0)
        assert learner.predict(scores) == cls


def test_checkpoint_round_trip(tmp_path):
    """save then load gives back an equivalent learner and the extra data."""
    learner = Learner(ModelSettings(), BINARY)
    _train = [({"x": float(i % 5), "region": "EU"}, BINARY[i % 2]) for i in range(40)]
    with compose.learn_during_predict():
        for x, y in _train:
            learner.score(x)
            learner.learn(x, y)
    path = tmp_path / "ckpt" / "model.pkl"
    learner.save(path, {"label_offsets": {"0": 40}})
    loaded, extra = Learner.load(path)
    assert extra == {"label_offsets": {"0": 40}}
    assert (loaded.version, loaded.classes_seen, loaded.classes) == (40, 2, BINARY)
    probe = {"x": 2.5, "region": "EU"}
    assert loaded.score(probe) == learner.score(probe)


def test_failed_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    """A write that fails midway leaves the old checkpoint loadable and no temp file behind."""
    path = tmp_path / "model.pkl"
    old = Learner(ModelSettings(), BINARY)
    old.learn({"x": 1.0}, "ok")
    old.save(path, {"label_offsets": {"0": 1}})
    newer = Learner(ModelSettings(), BINARY)
    for _ in range(5):
        newer.learn({"x": 1.0}, "fraud")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(learner_module.pickle, "dump", boom)
    with pytest.raises(OSError, match="disk full"):
        newer.save(path, {"label_offsets": {"0": 5}})
    monkeypatch.undo()
    loaded, extra = Learner.load(path)
    assert (loaded.version, extra) == (1, {"label_offsets": {"0": 1}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pkl"]


def test_load_without_checkpoint_returns_none(tmp_path):
    """No checkpoint yet means None (a fresh model), not an error."""
    assert Learner.load(tmp_path / "absent.pkl") is None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a pickle", "cannot read"),
        (b"", "cannot read"),
        (pickle.dumps({"learner": "nope", "extra": {}}), "does not hold"),
    ],
)
def test_unreadable_checkpoint_is_a_state_error(tmp_path, content, match):
    """Corrupt, empty or foreign checkpoints raise StateError."""
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(StateError, match=match):
        Learner.load(path)

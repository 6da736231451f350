"""The online learner: class-named scores, label counting, scaling and atomic checkpoints."""

import math
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
    values = [float(v) for v in range(10, 70)]
    for v in values:
        learner.score({"x": v})
    centre, _, count = learner._features.moments("x")
    assert centre == pytest.approx(sum(values) / len(values))
    assert count == len(values)
    learner.learn({"x": 10.0}, "fraud")
    assert learner._features.moments("x")[2] == len(values)
    assert learner.version == 1


def test_unscaled_pipeline_has_no_scaler():
    """scale: false leaves numeric features unscaled."""
    learner = Learner(ModelSettings(scale=False), BINARY)
    assert learner._features.moments("x") is None
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


finite_or_extreme = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([1e308, -1e308, 10**401, -(10**401), 0, 1]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), finite_or_extreme), max_size=40))
def test_scores_are_finite_whatever_the_feature_values(items):
    """Any numbers (huge ints, +-1e308, inf, NaN) as features: no error and finite scores."""
    learner = Learner(ModelSettings(), BINARY)
    for k, x in enumerate(items):
        scores = learner.score(x)
        assert all(math.isfinite(v) for v in scores.values())
        learner.learn(x, BINARY[k % 2])
    assert learner.healthy


@settings(max_examples=25, deadline=None)
@given(
    position=st.integers(min_value=0, max_value=199),
    extreme=st.sampled_from([1e308, -1e308, 10**401, float("inf")]),
)
def test_one_extreme_value_does_not_ruin_the_statistics(position, extreme):
    """A single extreme value anywhere in a stream leaves the feature's scale near the truth."""
    rng = random.Random(position)
    learner = Learner(ModelSettings(), BINARY)
    for i in range(400):
        learner.score({"x": extreme if i == position else rng.gauss(10.0, 2.0)})
    centre, spread, _ = learner._features.moments("x")
    assert centre == pytest.approx(10.0, abs=1.0)
    assert spread == pytest.approx(2.0, rel=0.5)


def test_a_huge_value_does_not_make_later_scores_nan():
    """After a 1e308 feature the model keeps learning and separating the classes."""
    learner = Learner(ModelSettings(), BINARY)
    rng = random.Random(0)
    for i in range(2000):
        x = rng.gauss(0.0, 1.0)
        features = {"x": 1e308 if i == 300 else x}
        scores = learner.score(features)
        assert all(math.isfinite(v) for v in scores.values())
        learner.learn(features, "fraud" if x > 0 else "ok")
    assert learner.score({"x": 2.0})["fraud"] > 0.7
    assert learner.score({"x": -2.0})["ok"] > 0.7


def test_a_401_digit_integer_is_a_saturated_number_not_an_overflow():
    """int('9' * 401) as a feature is scored and learned without OverflowError."""
    learner = Learner(ModelSettings(), BINARY)
    huge = int("9" * 401)
    assert all(math.isfinite(v) for v in learner.score({"x": huge, "y": -huge}).values())
    learner.learn({"x": huge, "y": -huge}, "fraud")
    assert learner.healthy


def test_zero_one_columns_are_left_unscaled():
    """A 0/1 column (a rare pre-encoded category) passes through; others are standardised."""
    learner = Learner(ModelSettings(), BINARY)
    for i in range(1000):
        learner.score({"rare": 1.0 if i == 7 else 0.0, "x": float(i)})
    out = learner._features({"rare": 1.0, "x": 5000.0}, learn=False)
    assert out["rare"] == 1.0
    assert out["x"] == 5.0  # clipped at +-clip


def _poison(learner):
    """Make the linear model's parameters non-finite, as an overflow in learning would."""
    learner._model._weights["x"] = math.nan


def test_nonfinite_scores_are_detected_counted_and_recovered():
    """A model scoring NaN is rolled back to its last healthy snapshot; counters show it."""
    learner = Learner(ModelSettings(), BINARY)
    rng = random.Random(1)
    for _ in range(learner_module.SNAPSHOT_EVERY):
        x = rng.gauss(0.0, 1.0)
        learner.score({"x": x})
        learner.learn({"x": x}, "fraud" if x > 0 else "ok")
    _poison(learner)
    assert not learner.healthy
    scores = learner.score({"x": 2.0})
    assert all(math.isfinite(v) for v in scores.values())
    assert scores["fraud"] > 0.6  # the snapshot, not a fresh model
    assert (learner.nonfinite_scores, learner.recoveries) == (1, 1)
    assert learner.healthy


def test_an_unhealthy_model_is_not_checkpointed(tmp_path):
    """save() refuses a model with non-finite parameters and keeps the previous checkpoint."""
    path = tmp_path / "model.pkl"
    learner = Learner(ModelSettings(), BINARY)
    learner.learn({"x": 1.0}, "fraud")
    assert learner.save(path, {"label_offsets": {"0": 1}})
    learner.learn({"x": 1.0}, "fraud")
    _poison(learner)
    assert learner.save(path, {"label_offsets": {"0": 2}}) is False
    _, extra = Learner.load(path)
    assert extra == {"label_offsets": {"0": 1}}
    assert learner.healthy
    assert learner.recoveries == 1


def test_without_a_snapshot_recovery_starts_afresh():
    """A model poisoned before any snapshot is reset to a fresh classifier, still scoring."""
    learner = Learner(ModelSettings(), BINARY)
    learner.learn({"x": 1.0}, "fraud")
    _poison(learner)
    assert learner.score({"x": 1.0}) == {"ok": 0.5, "fraud": 0.5}
    assert learner.recoveries == 1


def _prequential(rows, predict_learn):
    hits = 0
    for x, y in rows:
        hits += predict_learn(x, y)
    return hits / len(rows)


@pytest.mark.parametrize("data", ["phishing", "stationary", "agrawal-drift"])
def test_default_learner_is_as_accurate_as_rivers_defaults(data):
    """Full-label prequential accuracy >= River's StandardScaler | LogisticRegression, in noise."""
    from river import linear_model, preprocessing  # noqa: PLC0415

    from daemon.tools.streams import open_stream  # noqa: PLC0415

    rows = [(ex.features, ex.label) for ex in open_stream(data, 3000, 0)]
    ours = Learner(ModelSettings(), ["0", "1"])

    def ours_step(x, y):
        hit = (ours.predict(ours.score(x)) or "0") == y
        ours.learn(x, y)
        return hit

    river = preprocessing.StandardScaler() | linear_model.LogisticRegression()

    def river_step(x, y):
        hit = river.predict_proba_one(x).get(True, 0.5) > 0.5
        river.learn_one(x, y == "1")
        return hit == (y == "1")

    assert _prequential(rows, ours_step) >= _prequential(rows, river_step) - 0.005


def test_interactions_cross_the_group_value_with_each_numeric_feature():
    """``segment`` = minority adds segment=minority (1) and segment=minority*x per numeric
    feature (its transformed value), after the item's own outputs; categories are not crossed."""
    step = learner_module.FeatureStep(scale=False, interactions=("segment",))
    x = {"x0": 2.0, "kind": "a", "x1": -1, "flag": True, "gone": None}
    out = step(x, learn=True, group={"segment": "minority"})
    assert list(out) == [
        "x0",
        "kind_a",
        "x1",
        "flag",
        "segment=minority",
        "segment=minority*x0",
        "segment=minority*x1",
        "segment=minority*flag",
    ]
    assert out["segment=minority"] == 1.0
    assert (out["segment=minority*x0"], out["segment=minority*x1"]) == (2.0, -1.0)
    assert out["segment=minority*flag"] == 1.0


def test_crossed_values_are_the_scaled_ones_and_the_statistics_are_not_doubled():
    """With scaling on, a=v*x carries x's standardised value; the crossed outputs keep no
    statistics of their own."""
    step = learner_module.FeatureStep(interactions=("region",))
    plain = learner_module.FeatureStep()
    for i in range(60):
        x = {"x": float(i % 7), "region": "EU" if i % 3 else "US"}
        out = step(x, learn=True)
        assert out[f"region={x['region']}*x"] == out["x"] == plain(x, learn=True)["x"]
    assert set(step._moments) == {"x"}


def test_the_crossed_value_comes_from_the_group_whether_or_not_it_is_a_feature():
    """The group wins over a feature of the same name; without a group a string feature is
    read; an item with neither gets no crossed outputs."""
    step = learner_module.FeatureStep(scale=False, interactions=("sex", "race"))
    out = step({"x": 1.0}, learn=True, group={"sex": "F", "race": "B"})
    assert [k for k in out if "=" in k] == ["sex=F", "sex=F*x", "race=B", "race=B*x"]
    out = step({"x": 1.0, "sex": "M"}, learn=True, group={"sex": "F"})
    assert [k for k in out if "=" in k] == ["sex=F", "sex=F*x"]
    out = step({"x": 1.0, "sex": "M"}, learn=True)
    assert [k for k in out if "=" in k] == ["sex=M", "sex=M*x"]
    assert step({"x": 1.0, "sex": 3.0}, learn=True) == {"x": 1.0, "sex": 3.0}


def test_only_the_first_interaction_values_of_an_attribute_are_crossed():
    """An identifier crossed by mistake cannot grow the model: values after the first
    ``interaction_values`` are not crossed (counted), the first ones stay crossed."""
    step = learner_module.FeatureStep(scale=False, interactions=("id",), interaction_values=2)
    crossed = [
        [k for k in step({"x": 1.0}, learn=True, group={"id": v}) if "=" in k]
        for v in ["a", "b", "c", "a", "d", "b"]
    ]
    assert crossed == [["id=a", "id=a*x"], ["id=b", "id=b*x"], [], ["id=a", "id=a*x"], [],
                       ["id=b", "id=b*x"]]  # fmt: skip
    assert (step.crossed_values("id"), step.uncrossed) == (2, 2)
    restored = pickle.loads(pickle.dumps(step))
    assert [k for k in restored({"x": 1.0}, learn=False, group={"id": "e"}) if "=" in k] == []
    assert [k for k in restored({"x": 1.0}, learn=False, group={"id": "b"}) if "=" in k] == [
        "id=b",
        "id=b*x",
    ]


def test_a_feature_step_pickled_before_the_cap_existed_loads_with_the_default():
    """Checkpoints from before ``interaction_values`` keep crossing, up to the default."""
    step = learner_module.FeatureStep(scale=False, interactions=("seg",))
    state = step.__dict__.copy()
    for name in ("interaction_values", "uncrossed", "_crossings"):
        del state[name]
    old = learner_module.FeatureStep.__new__(learner_module.FeatureStep)
    old.__setstate__(state)
    assert old.interaction_values == learner_module.INTERACTION_VALUES
    assert "seg=m" in old({"x": 1.0}, learn=True, group={"seg": "m"})


def test_without_interactions_the_group_changes_nothing():
    """The default (no interactions) ignores the group: the same outputs as before."""
    step = learner_module.FeatureStep(scale=False)
    x = {"x": 1.5, "region": "EU"}
    assert step(x, learn=True, group={"region": "EU"}) == {"x": 1.5, "region_EU": 1}


def test_a_learner_with_interactions_fits_a_subgroup_with_its_own_concept():
    """A minority whose label follows another feature: crossed, the model gets it right on
    both groups; the shared model without interactions cannot."""
    rng = random.Random(3)
    items = []
    for _ in range(4000):
        x = {"a": rng.uniform(-1, 1), "b": rng.uniform(-1, 1)}
        group = {"seg": "min" if rng.random() < 0.3 else "maj"}
        label = (x["b"] > 0) if group["seg"] == "min" else (x["a"] > 0)
        items.append((x, group, BINARY[label]))

    def accuracy(settings):
        learner = Learner(settings, BINARY)
        hits = 0
        for x, group, label in items:
            hits += learner.predict(learner.score(x, group)) == label
            learner.learn(x, label, group)
        return hits / len(items)

    crossed = accuracy(ModelSettings(interactions=("seg",)))
    shared = accuracy(ModelSettings())
    assert crossed > 0.9
    assert crossed > shared + 0.1


def test_a_checkpoint_with_interactions_keeps_crossing(tmp_path):
    """Saved with interactions, loaded: the same scores, and it goes on crossing."""
    learner = Learner(ModelSettings(interactions=("region",)), BINARY)
    for i in range(40):
        x, group = {"x": float(i % 5)}, {"region": "EU" if i % 2 else "US"}
        learner.score(x, group)
        learner.learn(x, BINARY[i % 2], group)
    path = tmp_path / "model.pkl"
    assert learner.save(path, {})
    loaded, _ = Learner.load(path)
    assert loaded._features.interactions == ("region",)
    assert "region=EU*x" in loaded._model.weights
    probe, group = {"x": 2.5}, {"region": "EU"}
    assert loaded.score(probe, group) == learner.score(probe, group)
    assert loaded.score(probe, group) != loaded.score(probe, {"region": "US"})


def test_a_feature_step_pickled_before_interactions_loads_without_them():
    """A checkpoint of the feature step from before the option (no such attribute) loads as
    one that crosses nothing."""
    step = learner_module.FeatureStep()
    step({"x": 1.0}, learn=True)
    state = dict(step.__dict__)
    del state["interactions"]
    old = learner_module.FeatureStep.__new__(learner_module.FeatureStep)
    old.__setstate__(state)
    assert old.interactions == ()
    assert old({"x": 2.0, "r": "a"}, learn=False, group={"r": "a"}) == step(
        {"x": 2.0, "r": "a"}, learn=False
    )

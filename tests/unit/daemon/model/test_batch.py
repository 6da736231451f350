"""Batch scoring: bit-for-bit what scoring item by item gives, and the same learner state."""

import copy
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from daemon.config import Classifier, ModelSettings
from daemon.model.batch import BatchScorer
from daemon.model.learner import Learner

CLASSES = ["ok", "fraud"]
_value = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-1000, 1000),
    st.booleans(),
    st.none(),
    st.sampled_from(["EU", "US", "APAC"]),
)
_item = st.dictionaries(st.sampled_from(["x0", "x1", "x2", "region", "kind", "x3"]), _value)


def state(learner: Learner) -> tuple:
    return (
        pickle.dumps(learner._features),
        dict(learner._model.weights),
        learner._model.intercept,
    )


@settings(max_examples=200)
@given(
    st.lists(st.lists(_item, max_size=12), min_size=1, max_size=6),
    st.booleans(),
    st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_batches_score_exactly_like_items(batches, scale, learn_after):
    """Any batches, labels learned between them: equal probabilities and equal model state."""
    fast = Learner(ModelSettings(scale=scale), CLASSES)
    slow = copy.deepcopy(fast)
    scorer = BatchScorer()
    for batch, learn in zip(batches, learn_after, strict=False):
        got = scorer.score(fast, batch)
        want = [slow.score(x) for x in batch]
        assert got == want
        assert state(fast) == state(slow)
        if learn and batch:
            for learner in (fast, slow):
                learner.learn(batch[0], "fraud")
                learner.learn(batch[-1], "ok")


def test_a_long_stream_stays_exact():
    """Thousands of items in batches of 500 with labels between: not one bit differs."""
    fast = Learner(ModelSettings(), CLASSES)
    slow = copy.deepcopy(fast)
    scorer = BatchScorer()
    regions = ["EU", "US", "APAC"]
    items = [
        {"x0": (i * 7919 % 1000) / 37.0, "x1": i % 13, "region": regions[i % 3], "f": i % 2 == 0}
        for i in range(5000)
    ]
    for start in range(0, len(items), 500):
        batch = items[start : start + 500]
        assert scorer.score(fast, batch) == [slow.score(x) for x in batch]
        for x in batch[:25]:
            label = "fraud" if x["x0"] > 13 else "ok"
            fast.learn(x, label)
            slow.learn(x, label)
    assert state(fast) == state(slow)


def test_colliding_names_and_other_learners_take_the_per_item_path():
    """A numeric feature named like a one-hot column, or another classifier: per-item scoring."""
    scorer = BatchScorer()
    fast = Learner(ModelSettings(), CLASSES)
    slow = copy.deepcopy(fast)
    batch = [{"region": "EU"}, {"region_EU": 2.0, "region": "US"}]
    assert scorer.score(fast, batch) == [slow.score(x) for x in batch]
    assert scorer.fallbacks == 2
    nb = Learner(ModelSettings(classifier=Classifier.GAUSSIAN_NB), CLASSES)
    assert not scorer.columnwise(nb)
    reference = copy.deepcopy(nb)
    assert scorer.score(nb, [{"x": 1.0}]) == [reference.score({"x": 1.0})]


def test_one_hot_weights_are_added_in_river_order_not_item_order():
    """Several categories: summed in first-appearance order, as River's one-hot dict is."""
    fast = Learner(ModelSettings(scale=False), CLASSES)
    fast.learn({"x": 1.0}, "fraud")
    weights = fast._model._weights
    weights["x"], weights["kind_a"], weights["region_EU"] = 1.0, 2.0**53, 3.0 - 2.0**53
    slow = copy.deepcopy(fast)
    batch = [{"kind": "a"}, {"region": "EU"}, {"x": 1.0, "region": "EU", "kind": "a"}]
    got = BatchScorer().score(fast, batch)
    assert got == [slow.score(x) for x in batch]


def test_the_default_feature_step_is_scored_item_by_item():
    """The column path knows River's StandardScaler and OneHotEncoder only; the default feature
    step (robust, clipped statistics) is scored per item, so it stays exact."""
    learner = Learner(ModelSettings(), CLASSES)
    scorer = BatchScorer()
    assert not scorer.columnwise(learner)
    twin = copy.deepcopy(learner)
    batch = [{"x": 1.0, "region": "EU"}, {"x": 3.0}]
    assert scorer.score(learner, batch) == [twin.score(x) for x in batch]
    assert scorer.fallbacks == 2

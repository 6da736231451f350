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
    st.floats(),  # NaN, infinities, values beyond the clamp
    st.sampled_from([0.0, 1.0]),  # 0/1 columns stay unscaled until another value shows
    st.integers(-1000, 1000),
    st.integers(-(10**400), 10**400),
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


_group = st.dictionaries(st.sampled_from(["region", "seg"]), st.sampled_from(["EU", "US", "a"]))
_crossing = st.sampled_from([(), ("region",), ("seg", "region")])


@settings(max_examples=300)
@given(
    st.lists(st.lists(st.tuples(_item, _group), max_size=12), min_size=1, max_size=6),
    st.booleans(),
    st.lists(st.booleans(), min_size=6, max_size=6),
    _crossing,
    st.sampled_from([1, 2, 100]),
)
def test_batches_score_exactly_like_items(batches, scale, learn_after, crossing, cap):
    """Any batches, labels learned between them, with or without interactions (the crossed
    value from the group or from a ``region`` feature, ``cap`` values crossed per attribute):
    equal probabilities and equal model state."""
    model = ModelSettings(scale=scale, interactions=crossing, interaction_values=cap)
    fast = Learner(model, CLASSES)
    slow = copy.deepcopy(fast)
    scorer = BatchScorer()
    for pairs, learn in zip(batches, learn_after, strict=False):
        batch, groups = [x for x, _ in pairs], [g for _, g in pairs]
        got = scorer.score(fast, batch, groups)
        want = [slow.score(x, g) for x, g in pairs]
        assert got == want
        assert state(fast) == state(slow)
        if learn and batch:
            for learner in (fast, slow):
                learner.learn(batch[0], "fraud", groups[0])
                learner.learn(batch[-1], "ok", groups[-1])


def _items(n: int) -> list[dict[str, object]]:
    """A deterministic stream: two numeric features, a region category, a 0/1 flag."""
    regions = ["EU", "US", "APAC"]
    return [
        {"x0": (i * 7919 % 1000) / 37.0, "x1": i % 13, "region": regions[i % 3], "f": i % 2 == 0}
        for i in range(n)
    ]


def test_interactions_are_scored_column_by_column_and_exactly():
    """A long stream with two crossed attributes (one also a feature, one only a group, some
    items without it): no per-item fallback, not one bit differs, crossed weights learned."""
    learner = Learner(ModelSettings(interactions=("region", "seg")), CLASSES)
    twin = copy.deepcopy(learner)
    scorer = BatchScorer()
    items = _items(3000)
    groups = [{"seg": "min"} if i % 10 == 0 else {} if i % 7 == 0 else {"seg": "maj"}
              for i in range(3000)]  # fmt: skip
    for start in range(0, len(items), 500):
        batch, group = items[start : start + 500], groups[start : start + 500]
        assert scorer.score(learner, batch, group) == [
            twin.score(x, g) for x, g in zip(batch, group, strict=True)
        ]
        for x, g in zip(batch[:25], group[:25], strict=True):
            label = "fraud" if x["x0"] > 13 else "ok"
            learner.learn(x, label, g)
            twin.learn(x, label, g)
    assert scorer.fallbacks == 0
    assert state(learner) == state(twin)
    assert {"seg=min*x0", "region=EU*x1", "seg=maj*f"} <= set(learner._model.weights)


def test_values_beyond_the_cap_are_left_uncrossed_exactly_as_item_by_item():
    """With more values than ``interaction_values``, the first ones seen (in item order, across
    the layouts of a batch) are crossed, the others not, in the batch path as item by item."""
    learner = Learner(ModelSettings(interactions=("user",), interaction_values=5), CLASSES)
    twin = copy.deepcopy(learner)
    scorer = BatchScorer()
    items = _items(2000)
    for i, x in enumerate(items):
        if i % 4 == 0:
            del x["f"]  # a second feature layout within each batch
    groups = [{"user": f"u{i * 7 % 13}"} for i in range(2000)]
    for start in range(0, len(items), 500):
        batch, group = items[start : start + 500], groups[start : start + 500]
        assert scorer.score(learner, batch, group) == [
            twin.score(x, g) for x, g in zip(batch, group, strict=True)
        ]
        learner.learn(batch[1], "fraud", group[1])
        twin.learn(batch[1], "fraud", group[1])
    assert scorer.fallbacks == 0
    assert state(learner) == state(twin)
    assert learner._features.crossed_values("user") == 5
    assert learner.uncrossed == twin.uncrossed > 0
    assert {n.split("*")[0] for n in learner._model.weights if n.startswith("user=")} <= {
        "user=u0",
        "user=u7",
        "user=u1",
        "user=u8",
        "user=u2",
    }


def test_a_feature_named_like_an_interaction_output_takes_the_per_item_path():
    """A feature ``the_seg=EU*x``, or a feature ``the`` whose category could spell the rest of
    it, could share a name with a crossed output of ``the_seg``: item by item, still exact."""
    scorer = BatchScorer()
    fast = Learner(ModelSettings(interactions=("the_seg",)), CLASSES)
    slow = copy.deepcopy(fast)
    groups = [{"the_seg": "EU"}]
    for batch in ([{"x": 1.0, "the_seg=EU*x": 2.0}], [{"x": 1.0, "the": "seg=EU*x"}]):
        assert scorer.score(fast, batch, groups) == [slow.score(batch[0], groups[0])]
    assert scorer.fallbacks == 2
    plain = [{"x": 1.0, "thesis": "a"}]
    assert scorer.score(fast, plain, groups) == [slow.score(plain[0], groups[0])]
    assert scorer.fallbacks == 2


def test_a_long_stream_stays_exact():
    """Thousands of items in batches of 500 with labels between: not one bit differs."""
    fast = Learner(ModelSettings(), CLASSES)
    slow = copy.deepcopy(fast)
    scorer = BatchScorer()
    items = _items(5000)
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


def test_weights_are_added_in_each_items_key_order():
    """Weights that cancel: the sum follows each item's own key order, as River's dot product
    over the transformed item does."""
    fast = Learner(ModelSettings(scale=False), CLASSES)
    fast.learn({"x": 1.0}, "fraud")
    weights = fast._model._weights
    weights["x"], weights["kind_a"], weights["region_EU"] = 1.0, 2.0**53, 3.0 - 2.0**53
    slow = copy.deepcopy(fast)
    batch = [{"kind": "a"}, {"region": "EU"}, {"x": 1.0, "region": "EU", "kind": "a"}]
    got = BatchScorer().score(fast, batch)
    assert got == [slow.score(x) for x in batch]


def test_the_default_learner_is_scored_column_by_column():
    """The default feature step and logistic model take the column path (no per-item
    fallback) through the warm-up and beyond, exactly."""
    learner = Learner(ModelSettings(), CLASSES)
    scorer = BatchScorer()
    assert scorer.columnwise(learner)
    twin = copy.deepcopy(learner)
    batch = [{"x": float(i % 7), "flag": float(i % 2), "region": "EU"} for i in range(100)]
    assert scorer.score(learner, batch) == [twin.score(x) for x in batch]
    assert scorer.fallbacks == 0
    assert state(learner) == state(twin)


def test_a_model_with_non_finite_weights_recovers_as_item_by_item():
    """NaN weights: the batch counts the non-finite score, rolls the model back, and scores
    the rest with the recovered model, as Learner.score does item after item."""
    fast = Learner(ModelSettings(), CLASSES)
    fast.learn({"x": 1.0}, "fraud")
    fast._model._weights["x"] = float("nan")
    slow = copy.deepcopy(fast)
    scorer = BatchScorer()
    batch = [{"x": float(i)} for i in range(30)]
    assert scorer.score(fast, batch) == [slow.score(x) for x in batch]
    assert fast.nonfinite_scores == slow.nonfinite_scores == 1
    assert fast.recoveries == slow.recoveries == 1
    assert state(fast) == state(slow)


def test_a_category_next_to_a_feature_named_like_its_column_takes_the_per_item_path():
    """``kind`` = "a" next to a numeric ``kind_a``: their outputs share a name, item by item."""
    fast = Learner(ModelSettings(), CLASSES)
    slow = copy.deepcopy(fast)
    scorer = BatchScorer()
    batch = [{"kind": "a", "kind_a": 2.0}, {"kind": "b", "kind_a": 3.0}]
    assert scorer.score(fast, batch) == [slow.score(x) for x in batch]
    assert scorer.fallbacks == 2
    numeric = [{"kind": 1.0, "kind_a": 2.0}]
    assert scorer.score(fast, numeric) == [slow.score(x) for x in numeric]
    assert scorer.fallbacks == 2  # no category: no shared name, the column path

"""LogisticModel is River's LogisticRegression to the last bit, and old checkpoints migrate."""

import math
import pickle
import random

import pytest
from river import linear_model, optim

from daemon.config import ModelSettings, Optimizer
from daemon.model.learner import Learner
from daemon.model.logistic import LogisticModel

OPTIMIZERS = {
    "sgd": lambda: optim.SGD(0.01),
    "sgd_0.05": lambda: optim.SGD(0.05),
    "adam": lambda: optim.Adam(0.01),
    "adagrad": lambda: optim.AdaGrad(0.1),
}


def _stream(seed: int, n: int):
    """Items with varying keys (some new mid-stream), scales and a one-hot column."""
    rng = random.Random(seed)
    for _ in range(n):
        keys = rng.sample(range(12), rng.randint(1, 12))
        x = {f"f{j}": rng.gauss(0, 1 + j) for j in keys}
        if rng.random() < 0.3:
            x[f"kind_{rng.choice('abc')}"] = 1
        y = rng.random() < 1 / (1 + math.exp(-x.get("f1", 0.0) + 0.5 * x.get("f2", 0.0)))
        yield x, y


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_weights_and_probabilities_equal_rivers_over_a_stream(name):
    """Prequentially over 5,000 items: every probability, then the weights and intercept,
    equal to River's LogisticRegression with the same optimiser (==, not approximately)."""
    river = linear_model.LogisticRegression(optimizer=OPTIMIZERS[name]())
    ours = LogisticModel(OPTIMIZERS[name]())
    for x, y in _stream(7, 5000):
        assert ours.predict_proba_one(x) == river.predict_proba_one(x)
        river.learn_one(x, y)
        ours.learn_one(x, y)
    assert ours.weights == river.weights
    assert ours.intercept == river.intercept
    assert ours.weights  # it learned something


def test_a_river_model_converts_and_goes_on_identically():
    """from_river mid-stream: the converted model and River's stay equal afterwards."""
    river = linear_model.LogisticRegression(optimizer=optim.Adam(0.01))
    stream = list(_stream(3, 2000))
    for x, y in stream[:1000]:
        river.learn_one(x, y)
    ours = LogisticModel.from_river(pickle.loads(pickle.dumps(river)))
    for x, y in stream[1000:]:
        assert ours.predict_proba_one(x) == river.predict_proba_one(x)
        river.learn_one(x, y)
        ours.learn_one(x, y)
    assert ours.weights == river.weights


def test_a_penalised_river_model_is_not_converted():
    """l2 is not part of LogisticModel: converting such a model refuses."""
    with pytest.raises(ValueError, match="penalised"):
        LogisticModel.from_river(linear_model.LogisticRegression(l2=0.1))


def test_a_checkpoint_holding_rivers_logistic_regression_is_migrated(tmp_path):
    """A checkpoint written when the learner held River's LogisticRegression loads as a
    LogisticModel with the same weights and scores, and its snapshot migrates too."""
    learner = Learner(ModelSettings(optimizer=Optimizer.ADAM), ["ok", "fraud"])
    river = linear_model.LogisticRegression(optimizer=optim.Adam(0.01))
    learner._model = river  # what older versions built
    items = [
        ({"x": float(i % 9), "y": float(i % 4)}, "fraud" if i % 3 else "ok") for i in range(60)
    ]
    for x, label in items:
        learner.learn(x, label)
    path = tmp_path / "model.pkl"
    assert learner.save(path, {"k": 1})
    loaded, extra = Learner.load(path)
    assert extra == {"k": 1}
    assert type(loaded._model) is LogisticModel
    assert loaded._model.weights == river.weights
    assert type(pickle.loads(loaded._snapshot)) is LogisticModel
    probe = {"x": 2.0, "y": 1.0}
    assert loaded.score(probe) == learner.score(probe)

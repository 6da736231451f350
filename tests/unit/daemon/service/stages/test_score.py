"""Score stage: the online model scores every item; the policy's scores are chosen once."""

from __future__ import annotations

import copy
import pickle

from connectors.record import Record
from daemon.config import ModelSettings, ScoreSource
from daemon.contracts.messages import PredictionEvent
from daemon.contracts.parsing import Parser
from daemon.model.batch import BatchScorer
from daemon.model.learner import Learner
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.pipeline import Decoded, Rejections, Scored
from daemon.service.stages import Score
from daemon.service.stages.score import SMALL_BATCH
from policies import least_confidence
from tests.unit.daemon.fakes import prediction


def decoded(payload):
    record = Record(payload, None, "predictions", 0, 0)
    return Decoded(record, PredictionEvent.model_validate_json(payload), 0.0)


def _rej():
    return Rejections(Parser(["0", "1"]))


def _score(source, tmp_path):
    model = ModelCheckpoint(Learner(ModelSettings(), ["0", "1"]), tmp_path / "m.pkl")
    return Score(model, source, _rej())


def test_production_scores_are_used_where_the_event_has_them(tmp_path):
    """score_source production: the event's proba, else the online model's."""
    score = _score(ScoreSource.PRODUCTION, tmp_path)
    with_proba, without = score((decoded(prediction(0)), decoded(prediction(1, proba=None))))
    assert isinstance(with_proba, Scored)
    assert isinstance(without, Scored)
    assert (with_proba.score_source, dict(with_proba.scores)) == (
        "production",
        {"0": 0.6, "1": 0.4},
    )
    assert with_proba.uncertainty == least_confidence({"0": 0.6, "1": 0.4})
    assert without.score_source == "online"
    assert without.scores == without.online


def test_online_scores_ignore_the_production_probabilities(tmp_path):
    """score_source online: always the online model's scores."""
    [scored] = _score(ScoreSource.ONLINE, tmp_path)((decoded(prediction(0)),))
    assert isinstance(scored, Scored)
    assert scored.score_source == "online"
    assert scored.scores == scored.online
    assert scored.online_prediction is None, "an untrained model predicts nothing"


def test_the_events_group_reaches_the_crossed_features_on_both_paths(tmp_path):
    """``model.interactions: [segment]`` with segment only in the event's group: the batch
    path and the per-item path score it alike, and differently from another segment."""

    def stage(scorer):
        learner = Learner(ModelSettings(scale=False, interactions=("segment",)), ["0", "1"])
        learner._model._weights["segment=minority*x"] = 0.5
        model = ModelCheckpoint(learner, tmp_path / "m.pkl")
        return Score(model, ScoreSource.ONLINE, _rej(), scorer)

    batch = (
        decoded(prediction(3, group={"segment": "minority"})),
        decoded(prediction(3, group={"segment": "majority"})),
    ) * SMALL_BATCH  # large enough for the batch scorer
    fast = stage(BatchScorer())(batch)
    slow = stage(None)(batch)
    assert [s.online for s in fast] == [s.online for s in slow]
    minority, majority = (s.online["1"] for s in fast[:2])
    assert minority > 0.5
    assert majority == 0.5


class _CountingScorer(BatchScorer):
    """A batch scorer that counts the items it was asked to score."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def score(self, learner, batch, attributes=None):
        self.asked += len(batch)
        return super().score(learner, batch, attributes)


def test_a_small_batch_is_scored_item_by_item_with_the_same_values(tmp_path):
    """Below SMALL_BATCH items the batch scorer is not asked (its fixed cost per batch is
    larger than what it saves); at every size the values are the per-item path's, and the
    learner's statistics end where the per-item path leaves them."""
    learner = Learner(ModelSettings(), ["0", "1"])
    for i in range(40):
        x = prediction(i % 7)
        event = PredictionEvent.model_validate_json(x)
        learner.score(event.features)
        learner.learn(event.features, str(i % 2))
    twin = copy.deepcopy(learner)
    scorer = _CountingScorer()
    fast = Score(ModelCheckpoint(learner, tmp_path / "a.pkl"), ScoreSource.ONLINE, _rej(), scorer)
    slow = Score(ModelCheckpoint(twin, tmp_path / "b.pkl"), ScoreSource.ONLINE, _rej())
    asked = 0
    for size in (1, SMALL_BATCH - 1, SMALL_BATCH, 2 * SMALL_BATCH + 1):
        batch = tuple(decoded(prediction(k % 11)) for k in range(size))
        got, want = fast(batch), slow(batch)
        assert [(s.online, s.online_prediction, s.uncertainty) for s in got] == [
            (s.online, s.online_prediction, s.uncertainty) for s in want
        ]
        asked += size if size >= SMALL_BATCH else 0
        assert scorer.asked == asked
    assert pickle.dumps(learner._features) == pickle.dumps(twin._features)

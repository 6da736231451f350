"""Score stage: the online model scores every item; the policy's scores are chosen once."""

from __future__ import annotations

from connectors.record import Record
from daemon.config import ModelSettings, ScoreSource
from daemon.contracts.messages import PredictionEvent
from daemon.contracts.parsing import Parser
from daemon.model.learner import Learner
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.pipeline import Decoded, Rejections, Scored
from daemon.service.stages import Score
from policies import least_confidence
from tests.unit.daemon.fakes import prediction


def decoded(payload):
    record = Record(payload, None, "predictions", 0, 0)
    return Decoded(record, PredictionEvent.model_validate_json(payload), 0.0)


def _score(source, tmp_path):
    model = ModelCheckpoint(Learner(ModelSettings(), ["0", "1"]), tmp_path / "m.pkl")
    return Score(model, source, Rejections(Parser(["0", "1"])))


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
    from daemon.model.batch import BatchScorer  # noqa: PLC0415

    def stage(scorer):
        learner = Learner(ModelSettings(scale=False, interactions=("segment",)), ["0", "1"])
        learner._model._weights["segment=minority*x"] = 0.5
        model = ModelCheckpoint(learner, tmp_path / "m.pkl")
        return Score(model, ScoreSource.ONLINE, Rejections(Parser(["0", "1"])), scorer)

    batch = (
        decoded(prediction(3, group={"segment": "minority"})),
        decoded(prediction(3, group={"segment": "majority"})),
    )
    fast = stage(BatchScorer())(batch)
    slow = stage(None)(batch)
    assert [s.online for s in fast] == [s.online for s in slow]
    minority, majority = (s.online["1"] for s in fast)
    assert minority > 0.5
    assert majority == 0.5

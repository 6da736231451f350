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

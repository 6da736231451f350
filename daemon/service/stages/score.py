"""Score: the online model's probabilities for every item, and the scores the policy uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from daemon.config import ScoreSource
from daemon.contracts.evidence import ScoreOrigin
from daemon.contracts.messages import PredictionEvent
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.pipeline import Decoded, Failed, Rejections, Scored
from policies import least_confidence

Pick = Callable[[dict[str, float], PredictionEvent], tuple[Mapping[str, float], ScoreOrigin]]


def _online(
    online: dict[str, float], event: PredictionEvent
) -> tuple[Mapping[str, float], ScoreOrigin]:
    return online, "online"


def _production_first(
    online: dict[str, float], event: PredictionEvent
) -> tuple[Mapping[str, float], ScoreOrigin]:
    if event.proba is None:
        return online, "online"
    return event.proba, "production"


class Score:
    """Scores every item with the online model (which also updates its unsupervised steps).

    Which probabilities the policy decides on is chosen once: the online model's, or the
    production model's where the event carries them (``model.score_source``).
    """

    def __init__(self, model: ModelCheckpoint, source: ScoreSource, rejections: Rejections) -> None:
        self.model = model
        self.rejections = rejections
        self._pick: Pick = _online if source is ScoreSource.ONLINE else _production_first

    def __call__(self, batch: tuple[Decoded | Failed, ...]) -> tuple[Scored | Failed, ...]:
        """Score the batch, in order."""
        return tuple(x if isinstance(x, Failed) else self._one(x) for x in batch)

    def _one(self, decoded: Decoded) -> Scored | Failed:
        try:
            learner = self.model.learner
            online = learner.score(decoded.event.features)
            scores, origin = self._pick(online, decoded.event)
            return Scored(
                decoded,
                online,
                scores,
                origin,
                learner.predict(online),
                least_confidence(scores),
            )
        except Exception as exc:  # one item's failure must not stop the loop
            return self.rejections.failed(decoded.record, exc, decoded.now)

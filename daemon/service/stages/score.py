"""Score: the online model's probabilities for every item, and the scores the policy uses."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from daemon.config import ScoreSource
from daemon.contracts.evidence import ScoreOrigin
from daemon.contracts.fast_decode import Prediction
from daemon.model.batch import BatchScorer
from daemon.service.checkpoint import ModelCheckpoint
from daemon.service.pipeline import Decoded, Failed, Rejections, Scored
from policies import least_confidence

SMALL_BATCH = 8
"""Below this many items the batch scorer's fixed cost per batch (its plan and numpy arrays,
about 50 us) outweighs what it saves per item (5 us instead of 10 at 500 items; even at about
10): a small batch is scored item by item, which gives the same probabilities bit for bit."""

Pick = Callable[[dict[str, float], Prediction], tuple[Mapping[str, float], ScoreOrigin]]


def _online(online: dict[str, float], event: Prediction) -> tuple[Mapping[str, float], ScoreOrigin]:
    return online, "online"


def _production_first(
    online: dict[str, float], event: Prediction
) -> tuple[Mapping[str, float], ScoreOrigin]:
    if event.proba is None:
        return online, "online"
    return event.proba, "production"


class Score:
    """Scores every item with the online model (which also updates its unsupervised steps).

    With a :class:`~daemon.model.batch.BatchScorer` the whole batch is scored at once (the same
    probabilities, bit for bit); should that raise, the batch is scored item by item, so only
    the item that fails is dead-lettered.

    Which probabilities the policy decides on is chosen once: the online model's, or the
    production model's where the event carries them (``model.score_source``).
    """

    def __init__(
        self,
        model: ModelCheckpoint,
        source: ScoreSource,
        rejections: Rejections,
        scorer: BatchScorer | None = None,
    ) -> None:
        self.model = model
        self.rejections = rejections
        self.scorer = scorer
        self._pick: Pick = _online if source is ScoreSource.ONLINE else _production_first

    def __call__(self, batch: tuple[Decoded | Failed, ...]) -> tuple[Scored | Failed, ...]:
        """Score the batch, in order: all at once with the batch scorer, else (no batch scorer,
        or a batch below :data:`SMALL_BATCH`) item by item."""
        if self.scorer is None or len(batch) < SMALL_BATCH:
            return tuple(x if isinstance(x, Failed) else self._one(x) for x in batch)
        decoded = [x for x in batch if not isinstance(x, Failed)]
        learner = self.model.learner
        try:
            groups = [d.event.group for d in decoded] if learner.crosses else None
            online = self.scorer.score(learner, [d.event.features for d in decoded], groups)
        except Exception:  # one bad item must not cost the batch: score item by item instead
            return tuple(x if isinstance(x, Failed) else self._one(x) for x in batch)
        # One loop over locals: this runs once per item. Two classes (the usual case) are
        # written out: what Learner.predict and least_confidence return, with the builtins'
        # tie rules (max keeps the first of equals); other counts call them.
        pick, predict = self._pick, learner.predict
        learned = learner.version != 0
        scored = iter(online)
        out: list[Scored | Failed] = []
        append = out.append
        for x in batch:
            if isinstance(x, Failed):
                append(x)
                continue
            probabilities = next(scored)
            scores, origin = pick(probabilities, x.event)
            if len(probabilities) == 2:
                (first, a), (second, b) = probabilities.items()
                prediction = (second if b > a else first) if learned else None
            else:
                prediction = predict(probabilities)
            if len(scores) == 2:
                a, b = scores.values()
                lc = (1.0 - (b if b > a else a)) * 2 / 1
                lc = lc if lc > 0.0 else 0.0
                lc = lc if lc < 1.0 else 1.0
            else:
                lc = least_confidence(scores)
            append(Scored(x, probabilities, scores, origin, prediction, lc))
        return tuple(out)

    def _one(self, decoded: Decoded) -> Scored | Failed:
        try:
            learner = self.model.learner
            online = learner.score(decoded.event.features, decoded.event.group)
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

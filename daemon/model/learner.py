"""The online River model: scores every item and learns from expert labels."""

from __future__ import annotations

import math
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from river import optim

from daemon.config import INTERACTION_VALUES, Classifier, ModelSettings, Optimizer
from daemon.errors import StateError
from daemon.model.logistic import LogisticModel

Features = Mapping[str, Any]
Groups = Mapping[str, str]

MAGNITUDE = 1e15
"""Raw numeric values are clamped to +-MAGNITUDE before anything else sees them.

Far beyond any real feature, yet small enough that sums of squares of many of them stay finite, so
no single value can overflow the running statistics.
"""

SNAPSHOT_EVERY = 500
"""Labels between in-memory snapshots of a healthy model (what recovery rolls back to)."""


def _number(value: Any) -> float | None:
    """A finite float for a numeric value, clamped to +-MAGNITUDE; None for NaN.

    An integer too large for a float (hundreds of digits) saturates instead of raising
    ``OverflowError``; infinities saturate too, so the item keeps its direction.
    """
    try:
        v = float(value)
    except OverflowError:
        return MAGNITUDE if value > 0 else -MAGNITUDE
    if math.isnan(v):  # treated as missing
        return None
    return max(-MAGNITUDE, min(MAGNITUDE, v))


class _Moments:
    """Running mean and variance of one feature that a single extreme value cannot ruin.

    The first ``warmup`` values are kept and summarised by their median and scaled median absolute
    deviation (robust to a minority of outliers); from then on Welford's update takes each value
    winsorised to ``mean +- clip * sd``, so one extreme value moves the statistics by a bounded
    amount. ``binary`` stays true while only 0 and 1 have been seen: such columns (pre-encoded
    categories, flags) are left unscaled, because standardising a rare category blows it up to
    hundreds and destabilises a linear model.
    """

    __slots__ = ("_buffer", "binary", "clip", "m2", "mean", "n", "sd", "warmup")

    def __init__(self, clip: float, warmup: int) -> None:
        self.clip = clip
        self.warmup = warmup
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.sd = 0.0
        self.binary = True
        self._buffer: list[float] | None = []

    def learn(self, x: float) -> None:
        if self.binary and x not in (0.0, 1.0):
            self.binary = False
        buffer = self._buffer
        if buffer is not None:
            buffer.append(x)
            self.n += 1
            if len(buffer) >= self.warmup:
                self._settle(buffer)
            return
        reach = self.clip * self.sd
        x = min(max(x, self.mean - reach), self.mean + reach)
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)
        self.sd = math.sqrt(self.m2 / self.n)

    def _settle(self, buffer: list[float]) -> None:
        """Leave the warm-up: start Welford from the winsorised buffer."""
        centre, spread = _robust(buffer)
        reach = self.clip * spread
        kept = [min(max(v, centre - reach), centre + reach) for v in buffer]
        self.mean = sum(kept) / len(kept)
        self.m2 = sum((v - self.mean) ** 2 for v in kept)
        self.sd = math.sqrt(self.m2 / len(kept))
        self._buffer = None

    def location_scale(self) -> tuple[float, float]:
        """The current centre and spread (spread 0 when the feature has not varied)."""
        if self._buffer is not None:
            return _robust(self._buffer) if self._buffer else (0.0, 0.0)
        return self.mean, self.sd


def _robust(values: list[float]) -> tuple[float, float]:
    """Median and 1.4826 x MAD, falling back to the standard deviation when the MAD is 0."""
    ordered = sorted(values)
    k = len(ordered)
    median = (ordered[(k - 1) // 2] + ordered[k // 2]) / 2
    deviations = sorted(abs(v - median) for v in ordered)
    mad = 1.4826 * (deviations[(k - 1) // 2] + deviations[k // 2]) / 2
    if mad > 0:
        return median, mad
    mean = sum(ordered) / k
    return median, math.sqrt(sum((v - mean) ** 2 for v in ordered) / k)


class FeatureStep:
    """Numeric features standardised (clipped, robust), categorical ones one-hot encoded.

    Like River's ``StandardScaler`` on numbers plus ``OneHotEncoder`` on strings, in one pass and
    about three times cheaper per item, with three differences that make it need no per-stream
    tuning: standardised values are clipped to ``+-clip`` (a far outlier cannot dominate a linear
    model's update), the running statistics are robust to single extreme values (see
    :class:`_Moments`), and columns that only ever held 0 and 1 are left as they are. The
    unsupervised parts learn from every *scored* item, labeled or not, so a feature whose scale
    drifts is tracked even when labels are scarce; learning from a label does not count the item
    twice.

    With ``interactions`` (group attribute names), an item whose attribute ``a`` has value ``v``
    (from its ``group``, else from a string feature ``a``) also gets ``a=v`` (1) and, for every
    numeric feature ``x`` in its key order, ``a=v*x`` with ``x``'s transformed value, after its
    other outputs: a linear model then has a bias and a weight per feature for each subgroup.
    Only the first ``interaction_values`` values seen of an attribute are crossed, so an
    attribute with unbounded values (an identifier set by mistake) cannot grow the model without
    bound; an item with a later value is not crossed (counted in :attr:`uncrossed`).

    >>> step = FeatureStep(scale=False, interactions=("segment",))
    >>> step({"x": 2.0, "kind": "a"}, learn=True, group={"segment": "minority"})
    {'x': 2.0, 'kind_a': 1, 'segment=minority': 1.0, 'segment=minority*x': 2.0}
    """

    def __init__(
        self,
        scale: bool = True,
        clip: float = 5.0,
        warmup: int = 20,
        interactions: tuple[str, ...] = (),
        interaction_values: int = INTERACTION_VALUES,
    ) -> None:
        self.scale = scale
        self.clip = clip
        self.warmup = warmup
        self.interactions = tuple(interactions)
        self.interaction_values = interaction_values
        self.uncrossed = 0
        self._moments: dict[str, _Moments] = {}
        self._crossings: dict[str, set[str]] = {a: set() for a in self.interactions}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Checkpoints written before interactions (or their cap) existed have none.
        state.setdefault("interactions", ())
        state.setdefault("interaction_values", INTERACTION_VALUES)
        state.setdefault("uncrossed", 0)
        state.setdefault("_crossings", {a: set() for a in state["interactions"]})
        self.__dict__.update(state)

    def prefix(self, attribute: str, group: Groups | None, x: Features) -> str | None:
        """The ``a=v`` output name of the item's value of a crossed attribute, or None when it
        has no value or its value is not crossed: a value not seen before is taken while the
        attribute has fewer than ``interaction_values`` (values are never dropped, so whether a
        value is crossed depends only on the order values first appeared in)."""
        name = crossed(attribute, group, x)
        if name is None:
            return None
        seen = self._crossings.get(attribute)
        if seen is None:
            seen = self._crossings[attribute] = set()
        if name in seen:
            return name
        if len(seen) < self.interaction_values:
            seen.add(name)
            return name
        self.uncrossed += 1
        return None

    def crossed_values(self, attribute: str) -> int:
        """How many values of a crossed attribute are crossed."""
        return len(self._crossings.get(attribute, ()))

    def moments(self, name: str) -> tuple[float, float, int] | None:
        """Centre, spread and count of a numeric feature's statistics (None if never seen)."""
        m = self._moments.get(name)
        if m is None:
            return None
        centre, spread = m.location_scale()
        return centre, spread, m.n

    def __call__(  # noqa: PLR0912 - hot path: one pass, type dispatch inline
        self, x: Features, learn: bool, group: Groups | None = None
    ) -> dict[str, Any]:
        """Transform one item; with ``learn`` also update the statistics first."""
        out: dict[str, Any] = {}
        moments = self._moments
        clip = self.clip
        for name, value in x.items():
            if type(value) is float and -MAGNITUDE <= value <= MAGNITUDE:
                v = value  # the common case, kept cheap: a finite float in range
            elif isinstance(value, bool | int | float):
                number = _number(value)
                if number is None:
                    continue
                v = number
            elif value is None:
                continue
            else:
                out[f"{name}_{value}"] = 1
                continue
            if not self.scale:
                out[name] = v
                continue
            m = moments.get(name)
            if m is None:
                m = moments[name] = _Moments(clip, self.warmup)
            if learn:
                m.learn(v)
            if m.binary:
                out[name] = v
                continue
            if m._buffer is None:
                centre, spread = m.mean, m.sd
            else:
                centre, spread = m.location_scale()
            if spread > 0:
                z = (v - centre) / spread
                out[name] = clip if z > clip else -clip if z < -clip else z
            else:
                out[name] = 0.0
        if self.interactions:
            self._cross(x, group, out)
        return out

    def _cross(self, x: Features, group: Groups | None, out: dict[str, Any]) -> None:
        """Add the interaction outputs of an item to its transformed ``out``."""
        numeric = [
            name
            for name, value in x.items()
            if name in out and isinstance(value, bool | int | float)
        ]
        for attribute in self.interactions:
            prefix = self.prefix(attribute, group, x)
            if prefix is None:
                continue
            out[prefix] = 1.0
            for name in numeric:
                out[f"{prefix}*{name}"] = out[name]


def crossed(attribute: str, group: Groups | None, x: Features) -> str | None:
    """``attribute=value`` for the item's value of a crossed attribute: from its group, else
    from a string feature of that name; None when it has none."""
    if group is not None:
        value = group.get(attribute)
        if value is not None:
            return f"{attribute}={value}"
    value = x.get(attribute)
    return f"{attribute}={value}" if isinstance(value, str) else None


def _optimizer(settings: ModelSettings) -> Any:
    rate = settings.learning_rate
    if settings.optimizer is Optimizer.ADAGRAD:
        return optim.AdaGrad(rate if rate is not None else 0.1)
    if settings.optimizer is Optimizer.ADAM:
        return optim.Adam(rate if rate is not None else 0.01)
    return optim.SGD(rate if rate is not None else 0.01)


def _softmax_regression(settings: ModelSettings) -> Any:
    # river.linear_model imports scipy.stats (through its Bayesian linear regression).
    from river import linear_model  # noqa: PLC0415 - imported only when configured

    return linear_model.SoftmaxRegression(optimizer=_optimizer(settings))


def _gaussian_nb() -> Any:
    from river import naive_bayes  # noqa: PLC0415 - imported only when configured

    model: Any = naive_bayes.GaussianNB
    return model()


def _hoeffding_tree() -> Any:
    from river import tree  # noqa: PLC0415 - imported only when configured

    return tree.HoeffdingAdaptiveTreeClassifier()


def _random_forest() -> Any:
    # river.forest pulls in river.metrics and scipy.stats (about a second of start-up).
    from river import forest  # noqa: PLC0415 - imported only when configured

    return forest.ARFClassifier()


def build_classifier(settings: ModelSettings) -> Any:
    """The configured classifier (modules of the others are not imported).

    Logistic regression is :class:`~daemon.model.logistic.LogisticModel`, River's arithmetic
    without importing ``river.linear_model``; the others are River's own.
    """
    classifiers: dict[Classifier, Any] = {
        Classifier.LOGISTIC_REGRESSION: lambda: LogisticModel(_optimizer(settings)),
        Classifier.SOFTMAX_REGRESSION: lambda: _softmax_regression(settings),
        Classifier.GAUSSIAN_NB: _gaussian_nb,
        Classifier.HOEFFDING_TREE: _hoeffding_tree,
        Classifier.ADAPTIVE_RANDOM_FOREST: _random_forest,
    }
    return classifiers[settings.classifier]()


class Learner:
    """Wraps a River classifier with the configured classes, a version and checkpoints.

    ``version`` counts the labels learned; it is the online model version in evidence records.
    A binary River classifier (logistic regression) predicts ``True``/``False``; the learner maps
    that back to the configured class names so the rest of labelgate only sees class names.

    Scores are never NaN. A model whose scores turn non-finite is detected (counted in
    :attr:`nonfinite_scores`), rolled back to its last healthy snapshot (counted in
    :attr:`recoveries`; a fresh model if it never had one) and the item is scored again; a model
    that is not healthy is never checkpointed (:meth:`save` returns False and keeps the previous
    checkpoint).

    >>> from daemon.config import ModelSettings
    >>> learner = Learner(ModelSettings(), classes=["ok", "fraud"])
    >>> sorted(learner.score({"x": 1.0}))
    ['fraud', 'ok']
    >>> learner.learn({"x": 1.0}, "fraud"); learner.version
    1
    """

    def __init__(self, settings: ModelSettings, classes: list[str]) -> None:
        self.settings = settings
        self.classes = list(classes)
        self._features = FeatureStep(
            settings.scale,
            settings.clip,
            interactions=settings.interactions,
            interaction_values=settings.interaction_values,
        )
        self._model = build_classifier(settings)
        self._binary = settings.classifier is Classifier.LOGISTIC_REGRESSION
        self._positive = self.classes[-1]
        self._negative = self.classes[0]
        self._version = 0
        self._seen: set[str] = set()
        self._nonfinite = 0
        self._recoveries = 0
        self._snapshot: bytes | None = None

    @property
    def version(self) -> int:
        """Number of labels learned so far."""
        return self._version

    @property
    def crosses(self) -> bool:
        """Whether the feature step crosses group attributes (``model.interactions``), so
        scoring and learning need each item's group."""
        return bool(self._features.interactions)

    @property
    def classes_seen(self) -> int:
        """How many distinct classes the model has learned."""
        return len(self._seen)

    @property
    def nonfinite_scores(self) -> int:
        """Items whose scores came out non-finite (each one triggered a recovery)."""
        return self._nonfinite

    @property
    def uncrossed(self) -> int:
        """Items with a value of a crossed attribute beyond ``model.interaction_values``,
        scored and learned without that attribute's interactions."""
        return self._features.uncrossed

    @property
    def recoveries(self) -> int:
        """Times the model was rolled back to its last healthy snapshot (or reset)."""
        return self._recoveries

    @property
    def healthy(self) -> bool:
        """Whether the model's parameters are finite (linear models; others are assumed so)."""
        weights = getattr(self._model, "weights", None)
        if weights is None:
            return True
        values: list[Any] = list(weights.values())
        flat: list[float] = []
        for v in values:
            flat.extend(v.values() if isinstance(v, Mapping) else [v])
        intercept = getattr(self._model, "intercept", 0.0)
        if isinstance(intercept, Mapping):
            flat.extend(intercept.values())
        elif isinstance(intercept, int | float):
            flat.append(intercept)
        return all(math.isfinite(float(v)) for v in flat)

    def score(self, features: Features, group: Groups | None = None) -> dict[str, float]:
        """Class probabilities for one item, always finite; also updates the unsupervised steps.

        The feature step learns from every scored item (see :class:`FeatureStep`); ``group``
        (the item's subgroup attributes) is read only for ``model.interactions``.
        """
        x = self._features(features, learn=True, group=group)
        scores = self._scores(x)
        if not all(math.isfinite(v) for v in scores.values()):
            self._nonfinite += 1
            self._recover()
            scores = self._scores(x)
            if not all(math.isfinite(v) for v in scores.values()):
                k = len(self.classes)
                scores = {c: 1.0 / k for c in self.classes}
        return scores

    def _scores(self, x: dict[str, Any]) -> dict[str, float]:
        proba = self._model.predict_proba_one(x)
        if self._binary:
            p = float(proba.get(True, 0.5))
            return {self._negative: 1.0 - p, self._positive: p}
        if not proba:
            return {}
        return {str(k): float(v) for k, v in proba.items()}

    def _recover(self) -> None:
        """Roll the classifier back to the last healthy snapshot, or start it afresh."""
        self._recoveries += 1
        if self._snapshot is not None:
            self._model = pickle.loads(self._snapshot)
        else:
            self._model = build_classifier(self.settings)

    def predict(self, proba: Mapping[str, float]) -> str | None:
        """The most probable class of a score mapping, or None before the model can say."""
        if not proba or self._version == 0:
            return None
        return max(proba, key=proba.__getitem__)

    def learn(self, features: Features, label: str, group: Groups | None = None) -> None:
        """Learn one labeled example (``group`` as for :meth:`score`)."""
        target: Any = (label == self._positive) if self._binary else label
        self._model.learn_one(self._features(features, learn=False, group=group), target)
        self._version += 1
        self._seen.add(label)
        if self._version % SNAPSHOT_EVERY == 0 and self.healthy:
            self._snapshot = pickle.dumps(self._model, protocol=pickle.HIGHEST_PROTOCOL)

    def save(self, path: Path, extra: dict[str, Any]) -> bool:
        """Write a checkpoint atomically: a crash leaves the previous checkpoint intact.

        An unhealthy model (non-finite parameters) is not written: it is rolled back instead and
        False is returned, so the previous checkpoint stays the one a restart loads.
        """
        if not self.healthy:
            self._nonfinite += 1
            self._recover()
            return False
        self._snapshot = pickle.dumps(self._model, protocol=pickle.HIGHEST_PROTOCOL)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"learner": self, "extra": extra}
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    @staticmethod
    def load(path: Path) -> tuple[Learner, dict[str, Any]] | None:
        """Read a checkpoint, or None when there is none yet."""
        if not path.exists():
            return None
        hint = (
            "move it away to start from a fresh model (the labels it had learned are not "
            "learned again)"
        )
        try:
            with path.open("rb") as fh:
                payload = pickle.load(fh)
        except Exception as exc:  # a damaged pickle can raise almost anything
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            raise StateError(f"cannot read model checkpoint {path} ({reason}); {hint}") from exc
        learner = payload.get("learner") if isinstance(payload, dict) else None
        extra = payload.get("extra") if isinstance(payload, dict) else None
        if not isinstance(learner, Learner) or not isinstance(extra, dict):
            raise StateError(f"{path} does not hold a labelgate model checkpoint; {hint}")
        learner._migrate()
        return learner, dict(extra)

    def _migrate(self) -> None:
        """Bring an older checkpoint up to date: model settings added since it was written
        take their defaults (what it was built with), and a River ``LogisticRegression`` turns
        into the equivalent :class:`~daemon.model.logistic.LogisticModel` (same weights and
        optimiser state), the model and its in-memory snapshot alike; the next checkpoint is
        written in the new form."""
        fields = type(self.settings).model_fields
        missing = [name for name in fields if name not in self.settings.__dict__]
        if missing:
            self.settings = self.settings.model_copy(
                update={n: fields[n].get_default(call_default_factory=True) for n in missing}
            )
        if not _river_logistic(self._model):
            return
        self._model = LogisticModel.from_river(self._model)
        if self._snapshot is not None:
            old = pickle.loads(self._snapshot)
            if _river_logistic(old):
                self._snapshot = pickle.dumps(
                    LogisticModel.from_river(old), protocol=pickle.HIGHEST_PROTOCOL
                )


def _river_logistic(model: Any) -> bool:
    kind = type(model)
    return kind.__name__ == "LogisticRegression" and kind.__module__.startswith(
        "river.linear_model"
    )

"""Batch scoring: the online model's probabilities for a whole polled batch at once.

:class:`BatchScorer` gives, for every item of a batch, exactly (bit for bit) what
:meth:`Learner.score <daemon.model.learner.Learner.score>` would give item after item, and leaves
the learner in exactly the state it would have reached. Where it knows the learner's parts (the
:class:`~daemon.model.learner.FeatureStep` over River's ``StandardScaler`` and
``OneHotEncoder``, in front of a binary River ``LogisticRegression``) it works column by column:
each feature's running statistics are updated over the batch in one tight loop with the same
floating-point operations in the same order as River, and the logit is the same left-to-right
sum over the item's features that River's ``VectorDict.dot`` computes, with the weights read
once per model version rather than per item. For any other learner (another classifier, another
feature step) it calls ``Learner.score`` per item, so it stays correct when the learner changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from daemon.model.learner import FeatureStep, Learner

Features = Mapping[str, Any]


def _sigmoid(z: float) -> float:
    """River's ``utils.math.sigmoid`` (saturating beyond +-30), as a float."""
    if z < -30:
        return 0.0
    if z > 30:
        return 1.0
    return 1 / (1 + math.exp(-z))


class BatchScorer:
    """Scores a batch of items with a learner, vectorised where the learner's parts allow it.

    >>> import copy
    >>> from daemon.config import ModelSettings
    >>> learner = Learner(ModelSettings(), classes=["ok", "fraud"])
    >>> learner.learn({"x": 1.0, "region": "EU"}, "fraud")
    >>> twin = copy.deepcopy(learner)
    >>> batch = [{"x": 1.0, "region": "EU"}, {"x": 3.0, "region": "US"}]
    >>> BatchScorer().score(learner, batch) == [twin.score(x) for x in batch]
    True
    """

    def __init__(self) -> None:
        self._weights: dict[str, float] = {}
        self._mirrored: tuple[int, int] | None = None
        self.fallbacks = 0

    @staticmethod
    def columnwise(learner: Learner) -> bool:
        """Whether the column-by-column path reproduces this learner exactly."""
        step = getattr(learner, "_features", None)
        model = getattr(learner, "_model", None)
        if type(step) is not FeatureStep or not getattr(learner, "_binary", False):
            return False
        # The column path knows River's StandardScaler and OneHotEncoder; the default feature
        # step (robust, clipped statistics) has neither, so it is scored item by item.
        scaler, encoder = getattr(step, "scaler", None), getattr(step, "encoder", None)
        if encoder is None:
            return False
        return (
            type(model).__name__ == "LogisticRegression"
            and type(encoder).__name__ == "OneHotEncoder"
            and not encoder.drop_zeros
            and encoder.categories is None
            and (
                scaler is None
                or (
                    type(scaler).__name__ == "StandardScaler"
                    and scaler.with_std
                    and scaler.window_size is None
                )
            )
        )

    def score(self, learner: Learner, batch: Sequence[Features]) -> list[dict[str, float]]:
        """Class probabilities for each item, in order; the unsupervised steps learn from all."""
        plan = self._plan(learner, batch)
        if plan is None:
            self.fallbacks += len(batch)
            return [learner.score(x) for x in batch]
        step: Any = learner._features
        weights = self._mirror(learner)
        logits = [0.0] * len(batch)
        self._numeric(step, weights, plan, logits)
        self._categories(step, weights, plan, logits)
        intercept = learner._model.intercept
        negative, positive = learner._negative, learner._positive
        out = []
        for z in logits:
            p = _sigmoid(z + intercept)
            out.append({negative: 1.0 - p, positive: p})
        return out

    def _mirror(self, learner: Learner) -> dict[str, float]:
        """The model's weights as a plain dict, re-read only when the model has learned."""
        model = learner._model
        key = (id(model), learner.version)
        if key != self._mirrored:
            self._weights = dict(model.weights)
            self._mirrored = key
        return self._weights

    def _plan(self, learner: Learner, batch: Sequence[Features]) -> list[_Group] | None:
        """Group the items by their feature layout and read their numeric columns as floats.

        None when the column-by-column path could differ from River's (another learner, a
        numeric feature named like a one-hot column, a value ``float()`` rejects): nothing has
        been learned yet then, and the caller scores item by item.
        """
        if not batch or not self.columnwise(learner):
            return None
        layouts: dict[tuple[tuple[str, ...], tuple[type, ...]], list[int]] = {}
        for i, x in enumerate(batch):
            layouts.setdefault((tuple(x), tuple(map(type, x.values()))), []).append(i)
        groups = []
        numeric_names: set[str] = set()
        categorical_keys: set[str] = set()
        try:
            for (names, types), rows in layouts.items():
                numeric = [
                    n for n, t in zip(names, types, strict=True) if t is not str and t is not _NONE
                ]
                categorical = [n for n, t in zip(names, types, strict=True) if t is str]
                columns: list[list[float]] = []
                if numeric:
                    values = [[batch[i][n] for n in numeric] for i in rows]
                    columns = [list(map(float, column)) for column in zip(*values, strict=True)]
                cells: list[list[tuple[str, str, str]]] = []
                for i in rows if categorical else ():
                    x = batch[i]
                    row = [(n, x[n], f"{n}_{x[n]}") for n in categorical]
                    cells.append(row)
                    categorical_keys.update(key for _, _, key in row)
                if len(categorical) > 1 and any(
                    len({c[2] for c in row}) < len(row) for row in cells
                ):
                    return None  # two one-hot columns named alike
                numeric_names.update(numeric)
                groups.append(_Group(rows, numeric, columns, cells))
        except (OverflowError, ValueError, TypeError):
            return None
        step: Any = learner._features
        zeros = step.encoder._zero_dict
        if categorical_keys and (
            not numeric_names.isdisjoint(categorical_keys) or not numeric_names.isdisjoint(zeros)
        ):
            return None
        return groups

    @staticmethod
    def _numeric(
        step: Any, weights: Mapping[str, float], plan: list[_Group], logits: list[float]
    ) -> None:
        """Standardise column by column (learning first, as River does), then add each item's
        weighted values in its own key order, the order of River's dot product."""
        scaler = step.scaler
        if scaler is not None:
            owners: dict[str, list[tuple[_Group, int]]] = {}
            for group in plan:
                for j, name in enumerate(group.numeric):
                    owners.setdefault(name, []).append((group, j))
            counts, means, variances = scaler.counts, scaler.means, scaler.vars
            for name, places in owners.items():
                state = (counts[name], means[name], variances[name])
                if len(places) == 1:
                    group, j = places[0]
                    state = _standardise(group.columns[j], state)
                else:
                    state = _standardise_merged(places, state)
                counts[name], means[name], variances[name] = state
        get = weights.get
        for group in plan:
            if not group.numeric:
                continue
            totals = [0.0] * len(group.rows)
            for name, column in zip(group.numeric, group.columns, strict=True):
                w = get(name, 0.0)
                totals = [t + w * z for t, z in zip(totals, column, strict=True)]
            for i, t in zip(group.rows, totals, strict=True):
                logits[i] = t

    @staticmethod
    def _categories(
        step: Any, weights: Mapping[str, float], plan: list[_Group], logits: list[float]
    ) -> None:
        """Learn the categories item by item and add the present ones' weights, in the order of
        River's one-hot output (first appearance); absent columns add an exact zero."""
        items = [
            (i, row) for group in plan for i, row in zip(group.rows, group.cells, strict=False)
        ]
        if not items:
            return
        if len(plan) > 1:
            items.sort(key=lambda item: item[0])
        encoder = step.encoder
        seen, zeros = encoder.values, encoder._zero_dict
        get = weights.get
        position: dict[str, int] | None = None
        for i, row in items:
            for name, value, key in row:
                values = seen[name]
                if value not in values:
                    values.add(value)
                    zeros[key] = 0
                    position = None
            total = logits[i]
            if len(row) == 1:
                total += get(row[0][2], 0.0) * 1
            else:
                if position is None:
                    position = {k: p for p, k in enumerate(zeros)}
                for key in sorted((c[2] for c in row), key=position.__getitem__):
                    total += get(key, 0.0) * 1
            logits[i] = total


class _Group:
    """Items of a batch with the same feature layout, and their numeric columns."""

    __slots__ = ("cells", "columns", "numeric", "rows")

    def __init__(
        self,
        rows: list[int],
        numeric: list[str],
        columns: list[list[float]],
        cells: list[list[tuple[str, str, str]]],
    ) -> None:
        self.rows = rows
        self.numeric = numeric
        self.columns = columns
        self.cells = cells  # per row with categories: (name, value, one-hot key), in key order


_NONE = type(None)
_State = tuple[int, float, float]


def _standardise(column: list[float], state: _State) -> _State:
    """River's ``StandardScaler.learn_one`` then ``transform_one`` over one column, in place."""
    n, m, v = state
    for k, xi in enumerate(column):
        n += 1
        old = m
        m += (xi - old) / n
        v += ((xi - old) * (xi - m) - v) / n
        column[k] = (xi - m) / v**0.5 if v else 0.0
    return n, m, v


def _standardise_merged(places: list[tuple[_Group, int]], state: _State) -> _State:
    """The same over a feature that items of several layouts share, in item order."""
    cells = sorted((row, group, j, k) for group, j in places for k, row in enumerate(group.rows))
    n, m, v = state
    for _row, group, j, k in cells:
        column = group.columns[j]
        xi = column[k]
        n += 1
        old = m
        m += (xi - old) / n
        v += ((xi - old) * (xi - m) - v) / n
        column[k] = (xi - m) / v**0.5 if v else 0.0
    return n, m, v

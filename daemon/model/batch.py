"""Batch scoring: the online model's probabilities for a whole polled batch at once.

:class:`BatchScorer` gives, for every item of a batch, exactly (bit for bit) what
:meth:`Learner.score <daemon.model.learner.Learner.score>` would give item after item, and leaves
the learner in exactly the state it would have reached. For the default learner (the
:class:`~daemon.model.learner.FeatureStep` in front of a
:class:`~daemon.model.logistic.LogisticModel`) it works column by column:

- the items are grouped by their feature layout (the same keys in the same order; one group in
  the usual stream) and each column is read out with one ``itemgetter`` per item;
- each numeric feature's robust running statistics are updated over its column in one tight
  loop with the same floating-point operations in the same order as the feature step (every
  feature's statistics are independent of the others', so a column can be done at once);
- the logit of each item is the left-to-right sum, in the item's key order, of weight times
  value, which is what River's dot product over the transformed item computes: with the values
  in a numpy matrix, column after column (element-wise products and sums are the same IEEE
  operations as Python's), the weights mirrored from the model once per model version, that is
  refreshed after every learned label;
- with ``model.interactions``, each crossed attribute adds, after the item's own columns, its
  ``a=v`` column and one ``a=v*x`` column per numeric feature (the numeric column's values,
  each row weighted by the weight of its own value's name, looked up once per distinct value),
  in the order the feature step adds them; a layout with a feature that could be named like a
  crossed output takes the per-item path;
- the sigmoid is River's, per item, with ``math.exp``.

For any other learner (another classifier, another feature step) it calls ``Learner.score`` per
item, so it stays correct when the learner changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import Any

import numpy as np

from daemon.model.learner import (
    MAGNITUDE,
    FeatureStep,
    Groups,
    Learner,
    _Moments,
    _number,
)
from daemon.model.logistic import LogisticModel

Features = Mapping[str, Any]

_LAYOUT_CACHE = 1024  # feature layouts whose name clashes are remembered


def _sigmoid(z: float) -> float:
    """River's ``utils.math.sigmoid`` (saturating beyond +-30), as a float."""
    if z < -30:
        return 0.0
    if z > 30:
        return 1.0
    return 1 / (1 + math.exp(-z))


class _Numeric:
    """A column whose every cell is the named numeric feature's transformed value."""

    __slots__ = ("name", "values")

    def __init__(self, name: str, values: np.ndarray) -> None:
        self.name = name
        self.values = values


class _Cells:
    """A column of output keys (None: the cell adds nothing) and their values."""

    __slots__ = ("keys", "values")

    def __init__(self, keys: list[str | None], values: list[float]) -> None:
        self.keys = keys
        self.values = values


class _Crossed:
    """A column of interaction outputs: row ``i`` adds the weight of
    ``prefixes[codes[i] - 1] + suffix`` times ``values[i]`` (nothing when ``codes[i]`` is 0)."""

    __slots__ = ("codes", "prefixes", "suffix", "values")

    def __init__(
        self, prefixes: list[str], codes: np.ndarray, suffix: str, values: np.ndarray
    ) -> None:
        self.prefixes = prefixes
        self.codes = codes
        self.suffix = suffix
        self.values = values


_Term = _Numeric | _Cells | _Crossed


class BatchScorer:
    """Scores a batch of items with a learner, column by column where the learner allows it.

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
        self._clashes: dict[tuple[str, ...], list[tuple[int, int]]] = {}
        self.fallbacks = 0

    @staticmethod
    def columnwise(learner: Learner) -> bool:
        """Whether the column-by-column path reproduces this learner exactly."""
        return (
            type(getattr(learner, "_features", None)) is FeatureStep
            and getattr(learner, "_binary", False)
            and type(getattr(learner, "_model", None)) is LogisticModel
        )

    def score(
        self,
        learner: Learner,
        batch: Sequence[Features],
        attributes: Sequence[Groups | None] | None = None,
    ) -> list[dict[str, float]]:
        """Class probabilities for each item, in order; the unsupervised steps learn from all.

        ``attributes`` are the items' subgroup attributes (``group``), read only for the
        learner's ``model.interactions``.
        """
        groups = self._plan(learner, batch)
        if groups is None:
            self.fallbacks += len(batch)
            if attributes is None:
                return [learner.score(x) for x in batch]
            return [learner.score(x, a) for x, a in zip(batch, attributes, strict=True)]
        step = learner._features
        columns: dict[str, list[tuple[int, int]]] = {}
        for g, (names, _, _) in enumerate(groups):
            for j, name in enumerate(names):
                columns.setdefault(name, []).append((g, j))
        if step.scale:
            _create(step, [n for n in columns if n not in step._moments], columns, groups)
        # Every feature's statistics in item order; terms[g][j] is column j of group g.
        terms: list[list[_Term | None]] = [[None] * len(names) for names, _, _ in groups]
        for name, places in columns.items():
            if len(places) == 1:
                g, j = places[0]
                terms[g][j] = _transform(step, name, groups[g][2][j])
            else:
                _transform_merged(step, name, places, groups, terms)
        plan = [
            (np.asarray(rows), [t for t in ts if t is not None])
            for (_, rows, _), ts in zip(groups, terms, strict=True)
        ]
        if step.interactions:
            # Values are taken in item order, as item after item would (see FeatureStep.prefix).
            prefixes = [
                [
                    step.prefix(a, attributes[i] if attributes is not None else None, x)
                    for i, x in enumerate(batch)
                ]
                for a in step.interactions
            ]
            for (names, rows, _), (_, ts) in zip(groups, plan, strict=True):
                ts.extend(_interactions(prefixes, names, rows, ts))
        return self._probabilities(learner, plan, len(batch))

    def _probabilities(
        self, learner: Learner, plan: list[tuple[np.ndarray, list[_Term]]], n: int
    ) -> list[dict[str, float]]:
        """Sigmoid of each logit; a non-finite score recovers the model as ``Learner.score``
        does (and the items after it are scored by the recovered model)."""
        logits = _logits(plan, self._mirror(learner), n)
        negative, positive = learner._negative, learner._positive
        out: list[dict[str, float]] = []
        i = 0
        while i < n:
            p = _sigmoid(logits[i] + learner._model.intercept)
            if math.isnan(p):  # the model's parameters are not finite
                learner._nonfinite += 1
                learner._recover()
                logits = _logits(plan, self._mirror(learner), n)
                p = _sigmoid(logits[i] + learner._model.intercept)
                if math.isnan(p):
                    k = len(learner.classes)
                    out.append({c: 1.0 / k for c in learner.classes})
                    i += 1
                    continue
            out.append({negative: 1.0 - p, positive: p})
            i += 1
        return out

    def _mirror(self, learner: Learner) -> dict[str, float]:
        """The model's weights as a plain dict, re-read only when the model has learned (or
        was replaced)."""
        model = learner._model
        key = (id(model), learner.version)
        if key != self._mirrored:
            self._weights = dict(model.weights)
            self._mirrored = key
        return self._weights

    def _plan(
        self, learner: Learner, batch: Sequence[Features]
    ) -> list[tuple[tuple[str, ...], list[int], list[tuple[Any, ...]]]] | None:
        """Group the items by feature layout and read out their columns; None (nothing learned
        yet) when the column path could differ: another learner, or two features of one item
        whose outputs could share a name (``a`` = "b" next to a feature ``a_b``)."""
        if not batch or not self.columnwise(learner):
            return None
        layouts: dict[tuple[str, ...], list[int]] = {}
        for i, x in enumerate(batch):
            layouts.setdefault(tuple(x), []).append(i)
        crossing = learner._features.interactions
        groups: list[_Group] = []
        for names, rows in layouts.items():
            if crossing and _shadows(crossing, names):
                return None
            if not names:
                groups.append((names, rows, []))
                continue
            if len(names) == 1:
                name = names[0]
                cells = [tuple(batch[i][name] for i in rows)]
            else:
                get = itemgetter(*names)
                cells = list(zip(*[get(batch[i]) for i in rows], strict=True))
            for a, _b in self._clash(names):
                if any(type(v) not in _NUMERIC for v in cells[a]):
                    return None
            groups.append((names, rows, cells))
        return groups

    def _clash(self, names: tuple[str, ...]) -> list[tuple[int, int]]:
        """Pairs of positions (a, b) where ``names[b]`` starts with ``names[a] + "_"``."""
        known = self._clashes.get(names)
        if known is None:
            known = [
                (a, b)
                for a, first in enumerate(names)
                for b, second in enumerate(names)
                if a != b and second.startswith(first + "_")
            ]
            if len(self._clashes) >= _LAYOUT_CACHE:
                self._clashes.clear()
            self._clashes[names] = known
        return known


def _shadows(attributes: tuple[str, ...], names: tuple[str, ...]) -> bool:
    """Whether an output of these features could be named like an interaction output
    (``a=...``): a feature named ``a=...``, or one named ``n`` with ``a`` starting ``n_``
    (category values are free)."""
    return any(n.startswith(a + "=") or a.startswith(n + "_") for a in attributes for n in names)


def _interactions(
    prefixes: list[list[str | None]],
    names: tuple[str, ...],
    rows: list[int],
    terms: list[_Term],
) -> list[_Term]:
    """The interaction columns of one layout, in the order the feature step adds them: per
    attribute ``a=v``, then ``a=v*x`` for each numeric feature ``x`` in key order (``terms``
    are the layout's columns, one per name; ``prefixes[k][i]`` is item ``i``'s ``a=v`` name
    for the k-th crossed attribute, None when it is not crossed)."""
    out: list[_Term] = []
    numeric: list[tuple[str, np.ndarray | None, np.ndarray]] = []
    for name, term in zip(names, terms, strict=True):
        if type(term) is _Numeric:
            numeric.append((name, None, term.values))
        elif type(term) is _Cells:
            where = np.array([k == name for k in term.keys], dtype=bool)
            if where.any():
                numeric.append((name, where, np.array(term.values)))
    for names_of in prefixes:
        known: dict[str, int] = {}
        codes = np.zeros(len(rows), dtype=np.intp)
        for k, i in enumerate(rows):
            prefix = names_of[i]
            if prefix is not None:
                codes[k] = known.setdefault(prefix, len(known) + 1)
        if not known:
            continue
        ordered = list(known)
        out.append(_Crossed(ordered, codes, "", np.ones(len(rows))))
        for name, mask, values in numeric:
            rows_codes = codes if mask is None else np.where(mask, codes, 0)
            out.append(_Crossed(ordered, rows_codes, f"*{name}", values))
    return out


_NUMERIC = (float, int, bool, type(None))
_FLOAT = {float}
_FLOAT_INT = {float, int}


def _logits(
    plan: list[tuple[np.ndarray, list[_Term]]], weights: dict[str, float], n: int
) -> list[float]:
    """Each item's sum of weight x value over its outputs, in its key order."""
    logits = np.zeros(n)
    get = weights.get
    for rows, terms in plan:
        total = np.zeros(len(rows))
        for term in terms:
            if type(term) is _Numeric:
                total += get(term.name, 0.0) * term.values
            elif type(term) is _Crossed:
                suffix = term.suffix
                table = np.array([0.0] + [get(p + suffix, 0.0) for p in term.prefixes])
                total += table[term.codes] * term.values
            else:
                assert isinstance(term, _Cells)
                total += np.array(
                    [
                        0.0 if k is None else get(k, 0.0) * v
                        for k, v in zip(term.keys, term.values, strict=True)
                    ]
                )
        logits[rows] = total
    result: list[float] = logits.tolist()
    return result


def _transform(step: FeatureStep, name: str, column: Sequence[Any]) -> _Term:
    """One column of one feature, learned and transformed as the feature step does item by
    item (learning first)."""
    floats = _as_floats(column) if step.scale else None
    if floats is not None:
        m = step._moments.get(name)
        if m is None:
            m = step._moments[name] = _Moments(step.clip, step.warmup)
        return _Numeric(name, np.array(_floats(m, step.clip, floats)))
    keys: list[str | None] = []
    values_out: list[float] = []
    for value in column:
        key, v = _cell(step, name, value)
        keys.append(key)
        values_out.append(v)
    return _Cells(keys, values_out)


def _transform_merged(
    step: FeatureStep,
    name: str,
    places: list[tuple[int, int]],
    groups: list[tuple[tuple[str, ...], list[int], list[tuple[Any, ...]]]],
    terms: list[list[_Term | None]],
) -> None:
    """The same for a feature that items of several layouts share, cell by cell in item
    order."""
    order = sorted((row, g, j, k) for g, j in places for k, row in enumerate(groups[g][1]))
    keys: dict[tuple[int, int], list[str | None]] = {}
    values: dict[tuple[int, int], list[float]] = {}
    for g, j in places:
        size = len(groups[g][1])
        keys[(g, j)] = [None] * size
        values[(g, j)] = [0.0] * size
    for _row, g, j, k in order:
        key, v = _cell(step, name, groups[g][2][j][k])
        keys[(g, j)][k] = key
        values[(g, j)][k] = v
    for g, j in places:
        terms[g][j] = _Cells(keys[(g, j)], values[(g, j)])


_Group = tuple[tuple[str, ...], list[int], list[tuple[Any, ...]]]


def _creates(value: Any) -> bool:
    """Whether the feature step starts statistics for a feature at this value."""
    if type(value) is float:
        return not math.isnan(value)
    return isinstance(value, bool | int | float) and _number(value) is not None


def _create(
    step: FeatureStep,
    new: list[str],
    columns: dict[str, list[tuple[int, int]]],
    groups: list[_Group],
) -> None:
    """Start the statistics of features seen for the first time in the order the feature
    step would (first item, then key order), so the learner's state is the same to the byte."""
    first: list[tuple[int, int, str]] = []
    for name in new:
        best: tuple[int, int] | None = None
        for g, j in columns[name]:
            rows, column = groups[g][1], groups[g][2][j]
            for k, value in enumerate(column):
                if _creates(value):
                    if best is None or (rows[k], j) < best:
                        best = (rows[k], j)
                    break
        if best is not None:
            first.append((*best, name))
    for _, _, name in sorted(first):
        step._moments[name] = _Moments(step.clip, step.warmup)


def _cell(step: FeatureStep, name: str, value: Any) -> tuple[str | None, float]:  # noqa: PLR0911 - one return per case of the feature step
    """One cell exactly as :meth:`FeatureStep.__call__` treats it: (output key, value), key
    None when the item gets no output for it."""
    if type(value) is float and -MAGNITUDE <= value <= MAGNITUDE:
        v = value
    elif isinstance(value, bool | int | float):
        number = _number(value)
        if number is None:
            return None, 0.0
        v = number
    elif value is None:
        return None, 0.0
    else:
        return f"{name}_{value}", 1.0
    if not step.scale:
        return name, v
    m = step._moments.get(name)
    if m is None:
        m = step._moments[name] = _Moments(step.clip, step.warmup)
    m.learn(v)
    if m.binary:
        return name, v
    if m._buffer is None:
        centre, spread = m.mean, m.sd
    else:
        centre, spread = m.location_scale()
    clip = step.clip
    if spread > 0:
        z = (v - centre) / spread
        return name, clip if z > clip else -clip if z < -clip else z
    return name, 0.0


def _as_floats(column: Sequence[Any]) -> list[float] | None:
    """The column as floats when every cell is a float or an int (not a bool) in range, which
    the feature step would take as it is (ints through ``float``); else None."""
    if not column:
        return []
    types = set(map(type, column))
    if types != _FLOAT:
        if not types <= _FLOAT_INT:
            return None
        try:
            column = [float(v) for v in column]
        except OverflowError:
            return None
    # A NaN makes the sum NaN (and min/max unreliable); without one, min and max bound it.
    total = sum(column)
    if math.isnan(total) or min(column) < -MAGNITUDE or max(column) > MAGNITUDE:
        return None
    return list(column)


def _floats(m: _Moments, clip: float, column: list[float]) -> list[float]:
    """A column of floats in range through one feature's statistics: the warm-up cell by
    cell, then Welford's update on winsorised values in a loop over locals."""
    out: list[float] = []
    k = 0
    size = len(column)
    while m._buffer is not None and k < size:
        v = column[k]
        m.learn(v)
        if m.binary:
            out.append(v)
        else:
            centre, spread = (m.mean, m.sd) if m._buffer is None else m.location_scale()
            if spread > 0:
                z = (v - centre) / spread
                out.append(clip if z > clip else -clip if z < -clip else z)
            else:
                out.append(0.0)
        k += 1
    if k == size:
        return out
    rest = column[k:] if k else column
    if m.binary:
        _welford_binary(m, clip, rest, out)
    else:
        _welford(m, clip, rest, out)
    return out


def _welford_binary(m: _Moments, clip: float, column: list[float], out: list[float]) -> None:
    """Welford's update over a column of a feature that has only been 0 or 1 so far."""
    n, mean, m2, sd, binary, reach_clip = m.n, m.mean, m.m2, m.sd, m.binary, m.clip
    sqrt = math.sqrt
    append = out.append
    for v in column:
        if binary and v not in (0.0, 1.0):
            binary = False
        reach = reach_clip * sd
        x = min(max(v, mean - reach), mean + reach)
        n += 1
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
        sd = sqrt(m2 / n)
        if binary:
            append(v)
        elif sd > 0:
            z = (v - mean) / sd
            append(clip if z > clip else -clip if z < -clip else z)
        else:
            append(0.0)
    m.n, m.mean, m.m2, m.sd, m.binary = n, mean, m2, sd, binary


def _welford(m: _Moments, clip: float, column: list[float], out: list[float]) -> None:
    """The same for a feature known not to be binary (the usual case), without a call per
    cell: ``min(max(v, lo), hi)`` is written out with the builtins' own rule (the later
    argument wins only when strictly beyond the first), so even a signed zero comes out the
    same."""
    n, mean, m2, sd, reach_clip = m.n, m.mean, m.m2, m.sd, m.clip
    sqrt = math.sqrt
    append = out.append
    for v in column:
        reach = reach_clip * sd
        x = mean - reach
        if not x > v:
            x = v
        hi = mean + reach
        if hi < x:  # noqa: PLR1730 - min() is a call per cell
            x = hi
        n += 1
        delta = x - mean
        mean += delta / n
        m2 += delta * (x - mean)
        sd = sqrt(m2 / n)
        if sd > 0:
            z = (v - mean) / sd
            append(clip if z > clip else -clip if z < -clip else z)
        else:
            append(0.0)
    m.n, m.mean, m.m2, m.sd = n, mean, m2, sd

#!/usr/bin/env python3
"""Label-efficiency benchmark: labelgate's policies against scikit-activeml and River.

Runs the prequential protocol of ``daemon.tools.backtest`` (predict, score, decide, learn only from
queried labels) on the built-in streams (20,000 items each) at label budgets of 1%, 5%, 10% and
20%, for

* labelgate's presets, built by the daemon's own policy builder
  (``daemon.service.policy_builder``), ``default`` being the daemon's default configuration
  (highlighted in a per-cell table against random and the best competitor) and
  ``default_quotas`` the default with subgroup floors on the two subgroup streams, its learner
  crossing the floored attributes with the numeric features (``QUOTA_INTERACTIONS``);
* scikit-activeml's stream strategies (VariableUncertainty, Split, RandomVariableUncertainty,
  StreamRandomSampling, and StreamProbabilisticAL with ``--with-pal``) with their own budget
  managers;
* River's ``active.EntropySampler`` rule;
* default and random again with labels arriving 100 and 500 items late on the drifting streams.

Fairness: every strategy drives the SAME online learner (the daemon's ``Learner``: robust
clipped standardisation + River's logistic/softmax regression, fed only with queried labels), so
only the query rule differs; the one exception is ``default_quotas`` on the subgroup streams,
whose learner crosses the floored attributes with the numeric features (``QUOTA_INTERACTIONS``).
scikit-activeml's strategies read the learner's probabilities through a tiny
``SkactivemlClassifier`` whose ``predict_proba`` returns them; StreamProbabilisticAL's density
term comes from its own Parzen window over the last 500 queried items (its ``metric="rbf"``
mode). River's EntropySampler has no budget manager, so its rule runs under the same
window-paced fraction budget as labelgate's policies. All strategies get the same cold start
(force-query until two classes are seen, at most 10 items) and the same hard cap of
``floor(budget * items)`` labels, so none can win by overspending.

Needs the ``bench`` extra: ``pip install -e '.[bench]'``.

Usage::

    python bench/label_efficiency.py --seeds 0 --write docs/benchmarks.md  # hours on a busy box
    python bench/label_efficiency.py --quick                               # smoke run (~1 min)

A long run can be split across processes (``--part main``/``--part delays``, ``--streams``) and
put together with ``--render-only --partial a.pkl,b.pkl``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import pickle
import platform
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.config import ModelSettings, PolicySettings, QuotaSettings
from daemon.service.policy_builder import PRESETS
from daemon.tools.backtest import DEFAULT, RunResult, model_settings, preset_factory, run_one
from daemon.tools.streams import Example, LabeledStream, StreamInfo, open_stream
from policies import Decision, FractionBudget, ItemView, Reason

STREAMS = [
    "hyperplane-drift",
    "sea-drift",
    "agrawal-drift",
    "stationary",
    "imbalanced",
    "multiclass",
    "minority-concept",
    "subgroups",
]
BUDGETS = [0.01, 0.05, 0.1, 0.2]
SEEDS = [0, 1]
LABELGATE = ["random", DEFAULT, "biqf"]
"""labelgate's presets in the full run (the figure is about ``default``; the others for context)."""
QUOTAS = "default_quotas"
"""Run on the subgroup streams only: the default with the floors of SUBGROUP_FLOORS."""
SUBGROUP_FLOORS: dict[str, QuotaSettings | None] = {
    "minority-concept": None,  # the preset's own: segment=minority at 25%
    "subgroups": QuotaSettings(floors={"sex": {"F": "population"}, "race": {"B": "population"}}),
}
QUOTA_INTERACTIONS: dict[str, tuple[str, ...]] = {
    "minority-concept": ("segment",),
    # Both floored attributes: race=B's rule also leans on x4, which a bias cannot express, so
    # the floors' labels only lift race=B above random sampling with its own weights.
    "subgroups": ("sex", "race"),
}
"""``model.interactions`` of ``default_quotas`` per stream: the floored attributes crossed with
the numeric features (the other policies keep the default learner)."""
COMPETITORS = [
    "skal_variable_uncertainty",
    "skal_split",
    "skal_random_vu",
    "skal_random",
    "river_entropy_sampler",
]
SLOW_COMPETITORS = ["skal_pal"]
"""Only with --with-pal: its Parzen window costs ~6 ms per item, hours on full-size streams."""
DELAYS = [100, 500]
"""Label delays (items) of the delay rows: default and random on the drifting streams."""
DRIFTING = ["hyperplane-drift", "sea-drift", "agrawal-drift"]
TABLES = ["river ImageSegments", "sklearn digits", "sklearn wine"]
"""Bundled multiclass tables (shuffled per seed): the default's margin against least confidence."""
TABLE_BUDGETS = [0.05, 0.1, 0.2]
TABLE_POLICIES = ("random", DEFAULT, "default_lc")
"""``default_lc`` is the default with ``uncertainty_measure: least_confidence``."""
COLD_START = 10
SLOW = {"skal_pal": 1}
"""Strategies run on fewer seeds (the first N): PAL's Parzen window costs ~6 ms per item."""
PAL_WINDOW = 500
SECTION = "## Label efficiency"


class Tap:
    """Remembers the example the simulation is on, for strategies that need raw features."""

    def __init__(self) -> None:
        self.current: Example | None = None

    def wrap(self, stream: LabeledStream) -> LabeledStream:
        def tapped() -> Iterator[Example]:
            for ex in stream:
                self.current = ex
                yield ex

        return LabeledStream(stream.info, tapped)


class _Vectorizer:
    """An example's numeric features as an array, in sorted key order.

    The order is worked out once per key set (a stream's items share one), not per item; the
    values are the same as filtering and sorting each item's features.
    """

    def __init__(self) -> None:
        self._orders: dict[tuple[str, ...], tuple[str, ...]] = {}

    def __call__(self, ex: Example) -> np.ndarray:
        features = ex.features
        keys = tuple(features)
        order = self._orders.get(keys)
        if order is None:
            order = tuple(k for k in sorted(keys) if isinstance(features[k], int | float))
            self._orders[keys] = order
        values = [features[k] for k in order]
        if not all(isinstance(v, int | float) for v in values):
            raise TypeError(f"a feature of {order} is not numeric in this item")
        return np.asarray(values, dtype=float)


class _Chooser:
    """Shared cold start: force-query until two classes are seen (at most COLD_START items)."""

    def __init__(self) -> None:
        self._forced = 0

    def decide(self, item: ItemView, now: float) -> Decision:
        if item.classes_seen < 2 and self._forced < COLD_START:
            self._forced += 1
            return Decision(query=True, reason=Reason.COLD_START, probability=1.0, utility=1.0)
        query = self._ask(item)
        return Decision(
            query=query,
            reason=Reason.UNCERTAIN if query else Reason.CONFIDENT,
            probability=float(query),
            utility=0.0,
        )

    def commit(self, decision: Decision, item: ItemView, now: float) -> None:
        return None

    def _ask(self, item: ItemView) -> bool:
        raise NotImplementedError


def _skal_classifier(classes: Sequence[str]) -> Any:
    from skactiveml.base import SkactivemlClassifier  # noqa: PLC0415 - bench extra

    class LearnerProba(SkactivemlClassifier):  # type: ignore[misc]
        """Exposes the shared River learner's current probabilities to scikit-activeml."""

        def __init__(self, classes: Any = None, missing_label: Any = -1) -> None:
            super().__init__(classes=classes, missing_label=missing_label)
            self.proba = np.full((1, len(classes)), 1.0 / len(classes))
            self.classes_ = np.asarray(classes)

        def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Any:  # noqa: N803 - sklearn API
            return self

        def predict_proba(self, X: Any, **kwargs: Any) -> Any:  # noqa: N803 - sklearn API
            # The stream strategies ask about one candidate at a time and only read the result.
            return self.proba if len(X) == 1 else np.repeat(self.proba, len(X), axis=0)

    return LearnerProba(classes=list(range(len(classes))))


class SkalChooser(_Chooser):
    """A scikit-activeml stream strategy over the shared learner's probabilities."""

    def __init__(self, qs: Any, classes: Sequence[str], tap: Tap, density: bool) -> None:
        super().__init__()
        self.qs = qs
        self.classes = list(classes)
        self.clf = _skal_classifier(classes)
        self.tap = tap
        self.density = density
        self._uniform = [1.0 / len(self.classes)] * len(self.classes)
        self._vector = _Vectorizer()
        self._row: tuple[Example | None, np.ndarray | None] = (None, None)
        """The last asked item and its feature row (``commit`` reuses it for that item)."""
        self._X: deque[np.ndarray] = deque(maxlen=PAL_WINDOW)
        self._y: deque[int] = deque(maxlen=PAL_WINDOW)
        # Decide once which call the strategy takes (STYLE 4).
        self._query: Callable[[np.ndarray], Any]
        if density:
            self._query = self._query_density
        elif hasattr(qs, "budget_manager"):
            self._query = self._query_utilities
        else:
            self._query = self._query_plain

    def _ask(self, item: ItemView) -> bool:
        ex = self.tap.current
        assert ex is not None
        x = self._vector(ex)[None, :]
        self._row = (ex, x)
        proba = item.proba
        p = [proba.get(c, 0.0) for c in self.classes] if proba else self._uniform
        total = sum(p) or 1.0
        self.clf.proba = np.asarray([p], dtype=float) / total
        return len(self._query(x)) > 0

    def _query_plain(self, x: np.ndarray) -> Any:
        queried = self.qs.query(candidates=x)
        self.qs.update(x, queried)
        return queried

    def _query_utilities(self, x: np.ndarray) -> Any:
        queried, utilities = self.qs.query(candidates=x, clf=self.clf, return_utilities=True)
        self.qs.update(x, queried, budget_manager_param_dict={"utilities": utilities})
        return queried

    def _query_density(self, x: np.ndarray) -> Any:
        if not self._X:
            return [0]  # no labeled item yet: no density to weigh with, query
        x_train = np.asarray(self._X)
        y_train = np.asarray(self._y, dtype=int)
        queried, utilities = self.qs.query(
            candidates=x, clf=self.clf, X=x_train, y=y_train, return_utilities=True
        )
        self.qs.update(x, queried, budget_manager_param_dict={"utilities": utilities})
        return queried

    def commit(self, decision: Decision, item: ItemView, now: float) -> None:
        if self.density and self.tap.current is not None:
            ex = self.tap.current
            asked, row = self._row
            # A cold-start query never asked the strategy: that item has no row yet.
            self._X.append(row[0] if asked is ex and row is not None else self._vector(ex))
            self._y.append(self.classes.index(ex.label))


class RiverEntropyChooser(_Chooser):
    """River's EntropySampler rule, paced by the same fraction budget as labelgate's policies."""

    def __init__(self, budget: float, seed: int) -> None:
        from river import active  # noqa: PLC0415

        super().__init__()
        self.sampler = active.EntropySampler(classifier=None, seed=seed)
        self.budget = FractionBudget(budget, 1000)

    def decide(self, item: ItemView, now: float) -> Decision:
        self.budget.observe(now)
        if not self.budget.allows(1.0, now):
            return Decision(
                query=False, reason=Reason.BUDGET_EXHAUSTED, probability=0.0, utility=0.0
            )
        return super().decide(item, now)

    def commit(self, decision: Decision, item: ItemView, now: float) -> None:
        self.budget.charge(1.0, now)

    def _ask(self, item: ItemView) -> bool:
        return bool(item.proba) and bool(self.sampler._ask_for_label(None, dict(item.proba)))


def competitor(name: str, budget: float, seed: int, classes: Sequence[str], tap: Tap) -> Any:
    """Build a competitor's chooser by name."""
    if name == "river_entropy_sampler":
        return RiverEntropyChooser(budget, seed)
    from skactiveml import stream  # noqa: PLC0415 - bench extra

    make: dict[str, Callable[[], Any]] = {
        "skal_variable_uncertainty": lambda: stream.VariableUncertainty(
            budget=budget, random_state=seed
        ),
        "skal_split": lambda: stream.Split(budget=budget, random_state=seed),
        "skal_random_vu": lambda: stream.RandomVariableUncertainty(
            budget=budget, random_state=seed
        ),
        "skal_pal": lambda: stream.StreamProbabilisticAL(
            budget=budget, random_state=seed, metric="rbf"
        ),
        "skal_random": lambda: stream.StreamRandomSampling(budget=budget, random_state=seed),
    }
    return SkalChooser(make[name](), classes, tap, density=name == "skal_pal")


@dataclass(frozen=True)
class Cell:
    stream: str
    seed: int
    budget: float
    items: int
    policies: tuple[str, ...]
    label_delay: int = 0


def run_cell(cell: Cell) -> list[RunResult]:
    """All policies on one (stream, seed, budget)."""
    import warnings  # noqa: PLC0415

    warnings.simplefilter("ignore")
    if any(name.startswith("skal_") for name in cell.policies):
        import sklearn  # noqa: PLC0415 - bench extra, under scikit-activeml

        # scikit-learn's check_array runs on every candidate and utility the strategies see;
        # its finiteness scan was ~7% of a cell. Our inputs are finite (generated features,
        # normalised probabilities), so skipping the scan changes no decision.
        sklearn.set_config(assume_finite=True)
    if cell.stream in TABLES:
        return _run_table(cell)
    base = open_stream(cell.stream, cell.items, cell.seed)
    results = []
    for name in cell.policies:
        if name in SLOW and cell.seed not in SEEDS[: SLOW[name]]:
            continue
        tap = Tap()
        settings = None
        if name in PRESETS:
            chooser = preset_factory(name, floors=SUBGROUP_FLOORS.get(cell.stream))(
                cell.budget, cell.seed
            )
            stream = base
            if name == QUOTAS:
                settings = _crossing(base.info.classes, QUOTA_INTERACTIONS.get(cell.stream, ()))
        else:
            chooser = competitor(name, cell.budget, cell.seed, base.info.classes, tap)
            stream = tap.wrap(base)
        results.append(
            run_one(stream, chooser, policy=name, budget=cell.budget, seed=cell.seed,
                    policy_id=name, label_delay=cell.label_delay, settings=settings)
        )  # fmt: skip
    return results


def _crossing(classes: Sequence[str], attributes: tuple[str, ...]) -> ModelSettings | None:
    """The stream's default learner crossing ``attributes`` (None: the default learner)."""
    if not attributes:
        return None
    return ModelSettings(classifier=model_settings(classes).classifier, interactions=attributes)


def _run_table(cell: Cell) -> list[RunResult]:
    """A bundled table, shuffled with the seed, through random, the default and default_lc."""
    from learner_defaults import load  # noqa: PLC0415 - the same loader as the learner bench

    rows = load(cell.stream, cell.seed, 0)
    examples = [Example(x, y, {}) for x, y in rows]
    info = StreamInfo(cell.stream, tuple(sorted({y for _, y in rows})), len(examples), False)
    stream = LabeledStream(info, lambda: iter(examples))
    least = PolicySettings(uncertainty_measure="least_confidence")
    results = []
    for name in cell.policies:
        base = least if name == "default_lc" else None
        chooser = preset_factory(DEFAULT if base else name, base=base)(cell.budget, cell.seed)
        results.append(
            run_one(stream, chooser, policy=name, budget=cell.budget, seed=cell.seed,
                    policy_id=name)
        )  # fmt: skip
    return results


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def write_csv(path: Path, runs: Sequence[RunResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["stream", "policy", "budget", "seed", "label_delay", "accuracy", "macro_f1",
                    "label_fraction", "within_budget", "minority_accuracy",
                    "minority_query_share", "decisions_per_second"])  # fmt: skip
        for r in runs:
            minority = r.groups.get("segment=minority")
            w.writerow([r.stream, r.policy, r.budget, r.seed, r.label_delay, f"{r.accuracy:.5f}",
                        f"{r.macro_f1:.5f}", f"{r.label_fraction:.5f}", r.within_budget,
                        f"{minority.accuracy:.5f}" if minority else "",
                        f"{r.query_share('segment=minority'):.5f}" if minority else "",
                        f"{r.decisions_per_second:.0f}"])  # fmt: skip


def markdown(runs: Sequence[RunResult], args: argparse.Namespace, seconds: float) -> str:
    """The docs section: command, setup, per-stream tables, summary, delay and minority rows."""
    delayed = [r for r in runs if r.label_delay]
    tables = [r for r in runs if r.stream in TABLES]
    runs = [r for r in runs if not r.label_delay and r.stream not in TABLES]
    policies = list(dict.fromkeys(r.policy for r in runs))
    streams = list(dict.fromkeys(r.stream for r in runs))
    budgets = sorted({r.budget for r in runs})

    def cell(stream: str, policy: str, budget: float, attr: str = "accuracy") -> float:
        return _mean(
            [getattr(r, attr) for r in runs
             if r.stream == stream and r.policy == policy and r.budget == budget]
        )  # fmt: skip

    lines = [
        SECTION,
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d')} by `bench/label_efficiency.py` on "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} "
        + (
            "cores, from the runs of several processes (`--render-only`). Reproduce with:"
            if args.render_only
            else f"cores, in {seconds / 60:.1f} min. Reproduce with:"
        ),
        "",
        "```",
        "pip install -e '.[bench]'",
        "python bench/label_efficiency.py"
        + (" --quick" if args.quick else "")
        + f" --items {args.items} --seeds {','.join(map(str, sorted({r.seed for r in runs})))}"
        + " --write docs/benchmarks.md",
        *(
            [
                "# the runs were split into parts and rendered together:",
                f"# --render-only --partial <parts> --reuse-csv {args.reuse_csv}",
            ]
            if args.render_only and args.reuse_csv is not None
            else []
        ),
        "```",
        "",
        f"Prequential (test-then-train) accuracy on {args.items:,}-item streams, mean over seeds "
        f"{', '.join(map(str, sorted({r.seed for r in runs})))}. Every strategy drives the same "
        "online learner (the daemon's default `Learner`: robust clipped standardisation + "
        "logistic regression, softmax for `multiclass`), learning only from the labels it "
        "queried, with the same cold start "
        "(force-query until two classes are seen) and the same hard cap of floor(budget x items) "
        "labels; so only the query rule differs (one exception: `default_quotas` runs the "
        "learner with the floored attributes crossed with the numeric features, "
        "`model.interactions: [segment]` on minority-concept and `[sex, race]` on subgroups). "
        "scikit-activeml's strategies see the "
        "learner's probabilities through a thin `SkactivemlClassifier` and keep their own "
        "budget managers. River's "
        "`EntropySampler` has no budget manager, so its rule runs under the same window-paced "
        "fraction budget as labelgate's policies. `random` is labelgate's random sampling at "
        "the same budget. `skal_pal` (scikit-activeml's StreamProbabilisticAL) is left out: its "
        "Parzen-window density costs ~6 ms per item, hours per full-size run on this machine "
        "(`--with-pal` adds it). No policy has per-stream settings. `default` is "
        "`PolicySettings()`: fixed uncertainty ranked by the margin between the two most "
        "probable classes (items with a confidence of 0.8 or more never ranked in), under the "
        "balanced incremental quantile filter (1,000-item window, "
        "5 labels of carry-over, a 50-label head start), with 5% of the budget on uniformly "
        "random exploration; `biqf` is the published filter's setting (300-item window, no head "
        "start, no exploration) with the same utility.",
        "",
        *_headline(runs, streams, budgets, cell),
        "### Accuracy gain over random, averaged over streams",
        "",
        "| policy | "
        + " | ".join(f"{b:.0%}" for b in budgets)
        + " | mean | wins vs random | label fraction (20%) | in budget | decisions/s |",
        "|---|" + "---:|" * (len(budgets) + 5),
    ]
    for p in policies:
        # A policy run on some streams only (default_quotas) is averaged over those.
        ran = [s for s in streams if not math.isnan(cell(s, p, budgets[0]))]
        gains = [cell(s, p, b) - cell(s, "random", b) for b in budgets for s in ran]
        per_budget = [_mean([cell(s, p, b) - cell(s, "random", b) for s in ran])
                      for b in budgets]  # fmt: skip
        wins = sum(g > 0 for g in gains)
        ok = all(r.within_budget for r in runs if r.policy == p)
        dps = _mean([r.decisions_per_second for r in runs if r.policy == p])
        frac = _mean([r.label_fraction for r in runs if r.policy == p and r.budget == budgets[-1]])
        lines.append(
            f"| {p} | "
            + " | ".join(f"{g:+.4f}" for g in per_budget)
            + f" | {_mean(gains):+.4f} | {wins}/{len(gains)} | {frac:.2%} | "
            f"{'yes' if ok else 'NO'} | {dps:,.0f} |"
        )
    lines += ["", "### Accuracy per stream (mean over seeds)", ""]
    for s in streams:
        lines += [f"**{s}**", "", "| policy | " + " | ".join(f"{b:.0%}" for b in budgets)
                  + " | macro-F1 " + " | macro-F1 ".join(f"{b:.0%}" for b in budgets) + " |",
                  "|---|" + "---:|" * (2 * len(budgets))]  # fmt: skip
        here = [p for p in policies if not math.isnan(cell(s, p, budgets[0]))]
        best = {b: max(cell(s, p, b) for p in here) for b in budgets}
        for p in here:
            accs = [
                f"**{cell(s, p, b):.4f}**" if cell(s, p, b) == best[b] else f"{cell(s, p, b):.4f}"
                for b in budgets
            ]
            f1s = [f"{cell(s, p, b, 'macro_f1'):.4f}" for b in budgets]
            lines.append(f"| {p} | " + " | ".join(accs + f1s) + " |")
        lines.append("")
    if "minority-concept" in streams:
        lines += ["### minority-concept: the 10% minority segment", "",
                  "| policy | " + " | ".join(f"acc {b:.0%}" for b in budgets) + " | "
                  + " | ".join(f"query share {b:.0%}" for b in budgets) + " |",
                  "|---|" + "---:|" * (2 * len(budgets))]  # fmt: skip
        base_seeds = {r.seed for r in runs
                      if r.stream == "minority-concept" and r.policy == "random"}  # fmt: skip
        for p in policies:
            rs = {b: [r for r in runs if r.stream == "minority-concept" and r.policy == p
                      and r.budget == b] for b in budgets}  # fmt: skip
            if any({r.seed for r in rs[b]} != base_seeds for b in budgets):
                continue  # not run on the same seeds as random
            acc = [_mean([r.groups["segment=minority"].accuracy for r in rs[b]]) for b in budgets]
            share = [_mean([r.query_share("segment=minority") for r in rs[b]]) for b in budgets]
            lines.append(f"| {p} | " + " | ".join(f"{a:.4f}" for a in acc) + " | "
                         + " | ".join(f"{x:.1%}" for x in share) + " |")  # fmt: skip
        lines.append("")
    lines += _subgroup_rows(runs, budgets)
    lines += _delay_rows(delayed)
    lines += _table_rows(tables)
    return "\n".join(lines) + "\n"


def _subgroup_rows(runs: Sequence[RunResult], budgets: Sequence[float]) -> list[str]:
    """The two-attribute subgroups stream: each floored subgroup's query share and accuracy."""
    mine = [r for r in runs if r.stream == "subgroups"]
    if not mine:
        return []
    groups = ["sex=F", "race=B"]
    all_seeds = {r.seed for r in mine if r.policy == "random"}
    lines = ["### subgroups: floors on two attributes at once (sex=F, race=B)", "",
             "`default_quotas` is the default with `quotas.floors: {sex: {F: population}, race: "
             "{B: population}}` (each floor is the subgroup's observed share of the stream, about "
             "33% and 15%). Per budget: overall accuracy, and per floored subgroup its share of "
             "the queries and its accuracy; mean over seeds.", "",
             "| policy | budget | accuracy | " + " | ".join(f"{g} share | {g} acc" for g in groups)
             + " |", "|---|---:|---:|" + "---:|" * (2 * len(groups))]  # fmt: skip
    for b in budgets:
        for p in dict.fromkeys(r.policy for r in mine):
            rs = [r for r in mine if r.policy == p and r.budget == b]
            rs = [r for r in rs if set(groups) <= set(r.groups)]  # a reused CSV row lacks them
            if not rs or p not in ("random", DEFAULT, QUOTAS, *COMPETITORS):
                continue
            if {r.seed for r in rs} != all_seeds:
                continue  # a mean over other seeds than random's would mislead
            cells = []
            for g in groups:
                cells.append(f"{_mean([r.query_share(g) for r in rs]):.1%}")
                cells.append(f"{_mean([r.groups[g].accuracy for r in rs]):.4f}")
            lines.append(f"| {p} | {b:.0%} | {_mean([r.accuracy for r in rs]):.4f} | "
                         + " | ".join(cells) + " |")  # fmt: skip
    lines.append("")
    return lines


def _delay_rows(delayed: Sequence[RunResult]) -> list[str]:
    """Default against random when labels arrive ``delay`` items late (drifting streams)."""
    if not delayed:
        return []
    order = {name: k for k, name in enumerate(STREAMS)}
    keys = sorted({(r.stream, r.label_delay, r.budget) for r in delayed},
                  key=lambda k: (order.get(k[0], 99), k[1], k[2]))  # fmt: skip
    lines = ["### Delayed labels", "",
             "Labels arrive `delay` items after their query (the model learns them only then); "
             "default and random at the same budget, mean over seeds.", "",
             "| stream | delay | budget | default | random | default >= random |",
             "|---|---:|---:|---:|---:|:-:|"]  # fmt: skip
    held = 0
    for s, d, b in keys:
        mine = _mean([r.accuracy for r in delayed if (r.stream, r.label_delay, r.budget, r.policy)
                      == (s, d, b, DEFAULT)])  # fmt: skip
        base = _mean([r.accuracy for r in delayed if (r.stream, r.label_delay, r.budget, r.policy)
                      == (s, d, b, "random")])  # fmt: skip
        held += mine >= base
        lines.append(f"| {s} | {d} | {b:.0%} | {mine:.4f} | {base:.4f} | "
                     f"{'yes' if mine >= base else '**no**'} |")  # fmt: skip
    lines += ["", f"Default >= random in {held}/{len(keys)} delayed cells.", ""]
    return lines


def _table_rows(tables: Sequence[RunResult]) -> list[str]:
    """Bundled multiclass tables: random, the default (margin) and default_lc per budget."""
    if not tables:
        return []
    budgets = sorted({r.budget for r in tables})
    seeds = sorted({r.seed for r in tables})
    lines = ["### Bundled multiclass tables: margin against least confidence", "",
             "River's ImageSegments (7 classes, 2,310 rows), scikit-learn's digits (10 classes, "
             "1,797) and wine (3 classes, 178), shuffled with each seed; `default_lc` is the "
             "default with `uncertainty_measure: least_confidence` (the previous default). Mean "
             f"accuracy over seeds {', '.join(map(str, seeds))}.", "",
             "| table | " + " | ".join(f"{p} {b:.0%}" for b in budgets for p in TABLE_POLICIES)
             + " |", "|---|" + "---:|" * (len(budgets) * len(TABLE_POLICIES))]  # fmt: skip
    wins = n = 0
    for t in dict.fromkeys(r.stream for r in tables):
        cells = []
        for b in budgets:
            acc = {p: _mean([r.accuracy for r in tables if (r.stream, r.budget, r.policy)
                             == (t, b, p)]) for p in TABLE_POLICIES}  # fmt: skip
            n += 1
            wins += acc[DEFAULT] >= max(acc.values())
            cells += [f"{acc[p]:.4f}" for p in TABLE_POLICIES]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    lines += ["", f"The default (margin) is the most accurate of the three in {wins}/{n} cells.",
              ""]  # fmt: skip
    return lines


def _headline(
    runs: Sequence[RunResult],
    streams: Sequence[str],
    budgets: Sequence[float],
    cell: Callable[[str, str, float], float],
) -> list[str]:
    """Per (stream, budget): the default against random and the best competitor, mean and
    spread over seeds, and whether the figure holds on the mean and in each seed."""
    present = {r.policy for r in runs}
    rivals = [c for c in COMPETITORS if c in present]
    if DEFAULT not in present or "random" not in present or not rivals:
        return []

    def seeds(s: str, p: str, b: float) -> dict[int, float]:
        return {r.seed: r.accuracy for r in runs if (r.stream, r.policy, r.budget) == (s, p, b)}

    def spread(xs: Sequence[float]) -> str:
        return f"{_mean(xs):.4f} ± {_sd(xs):.4f}"

    lines = [
        f"### The default policy (`{DEFAULT}`) per cell",
        "",
        "Accuracy of the daemon's default configuration, of random sampling and of the best "
        "scikit-activeml/River strategy in each cell: mean ± standard deviation over seeds. "
        "`figure` is default >= max(random, best competitor) on the means; `per seed` counts the "
        "seeds in which it holds against that seed's random and best competitor.",
        "",
        "| stream | budget | default | random | best competitor | default >= random | "
        "figure | per seed |",
        "|---|---:|---:|---:|---|:-:|:-:|:-:|",
    ]
    beat_random = beat_best = held = n = 0
    for s in streams:
        for b in budgets:
            mine, base = cell(s, DEFAULT, b), cell(s, "random", b)
            if math.isnan(mine) or math.isnan(base):
                continue  # a cell that was not run
            # Only rivals run on every seed the default was: means over other seeds mislead.
            mine_seeds = set(seeds(s, DEFAULT, b))
            here = [c for c in rivals if mine_seeds <= set(seeds(s, c, b))] or rivals
            here = [c for c in here if not math.isnan(cell(s, c, b))]
            if not here:
                continue  # the competitors were not run on this cell
            best = max(here, key=lambda c: cell(s, c, b))
            top = cell(s, best, b)
            n += 1
            beat_random += mine >= base
            beat_best += mine >= top
            ok = mine >= max(base, top)
            held += ok
            d, r = seeds(s, DEFAULT, b), seeds(s, "random", b)
            rival_seeds = [seeds(s, c, b) for c in here]
            common = sorted(set(d) & set(r))
            per = sum(d[k] >= max([r[k], *(x[k] for x in rival_seeds if k in x)]) for k in common)
            lines.append(
                f"| {s} | {b:.0%} | {spread(list(d.values()))} | {spread(list(r.values()))} | "
                f"{best} {spread(list(seeds(s, best, b).values()))} | "
                f"{'yes' if mine >= base else '**no**'} | {'yes' if ok else '**no**'} | "
                f"{per}/{len(common)} |"
            )
    lines += ["", f"The figure holds in **{held}/{n}** cells (at least as accurate as random in "
              f"{beat_random}/{n}, as the best competitor in {beat_best}/{n}).", ""]  # fmt: skip
    return lines


def _sd(xs: Sequence[float]) -> float:
    """Sample standard deviation (0 for a single value)."""
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def replace_section(path: Path, section: str, analysis: str) -> None:
    """Replace only the label-efficiency section of ``path`` (created if missing)."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    body = section + ("\n" + analysis.strip() + "\n" if analysis.strip() else "")
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + (text[nxt + 1 :] if nxt >= 0 else "")
        text = text.replace(body + "## ", body + "\n## ")
    path.write_text(text)


def _existing_analysis(path: Path) -> str:
    """Keep a hand-written '### Analysis' subsection of the section across reruns."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find(SECTION)
    if start < 0:
        return ""
    nxt = text.find("\n## ", start + len(SECTION))
    sec = text[start : nxt if nxt >= 0 else len(text)]
    k = sec.find("### Analysis")
    return sec[k:] if k >= 0 else ""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 2 streams, 1 seed, 2 budgets")
    p.add_argument("--items", type=int, default=None, help="items per stream (default 20000)")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default 0,1)")
    p.add_argument("--with-pal", action="store_true", help="also run skal_pal (slow)")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--csv", type=Path, default=Path("bench/results/label_efficiency.csv"))
    p.add_argument("--write", type=Path, default=None, help="update this markdown file")
    p.add_argument(
        "--partial",
        default=Path("bench/results/label_efficiency.partial.pkl"),
        help="runs are appended here as cells finish (a killed run keeps what it did); "
        "with --render-only a comma-separated list",
    )
    p.add_argument(
        "--render-only", action="store_true", help="only render the runs kept in --partial"
    )
    p.add_argument(
        "--reuse-csv",
        type=Path,
        default=None,
        help="with --render-only: also take the competitors' runs from an earlier --csv (for "
        "seeds the partials lack; their subgroup accuracies beyond the minority are not in it)",
    )
    p.add_argument("--streams", default=None, help="comma-separated subset of the streams")
    p.add_argument("--budgets", default=None, help="comma-separated subset of the budgets")
    p.add_argument(
        "--policies",
        default=None,
        help="comma-separated subset of the policies (e.g. the competitors alone, whose runs do "
        "not change with labelgate's defaults)",
    )
    p.add_argument(
        "--part",
        choices=["all", "main", "delays", "tables"],
        default="all",
        help="run only the main cells, the delay rows or the bundled tables (to split a run "
        "across processes)",
    )
    args = p.parse_args(argv)
    streams, seeds, budgets = STREAMS, SEEDS, BUDGETS
    if args.quick:
        streams, seeds, budgets = ["hyperplane-drift", "minority-concept"], [0], [0.05, 0.2]
    if args.seeds:
        seeds = [int(x) for x in args.seeds.split(",")]
    if args.streams:
        streams = args.streams.split(",")
    if args.budgets:
        budgets = [float(b) for b in args.budgets.split(",")]
    args.items = args.items or (1500 if args.quick else 20_000)
    started = time.perf_counter()
    runs: list[RunResult] = []
    if args.render_only:
        kept = {
            (r.stream, r.policy, r.budget, r.seed, r.label_delay): r
            for path in str(args.partial).split(",")
            for r in _read_partial(Path(path))
        }
        if args.reuse_csv is not None:
            for r in _read_csv(args.reuse_csv, args.items):
                kept.setdefault((r.stream, r.policy, r.budget, r.seed, r.label_delay), r)
        runs = list(kept.values())
    else:
        cells = _cells(args, streams, seeds, budgets)
        if args.part != "all":
            part = {
                "main": lambda c: c.label_delay == 0 and c.stream not in TABLES,
                "delays": lambda c: c.label_delay > 0,
                "tables": lambda c: c.stream in TABLES,
            }[args.part]
            cells = [c for c in cells if part(c)]
        runs = _run_cells(args, cells)
    seconds = time.perf_counter() - started
    write_csv(args.csv, runs)
    section = markdown(runs, args, seconds)
    sys.stdout.write(section)
    if args.write is not None:
        replace_section(args.write, section, _existing_analysis(args.write))
        sys.stderr.write(f"updated {args.write}\n")
    return 0


def _cells(
    args: argparse.Namespace, streams: Sequence[str], seeds: Sequence[int], budgets: Sequence[float]
) -> list[Cell]:
    """Seed by seed, so a run cut short still covers every (stream, budget) cell once."""
    policies = tuple(LABELGATE + COMPETITORS + (SLOW_COMPETITORS if args.with_pal else []))
    wanted = set(args.policies.split(",")) if args.policies else None

    def chosen(names: Sequence[str]) -> tuple[str, ...]:
        return tuple(n for n in names if wanted is None or n in wanted)

    cells = [
        Cell(s, seed, b, args.items, chosen(policies + ((QUOTAS,) if s in SUBGROUP_FLOORS else ())))
        for seed in seeds for s in streams for b in budgets
    ]  # fmt: skip
    cells += [
        Cell(s, seed, b, args.items, chosen(("random", DEFAULT)), delay)
        for seed in seeds for delay in DELAYS for s in streams if s in DRIFTING for b in budgets
    ]  # fmt: skip
    cells += [
        Cell(t, seed, b, 0, TABLE_POLICIES)
        for seed in seeds for t in TABLES for b in TABLE_BUDGETS
    ]  # fmt: skip
    return [c for c in cells if c.policies]


def _run_cells(args: argparse.Namespace, cells: Sequence[Cell]) -> list[RunResult]:
    partial = Path(args.partial)
    partial.parent.mkdir(parents=True, exist_ok=True)
    partial.write_bytes(b"")
    started = time.perf_counter()
    runs: list[RunResult] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_cell, c) for c in cells]
        for k, future in enumerate(as_completed(futures), 1):
            res = future.result()
            runs.extend(res)
            with partial.open("ab") as fh:
                pickle.dump(res, fh)
            elapsed = time.perf_counter() - started
            sys.stderr.write(f"[{'#' * (30 * k // len(cells)):<30}] cell {k}/{len(cells)} "
                             f"{elapsed:5.0f}s\n")  # fmt: skip
            sys.stderr.flush()
    return runs


def _read_csv(path: Path, items: int) -> list[RunResult]:
    """The competitors' runs of an earlier ``--csv`` (written by :func:`write_csv`)."""
    from daemon.tools.backtest import GroupResult  # noqa: PLC0415

    runs = []
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["policy"] not in COMPETITORS + SLOW_COMPETITORS:
                continue
            budget, fraction = float(row["budget"]), float(row["label_fraction"])
            spent = round(fraction * items)
            groups = {}
            if row["minority_accuracy"]:
                # Only the accuracy and query share were kept: rebuild counts that give them.
                acc, share = float(row["minority_accuracy"]), float(row["minority_query_share"])
                groups["segment=minority"] = GroupResult(
                    100_000, round(acc * 100_000), round(share * spent)
                )
            dps = float(row["decisions_per_second"])
            runs.append(
                RunResult(stream=row["stream"], policy=row["policy"], policy_id=row["policy"],
                          budget=budget, seed=int(row["seed"]), items=items,
                          label_delay=int(row["label_delay"]), accuracy=float(row["accuracy"]),
                          macro_f1=float(row["macro_f1"]), labels_spent=spent,
                          labels_allowed=math.floor(budget * items + 1e-9),
                          decide_seconds=items / dps if dps else 0.0, groups=groups)
            )  # fmt: skip
    return runs


def _read_partial(path: Path) -> list[RunResult]:
    runs: list[RunResult] = []
    with path.open("rb") as fh:
        while True:
            try:
                runs.extend(pickle.load(fh))
            except EOFError:
                return runs


if __name__ == "__main__":
    sys.exit(main())

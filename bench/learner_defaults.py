#!/usr/bin/env python3
"""Default learner: full-label prequential accuracy against River's own defaults.

For every built-in stream and every classification dataset bundled with the installed River and
scikit-learn (nothing is downloaded), each candidate learner predicts every item, is scored
against its label, then learns it (test-then-train, every label). The baseline is River's
``StandardScaler | LogisticRegression()`` (``SoftmaxRegression()`` for more than two classes) with
River's defaults; strings are one-hot encoded for it as for labelgate. Tabular datasets stored in
class order (iris, wine, ...) are shuffled with each seed; the built-in streams vary with the seed.

The candidates are labelgate's :class:`~daemon.model.learner.Learner` under a few
``ModelSettings``; ``labelgate`` is the configured default. The point of the comparison: the
default must be at least as accurate as River's defaults everywhere, within noise, without any
per-stream setting.

Usage::

    python bench/learner_defaults.py --write docs/benchmarks.md
    python bench/learner_defaults.py --quick
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
import platform
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from river import compose, datasets, linear_model, preprocessing

from daemon.config import Classifier, ModelSettings, Optimizer
from daemon.model.learner import Learner
from daemon.tools.streams import BUILTINS, open_stream

SECTION = "## Default learner"
STREAM_ITEMS = 10_000
SEEDS = [0, 1, 2]

Data = list[tuple[dict[str, Any], str]]

CANDIDATES: dict[str, dict[str, Any]] = {
    "labelgate": {},
    "sgd_0.05": {"optimizer": Optimizer.SGD, "learning_rate": 0.05},
    "sgd_0.01": {"optimizer": Optimizer.SGD, "learning_rate": 0.01},
    "adagrad_0.1": {"optimizer": Optimizer.ADAGRAD, "learning_rate": 0.1},
    "adam_0.01": {"optimizer": Optimizer.ADAM, "learning_rate": 0.01},
    "adam_0.05": {"optimizer": Optimizer.ADAM, "learning_rate": 0.05},
}


def _sklearn_sets() -> dict[str, Callable[[], Any]]:
    try:
        from sklearn import datasets as sk  # noqa: PLC0415 - optional bench extra
    except ImportError:
        return {}
    return {
        "sklearn breast_cancer": sk.load_breast_cancer,
        "sklearn wine": sk.load_wine,
        "sklearn iris": sk.load_iris,
        "sklearn digits": sk.load_digits,
    }


def _river_sets() -> dict[str, Callable[[], Any]]:
    return {
        "river ImageSegments": datasets.ImageSegments,
        "river Phishing": datasets.Phishing,
        "river Bananas": datasets.Bananas,
    }


def dataset_names(quick: bool) -> list[str]:
    streams = [f"stream {s}" for s in BUILTINS if s not in ("bananas", "phishing")]
    tables = [*_river_sets(), *_sklearn_sets()]
    return streams[:2] + tables[:2] if quick else streams + tables


def load(name: str, seed: int, items: int) -> Data:
    kind, _, rest = name.partition(" ")
    if kind == "stream":
        s = open_stream(rest, items, seed)
        return [(ex.features, ex.label) for ex in s]
    if kind == "river":
        rows = [({str(k): v for k, v in x.items()}, str(y)) for x, y in _river_sets()[name]()]
    else:
        bunch = _sklearn_sets()[name]()
        names = [str(n) for n in getattr(bunch, "feature_names", [])] or [
            f"x{i}" for i in range(bunch.data.shape[1])
        ]
        rows = [
            ({n: float(v) for n, v in zip(names, row, strict=True)}, str(int(t)))
            for row, t in zip(bunch.data, bunch.target, strict=True)
        ]
    random.Random(seed).shuffle(rows)
    return rows


def _river_default(classes: Sequence[str]) -> Any:
    scaled = compose.SelectType((numbers.Number,)) | preprocessing.StandardScaler()
    encoded = compose.SelectType((str,)) | preprocessing.OneHotEncoder()
    head = (
        linear_model.LogisticRegression() if len(classes) == 2 else linear_model.SoftmaxRegression()
    )
    return (scaled + encoded) | head


def prequential(data: Data, learner: str) -> float:
    classes = sorted({y for _, y in data})
    hits = 0
    if learner == "river":
        model = _river_default(classes)
        positive = classes[-1]
        for x, y in data:
            proba = model.predict_proba_one(x)
            if len(classes) == 2:
                p = proba.get(True, 0.5)
                guess = positive if p > 0.5 else classes[0]
                model.learn_one(x, y == positive)
            else:
                guess = max(proba, key=proba.__getitem__) if proba else classes[0]
                model.learn_one(x, y)
            hits += guess == y
        return hits / len(data)
    clf = Classifier.LOGISTIC_REGRESSION if len(classes) == 2 else Classifier.SOFTMAX_REGRESSION
    model_l = Learner(ModelSettings(classifier=clf, **CANDIDATES[learner]), classes)
    for x, y in data:
        guess = model_l.predict(model_l.score(x)) or classes[0]
        hits += guess == y
        model_l.learn(x, y)
    return hits / len(data)


def run_task(task: tuple[str, int, int, Sequence[str]]) -> list[tuple[str, int, str, float]]:
    warnings.simplefilter("ignore")
    name, seed, items, learners = task
    data = load(name, seed, items)
    return [(name, seed, lr, prequential(data, lr)) for lr in learners]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def _sd(xs: Sequence[float]) -> float:
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / max(1, len(xs) - 1))


def markdown(
    rows: Sequence[tuple[str, int, str, float]], seconds: float, argv: str, items: int
) -> str:
    learners = ["river", *CANDIDATES]
    names = list(dict.fromkeys(r[0] for r in rows))
    seeds = sorted({r[1] for r in rows})
    acc = {
        (n, lr): [r[3] for r in rows if r[0] == n and r[2] == lr] for n in names for lr in learners
    }
    lines = [
        SECTION,
        "",
        f"Generated {datetime.now(UTC).strftime('%Y-%m-%d')} by `bench/learner_defaults.py` on "
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores, "
        f"in {seconds / 60:.1f} min. Reproduce with:",
        "",
        "```",
        "pip install -e '.[bench]'",
        f"python bench/learner_defaults.py{argv} --write docs/benchmarks.md",
        "```",
        "",
        "Full-label prequential accuracy (predict, score, then learn every item), mean over seeds "
        f"{', '.join(map(str, seeds))}; built-in streams have {items:,} items (fewer when "
        "bundled data is shorter), bundled tables are shuffled per seed. `river` is River's "
        "`StandardScaler | LogisticRegression()` (`SoftmaxRegression()` for more classes) with "
        "River's defaults; `labelgate` is the default `ModelSettings()` (robust clipped "
        "standardisation, 0/1 columns unscaled, the default optimiser); the other columns are the "
        "same feature step under other optimisers. `noise` is the standard deviation of River's "
        "accuracy over seeds; `vs river` is labelgate minus river.",
        "",
        "| data | " + " | ".join(learners) + " | vs river | noise |",
        "|---|" + "---:|" * (len(learners) + 2),
    ]
    worse = []
    for n in names:
        means = {lr: _mean(acc[(n, lr)]) for lr in learners}
        gap = means["labelgate"] - means["river"]
        noise = _sd(acc[(n, "river")])
        best = max(means.values())
        cells = [
            f"**{means[lr]:.4f}**" if means[lr] == best else f"{means[lr]:.4f}" for lr in learners
        ]
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {gap:+.4f} | {noise:.4f} |")
        if gap < -max(noise, 0.002):
            worse.append(n)
    lines += [
        "",
        "labelgate's default is below River's defaults by more than the noise on: "
        + (", ".join(worse) if worse else "none")
        + ".",
        "",
    ]
    return "\n".join(lines) + "\n"


def replace_section(path: Path, text: str) -> None:
    doc = path.read_text() if path.exists() else "# Benchmarks\n\n"
    start = doc.find(SECTION)
    if start < 0:
        doc = doc.rstrip("\n") + "\n\n" + text
    else:
        nxt = doc.find("\n## ", start + len(SECTION))
        doc = doc[:start] + text + ("\n" + doc[nxt + 1 :] if nxt >= 0 else "")
    path.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="2 streams, 2 tables, 1 seed")
    p.add_argument("--items", type=int, default=STREAM_ITEMS)
    p.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    p.add_argument("--learners", default=",".join(["river", *CANDIDATES]))
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    p.add_argument("--write", type=Path, default=None)
    args = p.parse_args(argv)
    seeds = [0] if args.quick else [int(s) for s in args.seeds.split(",")]
    learners = args.learners.split(",")
    tasks = [(n, s, args.items, learners) for n in dataset_names(args.quick) for s in seeds]
    started = time.perf_counter()
    rows: list[tuple[str, int, str, float]] = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for k, res in enumerate(pool.map(run_task, tasks), 1):
            rows.extend(res)
            sys.stderr.write(f"\r{k}/{len(tasks)} {time.perf_counter() - started:5.0f}s")
    sys.stderr.write("\n")
    extra = "" if args.items == STREAM_ITEMS else f" --items {args.items}"
    if seeds != SEEDS and not args.quick:
        extra += f" --seeds {','.join(map(str, seeds))}"
    text = markdown(rows, time.perf_counter() - started, extra, args.items)
    sys.stdout.write(text)
    if args.write is not None:
        replace_section(args.write, text)
    return 0


def _iter(x: Iterator[Any]) -> Iterator[Any]:
    return x


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""What limits the floored minority segment of ``minority-concept``, with and without crossing.

The segment (10% of items) has its own concept (``x2 - x3 + 0.5 x0 > 0.25`` against the
majority's ``x0 + x1 > 1``), and the daemon's default learner is one logistic model whose only
view of the segment is its one-hot column (a bias). This bench separates the two candidate
causes, which labels the policy picks and what the model can represent:

* ``full labels``: every item learned (budget 100%, no hard cap binding); the segment's accuracy
  then is the shared linear model's ceiling on it;
* ``plain``: the default learner, as the label-efficiency bench runs it for most policies;
* ``interactions``: the same items through the daemon's learner with
  ``model.interactions: [segment]`` (:class:`daemon.config.ModelSettings`), which adds
  ``segment=v`` and ``segment=v*x_i`` for each numeric feature, so that the one model can fit a
  second concept on the segment.

Policies are the daemon's own (``daemon.tools.backtest.preset_factory``): ``random``, ``default``
and ``default_quotas`` (the segment floored at 25% of queries). Prequential accuracy overall and
on the segment, mean over seeds.

Usage::

    python bench/minority_segment.py --items 20000 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from daemon.config import ModelSettings, QuotaSettings
from daemon.tools.backtest import model_settings, preset_factory, run_one
from daemon.tools.streams import open_stream

STREAM = "minority-concept"
SEGMENT = "segment=minority"
POLICIES = ("random", "default", "default_quotas")
BUDGETS = (0.01, 0.05, 0.1, 0.2)


def learner(kind: str, classes: tuple[str, ...]) -> ModelSettings:
    """The daemon's default learner for the stream, crossing ``segment`` for ``interactions``."""
    plain = model_settings(classes)
    crossed = ("segment",) if kind == "interactions" else ()
    return ModelSettings(classifier=plain.classifier, interactions=crossed)


def measure(
    kind: str, policy: str, budget: float, items: int, seeds: list[int], floor: float = 0.25
) -> tuple[float, float, float]:
    """Mean overall accuracy, segment accuracy and segment query share over seeds."""
    floors = QuotaSettings(floors={"segment": {"minority": floor}})
    acc, seg, share = [], [], []
    for seed in seeds:
        stream = open_stream(STREAM, items, seed)
        run = run_one(
            stream,
            preset_factory(policy, floors=floors)(budget, seed),
            policy=policy,
            budget=budget,
            seed=seed,
            settings=learner(kind, stream.info.classes),
        )
        group = run.groups[SEGMENT]
        acc.append(run.accuracy)
        seg.append(group.accuracy)
        share.append(group.queries / max(1, run.labels_spent))
    n = len(seeds)
    return sum(acc) / n, sum(seg) / n, sum(share) / n


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--items", type=int, default=20_000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--floor", type=float, default=0.25, help="default_quotas' floor on the segment")
    p.add_argument("--features", default="plain,interactions", help="plain and/or interactions")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    started = time.perf_counter()
    out = [
        "| features | budget | policy | accuracy | segment accuracy | segment query share |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for kind in args.features.split(","):
        a, s, q = measure(kind, "random", 1.0, args.items, seeds)
        out.append(f"| {kind} | full labels | - | {a:.4f} | {s:.4f} | {q:.1%} |")
        for budget in BUDGETS:
            for policy in POLICIES:
                a, s, q = measure(kind, policy, budget, args.items, seeds, args.floor)
                out.append(f"| {kind} | {budget:.0%} | {policy} | {a:.4f} | {s:.4f} | {q:.1%} |")
            sys.stderr.write(f"{kind} {budget:.0%} {time.perf_counter() - started:.0f}s\n")
    sys.stdout.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

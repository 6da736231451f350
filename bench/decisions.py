#!/usr/bin/env python3
"""CPU per item of the decision half of the hot path (decide + admit, evidence build), in process.

Runs the daemon's fast path (``build_daemon``, file mode, event clock, the default policy) over
the bundled replay stream, with a simulated expert answering after ``--delay`` seconds of event
time so that labels flow and requests close, and times each stage of every batch with the main
thread's CPU clock (``time.thread_time``, read once per stage and batch):

* decode, score: the pipeline's first two stages;
* decide + admit: everything ``Pipeline.process`` does between scoring and emitting;
* emit: the last stage, of which *evidence build* is the part spent building and encoding
  the records (``Emit._build`` per item and ``EvidenceBuilder.decisions`` per batch, timed
  with ``perf_counter``, as a share of the stage's CPU).

No broker and no metrics server: the figures are the stages' own cost, which is what the
decision half can change; ratios within one run are what to compare (the machine is shared).

    python bench/decisions.py --items 50000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.config import Settings
from daemon.service.app import build_daemon, settle_heap
from daemon.service.lifecycle import StopFlag
from daemon.tools import replay


class Clocks:
    """CPU seconds per stage over a run, and items seen."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {"decode": 0.0, "score": 0.0, "emit": 0.0, "process": 0.0}
        self.build_wall = 0.0
        self.emit_wall = 0.0
        self.items = 0

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            start = time.thread_time()
            out = fn(*args)
            self.cpu[name] += time.thread_time() - start
            return out

        return timed


def run_once(
    predictions: Path, truth: Path, out: Path, delay: float, capacity: int, batch: int = 500
) -> Clocks:
    """One run of the fast path over the stream, every stage timed."""
    settings = Settings.model_validate(
        replay.file_settings(
            predictions,
            out,
            truth,
            delay,
            queues=[{"name": "default", "capacity": capacity}],
            kafka={"consume_batch_size": batch},
        )
    )
    daemon = build_daemon(settings)
    pipeline = daemon.parts.pipeline
    clocks = Clocks()
    pipeline.decode = clocks.wrap("decode", pipeline.decode)
    pipeline.score = clocks.wrap("score", pipeline.score)
    emit = pipeline.emit
    pipeline.emit = clocks.wrap("emit", emit)
    build = emit._build  # type: ignore[attr-defined]

    def timed_build(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return build(*args)
        finally:
            clocks.build_wall += time.perf_counter() - start

    emit._build = timed_build  # type: ignore[attr-defined]
    encode = emit.evidence.decisions

    def timed_encode(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return encode(*args)
        finally:
            clocks.build_wall += time.perf_counter() - start

    emit.evidence.decisions = timed_encode  # type: ignore[method-assign]
    inner_emit = emit.__call__

    def timed_emit(batch: Any, arrived: float) -> int:
        start = time.perf_counter()
        n = inner_emit(batch, arrived)
        clocks.emit_wall += time.perf_counter() - start
        clocks.items += n
        return n

    pipeline.emit = clocks.wrap("emit", timed_emit)
    pipeline.process = clocks.wrap("process", pipeline.process)  # type: ignore[method-assign]
    daemon.run(StopFlag(), on_started=settle_heap)
    return clocks


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print the medians."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--items", type=int, default=50_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--delay", type=float, default=1800.0, help="expert's answer delay, s")
    p.add_argument("--capacity", type=int, default=10_000, help="capacity of the one queue")
    p.add_argument(
        "--batch", type=int, default=500, help="records per batch (the micro-batches under load)"
    )
    args = p.parse_args(argv)
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="labelgate-decisions-") as tmp:
        work = Path(tmp)
        predictions, truth = replay.generate(work / "replay", n=args.items, malformed_every=0)
        for r in range(args.rounds):
            c = run_once(
                predictions, truth, work / f"run{r}", args.delay, args.capacity, args.batch
            )
            n = c.items
            decide_admit = c.cpu["process"] - c.cpu["decode"] - c.cpu["score"] - c.cpu["emit"]
            build = c.cpu["emit"] * (c.build_wall / c.emit_wall if c.emit_wall else 0.0)
            figures = {
                "decode": c.cpu["decode"],
                "score": c.cpu["score"],
                "decide + admit": decide_admit,
                "evidence build": build,
                "emit, rest": c.cpu["emit"] - build,
                "pipeline": c.cpu["process"],
            }
            for name, seconds in figures.items():
                rows.setdefault(name, []).append(seconds / n * 1e6)
            print(f"round {r + 1}: {n:,} items", file=sys.stderr)
    load = os.getloadavg()[0]
    print(
        f"CPU µs per item, median of {args.rounds} rounds ({args.items:,} items in batches of "
        f"{args.batch}, load {load:.1f})"
    )
    for name, values in rows.items():
        per_round = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {name:<16} {statistics.median(values):7.2f}   ({per_round})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ``labelgate simulate`` command: run the backtest, write results.csv and report.html."""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from daemon.tools.backtest import (
    POLICIES,
    RunResult,
    SimulationError,
    csv_rows,
    format_table,
    simulate,
)
from daemon.tools.report import render
from daemon.tools.streams import LabeledStream, open_stream, population_shares, read_history


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise SimulationError(f"not a comma-separated list of numbers: {text!r}") from exc


def _ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise SimulationError(f"not a comma-separated list of integers: {text!r}") from exc


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``simulate`` options."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--stream", help="a built-in labeled stream (see daemon.tools.streams)")
    source.add_argument("--input", type=Path, help="a labeled history file (.jsonl or .csv)")
    p.add_argument("--label-column", default="label", help="label field/column of --input")
    p.add_argument("--group-columns", default="", help="comma-separated subgroup columns")
    p.add_argument(
        "--policies",
        default="default",
        help=f"comma-separated, from: {', '.join(POLICIES)} (random always runs)",
    )
    p.add_argument("--budgets", default="0.01,0.05,0.1,0.2", help="label fractions")
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--label-delay", type=int, default=0, help="label arrives N items later")
    p.add_argument("--items", type=int, default=10_000, help="items per run")
    p.add_argument("--classifier", default="auto", help="auto or a daemon model classifier")
    p.add_argument(
        "--no-cap",
        action="store_true",
        help="do not refuse queries beyond floor(budget*items); adherence is then only measured",
    )
    p.add_argument("--out", type=Path, default=Path("run/simulate"), help="output directory")


def write_outputs(
    out: Path, runs: Sequence[RunResult], stream: LabeledStream, command: str
) -> tuple[Path, Path]:
    """Write ``results.csv`` and ``report.html`` into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    columns, rows = csv_rows(runs)
    results = out / "results.csv"
    with results.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    report = out / "report.html"
    report.write_text(render(runs, stream.info, population_shares(stream), command))
    return results, report


def run(args: argparse.Namespace) -> int:
    """Run the command from parsed arguments; print the table on stdout."""
    groups = [g for g in args.group_columns.split(",") if g]
    if args.items < 1:
        raise SimulationError("--items must be >= 1")
    stream_for_seed: Callable[[int], LabeledStream]
    if args.input is not None:
        history = read_history(args.input, args.label_column, groups, n=args.items)
        stream_for_seed = lambda _seed: history  # noqa: E731 - a file is the same for every seed
    else:
        name, items = args.stream, args.items
        stream_for_seed = lambda seed: open_stream(name, items, seed)  # noqa: E731 - as above
    seeds = _ints(args.seeds)
    if not seeds:
        raise SimulationError("--seeds needs at least one seed")
    runs = simulate(
        stream_for_seed,
        [p for p in args.policies.split(",") if p],
        _floats(args.budgets),
        seeds,
        label_delay=args.label_delay,
        classifier=args.classifier,
        hard_cap=not args.no_cap,
        progress=sys.stderr,
    )
    command = shlex.join(["labelgate", "simulate", *sys.argv[2:]]) if len(sys.argv) > 1 else ""
    results, report = write_outputs(args.out, runs, stream_for_seed(seeds[0]), command)
    sys.stdout.write(format_table(runs) + "\n")
    sys.stdout.write(f"\nwrote {results} and {report}\n")
    return 0

"""The ``labelgate simulate`` command: run the backtest, write results.csv and report.html.

With ``--config`` it backtests exactly the configured daemon: the learner from ``model``, the
policy from ``policy`` through the daemon's own builder, the queues through the daemon's own
admission code (routing rules, cost, capacity and gate, spill or replace overflow, TTL with
re-routing, label intake) answered after the simulated expert's delay, in the daemon's batches,
and the budget's limit and period on event time.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from daemon.config import ModelSettings, PolicySettings, QuotaSettings, load_settings
from daemon.errors import ConfigError
from daemon.service.policy_builder import PRESETS
from daemon.tools.backtest import (
    QueueModel,
    RunResult,
    SimulationError,
    csv_rows,
    format_table,
    presets,
    queue_model,
    simulate,
)
from daemon.tools.report import render
from daemon.tools.streams import (
    Columns,
    LabeledStream,
    open_stream,
    population_shares,
    read_history,
    shuffled,
    with_classes,
)

BUILTIN_ITEMS = 10_000
"""Items of a built-in stream when ``--items`` is not given."""


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


def _names(text: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in text.split(",") if v.strip())


def parse_floors(text: str) -> QuotaSettings | None:
    """``attr:value=share,...`` (share a fraction or ``population``) as quota settings.

    >>> parse_floors("sex:Female=population,race:Black=0.12").floors
    {'sex': {'Female': 'population'}, 'race': {'Black': 0.12}}
    """
    floors: dict[str, dict[str, float | str]] = {}
    for part in _names(text):
        key, sep, share = part.partition("=")
        attr, colon, value = key.partition(":")
        if not sep or not colon or not attr or not value:
            raise SimulationError(f"--floors: {part!r} is not attribute:value=share")
        if share == "population":
            floors.setdefault(attr, {})[value] = share
            continue
        try:
            floors.setdefault(attr, {})[value] = float(share)
        except ValueError:
            raise SimulationError(f"--floors: {share!r} is not a share or 'population'") from None
    if not floors:
        return None
    try:
        return QuotaSettings.model_validate({"floors": floors})
    except ValueError as exc:
        raise SimulationError(f"--floors: {exc}") from None


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``simulate`` options."""
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--stream", help="a built-in labeled stream (see daemon.tools.streams)")
    source.add_argument(
        "--input", type=Path, help="a labeled history file (.jsonl or .csv, optionally .gz)"
    )
    p.add_argument(
        "--config",
        type=Path,
        help="backtest this daemon configuration: its model, policy (as 'default'), queues and "
        "routing (capacity, overflow, TTL), expert delay, budget fraction, limit and period",
    )
    p.add_argument("--label-column", default="label", help="label field/column of --input")
    p.add_argument("--group-columns", default="", help="comma-separated subgroup columns")
    p.add_argument(
        "--keep-group-features",
        action="store_true",
        help="also use the group columns as model features (default: groups only)",
    )
    p.add_argument("--feature-columns", default="", help="comma-separated: only these features")
    p.add_argument("--drop-columns", default="", help="comma-separated columns to ignore")
    p.add_argument("--time-column", default=None, help="event time (epoch s or ISO 8601)")
    p.add_argument(
        "--shuffle",
        action="store_true",
        help="shuffle --input rows with each seed (for tables whose order means nothing)",
    )
    p.add_argument(
        "--policies",
        default="default",
        help=f"comma-separated, from: {', '.join(PRESETS)} (random always runs)",
    )
    p.add_argument(
        "--floors",
        default="",
        help="subgroup floors of default_quotas, e.g. 'sex:Female=population,race:Black=0.12'",
    )
    p.add_argument(
        "--budgets",
        default=None,
        help="label fractions (default 0.01,0.05,0.1,0.2; with --config its budget.fraction)",
    )
    p.add_argument("--seeds", default="0", help="comma-separated seeds")
    p.add_argument("--label-delay", type=int, default=0, help="label arrives N items later")
    p.add_argument(
        "--items",
        type=int,
        default=None,
        help=f"cap on items per run (default: the whole --input file; {BUILTIN_ITEMS:,} items "
        "of a --stream)",
    )
    p.add_argument("--classifier", default="auto", help="auto or a daemon model classifier")
    p.add_argument(
        "--no-cap",
        action="store_true",
        help="do not refuse queries beyond floor(budget*items); adherence is then only measured",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
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


def _streams(
    args: argparse.Namespace, classes: Sequence[str] | None
) -> Callable[[int], LabeledStream]:
    if args.items is not None and args.items < 1:
        raise SimulationError("--items must be >= 1")
    if args.input is None:
        name, items = args.stream, args.items or BUILTIN_ITEMS
        if classes is not None:
            return lambda seed: with_classes(open_stream(name, items, seed), classes)
        return lambda seed: open_stream(name, items, seed)
    features = _names(args.feature_columns)
    columns = Columns(
        label=args.label_column,
        groups=_names(args.group_columns),
        features=features or None,
        drop=_names(args.drop_columns),
        keep_groups=args.keep_group_features,
        time=args.time_column,
    )
    history = read_history(args.input, n=args.items, columns=columns)
    if classes is not None:
        history = with_classes(history, classes)
    if args.shuffle:
        return lambda seed: shuffled(history, seed)
    return lambda _seed: history


def run(args: argparse.Namespace) -> int:
    """Run the command from parsed arguments; print the table on stdout."""
    base: PolicySettings | None = None
    model: ModelSettings | None = None
    queue: QueueModel | None = None
    classes: list[str] | None = None
    budgets = [0.01, 0.05, 0.1, 0.2]
    if args.config is not None:
        try:
            settings = load_settings(args.config)
        except ConfigError as exc:
            raise SimulationError(f"--config: {exc}") from None
        base, model, queue = settings.policy, settings.model, queue_model(settings)
        classes = list(settings.classes)
        budgets = [settings.policy.budget.fraction]
    if args.budgets is not None:
        budgets = _floats(args.budgets)
    stream_for_seed = _streams(args, classes)
    seeds = _ints(args.seeds)
    if not seeds:
        raise SimulationError("--seeds needs at least one seed")
    floors = parse_floors(args.floors)
    if "default_quotas" in _names(args.policies) and floors is None and base is None:
        attributes = {g.split("=")[0] for g in population_shares(stream_for_seed(seeds[0]))}
        if "segment" not in attributes:
            raise SimulationError(
                "default_quotas needs --floors for this stream's groups "
                f"({', '.join(sorted(attributes)) or 'none: pass --group-columns'})"
            )
    runs = simulate(
        stream_for_seed,
        list(_names(args.policies)),
        budgets,
        seeds,
        label_delay=args.label_delay,
        classifier=args.classifier,
        hard_cap=not args.no_cap,
        progress=None if args.no_progress else sys.stderr,
        factories=presets(base, floors),
        model=model,
        queue=queue,
    )
    command = shlex.join(["labelgate", "simulate", *sys.argv[2:]]) if len(sys.argv) > 1 else ""
    results, report = write_outputs(args.out, runs, stream_for_seed(seeds[0]), command)
    sys.stdout.write(format_table(runs) + "\n")
    sys.stdout.write(f"\nwrote {results} and {report}\n")
    return 0

"""The embedded default: the daemon on the bundled replay with a simulated expert, no Kafka.

Runs the configured uncertainty policy, then random sampling at the same achieved budget on the
same stream, and prints what each bought.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from daemon.config import Settings
from daemon.monitoring.status import Status
from daemon.service.app import serve
from daemon.tools import replay


@dataclass(frozen=True)
class RunReport:
    """Figures of one replay run, computed from its evidence records and the ground truth."""

    policy: str
    items: int
    dead_lettered: int
    requested: int
    labels_learned: int
    online_accuracy: float
    online_accuracy_second_half: float
    production_accuracy: float
    seconds: float

    @property
    def budget_used(self) -> float:
        """Share of valid items for which a label was requested."""
        return self.requested / self.items if self.items else 0.0


def _settings(
    work: Path, predictions: Path, truth: Path, strategy: str, fraction: float, delay: float
) -> Settings:
    """``strategy`` "default" runs labelgate's default policy, anything else that strategy."""
    out = work / strategy
    policy: dict[str, object] = {"budget": {"fraction": fraction}, "cold_start_items": 10}
    if strategy != "default":
        policy["strategy"] = strategy
    if out.exists():
        for f in out.iterdir():
            if f.is_file():
                f.unlink()
    return Settings.model_validate(
        replay.file_settings(
            predictions,
            out,
            truth,
            delay,
            files={"requests": out / "label-requests.jsonl"},
            policy=policy,
            state_dir=out,
            log_level="warning",
        )
    )


class LiveView:
    """The run's live view: a tqdm bar fed by the daemon's tick callback."""

    def __init__(self, label: str, total: int, stream: TextIO) -> None:
        self._bar = tqdm(
            total=total,
            desc=f"{label:<22}",
            file=stream,
            mininterval=0.2,
            bar_format="{desc} items {n_fmt}/{total_fmt} {bar:20} {postfix}",
        )

    def __call__(self, status: Status) -> None:
        self._bar.set_postfix_str(
            f"labels requested {status.budget_spent:.0f}  learned {status.model_version}  "
            f"pending {status.pending}",
            refresh=False,
        )
        self._bar.update(status.items - self._bar.n)

    def done(self) -> None:
        self._bar.close()


def report(settings: Settings, truth: dict[str, str], seconds: float, policy: str) -> RunReport:
    """Score a finished run against the ground truth."""
    items = requested = online_hits = prod_hits = late_hits = late = 0
    half = len(truth) // 2
    with settings.files.audit.open() as fh:
        for line in fh:
            ev: dict[str, Any] = json.loads(line)
            if ev.get("kind", "decision") != "decision":
                continue
            label = truth[ev["id"]]
            items += 1
            requested += ev["query"]
            hit = ev.get("online_prediction") == label  # compact records omit nulls
            online_hits += hit
            prod_hits += ev["production_prediction"] == label
            if int(ev["id"].rsplit("-", 1)[1]) >= half:
                late += 1
                late_hits += hit
    dead = 0
    if settings.files.dead_letter.exists():
        with settings.files.dead_letter.open() as fh:
            dead = sum(1 for _ in fh)
    learned = 0
    with settings.files.requests.open() as fh:
        learned = sum(1 for _ in fh)
    return RunReport(
        policy,
        items,
        dead,
        requested,
        learned,
        online_hits / max(items, 1),
        late_hits / max(late, 1),
        prod_hits / max(items, 1),
        seconds,
    )


def run_demo(
    work: Path,
    items: int = 20_000,
    fraction: float = 0.05,
    delay: float = 1800.0,
    out: TextIO = sys.stdout,
) -> tuple[RunReport, RunReport]:
    """Generate the replay, run the default policy and random sampling, print a summary."""
    from connectors.expert import load_truth  # noqa: PLC0415 - only the demo needs it

    predictions, truth_path = replay.generate(work / "replay", n=items)
    truth = load_truth(truth_path)
    reports = []
    achieved = fraction
    for strategy in ("default", "random"):
        settings = _settings(work, predictions, truth_path, strategy, achieved, delay)
        progress = LiveView(strategy, items, sys.stderr)
        started = time.monotonic()
        daemon = serve(settings, on_tick=progress)
        progress.done()
        run = report(settings, truth, time.monotonic() - started, daemon.policy.id)
        reports.append(run)
        achieved = max(run.budget_used, 1.0 / items)
    active, rand = reports
    _print_summary(active, rand, work, out)
    return active, rand


def _print_summary(active: RunReport, rand: RunReport, work: Path, out: TextIO) -> None:
    rows = [
        ("items seen (valid)", f"{active.items}", f"{rand.items}"),
        ("dead-lettered", f"{active.dead_lettered}", f"{rand.dead_lettered}"),
        ("labels requested", f"{active.requested}", f"{rand.requested}"),
        ("budget used (share of items)", f"{active.budget_used:.2%}", f"{rand.budget_used:.2%}"),
        (
            "online accuracy (prequential)",
            f"{active.online_accuracy:.2%}",
            f"{rand.online_accuracy:.2%}",
        ),
        (
            "online accuracy, second half",
            f"{active.online_accuracy_second_half:.2%}",
            f"{rand.online_accuracy_second_half:.2%}",
        ),
        (
            "production model accuracy",
            f"{active.production_accuracy:.2%}",
            f"{rand.production_accuracy:.2%}",
        ),
        ("items/s", f"{active.items / active.seconds:,.0f}", f"{rand.items / rand.seconds:,.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    out.write("\nlabelgate demo: bundled replay, simulated expert answering after a delay\n")
    left = max(12, len(active.policy))
    right = max(12, len(rand.policy))
    out.write(f"{'':<{width}}  {active.policy:>{left}}  {rand.policy:>{right}}\n")
    for name, a, r in rows:
        out.write(f"{name:<{width}}  {a:>{left}}  {r:>{right}}\n")
    out.write(f"\nevidence, requests and dead letters: {work}/<policy>/\n")

"""A replay run with known ground truth, shared by the estimate and metric-recompute tests.

The stream is built so that uncertainty sampling makes the naive error badly biased: the
production model is calibrated, its errors sit on the decision boundary, and the default policy
(uncertainty ranked by the quantile filter, a random exploration share) with a random audit slice
labels mostly boundary items.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from daemon.config import Settings
from daemon.monitoring.status import Status
from daemon.service.app import build_daemon
from daemon.service.lifecycle import StopFlag

ITEMS = 20_000
FRACTION = 0.1
AUDIT_SHARE = 0.2
INTERVAL = 10.0  # event-time seconds between items
WINDOW = 5000
TIERS = [f"t{i:02d}" for i in range(15)]  # more values than the top-K of 10
_START = datetime(2026, 3, 1, tzinfo=UTC)
# US items go to a crowd queue that wants two labels each (overlap), answered by two of a human
# crowd worker and two LLMs; disagreement goes to an adjudicator. APAC items go to all three of
# them, resolved by majority (a dissenting answer is outvoted). The others go to a specialist.
# Two agreeing LLMs make a non-human training label; a wrong label needs two wrong answers. The
# answer delays differ so that the last answer of a consensus is sometimes an LLM's, sometimes a
# human's (a consensus with a human in it is human, whoever answered last).
QUEUES = [
    {"name": "specialist", "role": "specialist"},
    {
        "name": "crowd",
        "role": "crowd",
        "labels_required": 2,
        "resolution": "majority",
        "escalate_to": "adjudicator",
    },
    {"name": "adjudicator", "role": "adjudicator"},
    {"name": "trio", "role": "crowd", "labels_required": 3, "resolution": "majority"},
]
CROWD = ["crowd", "trio"]
PANEL = [
    {"id": "spec-1", "role": "specialist", "queues": ["specialist"]},
    {"id": "crowd-1", "role": "crowd", "accuracy": 0.9, "queues": CROWD, "delay_seconds": 60.0},
    {"id": "llm-1", "role": "llm", "accuracy": 0.9, "queues": CROWD, "delay_seconds": 30.0},
    {"id": "llm-2", "role": "llm", "accuracy": 0.85, "queues": CROWD},  # the panel's 10 min
    {"id": "adj-1", "role": "adjudicator", "queues": ["adjudicator"]},
]


@dataclass
class BiasedRun:
    """What the run left behind: its settings, metrics, records and the ground truth."""

    settings: Settings
    registry: CollectorRegistry
    records: list[dict[str, Any]]
    truth: dict[str, str]
    predictions: dict[str, dict[str, Any]]
    trajectory: list[dict[str, float]] = field(default_factory=list)

    def sample(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        """One exported sample, as Prometheus would scrape it."""
        return self.registry.get_sample_value(name, labels or {})

    @property
    def true_error(self) -> float:
        """The production model's error over every valid item of the stream."""
        wrong = sum(p["prediction"] != self.truth[i] for i, p in self.predictions.items())
        return wrong / len(self.predictions)


def _write_stream(out: Path, n: int, seed: int) -> tuple[Path, Path]:
    """A calibrated production model: P(y = 1 | x) = sigmoid(2x), prediction = argmax."""
    rng = random.Random(seed)
    predictions, truth = out / "predictions.jsonl", out / "truth.jsonl"
    tier_weights = [1.0 / (k + 1) for k in range(len(TIERS))]
    with predictions.open("w") as pf, truth.open("w") as tf:
        for i in range(n):
            x = rng.uniform(-3.0, 3.0)
            p1 = 1.0 / (1.0 + math.exp(-2.0 * x))
            y = "1" if rng.random() < p1 else "0"
            region = rng.choices(("EU", "US", "APAC"), (0.6, 0.3, 0.1))[0]
            tier = rng.choices(TIERS, tier_weights)[0]
            item = {
                "schema_version": 1,
                "id": f"item-{i:06d}",
                "event_time": (_START + timedelta(seconds=i * INTERVAL)).isoformat(),
                "features": {"x": round(x, 6), "noise": round(rng.gauss(0, 1), 6)},
                "prediction": "1" if p1 >= 0.5 else "0",
                "proba": {"0": round(1.0 - p1, 6), "1": round(p1, 6)},
                "model_version": "prod-1",
                "group": {"region": region, "tier": tier},
            }
            pf.write(json.dumps(item) + "\n")
            tf.write(json.dumps({"id": item["id"], "label": y}) + "\n")
    return predictions, truth


def run_biased(out: Path, n: int = ITEMS, seed: int = 13) -> BiasedRun:
    """Run the daemon over the synthetic stream, with a simulated panel answering after 10 min
    (two of the crowd queue's labelers sooner)."""
    predictions, truth = _write_stream(out, n, seed)
    settings = Settings.model_validate(
        {
            "source": "file",
            "classes": ["0", "1"],
            "clock": "event",
            "files": {
                "predictions": predictions,
                "requests": out / "label-requests.jsonl",
                "audit": out / "audit.jsonl",
                "dead_letter": out / "dead-letter.jsonl",
                "state": out / "state.jsonl",
            },
            "expert": {"truth": truth, "delay_seconds": 600.0, "labelers": PANEL},
            "queues": QUEUES,
            "routing": {
                "rules": [
                    {
                        "name": "us-crowd",
                        "all": [{"field": "group.region", "value": "US"}],
                        "queues": ["crowd"],
                    },
                    {
                        "name": "apac-trio",
                        "all": [{"field": "group.region", "value": "APAC"}],
                        "queues": ["trio"],
                    },
                ],
                "default": ["specialist"],
            },
            "model": {"score_source": "production"},
            "policy": {"budget": {"fraction": FRACTION}, "audit_share": AUDIT_SHARE},
            "monitoring": {"window": WINDOW, "refresh_seconds": 1e-6, "shift_features": ["x"]},
            "kafka": {"consume_batch_size": 100},  # a status tick every 100 items
            "server": {"enabled": False},
            "state_dir": out,
            "log_level": "warning",
        }
    )
    registry = CollectorRegistry()
    trajectory: list[dict[str, float]] = []

    def on_tick(status: Status) -> None:
        est = status.feedback.estimates
        if "naive" in est and "ipw" in est:
            point = {"items": float(status.items)}
            point.update({name: e.error_rate for name, e in est.items()})
            trajectory.append(point)

    daemon = build_daemon(settings, registry, on_tick)
    daemon.startup()
    daemon.run(StopFlag())
    records = [json.loads(x) for x in (out / "audit.jsonl").read_text().splitlines() if x]
    items = {json.loads(x)["id"]: json.loads(x) for x in predictions.read_text().splitlines() if x}
    answers = {
        json.loads(x)["id"]: json.loads(x)["label"] for x in truth.read_text().splitlines() if x
    }
    return BiasedRun(settings, registry, records, answers, items, trajectory)


@pytest.fixture(scope="session")
def biased_run(tmp_path_factory: pytest.TempPathFactory) -> BiasedRun:
    """The replay run (20,000 items), once per session."""
    return run_biased(tmp_path_factory.mktemp("biased-run"))


PROMTOOL_FILE = (
    Path(__file__).resolve().parents[4]
    / "tests"
    / "helm"
    / "promtool"
    / "error_estimates_diverge_replay.yaml"
)
_SERIES = (
    'labelgate_error_rate{{job="labelgate",namespace="default",'
    'instance="10.0.0.2:8080",pod="labelgate-replay",estimator="{}"}}'
)
_SUMMARY = "Naive and inverse-propensity-weighted error estimates disagree: selection bias."
_DESCRIPTION = (
    "labelgate-replay: the naive error rate differs from the weighted one by {:.3f}; "
    "the labeled set is not representative."
)


def promtool_doc(run: BiasedRun, minutes: int = 90) -> str:
    """The run's exported error estimates as promtool input, one scrape a minute.

    The run's status ticks are spread evenly over ``minutes`` scrapes; the alert must fire at
    the end (the naive estimate stays more than 0.1 above the weighted one for the last hour).
    """
    points = run.trajectory
    picks = [points[round(i * (len(points) - 1) / (minutes - 1))] for i in range(minutes)]
    lines = [
        "# LabelgateErrorEstimatesDiverge on the biased replay of",
        "# tests/unit/daemon/monitoring/conftest.py (uncertainty sampling, calibrated production",
        "# model): the exported naive, IPW and audit estimates, one scrape a minute. Generated:",
        "# REGENERATE_PROMTOOL_DATA=1 pytest tests/unit/daemon/monitoring/test_estimates.py",
        "rule_files:",
        "- rules.yaml",
        "evaluation_interval: 1m",
        "tests:",
        "- interval: 1m",
        "  input_series:",
    ]
    for name in ("naive", "ipw", "audit"):
        values = " ".join(f"{p[name]:.4f}" if name in p else "_" for p in picks)
        lines += [f"  - series: {_SERIES.format(name)}", f"    values: {values}"]
    gap = abs(picks[-1]["naive"] - picks[-1]["ipw"])
    lines += [
        "  alert_rule_test:",
        "  - eval_time: 30m",  # diverging, but not yet for the rule's hour
        "    alertname: LabelgateErrorEstimatesDiverge",
        "    exp_alerts: []",
        "  - eval_time: 89m",
        "    alertname: LabelgateErrorEstimatesDiverge",
        "    exp_alerts:",
        "    - exp_labels:",
        "        job: labelgate",
        "        namespace: default",
        "        instance: 10.0.0.2:8080",
        "        pod: labelgate-replay",
        "        severity: warning",
        "      exp_annotations:",
        f"        summary: '{_SUMMARY}'",
        f"        description: '{_DESCRIPTION.format(gap)}'",
        "        runbook_url: https://runbooks.example/labelgate#labelgateerrorestimatesdiverge",
    ]
    return "\n".join(lines) + "\n"

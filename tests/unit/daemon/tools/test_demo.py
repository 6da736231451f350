"""The demo's pieces: scoring a finished run against the truth, and the progress line."""

from __future__ import annotations

import io
import json

from daemon.monitoring.status import Status
from daemon.tools.demo import LiveView, report
from tests.unit.daemon.fakes import file_settings


def test_report_scores_the_decision_records_against_the_truth(tmp_path):
    """Accuracy of the online and production predictions, requests, dead letters, learned."""
    config = file_settings(tmp_path, [{"name": "default"}])
    decisions = [
        {"kind": "decision", "id": "item-0", "query": True, "online_prediction": "1",
         "production_prediction": "1"},
        {"kind": "label", "id": "item-0"},
        {"kind": "decision", "id": "item-1", "query": False, "online_prediction": "0",
         "production_prediction": "1"},
    ]  # fmt: skip
    config.files.audit.write_text("\n".join(json.dumps(d) for d in decisions) + "\n")
    config.files.dead_letter.write_text("{}\n{}\n")
    config.files.requests.write_text("{}\n")
    run = report(config, {"item-0": "1", "item-1": "0"}, 2.0, "p@1")
    assert (run.items, run.requested, run.dead_lettered, run.labels_learned) == (2, 1, 2, 1)
    assert (run.online_accuracy, run.production_accuracy) == (1.0, 0.5)
    assert run.online_accuracy_second_half == 1.0
    assert run.budget_used == 0.5


def test_progress_writes_a_final_line_when_not_a_terminal():
    """Without a TTY, the line for the last item is written and ends the output."""
    out = io.StringIO()
    progress = LiveView("default", 10, out)
    progress(Status(items=10, budget_spent=3.0, model_version=2, pending=1))
    progress.done()
    line = out.getvalue().split("\r")[-1]
    assert line.endswith("\n")
    assert "items 10/10" in line
    assert "labels requested 3" in line

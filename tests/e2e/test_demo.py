"""The README's first command: the daemon on the bundled replay with a simulated expert."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_demo_prints_summary_and_writes_evidence(tmp_path):
    """`labelgate demo` runs without Kafka, prints the summary and leaves consistent outputs."""
    items = 4000
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "demo",
            "--items",
            str(items),
            "--out",
            str(tmp_path),
            "--budget",
            "0.1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for row in (
        "items seen (valid)",
        "labels requested",
        "budget used",
        "online accuracy",
        "production model accuracy",
    ):
        assert row in out, out
    assert "random@1" in out
    seen = re.search(r"items seen \(valid\)\s+(\d+)\s+(\d+)", out)
    assert seen is not None
    assert seen.groups() == (str(items), str(items))

    for policy in ("default", "random"):
        records = [
            json.loads(x) for x in (tmp_path / policy / "audit.jsonl").read_text().split("\n") if x
        ]
        audit = [e for e in records if e["kind"] == "decision"]
        labels = [e for e in records if e["kind"] == "label"]
        assert labels, "label-time evidence is recorded"
        assert all(e["resolution"] == "first" and e["used_for"] == "training" for e in labels)
        ids = [e["id"] for e in audit]
        assert len(ids) == len(set(ids)) == items
        requested = sum(e["query"] for e in audit)
        requests = (tmp_path / policy / "label-requests.jsonl").read_text().count("\n")
        assert requested == requests
        # 10% budget, a 500-item pacing window and 10 cold-start queries: well under 12%.
        assert 0.05 * items < requested <= 0.12 * items
        assert max(e["online_model_version"] for e in audit) > 0, "expert labels reached the model"
    dead = (tmp_path / "random" / "dead-letter.jsonl").read_text().splitlines()
    assert len(dead) == items // 500
    assert re.search(rf"items\s+\d+/{items}", proc.stderr), "a live progress view is shown"

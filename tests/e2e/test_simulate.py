"""`labelgate simulate` as a user runs it: a built-in stream in, a table, a CSV and a report out."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e


def test_simulate_writes_results_report_and_prints_the_table(tmp_path):
    """The command prints one table line per policy and writes results.csv and report.html."""
    out = tmp_path / "tmp"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "simulate",
            "--stream",
            "hyperplane-drift",
            "--items",
            "2000",
            "--budgets",
            "0.05",
            "--seeds",
            "0",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["budget", "policy", "seeds"]
    body = [line.split() for line in lines[2:] if line.strip() and "%" in line]
    assert [row[1] for row in body] == ["random", "default"]
    assert all(row[0] == "5.00%" and row[6] == "yes" for row in body)
    assert "run 2/2" in proc.stderr, "progress is shown on stderr"
    with (out / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["policy"] for r in rows} == {"random", "default"}
    assert all(r["items"] == "2000" and int(r["labels_spent"]) <= 100 for r in rows)
    page = (out / "report.html").read_text()
    assert page.count("<svg") == 2
    assert "<td>default</td>" in page


def test_simulate_rejects_an_unknown_stream(tmp_path):
    """A bad stream name exits with status 2 and a one-line error, no traceback."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "simulate",
            "--stream",
            "nope",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "unknown stream" in proc.stderr
    assert "Traceback" not in proc.stderr

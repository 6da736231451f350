"""`labelgate simulate` as a user runs it: a built-in stream in, a table, a CSV and a report out."""

from __future__ import annotations

import csv
import re
import shutil
import struct
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
    assert "default b=0.05 seed=0" in proc.stderr, "progress is shown on stderr"
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


def _simulate(out, *extra):
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", "simulate", *extra, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _chromium(profile, *args):
    return subprocess.run(
        [
            shutil.which("chromium") or "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="scripts/install-tools.sh installs it")
def test_report_renders_in_a_real_headless_browser(tmp_path):
    """Chromium renders report.html: charts in the DOM, no console errors, a non-blank image."""
    out = tmp_path / "sim"
    proc = _simulate(out, "--stream", "minority-concept", "--items", "1500",
                     "--budgets", "0.05,0.2", "--policies", "default,default_quotas")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    url = (out / "report.html").resolve().as_uri()
    dom = _chromium(tmp_path / "p1", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-3000:]
    assert dom.stdout.count("<svg") >= 4  # two learning curves per budget, plus subgroup shares
    assert len(re.findall(r"<polyline", dom.stdout)) >= 4 * 2
    assert "default_quotas" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    shot = tmp_path / "report.png"
    image = _chromium(tmp_path / "p2", f"--screenshot={shot}", "--window-size=1200,2000", url)
    assert image.returncode == 0, image.stderr[-3000:]
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1200, 2000)
    assert len(png) > 20_000, "a blank page compresses to a few kilobytes"


def test_simulate_backtests_a_config_file(tmp_path):
    """--config runs the configured policy as 'default' at the configured budget."""
    config = tmp_path / "labelgate.yaml"
    config.write_text(
        "classes: ['0', '1']\n"
        "policy:\n  budget: {fraction: 0.03}\n  quotas: {floors: {segment: {minority: 0.2}}}\n"
    )
    out = tmp_path / "sim"
    proc = _simulate(out, "--stream", "minority-concept", "--items", "3000",
                     "--config", str(config))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with (out / "results.csv").open() as fh:
        rows = {r["policy"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {"random", "default"}
    assert float(rows["default"]["budget"]) == 0.03
    assert float(rows["default"]["query_share[segment=minority]"]) >= 0.2 - 0.01

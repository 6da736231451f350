"""Drift detection on oracle-vs-production disagreement and on the uncertainty stream."""

from __future__ import annotations

import random

from river import drift

from daemon.monitoring.drift import Adwin, DriftMonitor


def test_a_jump_in_disagreement_is_detected_and_counted():
    """10% then 60% disagreement: a detection is flagged and counted for that signal only."""
    rng = random.Random(3)
    monitor = DriftMonitor(delta=0.002)
    for _ in range(1000):
        monitor.observe_disagreement(rng.random() < 0.1)
    flagged = [monitor.observe_disagreement(rng.random() < 0.6) for _ in range(400)]
    assert any(flagged)
    assert monitor.detections["oracle_disagreement"] >= 1
    assert monitor.detections["uncertainty"] == 0


def test_a_stable_uncertainty_stream_raises_nothing():
    """Constant uncertainty never triggers a detection."""
    monitor = DriftMonitor()
    assert not any(monitor.observe_uncertainty(0.3) for _ in range(2000))
    assert monitor.detections == {"oracle_disagreement": 0, "uncertainty": 0}


def test_adwin_detects_exactly_where_rivers_adwin_does():
    """The ADWIN wrapper (River's engine, without importing river.drift) flags the same
    positions as river.drift.ADWIN over a stream with several changes of mean, including the
    restart after each detection."""
    rng = random.Random(5)
    values = [rng.random() * (1 + (i // 2500) % 3) for i in range(20_000)]
    river, ours = drift.ADWIN(), Adwin()
    want, got = [], []
    for i, v in enumerate(values):
        river.update(v)
        if river.drift_detected:
            want.append(i)
        if ours.update(v):
            got.append(i)
    assert len(want) >= 3
    assert got == want


def test_a_batch_of_uncertainties_counts_as_one_by_one():
    """observe_uncertainties over a batch: the same detections as observing each value."""
    rng = random.Random(9)
    values = [rng.random() * (0.2 if i < 3000 else 1.0) for i in range(8000)]
    one, batch = DriftMonitor(), DriftMonitor()
    for v in values:
        one.observe_uncertainty(v)
    for start in range(0, len(values), 500):
        batch.observe_uncertainties(values[start : start + 500])
    assert one.detections["uncertainty"] >= 1
    assert batch.detections == one.detections

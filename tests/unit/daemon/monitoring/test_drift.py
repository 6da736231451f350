"""Drift detection on oracle-vs-production disagreement and on the uncertainty stream."""

from __future__ import annotations

import random

from daemon.monitoring.drift import DriftMonitor


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

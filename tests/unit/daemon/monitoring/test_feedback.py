"""Feedback-loop and sampling-bias statistics, checked against independent computations."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from daemon.monitoring.drift import DriftMonitor
from daemon.monitoring.estimates import ErrorEstimates
from daemon.monitoring.shift import ShiftMonitor, jensen_shannon, psi
from daemon.monitoring.subgroups import OTHER, SubgroupMonitor


def test_starved_subgroup_has_low_representation_ratio():
    """A policy that rarely queries subgroup B drives B's representation ratio below 0.5."""
    rng = random.Random(3)
    monitor = SubgroupMonitor(window=4000)
    log = []
    for _ in range(10_000):
        group = "A" if rng.random() < 0.6 else "B"
        queried = rng.random() < (0.10 if group == "A" else 0.02)
        monitor.observe({"segment": group}, queried)
        log.append((group, queried))
    window = log[-4000:]
    queries = [g for g, q in window if q]
    expected = {}
    for g in ("A", "B"):
        population = sum(1 for x, _ in window if x == g) / len(window)
        expected[g] = (queries.count(g) / len(queries)) / population
    got = {s.group: s.representation_ratio for s in monitor.shares()}
    assert got == pytest.approx(expected)
    assert got["B"] < 0.5 < 1.0 < got["A"]
    disparity = SubgroupMonitor.disparity(monitor.shares())["segment"]
    rates = {
        g: sum(1 for x, q in window if x == g and q) / sum(1 for x, _ in window if x == g)
        for g in ("A", "B")
    }
    assert disparity == pytest.approx(rates["A"] / rates["B"])


def test_subgroup_cardinality_is_bounded():
    """10,000 distinct subgroup values fold into top-K series plus 'other'."""
    monitor = SubgroupMonitor(window=1000, top_k=5)
    for i in range(10_000):
        monitor.observe({"customer": f"c{i}", "region": "EU"}, queried=i % 7 == 0)
    series = set(monitor.items_total)
    assert len([k for k in series if k[0] == "customer"]) == 6
    assert ("customer", OTHER) in series
    assert monitor.items_total[("customer", OTHER)] == 10_000 - 5
    monitor2 = SubgroupMonitor(window=100, max_attributes=2)
    for i in range(50):
        monitor2.observe({f"attr{i}": "x"}, queried=False)
    assert len({a for a, _ in monitor2.items_total}) == 2


def _numpy_psi(stream: np.ndarray, labeled: np.ndarray, edges: np.ndarray) -> float:
    bins = np.concatenate(([-np.inf], edges, [np.inf]))
    s = np.histogram(stream, bins)[0] / len(stream)
    lab = np.histogram(labeled, bins)[0] / len(labeled)
    s, lab = np.maximum(s, 1e-4), np.maximum(lab, 1e-4)
    return float(np.sum((lab - s) * np.log(lab / s)))


@pytest.mark.parametrize(("shift", "low", "high"), [(0.0, 0.0, 0.1), (0.4, 0.2, math.inf)])
def test_labeled_covariate_shift_moves_psi(shift, low, high):
    """A shifted labeled set raises PSI above 0.2; an unshifted one stays below 0.1."""
    rng = np.random.default_rng(11)
    stream = rng.uniform(0, 1, 5000)
    labeled = rng.uniform(0, 1, 1000) + shift
    monitor = ShiftMonitor(features=["x"], bins=10, window=5000, warmup=500)
    for v in stream:
        monitor.observe_stream(0.5, {"x": float(v)})
    for v in labeled:
        monitor.observe_labeled(0.5, {"x": float(v)})
    got_psi, got_js = monitor.compute()["x"]
    warm = np.sort(stream[:500])
    edges = np.unique([warm[500 * i // 10] for i in range(1, 10)])
    expected = _numpy_psi(stream, labeled, edges)
    assert got_psi == pytest.approx(expected, rel=1e-6)
    assert low <= got_psi < high
    assert 0.0 <= got_js <= 1.0


def test_psi_and_js_basic_properties():
    """PSI and JS are zero for identical distributions and JS is symmetric and bounded."""
    p, q = [0.2, 0.3, 0.5], [0.5, 0.3, 0.2]
    assert psi(p, p) == pytest.approx(0.0)
    assert jensen_shannon(p, q) == pytest.approx(jensen_shannon(q, p))
    assert 0 < jensen_shannon(p, q) <= 1


def test_abrupt_concept_change_detected_within_bounded_labels():
    """ADWIN on oracle-vs-production disagreement flags an abrupt change within 300 labels."""
    rng = random.Random(5)
    monitor = DriftMonitor(delta=0.002)
    before = [monitor.observe_disagreement(rng.random() < 0.1) for _ in range(3000)]
    assert not any(before), "no false alarm on a stationary error rate"
    after = [monitor.observe_disagreement(rng.random() < 0.5) for _ in range(1000)]
    assert any(after)
    assert after.index(True) < 300
    assert monitor.detections["oracle_disagreement"] >= 1


def test_ipw_error_is_unbiased_where_naive_is_not():
    """Uncertainty-driven sampling over-samples hard items: naive error is biased, IPW is not."""
    rng = random.Random(17)
    estimates = ErrorEstimates(window=100_000)
    errors = []
    b = 0.05
    for _ in range(60_000):
        margin = rng.random()  # 0 = on the boundary, 1 = confident
        wrong = rng.random() < 0.45 * (1 - margin) ** 2
        errors.append(wrong)
        p = b / (b + margin)  # selective sampling: hard items far more likely to be asked
        if rng.random() < p:
            estimates.add(wrong, probability=p, confidence=0.5 + margin / 2, audit=False)
    true_error = sum(errors) / len(errors)
    got = estimates.compute()
    assert got["naive"].error_rate > true_error * 1.5, "naive over-states the error"
    assert got["ipw"].error_rate == pytest.approx(true_error, abs=0.02)
    ess = estimates.effective_sample_size()
    assert 0 < ess < got["ipw"].n, "weights reduce the effective sample size"
    assert "audit" not in got


def test_audit_estimate_uses_only_audit_labels():
    """The audit estimator sees only labels from the random audit slice."""
    estimates = ErrorEstimates(window=100)
    for i in range(20):
        estimates.add(error=i < 15, probability=1.0, confidence=None, audit=False)
    for i in range(10):
        estimates.add(error=i < 2, probability=0.1, confidence=None, audit=True)
    got = estimates.compute()
    assert got["audit"].error_rate == pytest.approx(0.2)
    assert got["audit"].n == 10
    assert got["naive"].error_rate == pytest.approx(17 / 30)
    assert got["naive"].calibration_error is None

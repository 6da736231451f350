"""Error estimates on a stream with known ground truth: weighted and audit unbiased, naive not."""

from __future__ import annotations

import math
import os

import pytest

from daemon.monitoring.estimates import ErrorEstimates
from tests.unit.daemon.monitoring.conftest import PROMTOOL_FILE, BiasedRun, promtool_doc

Z = 3.0  # three standard errors: a 99.7% interval


def _labels(run: BiasedRun) -> list[dict]:
    return [r for r in run.records if r["kind"] == "label" and r.get("used_for")]


def test_uncertainty_sampling_biases_the_naive_error_but_not_ipw_or_audit(biased_run):
    """IPW and audit estimates land within 3 standard errors of the population error; the
    naive one is far outside its own interval (the policy labels mostly boundary items)."""
    truth = biased_run.true_error
    labels = _labels(biased_run)
    errors = [float(r["production_prediction"] != r["label"]) for r in labels]
    weights = [1.0 / r["probability"] for r in labels]

    naive = biased_run.sample("labelgate_error_rate", {"estimator": "naive"})
    se_naive = math.sqrt(naive * (1 - naive) / len(labels))
    assert abs(naive - truth) > 5 * Z * se_naive, (naive, truth)

    ipw = biased_run.sample("labelgate_error_rate", {"estimator": "ipw"})
    # Linearised standard error of the self-normalised (Hajek) estimator.
    total = sum(weights)
    se_ipw = math.sqrt(sum((w * (e - ipw)) ** 2 for w, e in zip(weights, errors, strict=True)))
    se_ipw /= total
    assert abs(ipw - truth) <= Z * se_ipw, (ipw, truth, se_ipw)

    audit_errors = [e for e, r in zip(errors, labels, strict=True) if r["reason"] == "audit"]
    audit = biased_run.sample("labelgate_error_rate", {"estimator": "audit"})
    assert audit == pytest.approx(sum(audit_errors) / len(audit_errors))
    se_audit = math.sqrt(audit * (1 - audit) / len(audit_errors))
    assert abs(audit - truth) <= Z * se_audit, (audit, truth, se_audit)
    # The gap the chart alerts on (threshold 0.1) is wide open on this stream.
    assert naive - ipw > 0.15


def test_every_labeled_item_logged_a_positive_marginal_probability(biased_run):
    """Weights are finite: every label comes from a decision that logged p > 0; slice and
    exploration labels of ranked-out items carry the unranked chance, not ~1."""
    decisions = {r["id"]: r for r in biased_run.records if r["kind"] == "decision"}
    for r in _labels(biased_run):
        assert r["probability"] == decisions[r["id"]]["probability"] > 0.0
    slices = [r for r in _labels(biased_run) if r["reason"] in ("audit", "random")]
    assert sum(r["probability"] < 0.05 for r in slices) > len(slices) / 2


def test_promtool_data_is_derived_from_the_run(biased_run):
    """The promtool test of the divergence alert replays this run's exported estimates."""
    doc = promtool_doc(biased_run)
    if os.environ.get("REGENERATE_PROMTOOL_DATA"):
        PROMTOOL_FILE.write_text(doc)
    assert PROMTOOL_FILE.read_text() == doc, "regenerate with REGENERATE_PROMTOOL_DATA=1"


def test_audit_only_estimator_ignores_other_labels():
    """The audit estimator counts only audit labels, whatever their weights."""
    estimates = ErrorEstimates(window=100)
    estimates.add(error=True, probability=0.01, confidence=None, audit=False)
    estimates.add(error=False, probability=0.02, confidence=None, audit=True)
    assert estimates.compute()["audit"].error_rate == 0.0

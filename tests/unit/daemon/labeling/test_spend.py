"""The spend ledger: one charge reaches the policy (and its hooks), the metrics and the burn."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from daemon.labeling.spend import SpendLedger
from daemon.monitoring.burn import BurnRate
from daemon.monitoring.metrics import Metrics
from policies import AbsoluteBudget, Decision, ItemView, Policy, Reason
from tests.unit.daemon.fakes import RecordingStrategy


def _ledger(limit=10.0):
    strategy = RecordingStrategy()
    policy = Policy(strategy, AbsoluteBudget(limit, period_seconds=3600.0))
    metrics = Metrics(CollectorRegistry())
    burn = BurnRate(window_seconds=600)
    return SpendLedger(policy, metrics, burn), strategy, policy, metrics, burn


def test_a_charge_reaches_policy_hooks_budget_metrics_and_burn_together():
    """One call: commit hook sees the item, budget spent, counters and burn rate move."""
    ledger, strategy, policy, metrics, burn = _ledger()
    decision = Decision(query=True, reason=Reason.UNCERTAIN, probability=1.0, utility=0.4)
    ledger.charge(decision, ItemView("a", {}, 2.5), "crowd", now=60.0)
    assert strategy.commits == [("a", "uncertain", 2.5)]
    assert policy.snapshot(60.0).spent == 2.5
    registry = metrics.registry
    assert registry.get_sample_value("labelgate_budget_charged_total") == 2.5
    assert registry.get_sample_value("labelgate_queries_total", {"queue": "crowd"}) == 1.0
    assert burn.rate(60.0) > 0.0


def test_allows_asks_the_budget_without_spending():
    """allows() answers for a cost and leaves the spend unchanged."""
    ledger, _, policy, _, _ = _ledger(limit=2.0)
    assert ledger.allows(2.0, 0.0)
    assert not ledger.allows(2.5, 0.0)
    assert policy.snapshot(0.0).spent == 0.0

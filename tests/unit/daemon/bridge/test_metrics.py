"""The bridge's metrics are the documented ones, with bounded label values."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from daemon.bridge.metrics import BridgeMetrics

DOC = Path(__file__).parents[4] / "docs" / "metrics.md"


def test_documented_bridge_metrics_are_exposed():
    """Every bridge metric in docs/metrics.md exists, and none is undocumented."""
    documented = set(re.findall(r"^\| `(bridge_[a-z_]+)` \|", DOC.read_text(), flags=re.M))
    registry = CollectorRegistry()
    BridgeMetrics(registry, "experts")
    exposed = {
        m.name.removeprefix("labelgate_") + ("_total" if m.type == "counter" else "")
        for m in registry.collect()
    }
    assert documented == exposed


def test_reasons_are_a_closed_set():
    """An unexpected withdrawal reason is counted as other, never as a new label value."""
    registry = CollectorRegistry()
    metrics = BridgeMetrics(registry, "experts")
    metrics.withdrawn("expired")
    metrics.withdrawn("something-new")
    get = registry.get_sample_value
    name = "labelgate_bridge_tasks_withdrawn_total"
    assert get(name, {"queue": "experts", "reason": "expired"}) == 1
    assert get(name, {"queue": "experts", "reason": "other"}) == 1

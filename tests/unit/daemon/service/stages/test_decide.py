"""Decide stage: duplicates are never asked twice; the policy decides at the placement's cost."""

from __future__ import annotations

from daemon.contracts.pending_request import PendingRequest
from policies import Reason
from tests.unit.daemon.fakes import (
    MemoryChannels,
    MemorySource,
    memory_daemon,
    prediction,
    settings,
)


def _parts(tmp_path, payloads, **overrides):
    memory = MemoryChannels(MemorySource(payloads))
    return memory_daemon(settings(tmp_path, **overrides), memory).parts, memory


def _scored(parts):
    records = parts.channels.predictions.poll(10, 0.0)
    return parts.pipeline.score(parts.pipeline.decode(records))


def test_an_item_with_an_open_request_is_a_duplicate_without_placement(tmp_path):
    """Redelivered while its request is open: reason duplicate, not placed, not queried."""
    parts, _ = _parts(tmp_path, [prediction(0, "a")])
    parts.queues.track(
        PendingRequest(
            id="a",
            request_id="r",
            queue="default",
            features={},
            requested_at=0.0,
            deadline=1e12,
            probability=1.0,
            reason="uncertain",
        )
    )
    [scored] = _scored(parts)
    decided = parts.pipeline.select.fallback.decide(scored)
    assert decided.decision.reason is Reason.DUPLICATE
    assert decided.placement is None


def test_the_policy_sees_the_cost_of_the_queue_the_item_would_go_to(tmp_path):
    """Item cost x queue cost is the item view's cost; optional views stay empty unless needed."""
    parts, _ = _parts(
        tmp_path,
        [prediction(0, cost=2.0)],
        queues=[{"name": "default", "cost": 1.5}],
    )
    [scored] = _scored(parts)
    decided = parts.pipeline.select.fallback.decide(scored)
    assert decided.placement is not None
    assert decided.item.cost == decided.placement.cost == 3.0
    assert (decided.item.vector, decided.item.committee) == ((), ())


def test_diversity_and_committee_views_are_built_only_when_configured(tmp_path):
    """With diversity filtering and query by committee the item carries vector and committee."""
    parts, _ = _parts(
        tmp_path,
        [prediction(0)],
        policy={
            "strategy": "query_by_committee",
            "diversity": {"radius": 0.1},
            "queue_gate_exponent": None,
            "cold_start_items": 0,
        },
    )
    [scored] = _scored(parts)
    item = parts.pipeline.select.fallback.decide(scored).item
    assert item.vector == (0.0,)
    assert len(item.committee) == 2

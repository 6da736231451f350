"""Admit stage: each decision's evidence state is taken right after its own admission."""

from __future__ import annotations

from daemon.service.pipeline import Selected
from tests.unit.daemon.fakes import (
    MemoryChannels,
    MemorySource,
    memory_daemon,
    prediction,
    settings,
)


def test_budget_and_queue_state_are_snapshotted_per_item(tmp_path):
    """Three queries in one batch report spend 1, 2, 3 and depth 1, 2, 3 (not the end state)."""
    memory = MemoryChannels(MemorySource([prediction(i) for i in range(3)]))
    parts = memory_daemon(settings(tmp_path), memory).parts
    pipeline = parts.pipeline
    scored = pipeline.score(pipeline.decode(parts.channels.predictions.poll(10, 0.0)))
    selected = pipeline.select(scored)
    assert all(isinstance(x, Selected) for x in selected)
    assert [x.budget.spent for x in selected] == [1.0, 2.0, 3.0]
    assert [x.queue_state["default"] for x in selected] == [1, 2, 3]
    assert [x.request.id for x in selected] == ["it-000", "it-001", "it-002"]


def test_a_duplicate_passes_through_unadmitted(tmp_path):
    """An item decided as a duplicate is neither gated nor charged."""
    memory = MemoryChannels(MemorySource([prediction(0, "a"), prediction(1, "a")]))
    parts = memory_daemon(settings(tmp_path), memory).parts
    pipeline = parts.pipeline
    scored = pipeline.score(pipeline.decode(parts.channels.predictions.poll(10, 0.0)))
    first, second = pipeline.select(scored)
    assert first.request is not None
    assert second.request is None
    assert second.reason.value == "duplicate"
    assert second.budget.spent == 1.0

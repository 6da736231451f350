"""Webhook bodies read into forward / deleted / ignored / malformed."""

from __future__ import annotations

import json

from daemon.bridge.webhooks import Deleted, Forward, Ignored, Malformed, read
from daemon.contracts.messages import DeadLetterReason


def _body(**doc) -> bytes:
    return json.dumps(doc).encode()


def test_created_and_updated_annotations_are_forwarded_with_their_task():
    """One annotation with its task, for created and updated alike."""
    for action in ("ANNOTATION_CREATED", "ANNOTATION_UPDATED"):
        out = read(_body(action=action, annotation={"id": 1}, task={"id": 2}, project={"id": 7}), 7)
        assert out == Forward([({"id": 1}, {"id": 2})])


def test_bulk_created_annotations_are_paired_by_task():
    """ANNOTATIONS_CREATED carries lists; each annotation finds its task by id."""
    out = read(
        _body(
            action="ANNOTATIONS_CREATED",
            annotation=[{"id": 1, "task": 5}, {"id": 2, "task": 6}],
            task=[{"id": 6, "data": {}}, {"id": 5, "data": {}}],
        ),
        7,
    )
    assert isinstance(out, Forward)
    assert [(a["id"], t["id"]) for a, t in out.pairs] == [(1, 5), (2, 6)]


def test_deletions_and_other_projects():
    """Deleted ids are read; another project's call and other actions are ignored."""
    assert read(_body(action="ANNOTATIONS_DELETED", annotations=[{"id": 3}, {"x": 1}]), 7) == (
        Deleted([3])
    )
    assert read(_body(action="ANNOTATION_CREATED", project={"id": 8}), 7) == Ignored()
    assert read(_body(action="TASKS_CREATED"), 7) == Ignored()


def test_malformed_bodies():
    """Not JSON, not an object, or an annotation event without annotation and task."""
    assert read(b"\xff", 7).reason is DeadLetterReason.INVALID_JSON
    assert read(b"[1]", 7) == Malformed(
        DeadLetterReason.SCHEMA_VIOLATION, "webhook body is not an object"
    )
    out = read(_body(action="ANNOTATION_CREATED"), 7)
    assert isinstance(out, Malformed)
    assert out.reason is DeadLetterReason.SCHEMA_VIOLATION

"""Label Studio's webhook calls, read into what the bridge does with them. Pure: no I/O.

The bridge subscribes to annotation events only (``ANNOTATION_CREATED``, ``ANNOTATIONS_CREATED``,
``ANNOTATION_UPDATED``, ``ANNOTATIONS_DELETED``); anything else, or another project's call, is
ignored, and a body that cannot be read is malformed (a dead letter).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daemon.contracts.messages import DeadLetterReason

#: The webhook actions the bridge listens to.
ACTIONS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED")

Pair = tuple[Mapping[str, Any], Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Forward:
    """Annotations (each with its task) to forward."""

    pairs: list[Pair]


@dataclass(frozen=True, slots=True)
class Deleted:
    """Annotations deleted in Label Studio."""

    annotation_ids: list[int]


@dataclass(frozen=True, slots=True)
class Ignored:
    """Not for the bridge (another action or another project)."""


@dataclass(frozen=True, slots=True)
class Malformed:
    """A body the bridge cannot read: dead-lettered with the reason."""

    reason: DeadLetterReason
    detail: str


Webhook = Forward | Deleted | Ignored | Malformed


def read(body: bytes, project_id: int) -> Webhook:
    """What a webhook body asks of the bridge of ``project_id``.

    >>> read(b'{"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 4}]}', 1)
    Deleted(annotation_ids=[4])
    >>> read(b'{"action": "PROJECT_UPDATED"}', 1)
    Ignored()
    >>> read(b"[", 1).reason.value
    'invalid_json'
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return Malformed(DeadLetterReason.INVALID_JSON, str(exc)[:300])
    if not isinstance(doc, dict):
        return Malformed(DeadLetterReason.SCHEMA_VIOLATION, "webhook body is not an object")
    project = doc.get("project")
    if isinstance(project, Mapping) and project.get("id") not in (None, project_id):
        return Ignored()  # another project's webhook pointed at this bridge
    return _annotation_event(doc)


def _annotation_event(doc: Mapping[str, Any]) -> Webhook:
    action = doc.get("action")
    if action == "ANNOTATIONS_DELETED":
        ids = [a.get("id") for a in doc.get("annotations") or [] if isinstance(a, Mapping)]
        return Deleted([i for i in ids if isinstance(i, int)])
    if action not in ACTIONS:
        return Ignored()
    annotations, tasks = doc.get("annotation"), doc.get("task")
    if isinstance(annotations, Mapping) and isinstance(tasks, Mapping):
        return Forward([(annotations, tasks)])
    if isinstance(annotations, list) and isinstance(tasks, list):
        by_id = {t.get("id"): t for t in tasks if isinstance(t, Mapping)}
        return Forward(
            [
                (a, by_id.get(a.get("task"), {"id": a.get("task")}))
                for a in annotations
                if isinstance(a, Mapping)
            ]
        )
    return Malformed(DeadLetterReason.SCHEMA_VIOLATION, f"{action} without annotation and task")

"""Answers to label events: the annotations of the project's tasks, from webhooks or the
catch-up poll, are forwarded to the labels topic exactly when they are new (per the durable
cursor), and recorded in the cursor only once their label events are delivered."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.errors import DeliveryError
from connectors.label_studio import LabelStudioClient
from connectors.protocols import Sink
from daemon.bridge.cursor import Cursor, CursorStore
from daemon.bridge.deadletters import DeadLetters
from daemon.bridge.index import TaskIndex
from daemon.bridge.metrics import BridgeMetrics
from daemon.bridge.tasks import Answer, Labeler, Rejection, TaskMapper, payload_text
from daemon.contracts.messages import DeadLetterReason, encode

Pair = tuple[Mapping[str, Any], Mapping[str, Any]]


@dataclass(frozen=True)
class Forwarded:
    """What a forward did: label events sent, and the requests an expert skipped (their
    abstain closes the request in the daemon, so the caller removes the task)."""

    sent: int = 0
    skipped: list[str] = field(default_factory=list)


class AnswerForwarder:
    """Annotations → label events (or dead letters) for one connected project."""

    def __init__(
        self,
        client: LabelStudioClient,
        project_id: int,
        mapper: TaskMapper,
        index: TaskIndex,
        cursor: Cursor,
        cursor_store: CursorStore,
        labels: Sink,
        dead_letters: DeadLetters,
        metrics: BridgeMetrics,
        queue_name: str,
        flush_timeout: float,
    ) -> None:
        self.client = client
        self.project_id = project_id
        self.mapper = mapper
        self.index = index
        self.cursor = cursor
        self.cursor_store = cursor_store
        self.labels = labels
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.queue_name = queue_name
        self.flush_timeout = flush_timeout
        self._users: dict[int, Labeler] = {}
        self.failures: list[Exception] = []

    def catch_up(self) -> Forwarded:
        """Poll the tasks changed since the cursor's mark and forward what is not yet handled."""
        since = self.cursor.poll_from
        filters = None
        if since is not None:
            filters = {
                "conjunction": "and",
                "items": [
                    {
                        "filter": "filter:tasks:updated_at",
                        "operator": "greater",
                        "type": "Datetime",
                        "value": since,
                    }
                ],
            }
        tasks = list(self.client.tasks(self.project_id, filters))
        done = self.forward([(a, t) for t in tasks for a in (t.get("annotations") or [])])
        stamps = [t["updated_at"] for t in tasks if isinstance(t.get("updated_at"), str)]
        if stamps:
            self.cursor.advance(max(stamps, key=_parse_stamp))
        if self.cursor.dirty:
            self.cursor_store.save(self.cursor)
        self.metrics.last_poll.set(time.time())
        return done

    def forward(self, items: Sequence[Pair]) -> Forwarded:
        """Send the unhandled annotations on (label events or dead letters), wait for their
        delivery, then record them in the cursor."""
        marks: list[tuple[int, str]] = []
        sent: list[tuple[int, Answer]] = []
        self.failures.clear()
        for annotation, task in items:
            handled = self._send(annotation, task)
            if handled is not None:
                marks.append((handled[0], handled[1]))
                if handled[2] is not None:
                    sent.append((handled[0], handled[2]))
        if not marks:
            return Forwarded()
        left = self.labels.flush(self.flush_timeout)
        if left or self.failures:
            raise DeliveryError(f"label events not delivered: {self.failures or left}")
        updates = {a for a, _ in sent if a in self.cursor.handled}
        for annotation_id, version in marks:
            self.cursor.mark(annotation_id, version)
        self.cursor_store.save(self.cursor)
        for annotation_id, answer in sent:
            kind = "abstain" if answer.event.abstain else "label"
            self.metrics.forwarded("update" if annotation_id in updates else kind)
            age = _age(answer.event.labeled_at)
            if age is not None:
                self.metrics.answer_lag.observe(age)
        return Forwarded(sent=len(sent), skipped=[a.request_id for _, a in sent if a.event.abstain])

    def delivered(self, error: Exception | None) -> None:
        """Delivery report of a label event or dead letter."""
        if error is not None:
            self.failures.append(error)

    def _send(
        self, annotation: Mapping[str, Any], task: Mapping[str, Any]
    ) -> tuple[int, str, Answer | None] | None:
        """Queue one annotation's label event (or dead letter); None when already handled."""
        annotation_id = annotation.get("id")
        if not isinstance(annotation_id, int):
            self.dead_letters.send(
                DeadLetterReason.SCHEMA_VIOLATION,
                "annotation without an id",
                self.dead_letters.position(_int(task.get("id")), -1),
                payload_text({"annotation": dict(annotation)}),
            )
            return None
        version = str(annotation.get("updated_at") or annotation.get("created_at") or "")
        if self.cursor.seen(annotation_id, version):
            return None
        outcome = self._answer(annotation, task)
        if isinstance(outcome, Rejection):
            self.dead_letters.send(
                outcome.reason,
                outcome.detail,
                self.dead_letters.position(_int(task.get("id")), annotation_id),
                payload_text(outcome.payload),
            )
            return annotation_id, version, None
        self.labels.send(encode(outcome.event), outcome.event.id.encode(), self.delivered)
        return annotation_id, version, outcome

    def _answer(self, annotation: Mapping[str, Any], task: Mapping[str, Any]) -> Answer | Rejection:
        task_id = task.get("id")
        ref = self.index.by_task(task_id) if isinstance(task_id, int) else None
        if ref is None:
            return Rejection(
                DeadLetterReason.UNKNOWN_TASK,
                f"task {task_id!r} holds no request of queue {self.queue_name!r}",
                {"annotation": dict(annotation), "task_id": task_id},
            )
        known = {"id": ref.task_id, "data": {"request_id": ref.request_id, "id": ref.item_id}}
        return self.mapper.answer(annotation, known, self._labeler(annotation.get("completed_by")))

    def _labeler(self, completed_by: Any) -> Labeler:
        """The Label Studio user of an annotation (looked up once per user)."""
        if isinstance(completed_by, Mapping):
            user_id = _int(completed_by.get("id"))
            if user_id >= 0 and completed_by.get("email") is not None:
                return Labeler(
                    user_id,
                    str(completed_by.get("email") or ""),
                    str(completed_by.get("username") or ""),
                )
        else:
            user_id = _int(completed_by)
        if user_id < 0:
            return Labeler(-1)
        if user_id not in self._users:
            doc = self.client.user(user_id)
            self._users[user_id] = Labeler(
                user_id, str(doc.get("email") or ""), str(doc.get("username") or "")
            )
        return self._users[user_id]


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _parse_stamp(stamp: str) -> datetime:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)


def _age(labeled_at: datetime) -> float | None:
    age = (datetime.now(UTC) - labeled_at).total_seconds()
    return age if age >= 0 else None

"""The bridge's loop: label requests of one queue become Label Studio tasks, withdrawals remove
them, and submitted annotations (by webhook, and by a catch-up poll with a durable cursor)
become label events on the labels topic.

Reads like its table of contents: connect → (drain webhooks → catch up when due → consume
requests → commit) until stopped. Nothing is dropped when Label Studio is down: the step that
failed is retried with a growing (bounded) pause, requests stay uncommitted until their task
exists, and answers stay in Label Studio until their label event is delivered.

The loop owns the request side (tasks created, withdrawn, removed); the annotation side is its
collaborator :class:`~daemon.bridge.answers.AnswerForwarder`, which returns what it did.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from pydantic import ValidationError

from connectors.errors import ConnectorError, DeliveryError
from connectors.label_studio import (
    LabelConfigError,
    LabelStudioClient,
    LabelStudioError,
    LabelStudioRejectedError,
)
from connectors.protocols import Sink, TopicPartition
from connectors.record import Record
from daemon.bridge import webhooks
from daemon.bridge.answers import AnswerForwarder, Forwarded
from daemon.bridge.cursor import Cursor, CursorStore
from daemon.bridge.deadletters import DeadLetters
from daemon.bridge.index import TaskIndex, TaskRef, ref_of
from daemon.bridge.metrics import BridgeMetrics
from daemon.bridge.project import Project, ensure_project, ensure_webhook
from daemon.bridge.server import BridgeHealth
from daemon.bridge.tasks import TaskMapper
from daemon.contracts.messages import (
    DeadLetterReason,
    LabelRequest,
    SourcePosition,
)
from daemon.errors import ConfigError
from daemon.service.lifecycle import StopFlag

log = structlog.get_logger("labelgate.bridge")

_LAG_EVERY = 5.0


class RequestSource(Protocol):
    """The consumer of label requests (a :class:`~connectors.kafka.KafkaGroupSource`)."""

    def poll(self, max_records: int, timeout: float) -> list[Record]: ...
    def store_offsets(self, positions: Mapping[TopicPartition, int]) -> None: ...
    def commit(self) -> None: ...
    def lag(self) -> dict[TopicPartition, int]: ...
    def close(self) -> None: ...

    @property
    def assigned(self) -> bool: ...


@dataclass(frozen=True)
class ProjectSpec:
    """What the queue wants of its Label Studio project."""

    classes: list[str]
    title: str
    project_id: int | None = None
    label_config: str | None = None
    overlap: int = 1
    webhook_url: str | None = None
    webhook_secret: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    default_role: str = "expert"


@dataclass(frozen=True)
class Timing:
    """How often the loop does what, and how long it pauses after a failure."""

    poll_interval: float = 10.0
    commit_interval: float = 2.0
    batch_size: int = 100
    poll_timeout: float = 0.5
    backoff: float = 0.5
    backoff_max: float = 30.0


class Bridge:
    """One queue's bridge between Kafka and a Label Studio project.

    The loop is single-threaded: the HTTP server only queues webhook bodies in ``inbox``.
    """

    def __init__(
        self,
        queue_name: str,
        client: LabelStudioClient,
        spec: ProjectSpec,
        source: RequestSource,
        labels: Sink,
        dead_letters: Sink,
        cursor_store: CursorStore,
        metrics: BridgeMetrics,
        health: BridgeHealth,
        inbox: queue.Queue[bytes],
        stop: StopFlag,
        timing: Timing = Timing(),
        flush_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.queue_name = queue_name
        self.client = client
        self.spec = spec
        self.source = source
        self.labels = labels
        self.dead_letters = dead_letters
        self.cursor_store = cursor_store
        self.metrics = metrics
        self.health = health
        self.inbox = inbox
        self.stop = stop
        self.timing = timing
        self.flush_timeout = flush_timeout
        self.clock = clock
        self.sleep = sleep
        self.index = TaskIndex()
        self.cursor = Cursor()
        self._project: Project | None = None
        self._mapper: TaskMapper | None = None
        self.dead = DeadLetters(dead_letters, metrics, self._delivered)
        self._answers: AnswerForwarder | None = None
        self._hooks: list[bytes] = []
        self._backlog: list[Record] = []
        self._offsets: dict[TopicPartition, int] = {}
        self._uncommitted = False
        self._ambiguous: set[str] = set()
        self._pause = timing.backoff
        self._next_poll = 0.0
        self._next_commit = 0.0
        self._next_lag = 0.0
        self._failures: list[Exception] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def run(self) -> None:
        """Connect, then bridge until stopped; shut down cleanly either way."""
        self.health.started = True
        self.health.beat()
        try:
            if self._connect():
                while not self.stop.is_set:
                    self.health.beat()
                    self._guarded("step", self.step)
        finally:
            self.shutdown()

    def step(self) -> None:
        """One turn of the loop."""
        self._drain_webhooks()
        now = self.clock()
        if now >= self._next_poll:
            self._closed_by_experts(self.answers.catch_up())
            self._next_poll = self.clock() + self.timing.poll_interval
        self._consume()
        if self._uncommitted and self.clock() >= self._next_commit:
            self._commit()
        if self.clock() >= self._next_lag:
            self.metrics.request_lag.set(sum(self.source.lag().values()))
            self.metrics.open_tasks.set(len(self.index))
            self._next_lag = self.clock() + _LAG_EVERY
        self.health.kafka = self.source.assigned
        self.health.label_studio = True
        self.metrics.label_studio_up.set(1)
        self._pause = self.timing.backoff

    def shutdown(self) -> None:
        """Commit what is done, save the cursor, close the clients (bounded)."""
        self.health.stopping = True
        try:
            self._commit()
            if self.cursor.dirty:
                self.cursor_store.save(self.cursor)
        except ConnectorError as exc:
            log.error("bridge_shutdown_incomplete", error=str(exc))
        finally:
            self.source.close()
            self.labels.flush(self.flush_timeout)

    def _connect(self) -> bool:
        """Until Label Studio answers: the project, the webhook, the index, a first catch-up."""
        while not self.stop.is_set:
            self.health.beat()
            if self._guarded("connect", self._setup):
                log.info(
                    "bridge_connected",
                    queue=self.queue_name,
                    project=self.project.project_id,
                    tasks=len(self.index),
                )
                return True
        return False

    def _setup(self) -> None:
        s = self.spec
        self.cursor = self.cursor_store.load()
        try:
            self._project = ensure_project(
                self.client, s.classes, s.title, s.project_id, s.label_config, s.overlap
            )
        except LabelConfigError as exc:
            raise ConfigError(f"queue {self.queue_name!r}: {exc}") from exc
        if s.webhook_url:
            ensure_webhook(self.client, self._project.project_id, s.webhook_url, s.webhook_secret)
        self._mapper = TaskMapper(
            s.classes, self._project.from_name, self._project.to_name, s.roles, s.default_role
        )
        surplus = self.index.rebuild(self.client.tasks(self._project.project_id))
        if surplus:
            log.warning("label_studio_duplicate_tasks", tasks=surplus)
        self.dead.project_id = self._project.project_id
        self._answers = AnswerForwarder(
            self.client,
            self._project.project_id,
            self._mapper,
            self.index,
            self.cursor,
            self.cursor_store,
            self.labels,
            self.dead,
            self.metrics,
            self.queue_name,
            self.flush_timeout,
        )
        self.health.label_studio = True
        self.metrics.label_studio_up.set(1)
        self._closed_by_experts(self.answers.catch_up())
        self._next_poll = self.clock() + self.timing.poll_interval

    def _guarded(self, operation: str, action: Callable[[], None]) -> bool:
        """Run a step; on a Label Studio or Kafka failure count it, pause (growing) and return
        False so the caller retries. Configuration errors and bugs propagate."""
        try:
            action()
        except (LabelStudioError, ConnectorError) as exc:
            refused = isinstance(exc, LabelStudioRejectedError) and exc.status in (401, 403)
            if refused and operation == "connect":
                raise ConfigError(f"Label Studio refused the token: {exc}") from exc
            self.metrics.error(operation)
            if isinstance(exc, LabelStudioError):
                self.health.label_studio = False
                self.metrics.label_studio_up.set(0)
            log.warning("bridge_retry", operation=operation, error=str(exc), pause=self._pause)
            self._wait(self._pause)
            self._pause = min(self._pause * 2, self.timing.backoff_max)
            return False
        return True

    def _wait(self, seconds: float) -> None:
        deadline = self.clock() + seconds
        while not self.stop.is_set and self.clock() < deadline:
            self.health.beat()
            self.sleep(min(0.1, max(0.0, deadline - self.clock())))

    @property
    def project(self) -> Project:
        """The connected project."""
        assert self._project is not None, "not connected"
        return self._project

    @property
    def answers(self) -> AnswerForwarder:
        """The annotation side of the connected project."""
        assert self._answers is not None, "not connected"
        return self._answers

    @property
    def mapper(self) -> TaskMapper:
        """The request/annotation mapping for the connected project."""
        assert self._mapper is not None, "not connected"
        return self._mapper

    # -- requests -> tasks -------------------------------------------------------------------

    def _consume(self) -> None:
        if not self._backlog:
            self._backlog = self.source.poll(self.timing.batch_size, self.timing.poll_timeout)
        while self._backlog and not self.stop.is_set:
            record = self._backlog[0]
            self.handle_request(record)
            self._backlog.pop(0)
            self._offsets[(record.topic, record.partition)] = record.offset + 1
            self._uncommitted = True

    def handle_request(self, record: Record) -> None:
        """One label request message: a task, a withdrawal, a duplicate or a dead letter."""
        try:
            request = LabelRequest.model_validate_json(record.value or b"")
        except ValidationError as exc:
            json_error = any(e["type"] == "json_invalid" for e in exc.errors())
            reason = (
                DeadLetterReason.INVALID_JSON if json_error else DeadLetterReason.SCHEMA_VIOLATION
            )
            self.dead.send(
                reason,
                _first_line(exc),
                SourcePosition(
                    topic=record.topic, partition=record.partition, offset=record.offset
                ),
                (record.value or b"").decode(errors="replace"),
            )
            return
        if request.queue != self.queue_name:
            return  # another queue's request on a shared topic
        if request.withdrawn:
            self.withdraw(request)
        else:
            self.create(request, record)

    def create(self, request: LabelRequest, record: Record | None = None) -> None:
        """The request's task, unless one exists already (replay, redelivery, restart)."""
        if self.cursor.is_closed(request.request_id):
            self.metrics.tasks_duplicate.inc()
            return
        ref = self.index.by_request(request.request_id)
        if ref is None and request.request_id in self._ambiguous:
            # An earlier create may have reached Label Studio: look before creating again.
            for task in self.client.tasks_where(
                self.project.project_id, "request_id", request.request_id
            ):
                found = ref_of(task)
                if found is not None and found.request_id not in self.index:
                    self.index.add(found)
            ref = self.index.by_request(request.request_id)
        spec = self.mapper.task(request)
        if ref is not None:
            self.metrics.tasks_duplicate.inc()
            if not ref.predicted and spec.prediction is not None:
                self._predict(ref, spec.prediction, spec.score, spec.model_version)
            return
        self._ambiguous.add(request.request_id)
        try:
            task = self.client.create_task(self.project.project_id, spec.data, overlap=spec.overlap)
        except LabelStudioRejectedError as exc:
            self._ambiguous.discard(request.request_id)
            position = (
                SourcePosition(topic=record.topic, partition=record.partition, offset=record.offset)
                if record is not None
                else self.dead.position(-1, -1)
            )
            self.dead.send(
                DeadLetterReason.SCHEMA_VIOLATION,
                f"Label Studio rejected the task: {exc}",
                position,
                json.dumps(spec.data, default=str),
            )
            return
        self._ambiguous.discard(request.request_id)
        ref = TaskRef(
            task_id=int(task["id"]),
            request_id=request.request_id,
            item_id=request.id,
            predicted=spec.prediction is None,
        )
        self.index.add(ref)
        self.metrics.tasks_created.inc()
        log.info("task_created", queue=self.queue_name, task=ref.task_id)
        if spec.prediction is not None:
            self._predict(ref, spec.prediction, spec.score, spec.model_version)

    def _predict(
        self,
        ref: TaskRef,
        result: list[dict[str, Any]],
        score: float | None,
        model_version: str | None,
    ) -> None:
        """The production prediction as the task's pre-annotation (once)."""
        if not self.client.predictions(ref.task_id):
            self.client.create_prediction(ref.task_id, result, score, model_version)
        self.index.add(TaskRef(ref.task_id, ref.request_id, ref.item_id, predicted=True))

    def withdraw(self, request: LabelRequest) -> None:
        """Remove the task of a withdrawn (expired, evicted) request, forwarding its answers
        first: an answer given just before the withdrawal still reaches the daemon."""
        ref = self.index.by_request(request.request_id)
        if ref is None:
            if not self.cursor.is_closed(request.request_id):
                self.cursor.close(request.request_id)
                self.cursor_store.save(self.cursor)
            return
        try:
            annotations = self.client.annotations(ref.task_id)
        except LabelStudioRejectedError as exc:
            if exc.status != 404:
                raise
            annotations = []  # someone deleted the task in Label Studio already
        task = {"id": ref.task_id, "data": {"request_id": ref.request_id, "id": ref.item_id}}
        self.answers.forward([(a, task) for a in annotations])
        self._remove(ref, [_int(a.get("id")) for a in annotations])
        self.metrics.withdrawn(request.reason)
        log.info("task_withdrawn", queue=self.queue_name, task=ref.task_id, reason=request.reason)

    def _remove(self, ref: TaskRef, annotation_ids: list[int]) -> None:
        """Delete a task for good: remembered as closed (durably) before it is deleted."""
        self.cursor.close(ref.request_id)
        self.cursor_store.save(self.cursor)
        self.client.delete_task(ref.task_id)
        self.index.discard(ref.task_id)
        self.cursor.forget(annotation_ids)

    def _commit(self) -> None:
        # Dead letters of the requests below must be delivered before their offsets commit.
        left = self.labels.flush(self.flush_timeout)
        failures, self._failures = self._failures, []
        if left or failures:
            raise DeliveryError(f"outputs not delivered ({failures or left}); not committed")
        if self._offsets:
            self.source.store_offsets(dict(self._offsets))
            self._offsets.clear()
        if self._uncommitted:
            self.source.commit()
            self._uncommitted = False
        self._next_commit = self.clock() + self.timing.commit_interval

    def _drain_webhooks(self) -> None:
        while True:
            try:
                self._hooks.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        while self._hooks:
            self.handle_webhook(self._hooks[0])
            self._hooks.pop(0)
            self.metrics.webhooks.inc()

    def handle_webhook(self, body: bytes) -> None:
        """One webhook call: annotations created or updated are forwarded, deletions noted."""
        call = webhooks.read(body, self.project.project_id)
        if isinstance(call, webhooks.Malformed):
            self.dead.send(
                call.reason, call.detail, self.dead.position(-1, -1), body.decode(errors="replace")
            )
        elif isinstance(call, webhooks.Deleted):
            handled = [i for i in call.annotation_ids if i in self.cursor.handled]
            for _ in handled:
                self.metrics.annotations_deleted.inc()
            if handled:
                log.warning("handled_annotations_deleted", annotations=handled)
            self.cursor.forget(call.annotation_ids)
        elif isinstance(call, webhooks.Forward):
            self._closed_by_experts(self.answers.forward(self._verified(call.pairs)))

    def _verified(self, pairs: list[webhooks.Pair]) -> list[webhooks.Pair]:
        """A webhook is only a hint: the annotations of our tasks are read back from Label
        Studio itself, so a forged or stale call can never make a label event. Answers on
        other tasks keep their payload, for the dead letter that says so."""
        out: list[webhooks.Pair] = []
        looked: set[int] = set()
        for annotation, task in pairs:
            task_id = task.get("id")
            ref = self.index.by_task(task_id) if isinstance(task_id, int) else None
            if ref is None:
                out.append((annotation, task))
                continue
            if ref.task_id in looked:
                continue
            looked.add(ref.task_id)
            try:
                current = self.client.annotations(ref.task_id)
            except LabelStudioRejectedError as exc:
                if exc.status != 404:
                    raise
                continue  # the task is gone already
            out += [(a, {"id": ref.task_id}) for a in current]
        return out

    def _closed_by_experts(self, done: Forwarded) -> None:
        """A skip closes the request in the daemon (abstain), so its task leaves the queue too."""
        for request_id in done.skipped:
            ref = self.index.by_request(request_id)
            if ref is not None:
                self._remove(ref, [])
                self.metrics.withdrawn("skipped")

    def _delivered(self, error: Exception | None) -> None:
        if error is not None:
            self._failures.append(error)


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__

"""The mapping between labelgate's messages and Label Studio's: a request becomes a task (with
the production prediction as a pre-annotation), an annotation becomes a label event.

Pure: no I/O, no clock. What a request carries is all a task gets; the daemon has already
applied the queue's allow-list and redaction, and nothing is added here but presentation
(a title, a context line and a text rendering of the same fields).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from daemon.contracts.messages import DeadLetterReason, LabelEvent, LabelRequest

#: Task data keys that are not request fields but their presentation in the labeling view.
VIEW_KEYS = ("title", "context", "summary")

#: The request fields a task carries (``withdrawn`` is a message, never a task).
REQUEST_KEYS = tuple(k for k in LabelRequest.model_fields if k not in {"withdrawn"})


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """What the bridge asks Label Studio to create for one request."""

    request_id: str
    data: dict[str, Any]
    overlap: int
    prediction: list[dict[str, Any]] | None
    score: float | None
    model_version: str | None


@dataclass(frozen=True, slots=True)
class Answer:
    """An annotation that becomes a label event."""

    event: LabelEvent
    request_id: str


@dataclass(frozen=True, slots=True)
class Rejection:
    """An annotation that cannot become a label event: dead-lettered with a reason."""

    reason: DeadLetterReason
    detail: str
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Labeler:
    """Who answered: Label Studio user id with its email and username (either may be empty)."""

    user_id: int
    email: str = ""
    username: str = ""

    @property
    def name(self) -> str:
        """The labeler id sent on: the email, else the username, else ``ls-user-<id>``."""
        return self.email or self.username or f"ls-user-{self.user_id}"


class TaskMapper:
    """Turns requests into task specs and annotations into label events, for one queue.

    Parameters
    ----------
    classes
        The classes an answer may name; anything else is dead-lettered (``unknown_class``).
    from_name, to_name
        The names of the labeling config's ``Choices`` tag and the object it labels.
    roles
        Label Studio user (email or username) or group of users (``@domain``) →
        ``labeler_role``.
    default_role
        The role of users not in ``roles`` (the queue's role).
    """

    def __init__(
        self,
        classes: list[str],
        from_name: str = "label",
        to_name: str = "item",
        roles: Mapping[str, str] | None = None,
        default_role: str = "expert",
    ) -> None:
        self.classes = list(classes)
        self.from_name = from_name
        self.to_name = to_name
        self.roles = dict(roles or {})
        self.default_role = default_role
        self._known = frozenset(self.classes)

    # -- requests -> tasks -------------------------------------------------------------------

    def task(self, request: LabelRequest) -> TaskSpec:
        """The task for a (not withdrawn) request: its fields, a view of them, a pre-annotation."""
        fields = request.model_dump(mode="json", include=set(REQUEST_KEYS))
        data = {**fields, **self._view(request)}
        prediction = None
        score = None
        if request.prediction is not None and request.prediction in self._known:
            prediction = [
                {
                    "from_name": self.from_name,
                    "to_name": self.to_name,
                    "type": "choices",
                    "value": {"choices": [request.prediction]},
                }
            ]
            if request.proba:
                score = request.proba.get(request.prediction)
        return TaskSpec(
            request_id=request.request_id,
            data=data,
            overlap=max(1, request.labels_required),
            prediction=prediction,
            score=score,
            model_version=request.model_version,
        )

    @staticmethod
    def _view(request: LabelRequest) -> dict[str, str]:
        title = f"{request.queue}: item {request.id}"
        due = request.deadline.isoformat()
        context = (
            f"instructions {request.instructions_id or '-'}"
            f"{' v' + request.instructions_version if request.instructions_version else ''}"
            f" | priority {request.priority:.3f} | due {due} | reason {request.reason}"
        )
        lines = [f"{name}: {value}" for name, value in request.features.items()]
        lines += [f"group.{name}: {value}" for name, value in request.group.items()]
        if request.prediction is not None:
            proba = ""
            if request.proba:
                proba = " (" + ", ".join(f"{k}: {v:.3f}" for k, v in request.proba.items()) + ")"
            lines.append(
                f"production prediction: {request.prediction}{proba}"
                f" [model {request.model_version or '-'}]"
            )
        return {"title": title, "context": context, "summary": "\n".join(lines) or "-"}

    # -- annotations -> label events ---------------------------------------------------------

    def answer(
        self, annotation: Mapping[str, Any], task: Mapping[str, Any], labeler: Labeler
    ) -> Answer | Rejection:
        """The label event for a submitted (or skipped) annotation of one of our tasks."""
        payload = {"annotation": dict(annotation), "task_id": task.get("id")}
        data = task.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get("request_id"), str):
            return Rejection(DeadLetterReason.UNKNOWN_TASK, "task has no request_id", payload)
        item_id = data.get("id")
        if not isinstance(item_id, str) or not item_id:
            return Rejection(DeadLetterReason.UNKNOWN_TASK, "task has no item id", payload)
        skipped = bool(annotation.get("was_cancelled"))
        label: str | None = None
        if not skipped:
            picked = self._choice(annotation.get("result"))
            if isinstance(picked, Rejection):
                return Rejection(picked.reason, picked.detail, payload)
            label = picked
        try:
            event = LabelEvent(
                id=item_id,
                label=label,
                abstain=skipped,
                labeler_id=labeler.name,
                labeler_role=self.role_of(labeler),
                labeled_at=_timestamp(annotation.get("updated_at") or annotation.get("created_at")),
            )
        except (ValidationError, ValueError, TypeError) as exc:
            return Rejection(DeadLetterReason.SCHEMA_VIOLATION, _short(exc), payload)
        return Answer(event=event, request_id=data["request_id"])

    def role_of(self, labeler: Labeler) -> str:
        """The configured role of a user: by email, then username, then ``@domain`` of the
        email (a group: Label Studio Community has no user groups), else the queue's role."""
        domain = "@" + labeler.email.rsplit("@", 1)[1] if "@" in labeler.email else ""
        for key in (labeler.email, labeler.username, domain):
            if key and key in self.roles:
                return self.roles[key]
        return self.default_role

    def _choice(self, result: Any) -> str | Rejection:
        if not isinstance(result, list):
            return Rejection(DeadLetterReason.SCHEMA_VIOLATION, "annotation result is not a list")
        picked: list[Any] = []
        for region in result:
            if not isinstance(region, Mapping) or region.get("from_name") != self.from_name:
                continue
            value = region.get("value")
            choices = value.get("choices") if isinstance(value, Mapping) else None
            if not isinstance(choices, list):
                return Rejection(DeadLetterReason.SCHEMA_VIOLATION, "choices are not a list")
            picked.extend(choices)
        if len(picked) != 1:
            return Rejection(
                DeadLetterReason.SCHEMA_VIOLATION,
                f"expected one choice in {self.from_name!r}, found {len(picked)}",
            )
        choice = picked[0]
        if not isinstance(choice, str) or choice not in self._known:
            return Rejection(
                DeadLetterReason.UNKNOWN_CLASS,
                f"class {str(choice)[:100]!r} is not one of {self.classes}",
            )
        return choice


def _timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("annotation has no time")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def payload_text(payload: Mapping[str, Any]) -> str:
    """A dead letter's payload as strict JSON text."""
    return json.dumps(payload, sort_keys=True, default=str)

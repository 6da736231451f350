"""The Label Studio project a queue is served from: found or created, its labeling config
generated from the classes (or a given one checked against them), its overlap set to the
queue's ``labels_required``, and the bridge's webhook registered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from connectors.label_studio import LabelStudioClient, choices_config, choices_of
from daemon.bridge.server import SECRET_HEADER
from daemon.bridge.webhooks import ACTIONS as WEBHOOK_ACTIONS

log = structlog.get_logger("labelgate.bridge")


@dataclass(frozen=True, slots=True)
class Project:
    """A ready project: its id and the names of its ``Choices`` tag and labeled object."""

    project_id: int
    from_name: str
    to_name: str


def ensure_project(
    client: LabelStudioClient,
    classes: Sequence[str],
    title: str,
    project_id: int | None,
    label_config: str | None,
    overlap: int,
) -> Project:
    """The project, created or brought in line with the queue.

    A given ``label_config`` must offer exactly the classes (else
    :class:`~connectors.label_studio.LabelConfigError`); an existing project's config is
    checked the same way and replaced by the generated one only when the bridge made it.
    """
    wanted = label_config or choices_config(classes)
    from_name, to_name = choices_of(wanted, classes)
    if project_id is not None:
        doc = client.project(project_id)
    else:
        found = client.find_project(title)
        doc = (
            found
            if found is not None
            else client.create_project(
                title,
                label_config=wanted,
                maximum_annotations=overlap,
                description="Label requests routed here by labelgate; answers go back to it.",
                show_collab_predictions=True,
            )
        )
    pid = int(doc["id"])
    changes: dict[str, object] = {}
    current = str(doc.get("label_config") or "")
    if label_config is None and project_id is not None and current.strip():
        # An existing project keeps its own config, provided it offers exactly the classes.
        from_name, to_name = choices_of(current, classes)
    elif current.strip() != wanted.strip():
        changes["label_config"] = wanted
    if int(doc.get("maximum_annotations") or 1) != overlap:
        changes["maximum_annotations"] = overlap
    if changes:
        log.info("label_studio_project_updated", project=pid, fields=sorted(changes))
        client.update_project(pid, **changes)
    return Project(project_id=pid, from_name=from_name, to_name=to_name)


def ensure_webhook(
    client: LabelStudioClient, project_id: int, url: str, secret: str | None
) -> None:
    """Register (or re-activate) the bridge's webhook for the project's annotation events."""
    headers = {SECRET_HEADER: secret} if secret else {}
    for hook in client.webhooks(project_id):
        if hook.get("url") == url:
            if not hook.get("is_active", True) or sorted(hook.get("actions") or []) != sorted(
                WEBHOOK_ACTIONS
            ):
                client.update_webhook(
                    int(hook["id"]),
                    is_active=True,
                    actions=list(WEBHOOK_ACTIONS),
                    headers=headers,
                    send_payload=True,
                )
            return
    client.create_webhook(project_id, url, WEBHOOK_ACTIONS, headers)

"""Which Label Studio task holds which request: the bridge's idempotency index.

Rebuilt from Label Studio itself at startup (every task stores its ``request_id``), so a
restarted bridge knows every task it ever created and never creates a second one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class TaskRef:
    """One task of the project and the request it holds."""

    task_id: int
    request_id: str
    item_id: str
    predicted: bool = True


class TaskIndex:
    """request_id ↔ task, for the tasks of one project.

    >>> index = TaskIndex()
    >>> index.add(TaskRef(7, "r-1", "item-1"))
    >>> index.by_request("r-1").task_id, index.by_task(7).item_id, len(index)
    (7, 'item-1', 1)
    >>> index.discard(7); "r-1" in index
    False
    """

    def __init__(self) -> None:
        self._by_request: dict[str, TaskRef] = {}
        self._by_task: dict[int, TaskRef] = {}

    def rebuild(self, tasks: Iterable[Mapping[str, Any]]) -> list[int]:
        """Index tasks as Label Studio lists them; return the ids of surplus duplicates.

        A duplicate (two tasks for one request) can only come from an outside import; the
        oldest task holds the request, the others are returned for the caller to report.
        """
        self._by_request.clear()
        self._by_task.clear()
        surplus: list[int] = []
        for task in sorted(tasks, key=lambda t: int(t.get("id", 0))):
            ref = ref_of(task)
            if ref is None:
                continue
            if ref.request_id in self._by_request:
                # Answers on a surplus task still reach the request; no new task is made.
                surplus.append(ref.task_id)
                self._by_task[ref.task_id] = ref
                continue
            self.add(ref)
        return surplus

    def add(self, ref: TaskRef) -> None:
        """Record a task."""
        self._by_request[ref.request_id] = ref
        self._by_task[ref.task_id] = ref

    def by_request(self, request_id: str) -> TaskRef | None:
        """The task holding a request, if any."""
        return self._by_request.get(request_id)

    def by_task(self, task_id: int) -> TaskRef | None:
        """The request a task holds, if it is one of ours."""
        return self._by_task.get(task_id)

    def discard(self, task_id: int) -> None:
        """Forget a task (deleted)."""
        ref = self._by_task.pop(task_id, None)
        if ref is not None:
            self._by_request.pop(ref.request_id, None)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._by_request

    def __len__(self) -> int:
        return len(self._by_request)

    def __iter__(self) -> Iterator[TaskRef]:
        return iter(list(self._by_request.values()))


def ref_of(task: Mapping[str, Any]) -> TaskRef | None:
    """The reference of a task created by the bridge (None for anything else)."""
    data = task.get("data")
    task_id = task.get("id")
    if not isinstance(data, Mapping) or not isinstance(task_id, int):
        return None
    request_id, item_id = data.get("request_id"), data.get("id")
    if not isinstance(request_id, str) or not isinstance(item_id, str):
        return None
    predicted = int(task.get("total_predictions") or 0) > 0 or bool(task.get("predictions"))
    return TaskRef(task_id=task_id, request_id=request_id, item_id=item_id, predicted=predicted)

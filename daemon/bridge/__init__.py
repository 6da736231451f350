"""The Label Studio bridge: label requests become tasks, expert answers become label events."""

from daemon.bridge.cursor import Cursor
from daemon.bridge.index import TaskIndex, TaskRef
from daemon.bridge.tasks import Answer, Rejection, TaskMapper, TaskSpec

__all__ = ["Answer", "Cursor", "Rejection", "TaskIndex", "TaskMapper", "TaskRef", "TaskSpec"]

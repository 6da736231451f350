"""Signal handling: the first SIGTERM/SIGINT asks for a graceful stop, a second SIGINT forces it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class StopFlag:
    """Set by signal handlers (which do nothing else) and read by the loop."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signals = 0

    def set(self) -> None:
        """Ask the loop to stop."""
        self._event.set()

    @property
    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._event.is_set()


@contextmanager
def capture_signals(stop: StopFlag) -> Iterator[None]:
    """Install handlers for SIGTERM and SIGINT, restoring the previous ones on exit.

    Only works in the main thread; elsewhere (tests driving the loop in a thread) it is a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.signals += 1
        if signum == signal.SIGINT and stop.signals > 1:
            raise KeyboardInterrupt
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handle)
    try:
        yield
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)

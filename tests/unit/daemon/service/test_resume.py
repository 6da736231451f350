"""A lost transaction: the daemon is abandoned and a new one resumes in the same process."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from daemon.errors import TransactionAbortedError
from daemon.monitoring.status import Status
from daemon.service import app
from daemon.service.lifecycle import StopFlag
from tests.unit.daemon.fakes import settings


class _Client:
    """Stands in for a Kafka client of the abandoned daemon."""


class _Daemon:
    """Runs once: the first loses its transaction inside a call holding a client, the
    second stops."""

    def __init__(self, lose: bool) -> None:
        self.lose = lose
        self.status = Status()
        self.config_hash = "h"

    def run(self, stop: StopFlag, on_started: Any = None) -> None:
        if self.lose:
            self._commit(_Client())
        stop.set()

    @staticmethod
    def _commit(client: _Client) -> None:
        raise TransactionAbortedError("commit: broker away")


def test_the_abandoned_daemons_clients_are_released_before_the_resume(tmp_path, monkeypatch):
    """The lost transaction's traceback holds the abandoned daemon's clients: the resume starts
    only once they are gone (else two producers and consumers run side by side while the broker
    is away)."""
    clients: list[weakref.ref[_Client]] = []
    real = _Client.__init__

    def tracked(self: _Client) -> None:
        real(self)
        clients.append(weakref.ref(self))

    monkeypatch.setattr(_Client, "__init__", tracked)
    seen: list[bool] = []

    def resume(*_args: Any) -> _Daemon:
        seen.append(all(ref() is None for ref in clients))
        return _Daemon(lose=False)

    monkeypatch.setattr(app, "check_startup", lambda _settings: None)
    monkeypatch.setattr(app, "build_daemon", lambda *_a, **_k: _Daemon(lose=True))
    monkeypatch.setattr(app, "_resume", resume)
    gc.disable()  # only reference counting may free them: no collection hides a leak
    try:
        daemon = app.serve(settings(tmp_path), StopFlag())
    finally:
        gc.enable()
    assert clients, "the first daemon made a client"
    assert seen == [True]
    assert not daemon.lose

"""Signal handling: handlers only set the stop flag, a second SIGINT forces, handlers restored."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from daemon.service.lifecycle import StopFlag, capture_signals


def test_sigterm_sets_the_stop_flag_and_nothing_else():
    """The first SIGTERM asks for a graceful stop: the flag is set, no exception."""
    stop = StopFlag()
    with capture_signals(stop):
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set
        assert stop.signals == 1


def test_a_second_sigint_forces_exit():
    """The first SIGINT sets the flag; the second raises KeyboardInterrupt."""
    stop = StopFlag()
    with capture_signals(stop):
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.is_set
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert stop.signals == 2


def test_previous_handlers_are_restored_on_exit():
    """After the block, SIGTERM and SIGINT have their earlier handlers back."""
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with capture_signals(StopFlag()):
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]
    assert {s: signal.getsignal(s) for s in before} == before


def test_outside_the_main_thread_nothing_is_installed():
    """In a worker thread (tests driving the loop) capture_signals is a no-op."""
    before = signal.getsignal(signal.SIGTERM)
    seen = []

    def worker():
        with capture_signals(StopFlag()):
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]

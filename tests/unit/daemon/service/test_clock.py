"""Clocks: event time for replays, wall time for production."""

import time

from daemon.service.clock import EventClock, WallClock


def test_event_clock_follows_the_latest_event_time():
    """Now is the maximum event time observed; late events do not move it back."""
    clock = EventClock(start=5.0)
    assert clock.now() == 5.0
    for t, expected in [(10.0, 10.0), (7.0, 10.0), (12.5, 12.5)]:
        clock.observe(t)
        assert clock.now() == expected


def test_wall_clock_ignores_event_times():
    """The wall clock reads the system time whatever events say."""
    clock = WallClock()
    clock.observe(0.0)
    assert abs(clock.now() - time.time()) < 5.0


def test_event_clock_has_started_once_it_has_seen_an_event():
    """Before its first event the event clock's time is no time of the stream."""
    clock = EventClock()
    assert not clock.started
    clock.observe(1.7e9)
    assert clock.started
    assert WallClock().started

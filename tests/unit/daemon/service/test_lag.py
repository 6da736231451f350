"""Lag polling: the broker is asked at most once per interval."""

from __future__ import annotations

from daemon.service.lag import LagPoller


class Source:
    def __init__(self) -> None:
        self.asked = 0

    def lag(self):
        self.asked += 1
        return {("predictions", 0): self.asked}


def test_lag_is_refreshed_once_per_interval():
    """poll(mono) asks the source only when ``interval`` seconds passed; lag keeps the latest."""
    source = Source()
    poller = LagPoller(source, interval=5.0)  # type: ignore[arg-type]
    assert poller.lag == {}
    poller.poll(10.0)
    poller.poll(12.0)
    assert (source.asked, poller.lag) == (1, {("predictions", 0): 1})
    poller.poll(15.0)
    assert (source.asked, poller.lag) == (2, {("predictions", 0): 2})

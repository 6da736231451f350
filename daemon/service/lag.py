"""Consumer lag, polled every few seconds (asking the broker per batch would cost a round trip)."""

from __future__ import annotations

from connectors.protocols import CommittingSource, TopicPartition


class LagPoller:
    """Keeps the latest lag per partition of the prediction source."""

    def __init__(self, source: CommittingSource, interval: float = 5.0) -> None:
        self.source = source
        self.interval = interval
        self._last = 0.0
        self._lag: dict[TopicPartition, int] = {}

    @property
    def lag(self) -> dict[TopicPartition, int]:
        """Messages behind the end, per partition, as of the last poll."""
        return self._lag

    def poll(self, mono: float) -> None:
        """Ask the source for its lag if ``interval`` seconds passed since the last time."""
        if mono - self._last >= self.interval:
            self._lag = self.source.lag()
            self._last = mono

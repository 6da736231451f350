"""Drift detectors (River ADWIN) on the signals of the feedback loop."""

from __future__ import annotations

from typing import Any

from river import drift


class DriftMonitor:
    """ADWIN on oracle-vs-production disagreement (per label) and on the uncertainty (per item).

    A detection on disagreement means the production model's error on labeled items changed
    (concept drift); on uncertainty, that the stream moved relative to what the model knows.

    >>> m = DriftMonitor()
    >>> hits = [m.observe_disagreement(i >= 1000) for i in range(2000)]
    >>> m.detections["oracle_disagreement"] >= 1
    True
    """

    SIGNALS = ("oracle_disagreement", "uncertainty")

    def __init__(self, delta: float = 0.002) -> None:
        self.delta = delta
        self._disagreement: Any = drift.ADWIN(delta=delta)  # type: ignore[no-untyped-call]
        self._uncertainty: Any = drift.ADWIN(delta=delta)  # type: ignore[no-untyped-call]
        self.detections = dict.fromkeys(self.SIGNALS, 0)

    def observe_disagreement(self, disagrees: bool) -> bool:
        """Feed one label; True when a change is detected now."""
        self._disagreement.update(1.0 if disagrees else 0.0)
        if self._disagreement.drift_detected:
            self.detections["oracle_disagreement"] += 1
            return True
        return False

    def observe_uncertainty(self, value: float) -> bool:
        """Feed one item's uncertainty; True when a change is detected now."""
        self._uncertainty.update(value)
        if self._uncertainty.drift_detected:
            self.detections["uncertainty"] += 1
            return True
        return False

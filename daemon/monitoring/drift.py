"""Drift detectors (River ADWIN) on the signals of the feedback loop."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

_Engine: Any
try:
    # The engine of river.drift.ADWIN: importing river.drift itself loads every detector of the
    # package, KSWIN's scipy.stats among them (about a second of start-up).
    from river._river_rust.drift import AdaptiveWindowing as _Engine
except ImportError:  # a River whose ADWIN is not the Rust one
    _Engine = None


class Adwin:
    """River's ADWIN (default parameters): after a detection the next value starts a new
    window, as ``river.drift.ADWIN.update`` does."""

    __slots__ = ("_detected", "_helper", "delta")

    def __init__(self, delta: float = 0.002) -> None:
        self.delta = delta
        self._helper = self._new()
        self._detected = False

    def _new(self) -> Any:
        if _Engine is None:
            from river import drift  # noqa: PLC0415 - only for a River without the Rust engine

            return drift.ADWIN(delta=self.delta)  # type: ignore[no-untyped-call]
        return _Engine(
            delta=self.delta, clock=32, max_buckets=5, min_window_length=5, grace_period=10
        )

    @property
    def width(self) -> int:
        """Values in the current window (River's ``ADWIN.width``)."""
        if _Engine is None:
            return int(self._helper.width)
        return int(self._helper.get_width())

    @property
    def n_detections(self) -> int:
        """Detections within the current window (River's ``ADWIN.n_detections``)."""
        if _Engine is None:
            return int(self._helper.n_detections)
        return int(self._helper.get_n_detections())

    def update(self, value: float) -> bool:
        """Feed one value; True when a change is detected at this value."""
        if _Engine is None:
            self._helper.update(value)
            return bool(self._helper.drift_detected)
        if self._detected:
            self._helper = self._new()
        self._detected = bool(self._helper.update(value))
        return self._detected


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
        self._disagreement = Adwin(delta)
        self._uncertainty = Adwin(delta)
        self.detections = dict.fromkeys(self.SIGNALS, 0)

    def observe_disagreement(self, disagrees: bool) -> bool:
        """Feed one label; True when a change is detected now."""
        if self._disagreement.update(1.0 if disagrees else 0.0):
            self.detections["oracle_disagreement"] += 1
            return True
        return False

    def observe_uncertainty(self, value: float) -> bool:
        """Feed one item's uncertainty; True when a change is detected now."""
        if self._uncertainty.update(value):
            self.detections["uncertainty"] += 1
            return True
        return False

    def observe_uncertainties(self, values: Iterable[float]) -> int:
        """Feed a batch of uncertainties in order; return the detections among them."""
        update = self._uncertainty.update
        hits = sum(1 for v in values if update(v))
        self.detections["uncertainty"] += hits
        return hits

"""The production model's error and calibration, estimated three ways from the labels.

``naive`` treats the labeled items as if they were a random sample — they are not when a policy
prefers hard items. ``ipw`` weights each label by the inverse of its logged inclusion probability
(self-normalised, Hajek), which corrects that bias wherever the probability was positive.
``audit`` uses only the random audit slice: unbiased by construction, but small. The gap between
naive and the others is itself a feedback-loop signal.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

_MIN_PROBABILITY = 1e-6


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimator's figures."""

    error_rate: float
    calibration_error: float | None
    n: int


@dataclass(frozen=True, slots=True)
class _Label:
    error: float
    weight: float
    confidence: float | None
    audit: bool


def _estimate(labels: list[_Label], weighted: bool, bins: int) -> Estimate | None:
    if not labels:
        return None
    weights = [x.weight if weighted else 1.0 for x in labels]
    total = sum(weights)
    error = sum(w * x.error for w, x in zip(weights, labels, strict=True)) / total
    scored = [(w, x) for w, x in zip(weights, labels, strict=True) if x.confidence is not None]
    ece = None
    if scored:
        acc = [0.0] * bins
        conf = [0.0] * bins
        mass = [0.0] * bins
        for w, x in scored:
            c = x.confidence if x.confidence is not None else 0.0
            b = min(bins - 1, int(c * bins))
            acc[b] += w * (1.0 - x.error)
            conf[b] += w * c
            mass[b] += w
        total_scored = sum(mass)
        ece = sum(abs(acc[b] - conf[b]) for b in range(bins) if mass[b] > 0) / total_scored
    return Estimate(error, ece, len(labels))


class ErrorEstimates:
    """Error and expected calibration error of the production model over the last labels.

    >>> e = ErrorEstimates(window=100)
    >>> e.add(error=True, probability=0.5, confidence=0.9, audit=False)
    >>> e.add(error=False, probability=1.0, confidence=0.9, audit=True)
    >>> round(e.compute()["ipw"].error_rate, 3), e.compute()["naive"].error_rate
    (0.667, 0.5)
    """

    def __init__(self, window: int = 5000, bins: int = 10) -> None:
        self.window = window
        self.bins = bins
        self._labels: deque[_Label] = deque(maxlen=window)

    def add(self, error: bool, probability: float, confidence: float | None, audit: bool) -> None:
        """One resolved label: was the production prediction wrong, and how was it sampled."""
        weight = 1.0 / max(probability, _MIN_PROBABILITY)
        self._labels.append(_Label(float(error), weight, confidence, audit))

    def compute(self) -> dict[str, Estimate]:
        """Estimates by estimator name (``naive``, ``ipw``, ``audit`` when audit labels exist)."""
        labels = list(self._labels)
        out: dict[str, Estimate] = {}
        for name, subset, weighted in (
            ("naive", labels, False),
            ("ipw", labels, True),
            ("audit", [x for x in labels if x.audit], False),
        ):
            est = _estimate(subset, weighted, self.bins)
            if est is not None:
                out[name] = est
        return out

    def effective_sample_size(self) -> float:
        """Kish's effective sample size of the weighted labels: (sum w)^2 / sum w^2."""
        weights = [x.weight for x in self._labels]
        squares = sum(w * w for w in weights)
        return sum(weights) ** 2 / squares if squares else 0.0

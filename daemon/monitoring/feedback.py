"""What the labeling loop does to the data: subgroup coverage, shift, drift, error estimates.

The monitor is fed on the hot path with cheap updates; the expensive statistics are computed by
:meth:`FeedbackMonitor.snapshot`, which the loop calls on a timer (never per item).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from daemon.monitoring.drift import DriftMonitor
from daemon.monitoring.estimates import ErrorEstimates, Estimate
from daemon.monitoring.shift import ShiftMonitor
from daemon.monitoring.subgroups import SubgroupMonitor, SubgroupShare


@dataclass(frozen=True, slots=True)
class FeedbackSnapshot:
    """The feedback-loop figures at one moment."""

    subgroups: list[SubgroupShare] = field(default_factory=list)
    subgroup_items_total: dict[tuple[str, str], int] = field(default_factory=dict)
    subgroup_queries_total: dict[tuple[str, str], int] = field(default_factory=dict)
    disparity: dict[str, float] = field(default_factory=dict)
    shift: dict[str, tuple[float, float]] = field(default_factory=dict)
    estimates: dict[str, Estimate] = field(default_factory=dict)
    effective_sample_size: float = 0.0
    drift_detections: dict[str, int] = field(default_factory=dict)
    model_updates: dict[str, int] = field(default_factory=dict)


class FeedbackMonitor:
    """Composes the subgroup, shift, drift and error monitors behind two hot-path calls."""

    def __init__(
        self,
        window: int = 5000,
        top_k: int = 10,
        attributes: list[str] | None = None,
        shift_features: list[str] | None = None,
        shift_bins: int = 10,
        shift_warmup: int = 500,
        drift_delta: float = 0.002,
        audit_reasons: frozenset[str] = frozenset({"random", "audit"}),
        non_human_roles: frozenset[str] = frozenset(),
    ) -> None:
        self.subgroups = SubgroupMonitor(window, top_k, attributes)
        self.shift = ShiftMonitor(shift_features or [], shift_bins, window, shift_warmup)
        self.drift = DriftMonitor(drift_delta)
        self.estimates = ErrorEstimates(window)
        self.audit_reasons = audit_reasons
        self.non_human_roles = non_human_roles
        self.model_updates: Counter[str] = Counter()

    def observe_item(
        self,
        group: Mapping[str, str],
        queried: bool,
        uncertainty: float,
        features: Mapping[str, Any],
    ) -> None:
        """One decided item (queried or not)."""
        self.subgroups.observe(group, queried)
        self.shift.observe_stream(uncertainty, dict(features))
        self.drift.observe_uncertainty(uncertainty)

    def observe_label(
        self,
        *,
        label: str,
        production_prediction: str | None,
        production_confidence: float | None,
        probability: float,
        reason: str,
        uncertainty: float,
        features: Mapping[str, Any],
        role: str,
    ) -> None:
        """One label that reached the model."""
        self.shift.observe_labeled(uncertainty, dict(features))
        oracle = "non_human" if role in self.non_human_roles else "human"
        self.model_updates[oracle] += 1
        if production_prediction is None:
            return
        wrong = production_prediction != label
        self.drift.observe_disagreement(wrong)
        self.estimates.add(
            wrong, probability, production_confidence, audit=reason in self.audit_reasons
        )

    def snapshot(self) -> FeedbackSnapshot:
        """Compute the expensive figures now."""
        shares = self.subgroups.shares()
        return FeedbackSnapshot(
            subgroups=shares,
            subgroup_items_total=dict(self.subgroups.items_total),
            subgroup_queries_total=dict(self.subgroups.queries_total),
            disparity=SubgroupMonitor.disparity(shares),
            shift=self.shift.compute(),
            estimates=self.estimates.compute(),
            effective_sample_size=self.estimates.effective_sample_size(),
            drift_detections=dict(self.drift.detections),
            model_updates=dict(self.model_updates),
        )

"""What the labeling loop does to the data: subgroup coverage, shift, drift, error estimates.

The monitor is fed on the hot path with cheap updates; the expensive statistics are computed by
:meth:`FeedbackMonitor.snapshot`, which the loop calls on a timer (never per item).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
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


PENDING_ITEMS = 256
"""Decided items :meth:`FeedbackMonitor.observe_items` holds before passing them on: the
monitors' batch updates cost about 20 us per call whatever the size, which small batches
(a slow stream, a latency-bound micro-batch) would pay per handful of items."""

#: Decisions whose utility is not an uncertainty of the model (forced before it can score).
NO_UNCERTAINTY = frozenset({"cold_start"})


class FeedbackMonitor:
    """Composes the subgroup, shift, drift and error monitors behind two hot-path calls.

    ``audit_reasons`` name the decisions whose labels form the audit estimate (by default the
    audit slice only: exploration labels are uniform too, but they train the model and are
    counted, weighted, where every training label is). ``classes`` sizes the uncertainty bins:
    least confidence lies in [0, 1 - 1/classes].

    Decided items reach the subgroup, shift and drift monitors in chunks of at least
    :data:`PENDING_ITEMS` (their batch updates are exact for any chunking); every read of a
    monitor, a single item, a label and a snapshot pass what is held on first, so nothing ever
    sees the statistics without the items decided before.
    """

    def __init__(
        self,
        window: int = 5000,
        top_k: int = 10,
        attributes: list[str] | None = None,
        shift_features: list[str] | None = None,
        shift_bins: int = 10,
        shift_warmup: int = 500,
        drift_delta: float = 0.002,
        audit_reasons: frozenset[str] = frozenset({"audit"}),
        non_human_roles: frozenset[str] = frozenset(),
        classes: int | None = None,
    ) -> None:
        self._subgroups = SubgroupMonitor(window, top_k, attributes)
        top = 1.0 - 1.0 / classes if classes is not None and classes >= 2 else 1.0
        self._shift = ShiftMonitor(
            shift_features or [], shift_bins, window, shift_warmup, uncertainty_max=top
        )
        self._drift = DriftMonitor(drift_delta)
        self._pending: tuple[
            list[Mapping[str, str]], list[bool], list[float], list[Mapping[str, Any]], list[str]
        ] = ([], [], [], [], [])
        self.estimates = ErrorEstimates(window)
        self.audit_reasons = audit_reasons
        self.non_human_roles = non_human_roles
        self.model_updates: Counter[str] = Counter()

    @property
    def subgroups(self) -> SubgroupMonitor:
        """Subgroup coverage, with every item decided so far."""
        self._flush()
        return self._subgroups

    @property
    def shift(self) -> ShiftMonitor:
        """Shift between the labeled set and the stream, with every item decided so far."""
        self._flush()
        return self._shift

    @property
    def drift(self) -> DriftMonitor:
        """The drift detectors, with every item decided so far."""
        self._flush()
        return self._drift

    def observe_item(
        self,
        group: Mapping[str, str],
        queried: bool,
        uncertainty: float,
        features: Mapping[str, Any],
        reason: str = "",
    ) -> None:
        """One decided item (queried or not).

        A cold-start decision's utility is a forced 1.0, not the model's uncertainty: it feeds
        neither the uncertainty histogram nor the uncertainty drift detector.
        """
        self.subgroups.observe(group, queried)
        real = reason not in NO_UNCERTAINTY
        self.shift.observe_stream(uncertainty if real else None, dict(features))
        if real:
            self.drift.observe_uncertainty(uncertainty)

    def observe_items(
        self,
        groups: Sequence[Mapping[str, str]],
        queried: Sequence[bool],
        uncertainties: Sequence[float],
        features: Sequence[Mapping[str, Any]],
        reasons: Sequence[str],
    ) -> None:
        """A batch of decided items, in order: the same statistics as :meth:`observe_item`
        called for each, with the counters and histograms updated once per chunk of at least
        :data:`PENDING_ITEMS` items (or at the next read)."""
        if not (len(groups) == len(queried) == len(uncertainties) == len(features) == len(reasons)):
            raise ValueError("observe_items takes one value per item in every sequence")
        held = self._pending
        held[0].extend(groups)
        held[1].extend(queried)
        held[2].extend(uncertainties)
        held[3].extend(features)
        held[4].extend(reasons)
        if len(held[0]) >= PENDING_ITEMS:
            self._flush()

    def _flush(self) -> None:
        """Pass the held items on to the monitors, in order."""
        groups, queried, uncertainties, features, reasons = self._pending
        if not groups:
            return
        self._pending = ([], [], [], [], [])
        self._subgroups.observe_many(groups, queried)
        real = [
            None if reason in NO_UNCERTAINTY else u
            for u, reason in zip(uncertainties, reasons, strict=True)
        ]
        self._shift.observe_stream_many(real, features)
        self._drift.observe_uncertainties([u for u in real if u is not None])

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
        role: str | None = None,
        roles: tuple[str | None, ...] = (),
        trained: bool = True,
    ) -> None:
        """One resolved label (after replays are skipped).

        ``roles`` are the roles of the labelers who gave the resolved label (one for a single
        answer, several for a consensus; ``role`` is shorthand for one). The label counts as a
        model update only when it ``trained`` the model (audit labels evaluate, they do not
        train), as ``human`` when any of those labelers is human, else ``non_human``.
        """
        real = reason not in NO_UNCERTAINTY
        self.shift.observe_labeled(uncertainty if real else None, dict(features))
        if trained:
            given = roles or (role,)
            human = any(r not in self.non_human_roles for r in given)
            self.model_updates["human" if human else "non_human"] += 1
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

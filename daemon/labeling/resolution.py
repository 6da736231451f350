"""How the labels collected for one request become one answer (or an escalation)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

from daemon.config import QueueSettings, Resolution
from daemon.contracts.pending_request import ReceivedLabel


class Outcome(StrEnum):
    """What to do with a request after a label arrived."""

    AWAITING = "awaiting"  # more labels are needed (overlap)
    RESOLVED = "resolved"  # one label stands: learn (or evaluate) from it
    ESCALATE = "escalate"  # labels disagree: send to the adjudicator queue
    CONFLICT = "conflict"  # labels disagree and nobody adjudicates: do not learn


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome, the label that stands (when resolved) and the agreement among labels."""

    outcome: Outcome
    label: str | None
    agreement: float | None
    resolution: str


def resolve(labels: tuple[ReceivedLabel, ...], queue: QueueSettings, escalated: bool) -> Verdict:
    """Decide on the labels collected so far.

    An adjudicator's label (``escalated``) is final. Otherwise the queue collects
    ``labels_required`` labels; agreement is the share of labels equal to the most common one.
    With ``first`` the first label stands, with ``majority`` the strict majority; disagreement goes
    to ``escalate_to`` when the queue has one.

    >>> from daemon.config import QueueSettings
    >>> q = QueueSettings(name="crowd", labels_required=3, resolution="majority")
    >>> resolve(tuple(ReceivedLabel(label=x) for x in "aab"), q, escalated=False).label
    'a'
    """
    if escalated:
        return Verdict(Outcome.RESOLVED, labels[-1].label, None, "adjudicated")
    if len(labels) < queue.labels_required:
        return Verdict(Outcome.AWAITING, None, None, "awaiting")
    counts = Counter(x.label for x in labels)
    top, votes = counts.most_common(1)[0]
    agreement = votes / len(labels) if len(labels) > 1 else None
    unanimous = votes == len(labels)
    if not unanimous and queue.escalate_to is not None:
        return Verdict(Outcome.ESCALATE, None, agreement, "escalated")
    if queue.resolution is Resolution.FIRST:
        return Verdict(Outcome.RESOLVED, labels[0].label, agreement, "first")
    if votes * 2 > len(labels):
        return Verdict(Outcome.RESOLVED, top, agreement, "unanimous" if unanimous else "majority")
    return Verdict(Outcome.CONFLICT, None, agreement, "conflict")

"""Resolution of collected labels: overlap, first / majority, escalation and conflict."""

from __future__ import annotations

from daemon.config import QueueSettings
from daemon.contracts.pending_request import ReceivedLabel
from daemon.labeling.resolution import Outcome, resolve


def labels(text):
    return tuple(ReceivedLabel(label=x) for x in text)


def test_waits_until_the_queue_has_its_overlap():
    """Fewer labels than labels_required: awaiting, nothing stands yet."""
    q = QueueSettings(name="crowd", labels_required=3)
    verdict = resolve(labels("ab"), q, escalated=False)
    assert (verdict.outcome, verdict.label, verdict.resolution) == (
        Outcome.AWAITING,
        None,
        "awaiting",
    )


def test_majority_stands_and_agreement_is_the_top_share():
    """Two of three agree: the majority label stands with agreement 2/3."""
    q = QueueSettings(name="crowd", labels_required=3, resolution="majority")
    verdict = resolve(labels("aba"), q, escalated=False)
    assert (verdict.outcome, verdict.label, verdict.resolution) == (
        Outcome.RESOLVED,
        "a",
        "majority",
    )
    assert verdict.agreement == 2 / 3


def test_unanimous_labels_resolve_as_unanimous():
    """All equal: resolved, 'unanimous', agreement 1."""
    q = QueueSettings(name="crowd", labels_required=2, resolution="majority")
    verdict = resolve(labels("bb"), q, escalated=False)
    assert (verdict.label, verdict.resolution, verdict.agreement) == ("b", "unanimous", 1.0)


def test_a_tie_without_an_adjudicator_is_a_conflict():
    """No strict majority and no escalate_to: conflict, no label."""
    q = QueueSettings(name="crowd", labels_required=2, resolution="majority")
    verdict = resolve(labels("ab"), q, escalated=False)
    assert (verdict.outcome, verdict.label) == (Outcome.CONFLICT, None)


def test_disagreement_escalates_when_an_adjudicator_exists():
    """Any disagreement with escalate_to configured goes to the adjudicator."""
    q = QueueSettings(name="crowd", labels_required=3, escalate_to="expert")
    verdict = resolve(labels("aab"), q, escalated=False)
    assert verdict.outcome is Outcome.ESCALATE


def test_first_label_stands_under_first_resolution():
    """resolution 'first' takes the first label collected."""
    q = QueueSettings(name="q", labels_required=2, resolution="first")
    assert resolve(labels("ba"), q, escalated=False).label == "b"


def test_the_adjudicators_label_is_final():
    """On an escalated request the last (adjudicator's) label stands."""
    q = QueueSettings(name="expert")
    verdict = resolve(labels("abz"), q, escalated=True)
    assert (verdict.outcome, verdict.label, verdict.resolution) == (
        Outcome.RESOLVED,
        "z",
        "adjudicated",
    )

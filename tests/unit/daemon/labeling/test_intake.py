"""Label intake without a broker: each label event gets a verdict; intake never learns."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from connectors.record import Record
from daemon.contracts.evidence import EvidenceBuilder
from daemon.contracts.messages import LabelEvent, RequestOutcome
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.admission import AdmissionStep
from daemon.labeling.intake import LabelIntake, LabelUse
from daemon.labeling.queues import ExpertQueues
from daemon.labeling.spend import SpendLedger
from daemon.monitoring.burn import BurnRate
from daemon.monitoring.metrics import Metrics
from daemon.service.app import serve
from daemon.tools import replay
from policies import AbsoluteBudget, Policy
from tests.unit.daemon.fakes import (
    MemorySink,
    RecordingStrategy,
    file_settings,
    read_jsonl,
    read_trail,
    settings,
    write_predictions,
)

NOW = 500.0
RECORD = Record(b"{}", None, "labels", 0, 7)


class Setup:
    """Intake over in-memory sinks: one sink for every queue, one evidence trail."""

    def __init__(self, tmp_path, queues, limit=100.0):
        self.settings = settings(tmp_path, queues=queues, routing={"default": [queues[0]["name"]]})
        self.requests = MemorySink("requests")
        self.trail = MemorySink("evidence")
        self.queues = ExpertQueues(
            self.settings, {q.name: self.requests for q in self.settings.queues}
        )
        self.strategy = RecordingStrategy()
        self.policy = Policy(self.strategy, AbsoluteBudget(limit, period_seconds=86400.0))
        self.metrics = Metrics(CollectorRegistry())
        ledger = SpendLedger(self.policy, self.metrics, BurnRate())
        admission = AdmissionStep(self.settings, self.queues, ledger, "p@1")
        self.intake = LabelIntake(
            self.queues, admission, self.metrics, EvidenceBuilder("h", "p@1", {}), self.trail
        )

    def open(self, item_id, queue="q", reason="uncertain", **extra):
        request = PendingRequest(
            id=item_id,
            request_id=f"r-{item_id}",
            queue=queue,
            features={"x": 1.0},
            requested_at=100.0,
            deadline=NOW + 100,
            probability=0.5,
            reason=reason,
            prediction="0",
            **extra,
        )
        self.queues.track(request)
        return request

    def take(self, item_id, label="1", labeler=None, abstain=False):
        event = LabelEvent(
            id=item_id,
            label=None if abstain else label,
            labeler_id=labeler,
            labeled_at=datetime(2026, 1, 1, tzinfo=UTC),
            abstain=abstain,
        )
        return self.intake.take(event, RECORD, NOW)

    def evidence(self):
        return self.trail.documents()


def test_a_label_for_no_open_request_is_unmatched_and_recorded(tmp_path):
    """Unknown id: verdict unmatched, a label record with resolution unmatched."""
    s = Setup(tmp_path, [{"name": "q"}])
    verdict = s.take("ghost")
    assert verdict.use is LabelUse.UNMATCHED
    assert verdict.request is None
    [record] = s.evidence()
    assert (record["kind"], record["resolution"], record["source"]["offset"]) == (
        "label",
        "unmatched",
        7,
    )


def test_a_standing_label_says_learn_and_closes_the_request(tmp_path):
    """One label on a single-label queue: verdict learn with request, label and role."""
    s = Setup(tmp_path, [{"name": "q"}])
    request = s.open("a")
    verdict = s.take("a", "1")
    assert (verdict.use, verdict.label, verdict.role) == (LabelUse.LEARN, "1", "expert")
    assert verdict.request is not None
    assert verdict.request.request_id == request.request_id
    assert "a" not in s.queues
    [record] = s.evidence()
    assert (record["used_for"], record["label"], record["queue"]) == ("training", "1", "q")


def test_audit_slice_labels_are_for_evaluation(tmp_path):
    """A request of the random audit slice: verdict evaluate, used_for evaluation."""
    s = Setup(tmp_path, [{"name": "q"}])
    s.open("a", reason="audit")
    assert s.take("a").use is LabelUse.EVALUATE
    assert s.evidence()[0]["used_for"] == "evaluation"


def test_abstain_closes_and_duplicate_labeler_is_ignored(tmp_path):
    """An abstention closes the request; the same labeler twice is a duplicate, still open."""
    s = Setup(tmp_path, [{"name": "q"}, {"name": "crowd", "labels_required": 2}])
    s.open("a")
    assert s.take("a", abstain=True).use is LabelUse.ABSTAINED
    assert "a" not in s.queues
    s.open("b", queue="crowd")
    assert s.take("b", labeler="ann").use is LabelUse.AWAITING
    assert s.take("b", labeler="ann").use is LabelUse.DUPLICATE
    assert "b" in s.queues
    assert len(s.queues.get("b").labels) == 1


def test_overlap_awaits_then_resolves_by_majority(tmp_path):
    """Three labels required: two awaits, then the majority stands."""
    s = Setup(tmp_path, [{"name": "crowd", "labels_required": 3, "resolution": "majority"}])
    s.open("a", queue="crowd")
    assert s.take("a", "1", "x").use is LabelUse.AWAITING
    assert s.take("a", "0", "y").use is LabelUse.AWAITING
    verdict = s.take("a", "1", "z")
    assert (verdict.use, verdict.label) == (LabelUse.LEARN, "1")
    assert s.intake.mean_agreement("crowd") == 2 / 3
    assert s.evidence()[-1]["answer"] is None, "the last answer is the label that stands"


def test_a_resolved_record_keeps_the_answer_that_lost(tmp_path):
    """First label wins, the last disagrees: the record's label is the one that stands and its
    answer is what the last labeler said (agreement is recomputable from the records)."""
    s = Setup(tmp_path, [{"name": "crowd", "labels_required": 2, "resolution": "first"}])
    s.open("a", queue="crowd")
    s.take("a", "1", "x")
    assert s.take("a", "0", "y").label == "1"
    first, last = s.evidence()
    assert (first["label"], first.get("answer")) == ("1", None)
    assert (last["label"], last["answer"], last["labeler_id"]) == ("1", "0", "y")


def test_disagreement_escalates_to_the_adjudicator_charged_through_the_ledger(tmp_path):
    """Disagreeing labels: escalated, the adjudicator asked, the re-ask charged like a query."""
    s = Setup(
        tmp_path,
        [{"name": "crowd", "labels_required": 2, "escalate_to": "expert"}, {"name": "expert"}],
    )
    s.open("a", queue="crowd")
    s.take("a", "1", "x")
    verdict = s.take("a", "0", "y")
    assert verdict.use is LabelUse.ESCALATED
    reopened = s.queues.get("a")
    assert reopened is not None
    assert (reopened.queue, reopened.escalated) == ("expert", True)
    assert s.strategy.commits == [("a", "uncertain", 1.0)]
    assert s.policy.snapshot(NOW).spent == 1.0
    sent = s.requests.documents()
    assert [(m["queue"], m["reason"]) for m in sent] == [("expert", "escalated")]
    assert s.evidence()[-1]["resolution"] == "escalated"


def test_escalation_to_a_full_adjudicator_is_a_conflict(tmp_path):
    """No room in the adjudicator queue: verdict conflict, recorded as such."""
    s = Setup(
        tmp_path,
        [
            {"name": "crowd", "labels_required": 2, "escalate_to": "expert"},
            {"name": "expert", "capacity": 1},
        ],
    )
    s.open("other", queue="expert")
    s.open("a", queue="crowd")
    s.take("a", "1", "x")
    assert s.take("a", "0", "y").use is LabelUse.CONFLICT
    assert s.evidence()[-1]["kind"] == "escalation"
    assert s.evidence()[-1]["resolution"] == "conflict"
    assert s.policy.snapshot(NOW).spent == 0.0


def test_closing_an_expired_request_withdraws_records_and_reroutes(tmp_path):
    """Expired with a fallback: withdrawal, expiry record, re-asked (and charged) elsewhere."""
    s = Setup(tmp_path, [{"name": "q", "fallback_on_expiry": "slow"}, {"name": "slow"}])
    request = s.open("a")
    s.queues.remove("a")
    s.intake.close(request, NOW, RequestOutcome.EXPIRED)
    withdrawal, reroute = s.requests.documents()
    assert (withdrawal["queue"], withdrawal["withdrawn"], withdrawal["reason"]) == (
        "q",
        True,
        "expired",
    )
    assert (reroute["queue"], reroute["withdrawn"]) == ("slow", False)
    assert [e["resolution"] for e in s.evidence()] == ["expired", "rerouted"]
    assert s.queues.get("a").queue == "slow"
    assert s.policy.snapshot(NOW).spent == 1.0
    expired = s.metrics.registry.get_sample_value(
        "labelgate_requests_expired_total", {"queue": "q"}
    )
    assert expired == 1.0


def test_an_evicted_request_is_withdrawn_but_never_rerouted(tmp_path):
    """Eviction is recorded with resolution evicted; the fallback is for expiry only."""
    s = Setup(tmp_path, [{"name": "q", "fallback_on_expiry": "slow"}, {"name": "slow"}])
    request = s.open("a")
    s.queues.remove("a")
    s.intake.close(request, NOW, RequestOutcome.EVICTED)
    [withdrawal] = s.requests.documents()
    assert withdrawal["reason"] == "evicted"
    assert [e["resolution"] for e in s.evidence()] == ["evicted"]
    assert "a" not in s.queues


def test_expired_request_is_withdrawn_and_rerouted_to_its_fallback(tmp_path):
    """An unanswered request expires, is withdrawn from its queue and re-asked in the fallback."""
    write_predictions(tmp_path / "p.jsonl", 30, spacing=1.0)
    config = file_settings(
        tmp_path,
        [
            {
                "name": "fast",
                "capacity": 1,
                "ttl_seconds": 10,
                "fallback_on_expiry": "slow",
                "file": str(tmp_path / "fast.jsonl"),
            },
            {
                "name": "slow",
                "capacity": 10,
                "ttl_seconds": 1000,
                "file": str(tmp_path / "slow.jsonl"),
            },
        ],
        routing={"default": ["fast"]},
        kafka={"consume_batch_size": 1},  # expiry is checked between batches
    )
    serve(config)
    trail = read_trail(tmp_path / "audit.jsonl")
    closes = [(e["id"], e["resolution"], e["queue"]) for e in trail if e["kind"] == "expiry"]
    assert ("it-000", "expired", "fast") in closes
    assert ("it-000", "rerouted", "slow") in closes
    fast = read_jsonl(tmp_path / "fast.jsonl")
    withdrawal = next(m for m in fast if m["withdrawn"])
    assert withdrawal["id"] == "it-000"
    slow_ids = [m["id"] for m in read_jsonl(tmp_path / "slow.jsonl") if not m["withdrawn"]]
    assert "it-000" in slow_ids
    # Capacity was freed: a later item got the fast queue again.
    decisions = [e for e in trail if e["kind"] == "decision"]
    # it-010 arrives at the deadline; expiry runs after its batch, so it-011 takes the slot.
    assert [d["id"] for d in decisions if d["queue"] == "fast"][:2] == ["it-000", "it-011"]


def test_audit_slice_labels_are_kept_for_evaluation(tmp_path):
    """Labels of random-audit queries are marked for evaluation and never train the model."""
    preds, truth = replay.generate(tmp_path / "replay", n=3000, malformed_every=0)
    config = file_settings(
        tmp_path,
        [{"name": "default"}],
        policy={
            "strategy": "variable_uncertainty",
            "audit_share": 0.3,
            "budget": {"fraction": 0.1, "window": 300},
        },
        expert={"truth": truth, "delay_seconds": 60},
        files={
            "predictions": preds,
            "requests": tmp_path / "requests.jsonl",
            "audit": tmp_path / "audit.jsonl",
            "dead_letter": tmp_path / "dlq.jsonl",
            "state": tmp_path / "state.jsonl",
        },
    )
    daemon = serve(config)
    trail = read_trail(tmp_path / "audit.jsonl")
    labels = [e for e in trail if e["kind"] == "label" and e["used_for"]]
    evaluation = [e for e in labels if e["used_for"] == "evaluation"]
    training = [e for e in labels if e["used_for"] == "training"]
    assert evaluation, "the audit slice produced labels"
    assert all(e["reason"] == "audit" for e in evaluation)
    assert all(e["reason"] != "audit" for e in training)
    assert daemon.learner.version == len(training)

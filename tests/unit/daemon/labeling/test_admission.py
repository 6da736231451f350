"""The admission step without a broker: placement and cost, gate, capacity, eviction, spend."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from daemon.contracts.messages import PredictionEvent
from daemon.contracts.pending_request import PendingRequest
from daemon.labeling.admission import AdmissionStep, Placement, request_id
from daemon.labeling.queues import ExpertQueues
from daemon.labeling.spend import SpendLedger
from daemon.monitoring.burn import BurnRate
from daemon.monitoring.metrics import Metrics
from daemon.service.app import serve
from policies import AbsoluteBudget, Decision, ItemColumns, ItemView, Policy, Reason, as_row
from tests.unit.daemon.fakes import (
    MemorySink,
    RecordingStrategy,
    file_settings,
    read_jsonl,
    read_trail,
    settings,
    write_predictions,
)

NOW = 1000.0


def event(item_id="a", cost=None):
    return PredictionEvent.model_validate(
        {
            "id": item_id,
            "event_time": datetime(2026, 1, 1, tzinfo=UTC),
            "features": {"x": 1.0, "y": 2},
            "prediction": "1",
            "proba": {"0": 0.3, "1": 0.7},
            "group": {"region": "EU"},
            "cost": cost,
        }
    )


class Setup:
    """Queues, ledger and admission over in-memory sinks, with a recording strategy."""

    def __init__(self, tmp_path, queues, limit=100.0, gate=None, **extra):
        policy_doc = {"strategy": "random", "queue_gate_exponent": gate}
        self.settings = settings(tmp_path, queues=queues, policy=policy_doc, **extra)
        self.sink = MemorySink("requests")
        self.queues = ExpertQueues(self.settings, {q.name: self.sink for q in self.settings.queues})
        self.strategy = RecordingStrategy()
        self.policy = Policy(self.strategy, AbsoluteBudget(limit, period_seconds=86400.0))
        self.metrics = Metrics(CollectorRegistry())
        self.burn = BurnRate()
        self.ledger = SpendLedger(self.policy, self.metrics, self.burn)
        self.admission = AdmissionStep(self.settings, self.queues, self.ledger, "p@1")

    def admit(self, ev, utility=0.5, query=True):
        placement = self.admission.place(ev, 0.3)
        item = ItemView(ev.id, ev.proba or {}, placement.cost, 2, ev.group)
        reason = Reason.UNCERTAIN if query else Reason.CONFIDENT
        decision = Decision(query=query, reason=reason, probability=1.0, utility=utility)
        return placement, self.admission.admit(ev, item, decision, placement, NOW)

    def spent(self):
        return self.policy.snapshot(NOW).spent

    def charged(self):
        return self.metrics.registry.get_sample_value("labelgate_budget_charged_total") or 0.0


def waiting(item_id, queue, utility):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue=queue,
        features={},
        requested_at=0.0,
        deadline=NOW * 10,
        probability=1.0,
        reason="uncertain",
        utility=utility,
    )


def test_place_prices_the_cheapest_candidate_with_room(tmp_path):
    """Candidates of the matching rule: the cheapest with room, priced queue cost x item cost."""
    s = Setup(
        tmp_path,
        [{"name": "senior", "cost": 4.0}, {"name": "junior", "cost": 2.0, "capacity": 1}],
        routing={"default": ["senior", "junior"]},
    )
    assert s.admission.place(event(cost=1.5), 0.3) == Placement("junior", None, 3.0, True)
    s.queues.track(waiting("w", "junior", 0.1))
    assert s.admission.place(event(cost=1.5), 0.3) == Placement("senior", None, 6.0, True)


def test_a_full_queue_with_spill_is_placed_at_its_spill_queue_and_priced_there(tmp_path):
    """Cost is computed once, for the queue that will label the item (no re-pricing later)."""
    s = Setup(
        tmp_path,
        [
            {"name": "a", "capacity": 1, "overflow": "spill", "spill_to": "b"},
            {"name": "b", "cost": 3.0},
        ],
        routing={"default": ["a"]},
    )
    s.queues.track(waiting("w", "a", 0.1))
    placement, admitted = s.admit(event())
    assert placement == Placement("b", None, 3.0, room=True, spilled=True)
    assert admitted.request is not None
    assert admitted.request.queue == "b"
    assert s.spent() == 3.0
    assert s.strategy.commits == [("a", "uncertain", 3.0)]


def test_a_decision_not_to_query_is_neither_admitted_nor_charged(tmp_path):
    """No query: no request, no spend, nothing tracked."""
    s = Setup(tmp_path, [{"name": "default"}])
    _, admitted = s.admit(event(), query=False)
    assert admitted.request is None
    assert (s.spent(), len(s.queues), s.strategy.commits) == (0.0, 0, [])


def test_an_admitted_query_is_tracked_charged_once_and_keyed_idempotently(tmp_path):
    """The request is open in its queue, the ledger charged policy, metrics and burn once."""
    s = Setup(tmp_path, [{"name": "default", "ttl_seconds": 60}])
    _, admitted = s.admit(event("a"))
    request = admitted.request
    assert request is not None
    assert "a" in s.queues
    assert request.request_id == request_id("p@1", "a", "default")
    assert request.deadline == NOW + 60
    assert (request.reason, request.utility, request.confidence) == ("uncertain", 0.5, 0.7)
    assert s.spent() == s.charged() == 1.0
    assert s.burn.rate(NOW) > 0
    queries = s.metrics.registry.get_sample_value("labelgate_queries_total", {"queue": "default"})
    assert queries == 1.0
    assert s.sink.sent == [], "admission tracks; the emit stage sends"


def test_a_full_queue_that_skips_refuses_without_charging(tmp_path):
    """overflow skip: queue_full, not charged, nothing tracked."""
    s = Setup(tmp_path, [{"name": "default", "capacity": 1}])
    s.queues.track(waiting("w", "default", 0.1))
    _, admitted = s.admit(event())
    assert admitted.decision.reason is Reason.QUEUE_FULL
    assert not admitted.decision.query
    assert (s.spent(), len(s.queues)) == (0.0, 1)


def test_replace_evicts_a_less_useful_waiting_request_only(tmp_path):
    """overflow replace: the lowest-utility request gives way to a more useful one, else full."""
    s = Setup(tmp_path, [{"name": "default", "capacity": 1, "overflow": "replace"}])
    s.queues.track(waiting("w", "default", 0.2))
    _, kept = s.admit(event("low"), utility=0.1)
    assert kept.decision.reason is Reason.QUEUE_FULL
    assert "w" in s.queues
    _, admitted = s.admit(event("high"), utility=0.9)
    assert admitted.evicted is not None
    assert admitted.evicted.id == "w"
    assert "w" not in s.queues
    assert "high" in s.queues
    assert s.spent() == 1.0


def test_the_queue_gate_thins_queries_as_the_queue_fills(tmp_path):
    """With a steep gate a half-full queue refuses (queue_tight) and nothing is charged."""
    s = Setup(tmp_path, [{"name": "default", "capacity": 2}], gate=60.0)
    s.queues.track(waiting("w", "default", 0.1))
    _, admitted = s.admit(event())
    assert admitted.decision.reason is Reason.QUEUE_TIGHT
    assert s.spent() == 0.0


def test_reask_is_charged_through_the_policy_like_a_new_query(tmp_path):
    """Re-asking another queue goes through the ledger: commit hooks, budget, metrics, burn."""
    s = Setup(
        tmp_path,
        [{"name": "fast"}, {"name": "slow", "cost": 2.0, "ttl_seconds": 30}],
        routing={"default": ["fast"]},
    )
    original = waiting("it", "fast", 0.4)
    again = s.admission.reask(original, "slow", NOW, escalated=False)
    assert again is not None
    assert (again.queue, again.deadline, again.escalated) == ("slow", NOW + 30, False)
    assert again.request_id == request_id("p@1", "it", "slow")
    assert s.queues.get("it") == again
    assert s.strategy.commits == [("it", "uncertain", 2.0)]
    assert s.spent() == s.charged() == 2.0


@pytest.mark.parametrize("why", ["full", "budget"])
def test_reask_refused_when_the_target_is_full_or_the_budget_says_no(tmp_path, why):
    """A full target queue or a refusing budget: None, nothing charged."""
    s = Setup(
        tmp_path,
        [{"name": "fast"}, {"name": "slow", "capacity": 1}],
        limit=100.0 if why == "full" else 1.0,
        routing={"default": ["fast"]},
    )
    if why == "full":
        s.queues.track(waiting("other", "slow", 0.1))
    else:
        s.policy.budget.charge(1.0, NOW)
    assert s.admission.reask(waiting("it", "fast", 0.4), "slow", NOW, escalated=True) is None
    assert s.strategy.commits == []


def test_full_queue_spills_to_its_overflow_queue(tmp_path):
    """A full queue with overflow 'spill' sends requests to its spill queue until that fills."""
    write_predictions(tmp_path / "p.jsonl", 8)
    config = file_settings(
        tmp_path,
        [
            {
                "name": "a",
                "capacity": 1,
                "overflow": "spill",
                "spill_to": "b",
                "file": str(tmp_path / "a.jsonl"),
            },
            {"name": "b", "capacity": 3, "file": str(tmp_path / "b.jsonl")},
        ],
        routing={"default": ["a"]},
    )
    serve(config)
    decisions = [e for e in read_trail(tmp_path / "audit.jsonl") if e["kind"] == "decision"]
    assert [d["queue"] for d in decisions] == ["a", "b", "b", "b", None, None, None, None]
    assert [d["reason"] for d in decisions[4:]] == ["queue_full"] * 4
    assert [r["id"] for r in read_jsonl(tmp_path / "a.jsonl")] == ["it-000"]
    assert [r["id"] for r in read_jsonl(tmp_path / "b.jsonl")] == ["it-001", "it-002", "it-003"]


def test_logged_probability_accounts_for_queue_room(tmp_path):
    """Queried or not, an item logs its marginal chance: the rule's rate thinned by the gate
    while the queue has room, and 0 once it is full and its overflow rule takes nothing."""
    write_predictions(tmp_path / "p.jsonl", 60)
    config = file_settings(
        tmp_path,
        [{"name": "a", "capacity": 4, "file": str(tmp_path / "a.jsonl")}],
        policy={
            "strategy": "random",
            "cold_start_items": 0,
            "queue_gate_exponent": 1.0,
            "budget": {"fraction": 0.5, "window": 10},
        },
        routing={"default": ["a"]},
    )
    serve(config)
    decisions = [e for e in read_trail(tmp_path / "audit.jsonl") if e["kind"] == "decision"]
    depth, seen = 0, set()
    for d in decisions:
        if d["reason"] in ("over_pace", "budget_exhausted"):
            expected = 0.0
        elif depth < 4:
            expected = 0.5 * (1 - depth / 4)
        else:
            expected = 0.0
        assert d["probability"] == pytest.approx(expected), d
        seen.add((depth < 4, d["query"]))
        depth += d["query"]  # nobody answers: every request stays outstanding
    assert depth == 4
    assert {(True, True), (True, False), (False, False)} <= seen
    assert any(d["reason"] == "queue_tight" for d in decisions)


def test_would_admit_mirrors_admit_without_changing_anything(tmp_path):
    """The non-mutating check names the queue admit would use, for room, spill and replace."""
    s = Setup(
        tmp_path,
        [
            {"name": "a", "capacity": 1, "overflow": "replace"},
            {"name": "s", "capacity": 1, "overflow": "spill", "spill_to": "a"},
        ],
        routing={"default": ["a"]},
    )
    assert s.admission.would_admit("a", 0.5) == "a"
    s.queues.track(waiting("x", "a", 0.3))
    assert s.admission.would_admit("a", 0.2) is None
    assert s.admission.would_admit("a", 0.5) == "a"
    assert "x" in s.queues, "nothing was evicted"
    assert s.admission.would_admit("s", 0.5) == "s"
    s.queues.track(waiting("y", "s", 0.3))
    assert s.admission.would_admit("s", 0.9) is None, "its spill queue is full too"


def test_an_unqueried_item_for_a_full_queue_keeps_its_chance_only_if_overflow_would_take_it(
    tmp_path,
):
    """Full queue: replace keeps the probability for a more useful item, skip zeroes it."""
    for overflow, utility, expected in [
        ("replace", 0.9, 0.4),
        ("replace", 0.1, 0.0),
        ("skip", 0.9, 0.0),
    ]:
        s = Setup(tmp_path, [{"name": "default", "capacity": 1, "overflow": overflow}])
        s.queues.track(waiting("w", "default", 0.5))
        ev = event("new")
        placement = s.admission.place(ev, 0.3)
        item = ItemView(ev.id, ev.proba or {}, placement.cost, 2, ev.group)
        decision = Decision(
            query=False, reason=Reason.NOT_SAMPLED, probability=0.4, utility=utility
        )
        admitted = s.admission.admit(ev, item, decision, placement, NOW)
        assert admitted.decision.probability == expected
        assert admitted.request is None
        assert "w" in s.queues


@settings_(max_examples=40, deadline=None)
@given(
    overflow=st.sampled_from(("skip", "replace", "spill")),
    gate=st.sampled_from((None, 1.0, 3.0)),
    steps=st.lists(
        st.tuples(
            st.booleans(),  # query
            st.sampled_from((0.0, 0.3, 1.0)),  # probability
            st.floats(0.0, 1.0),  # utility
            st.sampled_from((None, 1.0, 2.0)),  # item cost
            st.booleans(),  # a waiting request is answered first
        ),
        max_size=40,
    ),
)
def test_admitting_rows_is_admitting_decisions(tmp_path_factory, overflow, gate, steps):
    """admit_row gives the outcome of admit on the same decision, field for field, and leaves
    the queues, the spend and the strategy's commits as admit does (gate, full queue, spill,
    replace; placements cached between changes of the queues)."""
    queues = [
        {"name": "a", "capacity": 3, "overflow": overflow, "spill_to": "b"},
        {"name": "b", "capacity": 2, "cost": 2.0},
    ]
    tmp = tmp_path_factory.mktemp("rows")
    one, many = (
        Setup(tmp, queues, limit=12.0, gate=gate, routing={"default": ["a"]}) for _ in "ab"
    )
    events = [event(f"i{t}", cost) for t, (_, _, _, cost, _) in enumerate(steps)]
    batch = many.policy.batch(
        ItemColumns([e.id for e in events], [e.proba for e in events], [e.group for e in events])
    )
    for t, (asks, probability, utility, _, answered) in enumerate(steps):
        for s in (one, many):
            if answered and len(s.queues):
                s.queues.remove(next(iter(s.queues._pending)).id)
        ev = events[t]
        placement = one.admission.place(ev, 0.3)
        assert many.admission.place(ev, 0.3) == placement
        # As a policy would: a query only when the budget allows (a spill is checked by admit).
        query = asks and (placement.spilled or one.ledger.allows(placement.cost, NOW))
        p = max(probability, 0.1) if query else probability  # a query has a chance
        decision = Decision(
            query=query,
            reason=Reason.UNCERTAIN if query else Reason.CONFIDENT,
            probability=p,
            utility=utility,
            unranked=min(p, 0.05),
        )
        item = ItemView(ev.id, ev.proba or {}, placement.cost, 0, ev.group)
        admitted = one.admission.admit(ev, item, decision, placement, NOW)
        row, request, evicted = many.admission.admit_row(
            ev, as_row(decision), placement, NOW, batch, t
        )
        assert row == as_row(admitted.decision)
        assert (request, evicted) == (admitted.request, admitted.evicted)
    assert one.queues.counts() == many.queues.counts()
    assert [r.id for r in one.queues._pending] == [r.id for r in many.queues._pending]
    assert one.spent() == many.spent()
    assert one.strategy.commits == many.strategy.commits

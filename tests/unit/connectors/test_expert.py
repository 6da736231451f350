"""The simulated expert: answers label requests from ground truth after a delay."""

import json
from datetime import UTC, datetime

from connectors.expert import Labeler, SimulatedExpert, load_truth
from daemon.contracts.messages import LabelEvent
from policies.checks import binomial_p_value


def request(item_id, at):
    return json.dumps(
        {"id": item_id, "requested_at": datetime.fromtimestamp(at, UTC).isoformat()}
    ).encode()


def test_answers_come_after_the_delay_in_due_order(tmp_path):
    """Each request is answered delay seconds after it was made, by the injected clock."""
    clock = {"now": 0.0}
    expert = SimulatedExpert({"a": "1", "b": "0"}, 100.0, lambda: clock["now"])
    reports = []
    expert.send(request("b", 50.0), b"b", reports.append)
    expert.send(request("a", 10.0), b"a", reports.append)
    assert reports == [None, None]
    clock["now"] = 109.0
    assert expert.poll(10) == []
    clock["now"] = 110.0
    (first,) = expert.poll(10)
    assert not expert.exhausted
    clock["now"] = 1000.0
    (second,) = expert.poll(10)
    assert expert.exhausted
    events = [LabelEvent.model_validate_json(r.value) for r in (first, second)]
    assert [(e.id, e.label) for e in events] == [("a", "1"), ("b", "0")]
    assert events[0].labeled_at == datetime.fromtimestamp(110.0, UTC)
    assert [r.offset for r in (first, second)] == [0, 1]


def test_unknown_items_are_answered_with_abstain():
    """Without ground truth for an item, the expert abstains."""
    expert = SimulatedExpert({}, 0.0, lambda: 5.0)
    expert.send(request("ghost", 1.0))
    (record,) = expert.poll(1)
    event = LabelEvent.model_validate_json(record.value)
    assert (event.abstain, event.label) == (True, None)


def test_poll_respects_max_records():
    """At most max_records answers per poll; the rest wait for the next one."""
    expert = SimulatedExpert({}, 0.0, lambda: 100.0)
    for i in range(5):
        expert.send(request(f"i{i}", float(i)))
    assert len(expert.poll(3)) == 3
    assert len(expert.poll(3)) == 2
    assert expert.poll(3) == [], "each of the five requests was answered once"


def test_load_truth_reads_labels_as_text(tmp_path):
    """Truth files map id to label text; numeric labels become strings, blank lines skipped."""
    path = tmp_path / "truth.jsonl"
    path.write_text('{"id": "a", "label": 1}\n\n{"id": 7, "label": "x"}\n')
    assert load_truth(path) == {"a": "1", "7": "x"}


def panel_request(item_id, at, queue="default", labels_required=1, **extra):
    doc = {
        "id": item_id,
        "request_id": f"r-{item_id}-{queue}",
        "queue": queue,
        "labels_required": labels_required,
        "requested_at": datetime.fromtimestamp(at, UTC).isoformat(),
        **extra,
    }
    return json.dumps(doc).encode()


def answers(expert):
    return [LabelEvent.model_validate_json(r.value) for r in expert.poll(10_000)]


PANEL = (
    Labeler("alice", "specialist", queues=frozenset({"crowd", "expert"})),
    Labeler("bob", "crowd", queues=frozenset({"crowd"})),
    Labeler("gpt", "llm", accuracy=0.0, queues=frozenset({"crowd"})),
    Labeler("carol", "adjudicator", queues=frozenset({"expert"})),
)


def test_overlap_is_answered_by_distinct_labelers_of_the_queue():
    """A request for k labels gets k answers, from k different labelers serving its queue."""
    truth = {f"{q}{n}": "a" for q in "ce" for n in range(200)}
    expert = SimulatedExpert(truth, 0.0, lambda: 1e9, PANEL, classes=("a", "b"))
    for n in range(200):
        expert.send(panel_request(f"c{n}", 0.0, "crowd", 2))
        expert.send(panel_request(f"e{n}", 0.0, "expert", 1))
    got = answers(expert)
    by_item: dict[str, list[str | None]] = {}
    for event in got:
        by_item.setdefault(event.id, []).append(event.labeler_id)
    assert len(by_item) == 400
    for item, ids in by_item.items():
        if item.startswith("c"):
            assert len(set(ids)) == len(ids) == 2
            assert set(ids) <= {"alice", "bob", "gpt"}
        else:
            assert len(ids) == 1
            assert set(ids) <= {"alice", "carol"}
    roles = {e.labeler_id: e.labeler_role for e in got}
    assert roles == {"alice": "specialist", "bob": "crowd", "gpt": "llm", "carol": "adjudicator"}


def test_a_labeler_is_right_with_its_accuracy():
    """Wrong answers come at rate 1 - accuracy (exact binomial test, fixed seed), and a wrong
    answer is another class."""
    n = 4000
    truth = {f"i{k}": "a" for k in range(n)}
    labeler = Labeler("x", "crowd", accuracy=0.8)
    expert = SimulatedExpert(truth, 0.0, lambda: 1e9, (labeler,), classes=("a", "b", "c"))
    for k in range(n):
        expert.send(panel_request(f"i{k}", 0.0))
    got = answers(expert)
    wrong = [e.label for e in got if e.label != "a"]
    assert set(wrong) == {"b", "c"}
    assert binomial_p_value(len(wrong), n, 0.2) > 0.001
    assert binomial_p_value(sum(w == "b" for w in wrong), len(wrong), 0.5) > 0.001


def test_answers_are_the_same_on_a_replay():
    """Which labelers answer, and what, depends only on the seed and the request."""

    def run(seed):
        truth = {f"i{k}": "a" for k in range(300)}
        panel = (Labeler("p", "crowd", 0.6), Labeler("q", "crowd", 0.6), Labeler("r", "llm", 0.6))
        expert = SimulatedExpert(truth, 0.0, lambda: 1e9, panel, ("a", "b"), seed=seed)
        for k in range(300):
            expert.send(panel_request(f"i{k}", 0.0, labels_required=2))
        return [(e.id, e.labeler_id, e.label) for e in answers(expert)]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_a_withdrawn_request_is_not_answered():
    """A withdrawal (expiry, eviction) cancels the answers still due; nothing answers it."""
    expert = SimulatedExpert({"a": "1", "b": "1"}, 100.0, lambda: 1e9, PANEL[:3], ("0", "1"))
    expert.send(panel_request("a", 0.0, "crowd", 2))
    expert.send(panel_request("b", 0.0, "crowd", 2))
    expert.send(panel_request("a", 0.0, "crowd", 2, withdrawn=True))
    got = answers(expert)
    assert [e.id for e in got] == ["b", "b"]
    assert expert.exhausted


def test_a_labeler_may_answer_faster_than_the_panel():
    """A labeler's own delay overrides the panel's (an LLM answers at once)."""
    clock = {"now": 10.0}
    panel = (Labeler("h", "specialist"), Labeler("m", "llm", delay_seconds=5.0))
    expert = SimulatedExpert({"a": "1"}, 100.0, lambda: clock["now"], panel, ("0", "1"))
    expert.send(panel_request("a", 0.0, labels_required=2))
    assert [e.labeler_id for e in answers(expert)] == ["m"]
    clock["now"] = 100.0
    assert [e.labeler_id for e in answers(expert)] == ["h"]

"""The simulated expert: answers label requests from ground truth after a delay."""

import json
from datetime import UTC, datetime

from connectors.expert import SimulatedExpert, load_truth
from daemon.contracts.messages import LabelEvent


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

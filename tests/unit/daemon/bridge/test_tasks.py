"""Requests become task specs with only their own fields; annotations become label events or
dead-letter rejections."""

from __future__ import annotations

from datetime import UTC, datetime

from daemon.bridge.tasks import REQUEST_KEYS, VIEW_KEYS, Answer, Labeler, Rejection, TaskMapper
from daemon.contracts.messages import DeadLetterReason, LabelRequest

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _request(**kw) -> LabelRequest:
    doc = {
        "request_id": "r-1",
        "id": "item-1",
        "queue": "experts",
        "role": "specialist",
        "requested_at": NOW,
        "deadline": NOW,
        "priority": 0.7,
        "reason": "uncertain",
        "instructions_id": "exp-v2",
        "labels_required": 2,
        "features": {"x0": 1.5},
        "group": {"region": "***"},
        "prediction": "fraud",
        "proba": {"ok": 0.3, "fraud": 0.7},
        "model_version": "prod-7",
    }
    doc.update(kw)
    return LabelRequest(**doc)


def _mapper() -> TaskMapper:
    return TaskMapper(["ok", "fraud"], roles={"al@x": "senior", "bob": "crowd"}, default_role="sp")


def _choice(label: object) -> list[dict]:
    return [
        {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]}}
    ]


TASK = {"id": 5, "data": {"request_id": "r-1", "id": "item-1"}}


def test_task_carries_the_request_fields_and_a_view_only():
    """Task data is the request's own fields plus title/context/summary, nothing else."""
    spec = _mapper().task(_request())
    assert set(spec.data) == set(REQUEST_KEYS) | set(VIEW_KEYS)
    assert spec.data["features"] == {"x0": 1.5}
    assert spec.data["instructions_id"] == "exp-v2"
    assert "x0: 1.5" in spec.data["summary"]
    assert "priority 0.700" in spec.data["context"]
    assert spec.overlap == 2
    assert spec.request_id == "r-1"


def test_prediction_becomes_the_pre_annotation():
    """The production prediction is a choices result with its probability and model version."""
    spec = _mapper().task(_request())
    assert spec.prediction == _choice("fraud")
    assert spec.score == 0.7
    assert spec.model_version == "prod-7"


def test_prediction_outside_the_classes_is_not_pre_annotated():
    """A production class the experts cannot choose is shown as text but not pre-selected."""
    spec = _mapper().task(_request(prediction="other", proba=None))
    assert spec.prediction is None
    assert "production prediction: other" in spec.data["summary"]


def test_annotation_becomes_a_label_event_with_the_mapped_role():
    """labeler_id is the user's email, the role comes from the mapping, labeled_at its time."""
    ann = {"id": 9, "result": _choice("ok"), "updated_at": "2026-03-02T10:00:00Z"}
    out = _mapper().answer(ann, TASK, Labeler(3, "al@x", "al"))
    assert isinstance(out, Answer)
    assert out.event.id == "item-1"
    assert out.event.label == "ok"
    assert out.event.labeler_id == "al@x"
    assert out.event.labeler_role == "senior"
    assert out.event.labeled_at == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert out.request_id == "r-1"


def test_role_by_username_then_domain_then_default():
    """A username counts, then the email's @domain (a group); others get the queue's role."""
    m = TaskMapper(["ok"], roles={"bob": "crowd", "@clinic.org": "doctor"}, default_role="sp")
    assert m.role_of(Labeler(1, "b@x", "bob")) == "crowd"
    assert m.role_of(Labeler(2, "ann@clinic.org", "ann")) == "doctor"
    assert m.role_of(Labeler(2, "c@x", "carl")) == "sp"
    assert Labeler(4).name == "ls-user-4"


def test_skipped_task_is_an_abstain():
    """A cancelled (skipped) annotation abstains, with no label."""
    ann = {"id": 9, "result": [], "was_cancelled": True, "updated_at": "2026-03-02T10:00:00Z"}
    out = _mapper().answer(ann, TASK, Labeler(3, "al@x"))
    assert isinstance(out, Answer)
    assert out.event.abstain
    assert out.event.label is None


def test_unknown_class_is_rejected():
    """A choice outside the classes is an unknown_class dead letter."""
    ann = {"id": 9, "result": _choice("spam"), "updated_at": "2026-03-02T10:00:00Z"}
    out = _mapper().answer(ann, TASK, Labeler(3))
    assert isinstance(out, Rejection)
    assert out.reason is DeadLetterReason.UNKNOWN_CLASS


def test_malformed_annotations_are_rejected():
    """No result list, two choices, bad choices or no time: schema violations."""
    m = _mapper()
    bad = [
        {"id": 1, "result": "x", "updated_at": "2026-03-02T10:00:00Z"},
        {"id": 1, "result": _choice("ok") + _choice("fraud"), "updated_at": "2026-03-02T10:00Z"},
        {"id": 1, "result": [{"from_name": "label", "value": {"choices": "ok"}}]},
        {"id": 1, "result": _choice("ok")},
        {"id": 1, "result": _choice("ok"), "updated_at": "not a time"},
    ]
    for ann in bad:
        out = m.answer(ann, TASK, Labeler(3))
        assert isinstance(out, Rejection), ann
        assert out.reason is DeadLetterReason.SCHEMA_VIOLATION


def test_task_without_request_is_an_unknown_task():
    """An answer on a task that holds no request is an unknown_task dead letter."""
    ann = {"id": 9, "result": _choice("ok"), "updated_at": "2026-03-02T10:00:00Z"}
    out = _mapper().answer(ann, {"id": 5, "data": {"text": "x"}}, Labeler(3))
    assert isinstance(out, Rejection)
    assert out.reason is DeadLetterReason.UNKNOWN_TASK

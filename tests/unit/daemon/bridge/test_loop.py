"""The bridge loop against an in-memory Label Studio and Kafka: one task per request across
restarts and replays, answers forwarded exactly when delivered, withdrawals, outages, bad input."""

from __future__ import annotations

import json
import queue
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from connectors.label_studio import LabelStudioUnavailableError
from connectors.record import Record
from daemon.bridge.cursor import MemoryCursorStore
from daemon.bridge.loop import Bridge, ProjectSpec, Timing
from daemon.bridge.metrics import BridgeMetrics
from daemon.bridge.server import BridgeHealth
from daemon.service.lifecycle import StopFlag

T0 = datetime(2026, 3, 1, tzinfo=UTC)


class FakeLabelStudio:
    """Projects, tasks, predictions and annotations in dicts; ``down`` makes every call fail."""

    def __init__(self) -> None:
        self.down = False
        self.projects: dict[int, dict] = {}
        self.tasks_: dict[int, dict] = {}
        self.hooks: list[dict] = []
        self.users = {7: {"id": 7, "email": "al@x", "username": "al"}}
        self._ids = 0
        self.clock = T0

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def _stamp(self) -> str:
        self.clock += timedelta(seconds=1)
        return self.clock.isoformat().replace("+00:00", "Z")

    def _check(self) -> None:
        if self.down:
            raise LabelStudioUnavailableError("down")

    def find_project(self, title):
        self._check()
        return next((p for p in self.projects.values() if p["title"] == title), None)

    def create_project(self, title, **fields):
        self._check()
        p = {"id": self._id(), "title": title, **fields}
        self.projects[p["id"]] = p
        return p

    def project(self, pid):
        self._check()
        return self.projects[pid]

    def update_project(self, pid, **fields):
        self._check()
        self.projects[pid].update(fields)
        return self.projects[pid]

    def webhooks(self, pid):
        self._check()
        return list(self.hooks)

    def create_webhook(self, pid, url, actions, headers=None):
        self._check()
        self.hooks.append({"id": 1, "url": url, "actions": list(actions), "is_active": True})
        return self.hooks[-1]

    def tasks(self, pid, filters=None):
        self._check()
        since = None
        if filters:
            since = filters["items"][0]["value"]
        for t in list(self.tasks_.values()):
            if since is None or t["updated_at"] > since:
                yield json.loads(json.dumps(t))

    def tasks_where(self, pid, field, value):
        self._check()
        return [t for t in self.tasks_.values() if t["data"].get(field) == value]

    def create_task(self, pid, data, **fields):
        self._check()
        t = {
            "id": self._id(),
            "data": dict(data),
            "annotations": [],
            "predictions": [],
            "updated_at": self._stamp(),
            "project": pid,
            **fields,
        }
        self.tasks_[t["id"]] = t
        return t

    def predictions(self, tid):
        self._check()
        return list(self.tasks_[tid]["predictions"])

    def create_prediction(self, tid, result, score, model_version):
        self._check()
        p = {"id": self._id(), "result": result, "score": score, "model_version": model_version}
        self.tasks_[tid]["predictions"].append(p)
        self.tasks_[tid]["total_predictions"] = len(self.tasks_[tid]["predictions"])
        return p

    def annotations(self, tid):
        self._check()
        return list(self.tasks_[tid]["annotations"])

    def delete_task(self, tid):
        self._check()
        return self.tasks_.pop(tid, None) is not None

    def user(self, uid):
        self._check()
        return self.users[uid]

    def annotate(self, tid, label=None, skip=False, user=7):
        """What an expert's Submit (or Skip) does."""
        result = (
            []
            if skip
            else [
                {
                    "from_name": "label",
                    "to_name": "item",
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ]
        )
        stamp = self._stamp()
        a = {
            "id": self._id(),
            "result": result,
            "was_cancelled": skip,
            "completed_by": user,
            "created_at": stamp,
            "updated_at": stamp,
            "task": tid,
        }
        self.tasks_[tid]["annotations"].append(a)
        self.tasks_[tid]["updated_at"] = stamp
        return a


class FakeSource:
    """Label requests as records; commits remembered like a consumer group would."""

    def __init__(self, messages: list[bytes]) -> None:
        self.messages = messages
        self.committed = 0
        self.stored = 0
        self.position = 0

    def restart(self) -> None:
        self.position = self.committed

    def poll(self, max_records, timeout):
        batch = self.messages[self.position : self.position + max_records]
        out = [Record(m, None, "req", 0, self.position + i) for i, m in enumerate(batch)]
        self.position += len(batch)
        return out

    def store_offsets(self, positions):
        self.stored = positions[("req", 0)]

    def commit(self):
        self.committed = self.stored

    def lag(self):
        return {("req", 0): len(self.messages) - self.position}

    def close(self):
        return None

    @property
    def assigned(self):
        return True


class FakeSink:
    """A topic in a list; ``fail`` makes deliveries fail."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes | None]] = []
        self.fail = False
        self._callbacks = []

    def send(self, value, key=None, on_delivery=None):
        self.sent.append((value, key))
        if on_delivery is not None:
            self._callbacks.append(on_delivery)

    def serve_deliveries(self):
        return None

    def flush(self, timeout):
        for cb in self._callbacks:
            cb(RuntimeError("broker down") if self.fail else None)
        self._callbacks.clear()
        return 0

    def close(self):
        return None

    def docs(self):
        return [json.loads(v) for v, _ in self.sent]


def _request(i: int, withdrawn: bool = False, reason: str = "uncertain", queue_name="experts"):
    return json.dumps(
        {
            "request_id": f"r-{i}",
            "id": f"item-{i}",
            "queue": queue_name,
            "role": "sp",
            "requested_at": T0.isoformat(),
            "deadline": T0.isoformat(),
            "priority": 0.5,
            "reason": reason,
            "labels_required": 1,
            "features": {"x0": i},
            "prediction": None if withdrawn else "1",
            "proba": None if withdrawn else {"0": 0.4, "1": 0.6},
            "model_version": None if withdrawn else "prod-7",
            "withdrawn": withdrawn,
        }
    ).encode()


class World:
    """One fake Label Studio, one requests topic, one cursor store, across bridge restarts."""

    def __init__(self, messages):
        self.ls = FakeLabelStudio()
        self.source = FakeSource(messages)
        self.labels = FakeSink()
        self.dead = FakeSink()
        self.store = MemoryCursorStore()
        self.inbox: queue.Queue[bytes] = queue.Queue()
        self.registry = CollectorRegistry()

    def bridge(self) -> Bridge:
        self.source.restart()
        self.registry = CollectorRegistry()
        b = Bridge(
            "experts",
            self.ls,
            ProjectSpec(
                classes=["0", "1"],
                title="t",
                overlap=1,
                roles={"al@x": "senior"},
                default_role="sp",
            ),
            self.source,
            self.labels,
            self.dead,
            self.store,
            BridgeMetrics(self.registry, "experts"),
            BridgeHealth(),
            self.inbox,
            StopFlag(),
            Timing(poll_interval=0.0, commit_interval=0.0, backoff=0.0, backoff_max=0.0),
            sleep=lambda _s: None,
        )
        assert b._connect()
        return b

    def metric(self, name, **labels):
        return self.registry.get_sample_value(name, {"queue": "experts", **labels}) or 0.0


def _items(ls):
    return sorted(t["data"]["id"] for t in ls.tasks_.values())


def test_one_task_per_request_across_restarts_and_replays():
    """Replayed requests and a restarted bridge never make a second task."""
    w = World([_request(1), _request(2), _request(1)])
    b = w.bridge()
    b.step()
    assert _items(w.ls) == ["item-1", "item-2"]
    assert w.metric("labelgate_bridge_tasks_created_total") == 2
    assert w.metric("labelgate_bridge_requests_duplicate_total") == 1
    task = next(iter(w.ls.tasks_.values()))
    assert task["predictions"][0]["model_version"] == "prod-7"
    assert task["predictions"][0]["score"] == 0.6
    w.source.committed = 0  # the crash came before the commit: everything is redelivered
    b2 = w.bridge()
    b2.step()
    assert _items(w.ls) == ["item-1", "item-2"]


def test_answers_are_forwarded_once_with_role_and_time():
    """A submitted annotation becomes one label event, also after a restart and re-poll."""
    w = World([_request(1)])
    b = w.bridge()
    b.step()
    tid = next(iter(w.ls.tasks_))
    w.ls.annotate(tid, "1")
    b.step()
    b.step()
    [event] = w.labels.docs()
    assert event["id"] == "item-1"
    assert event["label"] == "1"
    assert event["labeler_id"] == "al@x"
    assert event["labeler_role"] == "senior"
    w.bridge().step()
    assert len(w.labels.docs()) == 1
    assert (
        w.metric("labelgate_bridge_annotations_forwarded_total", kind="label") == 0
    )  # new registry


def test_answers_given_while_the_bridge_was_down_are_caught_up():
    """Annotations made between a crash and the restart are forwarded by the catch-up poll."""
    w = World([_request(1), _request(2)])
    w.bridge().step()
    for tid in list(w.ls.tasks_):
        w.ls.annotate(tid, "0")
    w.bridge().step()
    assert sorted(e["id"] for e in w.labels.docs()) == ["item-1", "item-2"]


def test_undelivered_label_events_are_sent_again():
    """When Kafka fails the delivery, the cursor does not advance and the answer is resent."""
    w = World([_request(1)])
    b = w.bridge()
    b.step()
    w.ls.annotate(next(iter(w.ls.tasks_)), "1")
    w.labels.fail = True
    assert not b._guarded("step", b.step)
    w.labels.fail = False
    b.step()
    ids = [e["id"] for e in w.labels.docs()]
    assert ids == ["item-1", "item-1"]  # the first was never delivered
    assert w.metric("labelgate_bridge_errors_total", operation="step") == 1


def test_label_studio_down_loses_nothing():
    """While Label Studio is down, requests stay uncommitted; afterwards every one is a task."""
    w = World([_request(1), _request(2)])
    b = w.bridge()
    w.ls.down = True
    assert not b._guarded("step", b.step)
    assert w.source.committed == 0
    assert not b.health.label_studio
    assert w.metric("labelgate_bridge_label_studio_up") == 0
    w.ls.down = False
    b.step()
    assert _items(w.ls) == ["item-1", "item-2"]
    assert w.source.committed == 2
    assert w.metric("labelgate_bridge_label_studio_up") == 1


def test_withdrawal_forwards_answers_then_removes_the_task():
    """A withdrawn request's task goes, but an answer given just before still reaches Kafka;
    a replay of the request afterwards does not bring the task back."""
    w = World([_request(1), _request(2)])
    b = w.bridge()
    b.step()
    tid = next(t for t, v in w.ls.tasks_.items() if v["data"]["id"] == "item-1")
    w.ls.annotate(tid, "0")
    w.source.messages += [_request(1, withdrawn=True, reason="expired"), _request(1)]
    b._next_poll = float("inf")  # the answer is found by the withdrawal, not by a poll
    b.step()
    assert _items(w.ls) == ["item-2"]
    assert [e["id"] for e in w.labels.docs()] == ["item-1"]
    assert w.metric("labelgate_bridge_tasks_withdrawn_total", reason="expired") == 1
    w.bridge().step()
    assert _items(w.ls) == ["item-2"]


def test_skip_abstains_and_closes_the_task():
    """A skipped task is an abstain label event, and the task leaves Label Studio."""
    w = World([_request(1)])
    b = w.bridge()
    b.step()
    w.ls.annotate(next(iter(w.ls.tasks_)), skip=True)
    b.step()
    [event] = w.labels.docs()
    assert event["abstain"] is True
    assert w.ls.tasks_ == {}


def test_bad_answers_and_requests_are_dead_lettered():
    """Unknown class, unknown task, malformed webhook and broken requests: dead letters."""
    w = World([b"{not json", _request(1), json.dumps({"queue": "experts"}).encode()])
    b = w.bridge()
    b.step()
    tid = next(iter(w.ls.tasks_))
    w.ls.annotate(tid, "7")
    stray = w.ls.create_task(1, {"text": "by hand"})
    w.ls.annotate(stray["id"], "1")
    w.inbox.put(b"\xff not json")
    w.inbox.put(json.dumps({"action": "ANNOTATION_CREATED"}).encode())
    b.step()
    b.step()
    reasons = sorted(d["reason"] for d in w.dead.docs())
    assert reasons == [
        "invalid_json",
        "invalid_json",
        "schema_violation",
        "schema_violation",
        "unknown_class",
        "unknown_task",
    ]
    assert w.labels.docs() == []
    assert w.metric("labelgate_bridge_dead_letters_total", reason="unknown_class") == 1


def test_webhook_forwards_and_deletion_is_counted():
    """A webhook call forwards at once; a deletion of a forwarded annotation is counted."""
    w = World([_request(1)])
    b = w.bridge()
    b.step()
    tid = next(iter(w.ls.tasks_))
    ann = w.ls.annotate(tid, "1")
    b._next_poll = float("inf")
    w.inbox.put(
        json.dumps(
            {
                "action": "ANNOTATION_CREATED",
                "annotation": ann,
                "task": w.ls.tasks_[tid],
                "project": {"id": 1},
            }
        ).encode()
    )
    b.step()
    assert [e["label"] for e in w.labels.docs()] == ["1"]
    w.inbox.put(
        json.dumps(
            {
                "action": "ANNOTATIONS_DELETED",
                "annotations": [{"id": ann["id"]}],
                "project": {"id": 1},
            }
        ).encode()
    )
    b.step()
    assert w.metric("labelgate_bridge_annotations_deleted_total") == 1


def test_other_queues_requests_are_ignored():
    """On a shared requests topic, only this queue's requests become tasks."""
    w = World([_request(1, queue_name="crowd"), _request(2)])
    w.bridge().step()
    assert _items(w.ls) == ["item-2"]


def test_project_is_created_with_config_overlap_and_webhook():
    """The first connect creates the project with a generated config and the overlap."""
    w = World([])
    b = w.bridge()
    project = w.ls.projects[b.project.project_id]
    assert 'value="0"' in project["label_config"]
    assert project["maximum_annotations"] == 1
    assert w.ls.hooks == []  # no webhook_url: polling only


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_a_config_error(status):
    """A token Label Studio refuses stops the bridge with a clear error instead of retrying."""
    from connectors.label_studio import LabelStudioRejectedError  # noqa: PLC0415
    from daemon.errors import ConfigError  # noqa: PLC0415

    w = World([])

    def refuse(title):
        raise LabelStudioRejectedError("no", status, "")

    w.ls.find_project = refuse
    with pytest.raises(ConfigError, match="refused the token"):
        w.bridge()


def test_withdrawal_of_a_task_deleted_by_hand():
    """A task someone deleted in Label Studio is simply gone when its request is withdrawn."""
    from connectors.label_studio import LabelStudioRejectedError  # noqa: PLC0415

    w = World([_request(1)])
    b = w.bridge()
    b.step()

    def missing(tid):
        raise LabelStudioRejectedError("gone", 404, "")

    w.ls.annotations = missing
    w.ls.tasks_.clear()
    w.source.messages.append(_request(1, withdrawn=True, reason="expired"))
    b.step()
    assert w.source.committed == 2
    assert len(b.index) == 0


def test_kafka_down_at_start_is_retried():
    """A cursor that cannot be read yet (Kafka down) delays the start instead of ending it."""
    from connectors.errors import ConnectorError  # noqa: PLC0415

    w = World([_request(1)])
    real = w.store.load
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ConnectorError("broker unreachable")
        return real()

    w.store.load = flaky
    b = w.bridge()
    b.step()
    assert len(calls) == 2
    assert _items(w.ls) == ["item-1"]
    assert w.metric("labelgate_bridge_errors_total", operation="connect") == 1


def test_a_forged_webhook_makes_no_label_event():
    """Webhooks are hints: an annotation Label Studio does not have is never forwarded."""
    w = World([_request(1)])
    b = w.bridge()
    b.step()
    tid = next(iter(w.ls.tasks_))
    b._next_poll = float("inf")
    forged = {
        "id": 999,
        "result": [
            {
                "from_name": "label",
                "to_name": "item",
                "type": "choices",
                "value": {"choices": ["0"]},
            }
        ],
        "completed_by": 7,
        "updated_at": "2026-03-01T00:00:00Z",
    }
    w.inbox.put(
        json.dumps(
            {
                "action": "ANNOTATION_CREATED",
                "annotation": forged,
                "task": w.ls.tasks_[tid],
                "project": {"id": 1},
            }
        ).encode()
    )
    b.step()
    assert w.labels.docs() == []
    assert w.metric("labelgate_bridge_webhooks_received_total") == 1

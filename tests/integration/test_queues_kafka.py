"""Expert queues against a real broker: routing, overflow, redelivery, expiry, escalation,
redaction on the wire, and a complete evidence record."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

from daemon.contracts.evidence import expand
from tests.integration.daemon_process import (
    DaemonProcess,
    free_port,
    jsons,
    produce,
    read_all,
    wait_for,
    write_config,
)

SPECIALIST_TTL = 6.0
START = datetime(2026, 3, 1, tzinfo=UTC)


def _prediction(i: int, region: str, p1: float, item_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": item_id or f"q-{i:04d}",
            "event_time": (START + timedelta(seconds=i)).isoformat(),
            "features": {"x0": 0.1 * i, "x1": 1000.0 + i, "x2": f"secret-{i}", "x3": 7},
            "prediction": "1" if p1 >= 0.5 else "0",
            "proba": {"0": round(1 - p1, 6), "1": round(p1, 6)},
            "model_version": "prod-7",
            "group": {"region": region},
        }
    ).encode()


def _label(item_id: str, label: str, labeler: str, role: str = "crowd") -> tuple[bytes, bytes]:
    doc = {
        "id": item_id,
        "label": label,
        "labeler_id": labeler,
        "labeler_role": role,
        "labeled_at": datetime.now(UTC).isoformat(),
    }
    return item_id.encode(), json.dumps(doc).encode()


def _config(tmp_path, bootstrap, topics, group, port):
    return write_config(
        tmp_path / "queues.yaml",
        {
            "source": "kafka",
            "classes": ["0", "1"],
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": group,
                "topics": {
                    k: v
                    for k, v in topics.items()
                    if k in {"predictions", "labels", "audit", "dead_letter", "state", "requests"}
                },
                "commit_interval_seconds": 0.5,
                "poll_timeout_seconds": 0.1,
            },
            "model": {"score_source": "production"},
            "policy": {
                "strategy": "random",
                "cold_start_items": 0,
                "queue_gate_exponent": None,
                "budget": {"fraction": 1.0, "window": 10},
            },
            "queues": [
                {
                    "name": "crowd",
                    "role": "crowd",
                    "cost": 0.2,
                    "capacity": 4,
                    "topic": topics["crowd"],
                    "labels_required": 2,
                    "resolution": "majority",
                    "escalate_to": "adjudicator",
                    "instructions_id": "crowd-v3",
                    "fields": ["x0", "x1"],
                    "redact": {"x1": "hash", "group.region": "mask"},
                },
                {
                    "name": "specialist",
                    "role": "specialist",
                    "cost": 0.5,
                    "capacity": 2,
                    "topic": topics["specialist"],
                    "overflow": "replace",
                    "ttl_seconds": SPECIALIST_TTL,
                    "instructions_id": "spec-v1",
                    "fields": ["x0", "x1", "x2"],
                    "redact": {"x2": "drop"},
                },
                {
                    "name": "adjudicator",
                    "role": "adjudicator",
                    "cost": 0.8,
                    "capacity": 10,
                    "topic": topics["adjudicator"],
                    "instructions_id": "adj-v1",
                },
            ],
            "routing": {
                "rules": [
                    {
                        "name": "apac-specialists",
                        "all": [{"field": "group.region", "op": "eq", "value": "APAC"}],
                        "queues": ["specialist"],
                    }
                ],
                "default": ["crowd"],
            },
            "redaction_salt": "test-salt",
            "server": {"host": "127.0.0.1", "port": port},
            "state_dir": str(tmp_path / "state"),
        },
    )


def test_routing_overflow_expiry_escalation_redaction(
    tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """Two queues by subgroup; full queues skip or replace; duplicates get no second request;
    expiry frees capacity; disagreement escalates; redacted fields never leave."""
    topics = {
        name: kafka_topic_factory()
        for name in (
            "predictions",
            "labels",
            "audit",
            "dead_letter",
            "requests",
            "crowd",
            "specialist",
            "adjudicator",
        )
    }
    topics["state"] = kafka_topic_factory(config={"cleanup.policy": "compact"})
    port = free_port()
    daemon = DaemonProcess(
        _config(tmp_path, kafka_bootstrap, topics, unique_group, port),
        port,
        tmp_path / "daemon.log",
    )

    def decisions() -> list[dict]:
        return [
            e for e in jsons(read_all(kafka_bootstrap, topics["audit"])) if e["kind"] == "decision"
        ]

    try:
        daemon.start()
        # Six EU items for a crowd queue of 4 (skip on overflow); APAC items with rising
        # uncertainty for a specialist queue of 2 (replace the least useful waiting request).
        eu = [_prediction(i, "EU", 0.9) for i in range(6)]
        apac = [_prediction(10 + i, "APAC", p) for i, p in enumerate([0.95, 0.9, 0.8, 0.6])]
        produce(kafka_bootstrap, topics["predictions"], [(None, x) for x in eu + apac])
        wait_for(lambda: len(decisions()) == 10, 60, "10 decisions", daemon)
        # Redelivery of an item whose request is open: decided again, but no second request.
        produce(kafka_bootstrap, topics["predictions"], [(None, eu[0])])
        wait_for(lambda: len(decisions()) == 11, 60, "the redelivered decision", daemon)
        first = {e["id"]: e for e in decisions()[:10]}
        assert [first[f"q-{i:04d}"]["queue"] for i in range(4)] == ["crowd"] * 4
        assert [first[f"q-{i:04d}"]["reason"] for i in (4, 5)] == ["queue_full"] * 2
        assert all(first[f"q-{i:04d}"]["route_rule"] == "apac-specialists" for i in range(10, 14))
        assert all(first[f"q-{i:04d}"]["queue"] == "specialist" for i in range(10, 14))
        assert decisions()[10]["reason"] == "duplicate"
        assert not decisions()[10]["query"]

        specialist = jsons(read_all(kafka_bootstrap, topics["specialist"]))
        opened = [m["id"] for m in specialist if not m["withdrawn"]]
        withdrawn = [m["id"] for m in specialist if m["withdrawn"]]
        assert opened == [f"q-{i:04d}" for i in range(10, 14)]
        assert withdrawn == ["q-0010", "q-0011"], "replaced by more uncertain items"
        crowd = jsons(read_all(kafka_bootstrap, topics["crowd"]))
        assert [m["id"] for m in crowd] == [f"q-{i:04d}" for i in range(4)]
        assert len({m["request_id"] for m in crowd}) == 4

        # Labels: q-0000 two agreeing crowd labels; q-0001 disagreeing -> adjudicator.
        produce(
            kafka_bootstrap,
            topics["labels"],
            [
                _label("q-0000", "1", "a"),
                _label("q-0000", "1", "b"),
                _label("q-0001", "0", "a"),
                _label("q-0001", "1", "b"),
                _label("nobody-asked", "1", "z"),
            ],
        )
        wait_for(
            lambda: len(read_all(kafka_bootstrap, topics["adjudicator"])) == 1,
            60,
            "escalation to the adjudicator",
            daemon,
        )
        adjudication = jsons(read_all(kafka_bootstrap, topics["adjudicator"]))[0]
        assert adjudication["id"] == "q-0001"
        assert adjudication["reason"] == "escalated"
        assert adjudication["role"] == "adjudicator"
        produce(kafka_bootstrap, topics["labels"], [_label("q-0001", "0", "judge", "adjudicator")])

        # Expiry frees specialist capacity: a new APAC item after the TTL is queued again.
        time.sleep(SPECIALIST_TTL + 1.0)
        produce(kafka_bootstrap, topics["predictions"], [(None, _prediction(20, "APAC", 0.99))])
        wait_for(lambda: len(decisions()) == 12, 60, "the post-expiry decision", daemon)
        assert decisions()[11]["query"]
        assert decisions()[11]["queue"] == "specialist"
        wait_for(
            lambda: daemon.metric("labelgate_model_labels_learned") == 2,
            30,
            "two resolved labels learned",
            daemon,
        )
        assert daemon.terminate() == 0, daemon.log_tail()
    finally:
        daemon.kill()

    # Compact decision records: the policy parameters come from the config record.
    trail = expand(jsons(read_all(kafka_bootstrap, topics["audit"])))
    expiries = [e for e in trail if e["kind"] == "expiry"]
    assert {(e["id"], e["resolution"]) for e in expiries} >= {
        ("q-0010", "evicted"),
        ("q-0011", "evicted"),
        ("q-0012", "expired"),
        ("q-0013", "expired"),
    }
    labels = [e for e in trail if e["kind"] == "label"]
    by_item = {}
    for e in labels:
        by_item.setdefault(e["id"], []).append(e)
    assert [e["resolution"] for e in by_item["q-0000"]] == ["awaiting", "unanimous"]
    assert by_item["q-0000"][-1]["agreement"] == 1.0
    assert [e["resolution"] for e in by_item["q-0001"]] == ["awaiting", "escalated", "adjudicated"]
    assert by_item["q-0001"][1]["agreement"] == 0.5
    assert by_item["nobody-asked"][0]["resolution"] == "unmatched"
    escalations = [e for e in trail if e["kind"] == "escalation"]
    assert [(e["id"], e["queue"]) for e in escalations] == [("q-0001", "adjudicator")]

    # Redaction, checked on the wire: nothing outside a queue's allow-list ever leaves.
    for message in jsons(read_all(kafka_bootstrap, topics["crowd"])):
        assert set(message["features"]) <= {"x0", "x1"}
        assert message["features"]["x1"] != 1000.0 + int(message["id"][2:])
        assert message["group"] == {"region": "***"}
        assert message["instructions_id"] == "crowd-v3"
    for topic in ("crowd", "specialist", "adjudicator"):
        raw = b"".join(v or b"" for _, v in read_all(kafka_bootstrap, topics[topic]))
        if topic != "adjudicator":
            assert b"secret-" not in raw
    for message in jsons(read_all(kafka_bootstrap, topics["specialist"])):
        assert "x2" not in message["features"]
        assert "x3" not in message["features"]

    # The evidence of a queried and labeled item carries every field an auditor needs.
    decision = next(e for e in trail if e["kind"] == "decision" and e["id"] == "q-0000")
    for field in (
        "id",
        "source",
        "event_time",
        "decided_at",
        "model_version",
        "online_model_version",
        "policy",
        "policy_params",
        "config_hash",
        "scores",
        "uncertainty",
        "threshold",
        "probability",
        "query",
        "reason",
        "budget_spent",
        "queue_state",
        "queue",
        "request_id",
        "instructions_id",
        "redaction",
    ):
        assert decision[field] not in (None, "", {}), field
    assert decision["source"]["topic"] == topics["predictions"]
    assert decision["redaction"] == {
        "x1": "hash",
        "x2": "drop",
        "x3": "drop",
        "group.region": "mask",
    }
    assert decision["model_version"] == "prod-7"
    assert decision["policy_params"]["strategy"] == "random"
    resolved = by_item["q-0000"][-1]
    for field in ("labeler_role", "label", "agreement", "resolution", "used_for"):
        assert resolved[field] not in (None, ""), field
    assert resolved["used_for"] == "training"

    # The auditor's tool reads the audit topic and reproduces what the test counts itself.
    import subprocess  # noqa: PLC0415 - only this last check runs the CLI
    import sys  # noqa: PLC0415

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "evidence",
            "--config",
            str(daemon.config),
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    decided = [e for e in trail if e["kind"] == "decision"]
    assert summary["decisions"]["items"] == len(decided)
    assert summary["decisions"]["queries"] == sum(e["query"] for e in decided)
    per_queue = {}
    for e in decided:
        if e["query"]:
            per_queue[e["queue"]] = per_queue.get(e["queue"], 0) + 1
    assert summary["decisions"]["per_queue"] == per_queue
    assert summary["labels"]["received"] == len(labels)
    assert summary["labels"]["unmatched"] == 1
    assert summary["requests"]["escalations_per_queue"] == {"adjudicator": 1}
    closed = {}
    for e in expiries:
        counts = closed.setdefault(e["queue"], {"evicted": 0, "expired": 0, "rerouted": 0})
        counts[e["resolution"]] += 1
    assert summary["requests"]["closed_per_queue"] == closed
    trace = subprocess.run(
        [
            sys.executable,
            "-m",
            "daemon.cli",
            "evidence",
            "--config",
            str(daemon.config),
            "--item",
            "q-0001",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    kinds = [row["kind"] for row in json.loads(trace.stdout)["records"]]
    assert kinds == ["decision", "label", "label", "escalation", "label"]

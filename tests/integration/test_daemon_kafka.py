"""The daemon against a real broker: at-least-once, dead letters, budget, labels, restart."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from daemon.tools import replay
from tests.integration.daemon_process import (
    DaemonProcess,
    committed_offsets,
    end_offsets,
    free_port,
    jsons,
    produce,
    read_all,
    wait_for,
    write_config,
)

FRACTION = 0.05
LIMIT = 700  # absolute cap per (long) period: binds during the first run
PERIOD = 30 * 86400.0  # long, so the test never straddles a period boundary
HOLD_BACK_EVERY = 10  # the simulated expert keeps every 10th request unanswered until restart


class Expert:
    """Answers label requests from the ground truth, holding some back."""

    def __init__(self, bootstrap: str, requests: str, labels: str, truth: dict[str, str]) -> None:
        self.truth = truth
        self.labels = labels
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "expert-" + requests,
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
            }
        )
        self.consumer.assign([TopicPartition(requests, 0, 0)])
        self.producer = Producer({"bootstrap.servers": bootstrap})
        self.seen: list[dict[str, Any]] = []
        self.answered: set[str] = set()
        self.held: list[str] = []

    def pump(self) -> None:
        """Read new requests and answer them (or hold them back)."""
        for msg in self.consumer.consume(500, 0.1):
            if msg.error():
                continue
            request = json.loads(msg.value())
            self.seen.append(request)
            if len(self.seen) % HOLD_BACK_EVERY == 0:
                self.held.append(request["id"])
            else:
                self.answer(request["id"])
        self.producer.flush(10)

    def answer(self, item_id: str) -> None:
        """Send the true label of one item."""
        event = {
            "schema_version": 1,
            "id": item_id,
            "label": self.truth[item_id],
            "labeler_role": "specialist",
            "labeler_id": "e-1",
            "labeled_at": datetime.now(UTC).isoformat(),
        }
        self.producer.produce(self.labels, json.dumps(event).encode(), key=item_id.encode())
        self.answered.add(item_id)

    def close(self) -> None:
        """Leave the group."""
        self.producer.flush(10)
        self.consumer.close()


def _config(tmp: Path, bootstrap: str, topics: dict[str, str], group: str, port: int) -> Path:
    return write_config(
        tmp / "labelgate.yaml",
        {
            "source": "kafka",
            "classes": replay.CLASSES,
            "kafka": {
                "bootstrap_servers": bootstrap,
                "group_id": group,
                "topics": topics,
                "commit_interval_seconds": 1.0,
                "poll_timeout_seconds": 0.1,
            },
            "policy": {
                "strategy": "variable_uncertainty",
                "cold_start_items": 10,
                "budget": {
                    "fraction": FRACTION,
                    "window": 500,
                    "limit": LIMIT,
                    "period_seconds": PERIOD,
                },
            },
            "queues": [{"name": "default", "capacity": 5000, "ttl_seconds": 86400.0}],
            "server": {"host": "127.0.0.1", "port": port},
            "state_dir": str(tmp / "state"),
            "shutdown_grace_seconds": 20.0,
        },
    )


def _documented_metrics() -> list[str]:
    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    names = []
    for row in re.findall(r"^\| ([a-z_ /]+) \|", doc, flags=re.M):
        names += [n.strip() for n in row.split("/") if n.strip() and n.strip() != "metric"]
    return names


def _check_metrics_endpoint(daemon: DaemonProcess, items: int, held: int) -> None:
    """Every documented family is exposed, with values that agree with what the test knows."""

    def subgroup_items() -> float:
        _, body = daemon.http("/metrics")
        pattern = r'^labelgate_subgroup_items_total\{attribute="region",group="\w+"\} (\S+)$'
        return sum(float(v) for v in re.findall(pattern, body.decode(), flags=re.M))

    # The feedback statistics are refreshed on a timer, not per item: wait for the next refresh.
    wait_for(lambda: subgroup_items() == items, 30, "feedback statistics to catch up", daemon)
    status, body = daemon.http("/metrics")
    assert status == 200
    text = body.decode()
    exposed = set(re.findall(r"^# HELP labelgate_(\S+?)(?:_total)? ", text, flags=re.M))
    documented = {n.removesuffix("_total") for n in _documented_metrics()}
    missing = documented - exposed - {"label_agreement_ratio"}  # needs overlapping labels
    assert not missing, f"documented but not exposed: {sorted(missing)}"
    assert daemon.metric("labelgate_items_total") == items
    assert daemon.metric("labelgate_budget_spent") == LIMIT
    assert daemon.metric("labelgate_budget_exhausted") == 1.0
    assert daemon.metric('labelgate_queue_outstanding_requests{queue="default"}') == held
    dead = sum(
        float(v)
        for v in re.findall(r"^labelgate_dead_letters_total\{.*\} (\S+)$", text, flags=re.M)
    )
    assert dead == 200
    # Population shares are always defined; representation ratios only when the last window
    # (5,000 items) holds queries, which depends on how the cap fell across partitions.
    shares = [
        float(v)
        for v in re.findall(
            r'^labelgate_subgroup_population_share\{attribute="region",group="\w+"\} (\S+)$',
            text,
            flags=re.M,
        )
    ]
    assert len(shares) == 3
    assert sum(shares) == pytest.approx(1.0)
    ratios = [
        float(v)
        for v in re.findall(
            r"^labelgate_subgroup_representation_ratio\{.*\} (\S+)$", text, flags=re.M
        )
    ]
    # Each partition spends its own share of the cap, so the last window can hold a handful of
    # queries from partitions that still had budget: a ratio over so few queries can be large,
    # but it is always a finite, non-negative number.
    assert all(0 <= r < float("inf") for r in ratios), ratios
    # ~20,000 distinct customer values: bounded to the top 10 plus "other" (configurable top-K).
    customers = re.findall(
        r'^labelgate_subgroup_items_total\{attribute="customer",group="([^"]+)"\}', text, flags=re.M
    )
    assert len(customers) == 11
    assert "other" in customers
    assert len(re.findall(r'group="customer-', text)) <= 10 * 5  # 5 per-subgroup families
    assert 0 < daemon.metric('labelgate_error_rate{estimator="naive"}') < 1
    status_code, status_body = daemon.http("/status")
    assert status_code == 200
    summary = json.loads(status_body)
    assert summary["budget_spent"] == LIMIT
    assert summary["items"] == items


def _with_customer(line: bytes, i: int) -> bytes:
    """Give every valid prediction a distinct subgroup value: metric cardinality must hold."""
    try:
        doc = json.loads(line)
    except ValueError:
        return line
    if not isinstance(doc, dict) or not isinstance(doc.get("group"), dict):
        return line
    doc["group"]["customer"] = f"customer-{i}"
    return json.dumps(doc).encode()


def _lines(path: Path) -> list[bytes]:
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def _key(line: bytes) -> bytes | None:
    try:
        return str(json.loads(line)["id"]).encode()
    except (ValueError, KeyError, TypeError):
        return None


def test_daemon_end_to_end_on_real_broker(
    tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """20,000 predictions (1% malformed) are decided once each, labels train the model, offsets
    reach the end, SIGTERM exits 0, and a restart resumes budget, pending requests and model."""
    topics = {
        "predictions": kafka_topic_factory(partitions=3),
        "labels": kafka_topic_factory(partitions=2),
        "requests": kafka_topic_factory(),
        "audit": kafka_topic_factory(),
        "dead_letter": kafka_topic_factory(),
        "state": kafka_topic_factory(config={"cleanup.policy": "compact"}),
    }
    # 19,800 valid predictions plus one malformed line every 99 -> 200 malformed, 20,000 total.
    preds, truth_path = replay.generate(tmp_path / "replay", n=19_800, malformed_every=99)
    truth = {d["id"]: d["label"] for d in map(json.loads, truth_path.read_text().splitlines())}
    lines = [_with_customer(x, i) for i, x in enumerate(_lines(preds))]
    assert len(lines) == 20_000
    produce(kafka_bootstrap, topics["predictions"], [(_key(x), x) for x in lines])

    port = free_port()
    config = _config(tmp_path, kafka_bootstrap, topics, unique_group, port)
    expert = Expert(kafka_bootstrap, topics["requests"], topics["labels"], truth)
    daemon = DaemonProcess(config, port, tmp_path / "run1.log")
    try:
        daemon.start()
        ends = end_offsets(kafka_bootstrap, topics["predictions"])

        def caught_up() -> bool:
            expert.pump()
            done = committed_offsets(kafka_bootstrap, unique_group, topics["predictions"]) == ends
            sent = daemon.metric('labelgate_queries_total{queue="default"}')
            return (
                done
                and len(expert.seen) == sent
                and daemon.metric("labelgate_model_labels_learned") == len(expert.answered)
            )

        wait_for(caught_up, 240, "run 1 to commit every offset and learn every label", daemon)
        learned_run1 = daemon.metric("labelgate_model_labels_learned")
        _check_metrics_endpoint(daemon, len(truth), len(expert.held))
        assert daemon.terminate() == 0, daemon.log_tail()
    finally:
        daemon.kill()

    # Offsets committed to the end of every partition at shutdown.
    assert committed_offsets(kafka_bootstrap, unique_group, topics["predictions"]) == ends

    valid_ids = [d for d in (_key(x) for x in lines) if d is not None and d.decode() in truth]
    trail = jsons(read_all(kafka_bootstrap, topics["audit"]))
    evidence = [e for e in trail if e["kind"] == "decision"]
    label_records = [e for e in trail if e["kind"] == "label"]
    assert len(label_records) == len(expert.answered)
    assert {e["resolution"] for e in label_records} == {"first"}
    ids = [e["id"] for e in evidence]
    assert len(ids) == len(set(ids)) == len(truth), "exactly one evidence record per valid item"
    assert set(ids) == {v.decode() for v in valid_ids}

    dead = jsons(read_all(kafka_bootstrap, topics["dead_letter"]))
    assert len(dead) == 200
    assert all(d["reason"] and d["detail"] for d in dead)
    assert {d["reason"] for d in dead} >= {
        "invalid_json",
        "non_finite",
        "unknown_class",
        "schema_violation",
    }

    requests = jsons(read_all(kafka_bootstrap, topics["requests"]))
    queried = [e for e in evidence if e["query"]]
    assert len(requests) == len(queried) == len(expert.seen)
    assert len(requests) <= LIMIT, "the absolute budget is never overshot"
    assert len(requests) == LIMIT, "at 5% of 19,800 items the cap of 700 binds"
    assert len({r["request_id"] for r in requests}) == len(requests)
    # The fraction pacing held before the cap bound: at most 5% (+10%) of the items seen by then.
    last_query = max(int(e["id"].rsplit("-", 1)[1]) for e in queried)
    assert FRACTION * 1.1 * (last_query + 1) + 10 >= LIMIT
    assert learned_run1 == len(expert.answered) > 0
    assert expert.held, "some requests stay pending across the restart"

    # --- restart: new predictions, and the held-back labels arrive only now.
    extra, _extra_truth = replay.generate(tmp_path / "replay2", n=1_000, seed=99, malformed_every=0)
    extra_lines = [
        json.dumps({**json.loads(x), "id": "late-" + json.loads(x)["id"]}).encode()
        for x in _lines(extra)
    ]
    produce(kafka_bootstrap, topics["predictions"], [(_key(x), x) for x in extra_lines])
    for item_id in expert.held:
        expert.answer(item_id)
    expert.producer.flush(10)
    ends2 = end_offsets(kafka_bootstrap, topics["predictions"])

    daemon2 = DaemonProcess(config, port, tmp_path / "run2.log")
    try:
        daemon2.start()
        expected = learned_run1 + len(expert.held)

        def caught_up_again() -> bool:
            done = committed_offsets(kafka_bootstrap, unique_group, topics["predictions"]) == ends2
            return done and daemon2.metric("labelgate_model_labels_learned") == expected

        wait_for(caught_up_again, 120, "run 2 to catch up and learn the held-back labels", daemon2)
        assert daemon2.metric("labelgate_budget_spent") == LIMIT
        assert daemon2.metric("labelgate_budget_exhausted") == 1.0
        assert daemon2.terminate() == 0, daemon2.log_tail()
    finally:
        daemon2.kill()
    expert.close()

    evidence2 = [
        e
        for e in jsons(read_all(kafka_bootstrap, topics["audit"]))[len(trail) :]
        if e["kind"] == "decision"
    ]
    assert sorted(e["id"] for e in evidence2) == sorted(json.loads(x)["id"] for x in extra_lines), (
        "committed items are not reprocessed"
    )
    assert not any(e["query"] for e in evidence2), "a restart cannot be used to overspend"
    assert {e["reason"] for e in evidence2} == {"budget_exhausted"}
    # Evidence carries the ledger that decided: the item's partition, spent to its share.
    assert all(e["budget_spent"] == e["budget_limit"] for e in evidence2)
    assert sum({e["budget_limit"] for e in evidence2}) <= LIMIT
    assert min(e["online_model_version"] for e in evidence2) >= learned_run1
    assert len(jsons(read_all(kafka_bootstrap, topics["requests"]))) == LIMIT

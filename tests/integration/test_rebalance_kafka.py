"""Two replicas in one consumer group: partitions move between them without reprocessing."""

from __future__ import annotations

import json

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


def test_second_replica_takes_partitions_without_reprocessing(
    tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """A replica joining mid-stream triggers a rebalance; the leaving owner commits what it
    processed first, so every item is decided exactly once across the two replicas."""
    topics = {
        "predictions": kafka_topic_factory(partitions=4),
        "labels": kafka_topic_factory(),
        "requests": kafka_topic_factory(),
        "audit": kafka_topic_factory(),
        "dead_letter": kafka_topic_factory(),
        "state": kafka_topic_factory(config={"cleanup.policy": "compact"}),
    }
    preds, _ = replay.generate(tmp_path / "replay", n=4000, malformed_every=0)
    lines = preds.read_bytes().splitlines()
    keyed = [(json.loads(x)["id"].encode(), x) for x in lines]

    def config(name: str, port: int):
        return write_config(
            tmp_path / f"{name}.yaml",
            {
                "source": "kafka",
                "classes": replay.CLASSES,
                # Rare commits on purpose: only the hand-over on revocation avoids duplicates.
                "kafka": {
                    "bootstrap_servers": kafka_bootstrap,
                    "group_id": unique_group,
                    "topics": topics,
                    "commit_interval_seconds": 3600.0,
                    "poll_timeout_seconds": 0.1,
                },
                "server": {"host": "127.0.0.1", "port": port},
                "state_dir": str(tmp_path / f"state-{name}"),
            },
        )

    port_a, port_b = free_port(), free_port()
    a = DaemonProcess(
        config("a", port_a), port_a, tmp_path / "a.log", {"LABELGATE_INSTANCE_ID": "a"}
    )
    b = DaemonProcess(
        config("b", port_b), port_b, tmp_path / "b.log", {"LABELGATE_INSTANCE_ID": "b"}
    )
    try:
        a.start()
        produce(kafka_bootstrap, topics["predictions"], keyed[:2000])
        wait_for(lambda: a.metric("labelgate_items_total") == 2000, 60, "replica a", a)
        assert committed_offsets(
            kafka_bootstrap, unique_group, topics["predictions"]
        ) != end_offsets(kafka_bootstrap, topics["predictions"]), "nothing committed yet"
        b.start()
        produce(kafka_bootstrap, topics["predictions"], keyed[2000:])

        def all_decided() -> bool:
            return a.metric("labelgate_items_total") + b.metric("labelgate_items_total") >= 4000

        wait_for(all_decided, 90, "both replicas to decide every item", b)
        assert b.metric("labelgate_items_total") > 0, "the new replica got partitions"
        assert a.terminate() == 0, a.log_tail()
        assert b.terminate() == 0, b.log_tail()
    finally:
        a.kill()
        b.kill()
    decided = [
        e["id"]
        for e in jsons(read_all(kafka_bootstrap, topics["audit"]))
        if e["kind"] == "decision"
    ]
    assert len(decided) == len(set(decided)) == 4000, "no item decided twice"
    assert committed_offsets(kafka_bootstrap, unique_group, topics["predictions"]) == end_offsets(
        kafka_bootstrap, topics["predictions"]
    )


def test_absolute_budget_is_split_by_partition_share(
    tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """Two replicas owning two of four partitions each may spend half the limit each, so the
    group as a whole never spends more than the configured limit."""
    topics = {
        "predictions": kafka_topic_factory(partitions=4),
        "labels": kafka_topic_factory(),
        "requests": kafka_topic_factory(),
        "audit": kafka_topic_factory(),
        "dead_letter": kafka_topic_factory(),
        "state": kafka_topic_factory(config={"cleanup.policy": "compact"}),
    }
    limit = 60
    daemons = []
    for name in ("a", "b"):
        port = free_port()
        cfg = write_config(
            tmp_path / f"{name}.yaml",
            {
                "source": "kafka",
                "classes": replay.CLASSES,
                "kafka": {
                    "bootstrap_servers": kafka_bootstrap,
                    "group_id": unique_group,
                    "topics": topics,
                    "poll_timeout_seconds": 0.1,
                },
                "policy": {
                    "strategy": "random",
                    "cold_start_items": 0,
                    "budget": {
                        "fraction": 1.0,
                        "window": 10,
                        "limit": limit,
                        "period_seconds": 30 * 86400.0,
                    },
                },
                "server": {"host": "127.0.0.1", "port": port},
                "state_dir": str(tmp_path / f"state-{name}"),
            },
        )
        daemons.append(
            DaemonProcess(cfg, port, tmp_path / f"{name}.log", {"LABELGATE_INSTANCE_ID": name})
        )
    a, b = daemons
    try:
        a.start()
        b.start()
        wait_for(
            lambda: (
                a.metric("labelgate_budget_limit") == limit / 2
                and b.metric("labelgate_budget_limit") == limit / 2
            ),
            60,
            "both replicas to own half of the partitions",
            b,
        )
        preds, _ = replay.generate(tmp_path / "replay", n=2000, malformed_every=0)
        produce(
            kafka_bootstrap,
            topics["predictions"],
            [(json.loads(x)["id"].encode(), x) for x in preds.read_bytes().splitlines()],
        )
        wait_for(
            lambda: a.metric("labelgate_items_total") + b.metric("labelgate_items_total") >= 2000,
            90,
            "every item decided",
            b,
        )
        wait_for(
            lambda: (
                a.metric("labelgate_budget_spent")
                == b.metric("labelgate_budget_spent")
                == limit / 2
            ),
            30,
            "each replica to report its half spent",
            b,
        )
        assert a.terminate() == 0
        assert b.terminate() == 0
    finally:
        a.kill()
        b.kill()
    requests = read_all(kafka_bootstrap, topics["requests"])
    assert len(requests) == limit, "the group spent exactly the limit, no more"

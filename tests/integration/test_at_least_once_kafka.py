"""The opt-in at-least-once mode (clusters without transactions) still runs end to end."""

from __future__ import annotations

import json

from daemon.tools import replay
from tests.integration.daemon_process import (
    DaemonProcess,
    free_port,
    jsons,
    produce,
    read_all,
    wait_for,
    write_config,
)
from tests.integration.eos_harness import caught_up, daemon_config, fold_state, topics_for


def test_at_least_once_mode_decides_every_item_and_commits(
    tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """With ``delivery: at_least_once`` no transaction is used: every item is decided once in
    a clean run, offsets reach the end, and the partition ledgers hold the spend."""
    topics = topics_for(kafka_topic_factory)
    preds, _ = replay.generate(tmp_path / "replay", n=3000, malformed_every=0)
    lines = [x for x in preds.read_bytes().splitlines() if x.strip()]
    produce(
        kafka_bootstrap, topics["predictions"], [(json.loads(x)["id"].encode(), x) for x in lines]
    )
    port = free_port()
    doc = daemon_config(kafka_bootstrap, topics, unique_group, port, tmp_path / "state", limit=60)
    doc["kafka"]["delivery"] = "at_least_once"
    config = write_config(tmp_path / "labelgate.yaml", doc)
    daemon = DaemonProcess(config, port, tmp_path / "daemon.log", {"LABELGATE_INSTANCE_ID": "alo"})
    try:
        daemon.start()
        wait_for(
            lambda: caught_up(kafka_bootstrap, unique_group, topics["predictions"]),
            120,
            "every prediction committed",
            daemon,
        )
        assert daemon.terminate() == 0, daemon.log_tail()
    finally:
        daemon.kill()
    decided = [
        e["id"]
        for e in jsons(read_all(kafka_bootstrap, topics["audit"]))
        if e["kind"] == "decision"
    ]
    assert sorted(decided) == sorted(json.loads(x)["id"] for x in lines)
    requests = jsons(read_all(kafka_bootstrap, topics["requests"]))
    state = fold_state(kafka_bootstrap, topics["state"])
    spent = sum(
        b["spent"] for k, v in state.items() if k.endswith(b"/ledger") for b in v["budgets"]
    )
    assert spent == len(requests) == 60

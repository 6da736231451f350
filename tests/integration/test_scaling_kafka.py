"""Scaling 1 → 3 → 2 replicas with items flowing, one replica SIGKILLed and restarted.

Per-partition budget ledgers, open requests and closed-request memories move with their
partition inside the transaction, so the group as a whole honours the budget while partitions
move, a label is recorded once (by the replica owning its request), and the requests of a
replica that leaves are taken over by the new owners of its partitions.
"""

from __future__ import annotations

import json
import time

import pytest

from daemon.tools import replay
from tests.integration.daemon_process import (
    DaemonProcess,
    end_offsets,
    free_port,
    wait_for,
    write_config,
)
from tests.integration.eos_harness import (
    Expert,
    PacedProducer,
    assert_exactly_once,
    caught_up,
    checkpoint_version,
    committed_outcome,
    daemon_config,
    halt_all,
    label_offsets_committed,
    topics_for,
)

ITEMS = 30_000
FRACTION = 0.03


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(600, id="absolute-limit-binds"),
        pytest.param(100_000, id="fraction-only"),
    ],
)
def test_scaling_one_three_two_keeps_one_budget_and_one_answer_each(
    tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group, limit
):
    """1 → 3 → 2 replicas on 6 partitions (one SIGKILLed and restarted, one scaled away): no
    item decided twice, the group never spends more than the limit, its fraction holds, each
    answer is recorded and learned once, and no request is left open by the replica that
    left."""
    topics = topics_for(kafka_topic_factory, partitions=6)
    preds, truth_path = replay.generate(tmp_path / "replay", n=ITEMS, malformed_every=0)
    truth = {d["id"]: d["label"] for d in map(json.loads, truth_path.read_text().splitlines())}
    lines = [x for x in preds.read_bytes().splitlines() if x.strip()]
    replicas: dict[str, DaemonProcess] = {}

    def replica(name: str) -> DaemonProcess:
        port = free_port()
        doc = daemon_config(
            kafka_bootstrap,
            topics,
            unique_group,
            port,
            tmp_path / f"state-{name}",
            limit=limit,
            fraction=FRACTION,
        )
        config = write_config(tmp_path / f"{name}.yaml", doc)
        env = {"LABELGATE_INSTANCE_ID": name}
        replicas[name] = DaemonProcess(config, port, tmp_path / f"{name}.log", env)
        return replicas[name]

    producer = PacedProducer(kafka_bootstrap, topics["predictions"], lines, per_second=500)
    expert = Expert(kafka_bootstrap, topics["requests"], topics["labels"], truth)
    resumed_seconds = float("nan")
    try:
        replica("a").start()
        producer.start()
        expert.start()
        time.sleep(8.0)
        replica("b").start()
        replica("c").start()
        time.sleep(10.0)
        replicas["b"].sigkill()
        time.sleep(2.0)
        restarted = time.monotonic()
        replica("b").start()
        resumed_seconds = time.monotonic() - restarted
        time.sleep(8.0)
        assert replicas["c"].terminate() == 0, replicas["c"].log_tail()  # scale down to two
        producer.join(300)
        assert producer.error is None, producer.error
        wait_for(
            lambda: caught_up(kafka_bootstrap, unique_group, topics["predictions"]),
            240,
            "every prediction committed",
            replicas["a"],
        )
        requests_end = end_offsets(kafka_bootstrap, topics["requests"])[0]
        wait_for(
            lambda: expert.position >= requests_end or expert.error is not None,
            60,
            lambda: (
                f"the expert to read every request (at {expert.position} of {requests_end}, "
                f"{len(expert.seen)} seen, error {expert.error!r})"
            ),
        )
        expert.stop()
        labels_end = {str(p): o for p, o in end_offsets(kafka_bootstrap, topics["labels"]).items()}

        def labels_committed() -> bool:
            done = label_offsets_committed(kafka_bootstrap, topics["state"], ["a", "b"])
            return all(
                d.get(p, 0) >= o for d in done.values() for p, o in labels_end.items() if o > 0
            )

        wait_for(labels_committed, 120, "every answer to be committed", replicas["a"])
        for name in ("a", "b"):
            assert replicas[name].terminate() == 0, replicas[name].log_tail()
    finally:
        for daemon in replicas.values():
            daemon.kill()
        halt_all(producer, expert)
    out = committed_outcome(kafka_bootstrap, topics)
    learned = sum(
        checkpoint_version(tmp_path / f"state-{n}" / f"model-{n}.pkl") for n in ("a", "b", "c")
    )
    items = {json.loads(x)["id"] for x in lines}
    share = len(out.requested) / len(items)
    print(
        f"scaling limit={limit} requested={len(out.requested)} share={share:.4f} "
        f"answered={len(expert.answered)} learned={learned} "
        f"restart_to_ready={resumed_seconds:.1f}s"
    )
    assert out.requested, "the group asked for labels"
    assert_exactly_once(out, items, expert.answered, limit, learned)
    if limit < FRACTION * ITEMS:
        assert len(out.requested) <= limit, "0 overshoot of the absolute limit"
    else:
        assert share == pytest.approx(FRACTION, rel=0.05), "the group's fraction holds"

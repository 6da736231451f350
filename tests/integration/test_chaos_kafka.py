"""Chaos: the daemon SIGKILLed at random moments while items stream in and an expert answers.

Exactly-once is the default; after a dozen crashes (some before the daemon is ready), every
output topic read ``read_committed`` shows each item decided once, asked at most once, the
spend within the limit, every answer recorded and learned once, nothing answered still open.
"""

from __future__ import annotations

import json
import os
import random
import time

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

ITEMS = int(os.environ.get("LABELGATE_CHAOS_ITEMS", "50000"))
KILLS = int(os.environ.get("LABELGATE_CHAOS_KILLS", "12"))
LIMIT = 1_500  # below fraction x items (2,500): the absolute cap binds during the run


def test_sigkill_at_random_moments_loses_and_repeats_nothing(
    tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """50,000 items on 3 partitions, 12 SIGKILLs at random moments (some before ready), an
    expert answering half the requests: 0 lost, 0 duplicate evidence, 0 items asked twice,
    spend <= limit, every answer recorded and learned exactly once, nothing answered pending."""
    seed = int(os.environ.get("LABELGATE_CHAOS_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    topics = topics_for(kafka_topic_factory)
    preds, truth_path = replay.generate(tmp_path / "replay", n=ITEMS, malformed_every=0)
    truth = {d["id"]: d["label"] for d in map(json.loads, truth_path.read_text().splitlines())}
    lines = [x for x in preds.read_bytes().splitlines() if x.strip()]
    port = free_port()
    config = write_config(
        tmp_path / "labelgate.yaml",
        daemon_config(kafka_bootstrap, topics, unique_group, port, tmp_path / "state", limit=LIMIT),
    )
    env = {"LABELGATE_INSTANCE_ID": "chaos"}
    producer = PacedProducer(kafka_bootstrap, topics["predictions"], lines, per_second=1_000)
    expert = Expert(kafka_bootstrap, topics["requests"], topics["labels"], truth)
    log = tmp_path / "daemon.log"
    daemon = DaemonProcess(config, port, log, env)
    before_ready = after_ready = 0
    try:
        producer.start()
        expert.start()
        for kill in range(KILLS):
            daemon = DaemonProcess(config, port, log, env).launch()
            if kill % 4 == 0:
                # Early: while importing, restoring or joining the group.
                time.sleep(rng.uniform(0.05, 1.0))
            else:
                wait_for(lambda d=daemon: d.ready, 60, "daemon ready", daemon)
                time.sleep(rng.uniform(0.1, 4.0))
            if daemon.ready:
                after_ready += 1
            else:
                before_ready += 1
            assert daemon.proc is not None
            assert daemon.proc.poll() is None, daemon.log_tail()
            daemon.sigkill()
        daemon = DaemonProcess(config, port, log, env).start()
        producer.join(300)
        assert producer.error is None, producer.error
        wait_for(
            lambda: caught_up(kafka_bootstrap, unique_group, topics["predictions"]),
            240,
            "every prediction committed",
            daemon,
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
        assert expert.error is None, expert.error
        expert.stop()
        labels_end = {str(p): o for p, o in end_offsets(kafka_bootstrap, topics["labels"]).items()}

        def labels_committed() -> bool:
            done = label_offsets_committed(kafka_bootstrap, topics["state"], ["chaos"])
            return all(done["chaos"].get(p, 0) >= o for p, o in labels_end.items() if o > 0)

        wait_for(labels_committed, 120, "every answer to be committed", daemon)
        assert daemon.terminate() == 0, daemon.log_tail()
    finally:
        daemon.kill()
        halt_all(producer, expert)
    assert before_ready >= 1, f"seed {seed}: no kill landed before ready"
    assert after_ready >= KILLS // 2, f"seed {seed}: too few kills while processing"
    out = committed_outcome(kafka_bootstrap, topics)
    learned = checkpoint_version(tmp_path / "state" / "model-chaos.pkl")
    items = {json.loads(x)["id"] for x in lines}
    print(
        f"chaos seed={seed} kills={KILLS} before_ready={before_ready} after={after_ready} "
        f"requested={len(out.requested)} answered={len(expert.answered)} learned={learned}"
    )
    assert out.requested, "the run asked for labels"
    assert_exactly_once(out, items, expert.answered, LIMIT, learned)

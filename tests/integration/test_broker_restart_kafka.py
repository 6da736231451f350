"""The broker goes away and comes back (SIGTERM and SIGKILL) while the daemon works.

Outages shorter and longer than the consumer session timeout and than the transaction timeout:
the daemon loses its transaction, abandons what it had not committed and resumes from the
committed state in the same process; the committed outputs are those of a run without outages.
"""

from __future__ import annotations

import json
import time

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
from tests.kafka_fixture import TopicFactory

ITEMS = 20_000
LIMIT = 700
# (how the broker stops, seconds it stays away): the session timeout is 10 s and the
# transaction timeout 20 s by default.
OUTAGES = (("term", 3.0), ("kill", 14.0), ("term", 25.0))


def test_broker_restarts_on_the_same_data_and_ports(restartable_broker):
    """SIGTERM or SIGKILL, the broker comes back at the same address with its data."""
    from confluent_kafka import Consumer, Producer  # noqa: PLC0415 - only here
    from confluent_kafka import TopicPartition as TP  # noqa: PLC0415, N817

    broker = restartable_broker
    bootstrap = broker.bootstrap
    factory = TopicFactory(bootstrap)
    topic = factory()
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    producer.produce(topic, b"kept")
    assert producer.flush(30) == 0
    for kill in (False, True):
        broker.stop(kill=kill)
        assert not broker.running
        assert broker.restart() == bootstrap
        assert broker.running
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "restart-check"})
    try:
        consumer.assign([TP(topic, 0, 0)])
        values = []
        for _ in range(60):
            values += [m.value() for m in consumer.consume(10, 0.5) if m.error() is None]
            if values:
                break
        assert values == [b"kept"]
    finally:
        consumer.close()
        factory.close()


def test_broker_restarts_lose_and_repeat_nothing(tmp_path, restartable_broker, unique_group):
    """Three broker outages during a run (one by SIGKILL; 14 s and 25 s outages exceed the
    session and transaction timeouts): 0 lost, 0 duplicate evidence, 0 items asked twice,
    spend <= limit, every answer recorded and learned once, nothing answered still pending."""
    from daemon.tools import replay  # noqa: PLC0415 - heavy import, only for this test

    broker = restartable_broker
    bootstrap = broker.bootstrap
    topics = topics_for(TopicFactory(bootstrap))  # the broker goes away with the test
    preds, truth_path = replay.generate(tmp_path / "replay", n=ITEMS, malformed_every=0)
    truth = {d["id"]: d["label"] for d in map(json.loads, truth_path.read_text().splitlines())}
    lines = [x for x in preds.read_bytes().splitlines() if x.strip()]
    port = free_port()
    config = write_config(
        tmp_path / "labelgate.yaml",
        daemon_config(bootstrap, topics, unique_group, port, tmp_path / "state", limit=LIMIT),
    )
    env = {"LABELGATE_INSTANCE_ID": "outage"}
    producer = PacedProducer(bootstrap, topics["predictions"], lines, per_second=400)
    expert = Expert(bootstrap, topics["requests"], topics["labels"], truth)
    daemon = DaemonProcess(config, port, tmp_path / "daemon.log", env)
    try:
        daemon.start()
        producer.start()
        expert.start()
        for how, seconds in OUTAGES:
            time.sleep(4.0)
            broker.stop(kill=how == "kill")
            time.sleep(seconds)
            assert daemon.proc is not None
            assert daemon.proc.poll() is None, daemon.log_tail()
            assert broker.restart() == bootstrap
        producer.join(300)
        assert producer.error is None, producer.error
        wait_for(
            lambda: caught_up(bootstrap, unique_group, topics["predictions"]),
            240,
            "every prediction committed",
            daemon,
        )
        requests_end = end_offsets(bootstrap, topics["requests"])[0]
        wait_for(
            lambda: expert.position >= requests_end or expert.error is not None,
            60,
            lambda: (
                f"the expert to read every request (at {expert.position} of {requests_end}, "
                f"{len(expert.seen)} seen, error {expert.error!r})"
            ),
        )
        expert.stop()
        labels_end = {str(p): o for p, o in end_offsets(bootstrap, topics["labels"]).items()}

        def labels_committed() -> bool:
            done = label_offsets_committed(bootstrap, topics["state"], ["outage"])["outage"]
            return all(done.get(p, 0) >= o for p, o in labels_end.items() if o > 0)

        wait_for(labels_committed, 120, "every answer to be committed", daemon)
        assert daemon.terminate() == 0, daemon.log_tail()
    finally:
        daemon.kill()
        halt_all(producer, expert)
    log = (tmp_path / "daemon.log").read_text()
    assert "transaction_lost" in log, "an outage this long must have cost a transaction"
    out = committed_outcome(bootstrap, topics)
    learned = checkpoint_version(tmp_path / "state" / "model-outage.pkl")
    items = {json.loads(x)["id"] for x in lines}
    print(
        f"outages={OUTAGES} lost_transactions={log.count('transaction_lost')} "
        f"requested={len(out.requested)} answered={len(expert.answered)} learned={learned}"
    )
    assert out.requested, "the run asked for labels"
    assert_exactly_once(out, items, expert.answered, LIMIT, learned)

"""The backtest's expert queues are the daemon's: on the same stream and configuration, routing
rules, spill, replace, TTL and re-routing on expiry open the same requests in the same queues
as the daemon's own file-mode replay answered by the simulated expert."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

import pytest

from daemon.config import Settings
from daemon.service.app import serve
from daemon.service.policy_builder import build_policy
from daemon.tools import replay
from daemon.tools.backtest import queue_model, run_one
from daemon.tools.streams import Example, LabeledStream, StreamInfo

N = 1500
INTERVAL = 4.0  # seconds of event time between items


def _queues(**changes):
    """EU items to a small queue that spills into ``global``; the rest to ``global``, which
    replaces its least useful request when full and whose requests expire before the expert
    answers, re-routed to ``slow``."""
    eu = {"name": "eu", "capacity": 4, "overflow": "spill", "spill_to": "global"}
    world = {"name": "global", "capacity": 3, "overflow": "replace", "ttl_seconds": 300.0,
             "fallback_on_expiry": "slow"}  # fmt: skip
    slow = {"name": "slow", "capacity": 50, "cost": 2.0}
    queues = {"eu": eu, "global": world, "slow": slow}
    for name, change in changes.items():
        queues[name] = {**queues[name], **change}
    return list(queues.values())


def _settings(tmp_path, queues, delay=400.0, batch=1):
    out = tmp_path / "out"
    predictions = tmp_path / "replay" / "predictions.jsonl"
    doc = replay.file_settings(
        predictions,
        out,
        tmp_path / "replay" / "truth.jsonl",
        delay,
        policy={"budget": {"fraction": 0.1, "window": 200}},
        queues=queues,
        routing={
            "rules": [
                {
                    "name": "eu",
                    "all": [{"field": "group.region", "op": "eq", "value": "EU"}],
                    "queues": ["eu"],
                },
            ],
            "default": ["global"],
        },
        # The daemon takes answers in before each batch, expires after it: the backtest too.
        kafka={"consume_batch_size": batch},
    )
    return Settings.model_validate(doc)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """A replay without malformed lines, and the labeled stream a backtest reads from it."""
    root = tmp_path_factory.mktemp("queues")
    predictions, truth_path = replay.generate(
        root / "replay", n=N, interval_seconds=INTERVAL, malformed_every=0
    )
    truth = {}
    for line in truth_path.read_text().splitlines():
        doc = json.loads(line)
        truth[doc["id"]] = doc["label"]
    examples = []
    for line in predictions.read_text().splitlines():
        doc = json.loads(line)
        when = datetime.fromisoformat(doc["event_time"]).timestamp()
        examples.append(Example(doc["features"], truth[doc["id"]], doc["group"], when, doc["id"]))
    info = StreamInfo("replay", tuple(replay.CLASSES), len(examples), True)
    return root, LabeledStream(info, lambda: iter(examples))


def _daemon_requests(settings):
    """(item, queue) of every request the daemon sent, and its withdrawals by reason."""
    lines = [json.loads(x) for x in settings.files.requests.read_text().splitlines() if x]
    sent = [(r["id"], r["queue"]) for r in lines if not r["withdrawn"]]
    withdrawn = Counter(r["reason"] for r in lines if r["withdrawn"])
    return sent, withdrawn


def _both(root, stream, settings):
    serve(settings)
    sent, withdrawn = _daemon_requests(settings)
    run = run_one(stream, build_policy(settings), policy="default", budget=0.1, seed=0,
                  settings=settings.model, hard_cap=False, queue=queue_model(settings))  # fmt: skip
    return sent, withdrawn, run


@pytest.mark.parametrize("batch", [1, 40])
def test_routing_spill_replace_and_ttl_open_the_daemons_requests(history, tmp_path, batch):
    """Every request (item and queue, in order), every eviction and expiry match the daemon."""
    root, stream = history
    settings = _settings(tmp_path, _queues(), batch=batch)
    (tmp_path / "replay").symlink_to(root / "replay")
    sent, withdrawn, run = _both(root, stream, settings)
    queues = Counter(q for _, q in sent)
    # The configuration does act: each queue gets requests, some spill, some are replaced,
    # some expire and are re-routed.
    assert set(queues) == {"eu", "global", "slow"}
    assert withdrawn["evicted"] > 0
    assert withdrawn["expired"] > 0
    assert list(run.requests) == sent
    assert run.evicted == withdrawn["evicted"]
    assert run.expired == withdrawn["expired"]


def test_a_changed_queue_changes_the_backtest_as_it_changes_the_daemon(history, tmp_path):
    """Without spill and with a TTL the expert meets, the requests still match the daemon's,
    and they differ from those of the first configuration."""
    root, stream = history
    (tmp_path / "replay").symlink_to(root / "replay")
    changed = _queues(eu={"overflow": "skip", "spill_to": None}, **{"global": {"ttl_seconds": 3e3}})
    settings = _settings(tmp_path, changed)
    sent, withdrawn, run = _both(root, stream, settings)
    assert list(run.requests) == sent
    assert run.expired == withdrawn["expired"] == 0
    first = run_one(stream, build_policy(settings), policy="default", budget=0.1, seed=0,
                    settings=settings.model, hard_cap=False,
                    queue=queue_model(_settings(tmp_path, _queues())))  # fmt: skip
    assert list(first.requests) != sent

"""The commit protocols without a broker: order, guards and offset bookkeeping."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry

from daemon.contracts.pending_request import PendingRequest
from daemon.errors import DeliveryError, TransactionAbortedError
from daemon.labeling.queues import ExpertQueues
from daemon.model.learner import Learner
from daemon.monitoring.metrics import Metrics
from daemon.service.checkpoint import LabelPositions, ModelCheckpoint
from daemon.service.clock import EventClock
from daemon.service.commit import AtLeastOnceCommit, DurableState, ExactlyOnceCommit
from daemon.service.partitions import PartitionState
from daemon.service.state import PartitionRecords, StateLog
from policies import AbsoluteBudget, Policy, RandomSampling
from tests.unit.daemon.fakes import MemoryChannels, MemorySink, MemorySource, settings


class Lagging:
    """A flusher that always leaves one message undelivered."""

    def flush(self, timeout: float) -> int:
        return 1


class Setup:
    def __init__(self, tmp_path, interval=10.0, audit=None):
        self.settings = settings(tmp_path, queues=[{"name": "q"}], routing={"default": ["q"]})
        self.memory = MemoryChannels(MemorySource([]), audit=audit or MemorySink("audit"))
        self.channels = self.memory.channels(self.settings)
        self.queues = ExpertQueues(self.settings, self.channels.requests)
        self.policy = Policy(RandomSampling(rate=1.0, seed=0), AbsoluteBudget(10.0, 86400.0))
        self.partitions = PartitionState(self.queues, self.policy.budget)
        self.partitions.assign({0: PartitionRecords()}, {})
        self.model = ModelCheckpoint(
            Learner(self.settings.model, self.settings.classes),
            tmp_path / "model.pkl",
            self.partitions.partition_of,
        )
        self.positions = LabelPositions()
        self.metrics = Metrics(CollectorRegistry())
        self.commit = AtLeastOnceCommit(self.channels, self.durable(), self.metrics, interval)

    def durable(self):
        return DurableState(
            self.partitions,
            self.policy,
            self.model,
            self.positions,
            StateLog(self.channels.state),
            EventClock(start=50.0),
        )

    def state_keys(self):
        return [key for _, key in self.memory.state.sent]


def request(item_id):
    return PendingRequest(
        id=item_id,
        request_id=f"r-{item_id}",
        queue="q",
        features={},
        requested_at=0.0,
        deadline=10.0,
        probability=1.0,
        reason="uncertain",
    )


def test_offsets_are_stored_only_once_every_output_is_delivered(tmp_path):
    """track() counts outputs; settle() stores the offset after the last delivery report."""
    s = Setup(tmp_path)
    done = s.commit.track(("predictions", 0), 0, outputs=2)
    s.channels.evidence.send(b"{}", None, done)
    s.commit.settle()
    assert s.memory.predictions.stored == {}
    s.channels.evidence.send(b"{}", None, done)
    s.commit.settle()
    assert s.memory.predictions.stored == {("predictions", 0): 1}


def test_commit_writes_state_then_commits_offsets(tmp_path):
    """A commit sends the request changes, the partition ledger and the policy state, then
    commits the source."""
    s = Setup(tmp_path)
    s.queues.track(request("a"))
    s.partitions.opened("a", 0)
    s.positions.advance(0, 41)
    assert s.commit.last_commit is None
    assert s.commit.commit(deadline=float("inf"))
    assert s.state_keys() == [b"p/0/req/a", b"p/0/ledger", b"i/0/policy"]
    policy_state = json.loads(s.memory.state.sent[-1][0])
    assert policy_state["label_offsets"] == {"0": 42}
    assert policy_state["saved_at"] == 50.0
    assert s.memory.predictions.commits == 1
    assert s.metrics.registry.get_sample_value("labelgate_commits_total") == 1.0
    assert s.commit.last_commit is not None


def test_the_model_is_checkpointed_when_it_learned_and_always_at_the_end(tmp_path):
    """An unchanged model is not rewritten by a periodic commit, but is by the final one."""
    s = Setup(tmp_path)
    s.commit.commit(float("inf"))
    assert not s.model.path.exists()
    s.commit.commit(float("inf"), final=True)
    assert s.model.path.exists()
    s.model.path.unlink()
    s.model.learn({"x": 1.0}, "1")
    s.commit.commit(float("inf"))
    assert s.model.path.exists()


def test_an_incomplete_flush_skips_the_periodic_commit_but_not_the_final_one(tmp_path):
    """Undelivered outputs: no state, no offsets (periodic); shutdown still commits."""
    s = Setup(tmp_path)
    s.channels.flushers.append(Lagging())
    assert not s.commit.commit(float("inf"))
    assert (s.state_keys(), s.memory.predictions.commits) == ([], 0)
    assert s.commit.commit(float("inf"), final=True)
    assert s.memory.predictions.commits == 1


def test_a_failed_delivery_raises_and_nothing_is_committed(tmp_path):
    """A lost output stops the offsets there and fails the loop (DeliveryError)."""
    s = Setup(tmp_path, audit=MemorySink("audit", fail=True))
    s.channels.evidence.send(b"{}", None, s.commit.track(("predictions", 0), 0, 1))
    with pytest.raises(DeliveryError, match="delivery refused"):
        s.commit.commit(float("inf"))
    assert (s.state_keys(), s.memory.predictions.commits) == ([], 0)


def test_commit_is_due_after_the_interval(tmp_path):
    """due() turns true once ``interval`` seconds passed since the last commit."""
    s = Setup(tmp_path, interval=10.0)
    s.commit.commit(float("inf"))
    import time  # noqa: PLC0415

    now = time.monotonic()
    assert not s.commit.due(now)
    assert s.commit.due(now + 10.0)


def test_forget_drops_revoked_partitions(tmp_path):
    """A revoked partition's in-flight inputs never store an offset afterwards."""
    s = Setup(tmp_path)
    gone = s.commit.track(("predictions", 1), 5, 1)
    kept = s.commit.track(("predictions", 0), 3, 1)
    s.commit.forget([("predictions", 1)])
    gone(None)
    kept(None)
    s.commit.settle()
    assert s.memory.predictions.stored == {("predictions", 0): 4}


class FakeTransaction:
    """Records commits; fails when told to."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.commits: list[dict] = []

    def start(self, timeout: float) -> None:
        return None

    def commit(self, offsets, timeout: float) -> None:
        if self.fail:
            raise TransactionAbortedError("commit: aborted")
        self.commits.append(dict(offsets))

    def abort(self, timeout: float) -> None:
        return None


def exactly_once(s: Setup, transaction: FakeTransaction) -> ExactlyOnceCommit:
    return ExactlyOnceCommit(s.channels, transaction, s.durable(), s.metrics, 10.0)


def test_exactly_once_writes_state_into_the_transaction_then_commits_it(tmp_path):
    """The checkpoint and state records come first, then one transaction commit with the
    source's positions; nothing is committed through the consumer."""
    s = Setup(tmp_path)
    transaction = FakeTransaction()
    commit = exactly_once(s, transaction)
    s.queues.track(request("a"))
    s.partitions.opened("a", 0)
    s.model.learn({"x": 1.0}, "1")
    assert commit.commit(float("inf"))
    assert s.state_keys() == [b"p/0/req/a", b"p/0/ledger", b"i/0/policy"]
    assert transaction.commits == [{}]
    assert s.model.path.exists()
    assert s.memory.predictions.commits == 0
    assert commit.last_commit is not None


def test_an_aborted_transaction_raises_and_is_not_counted(tmp_path):
    """A transaction that cannot commit raises TransactionAbortedError; no commit counted."""
    s = Setup(tmp_path)
    commit = exactly_once(s, FakeTransaction(fail=True))
    with pytest.raises(TransactionAbortedError):
        commit.commit(float("inf"))
    assert s.metrics.registry.get_sample_value("labelgate_commits_total") == 0.0
    assert commit.last_commit is None


def test_the_state_names_the_checkpoint_and_it_goes_in_place_only_after_the_commit(tmp_path):
    """The policy state written into the transaction carries the prepared checkpoint's token;
    the checkpoint replaces the one in place only once the transaction committed."""
    s = Setup(tmp_path)
    commit = exactly_once(s, FakeTransaction())
    s.model.learn({"x": 1.0}, "1")
    assert commit.commit(float("inf"))
    assert json.loads(s.memory.state.sent[-1][0])["model_checkpoint"] == 1
    assert s.model.path.exists()
    assert not s.model.prepared_path(1).exists()
    assert s.commit.commit(float("inf"))  # nothing learned: the state names the same one
    assert json.loads(s.memory.state.sent[-1][0])["model_checkpoint"] == 1


def test_an_aborted_transaction_leaves_the_committed_checkpoint_in_place(tmp_path):
    """The commit fails after the checkpoint was prepared: the checkpoint in place is still
    the committed one, and a restart from the committed state drops the prepared one."""
    s = Setup(tmp_path)
    s.model.learn({"x": 1.0}, "1")
    assert exactly_once(s, FakeTransaction()).commit(float("inf"))
    s.model.learn({"x": 2.0}, "0")
    with pytest.raises(TransactionAbortedError):
        exactly_once(s, FakeTransaction(fail=True)).commit(float("inf"))
    assert json.loads(s.memory.state.sent[-1][0])["model_checkpoint"] == 2  # aborted record
    restarted = ModelCheckpoint(
        Learner(s.settings.model, s.settings.classes), s.model.path, s.partitions.partition_of
    )
    assert restarted.load(committed=1)
    assert restarted.learner.version == 1
    assert not s.model.prepared_path(2).exists()


def test_an_undelivered_state_leaves_the_checkpoint_prepared(tmp_path, monkeypatch):
    """At least once: state records still undelivered, so the checkpoint is not put in
    place (and the offsets are not committed)."""
    s = Setup(tmp_path)
    s.model.learn({"x": 1.0}, "1")
    monkeypatch.setattr(s.channels, "flush_state", Lagging().flush)
    assert not s.commit.commit(float("inf"))
    assert not s.model.path.exists()
    assert s.model.prepared_path(1).exists()
    assert s.memory.predictions.commits == 0

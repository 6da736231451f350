"""Rebalance callbacks without a broker: commit before partitions leave, restore on arrival."""

from __future__ import annotations

from daemon.service.rebalance import RebalanceHandler


class RecordingCommit:
    """Stands in for the commit protocol and records what the handler asks of it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def commit(self, deadline: float, final: bool = False) -> bool:
        self.calls.append(("commit", deadline))
        return True

    def forget(self, partitions) -> None:
        self.calls.append(("forget", list(partitions)))


def test_revocation_commits_within_the_timeout_then_forgets_the_partitions():
    """on_revoke: one bounded commit, then the revoked partitions are dropped, in that order."""
    commit = RecordingCommit()
    handler = RebalanceHandler(commit, timeout=2.0)  # type: ignore[arg-type]
    handler.on_revoke([("predictions", 1), ("predictions", 3)])
    (first, deadline), second = commit.calls
    assert first == "commit"
    assert isinstance(deadline, float)
    assert second == ("forget", [("predictions", 1), ("predictions", 3)])


def test_assignment_calls_the_assigned_hook_and_does_not_commit():
    """on_assign hands the new partitions to the hook (their state is restored), commits
    nothing."""
    commit = RecordingCommit()
    seen = []
    handler = RebalanceHandler(commit, 2.0, assigned=seen.append)  # type: ignore[arg-type]
    handler.on_assign([("predictions", 0)])
    assert seen == [[("predictions", 0)]]
    assert commit.calls == []


def test_revocation_hands_the_partitions_over_after_the_commit():
    """The revoked hook sees the partitions after the hand-over commit."""
    commit = RecordingCommit()
    revoked = []
    handler = RebalanceHandler(commit, 2.0, revoked=revoked.append)  # type: ignore[arg-type]
    handler.on_revoke([("predictions", 2)])
    assert commit.calls[0][0] == "commit"
    assert revoked == [[("predictions", 2)]]


def test_a_suspended_handler_neither_commits_nor_restores():
    """While a daemon abandons its uncommitted work, rebalances must not commit it."""
    commit = RecordingCommit()
    seen = []
    handler = RebalanceHandler(commit, 2.0, assigned=seen.append)  # type: ignore[arg-type]
    handler.suspended = True
    handler.on_revoke([("predictions", 1)])
    handler.on_assign([("predictions", 1)])
    assert commit.calls == []
    assert seen == []

"""Rebalance callbacks without a broker: commit before partitions leave, re-share on arrival."""

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
    """on_assign re-divides the budget (the hook) and commits nothing."""
    commit = RecordingCommit()
    seen = []
    handler = RebalanceHandler(commit, 2.0, assigned=lambda: seen.append(True))  # type: ignore[arg-type]
    handler.on_assign([("predictions", 0)])
    assert seen == [True]
    assert commit.calls == []

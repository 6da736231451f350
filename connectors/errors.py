"""Typed errors of the I/O edge, rooted at :class:`ConnectorError`.

The connectors import nothing of the service; the service's error root re-exports these so a
caller catches one family (``daemon.errors.LabelgateError`` covers them).
"""


class ConnectorError(Exception):
    """A source or sink failed (broker unreachable, delivery failed, file unreadable)."""


class DeliveryError(ConnectorError):
    """An output could not be delivered; its input must not be committed."""


class TransactionAbortedError(ConnectorError):
    """The open transaction is gone: aborted, fenced, or its partitions were lost.

    Nothing since the last commit is visible to ``read_committed`` readers; the caller must
    drop its in-memory state and resume from what was committed (fresh clients, restored
    state). ``fatal`` says the producer itself is unusable (fenced or a fatal client error).
    """

    def __init__(self, message: str, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal

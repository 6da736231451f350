"""Typed errors of the I/O edge, rooted at :class:`ConnectorError`.

The connectors import nothing of the service; the service's error root re-exports these so a
caller catches one family (``daemon.errors.LabelgateError`` covers them).
"""


class ConnectorError(Exception):
    """A source or sink failed (broker unreachable, delivery failed, file unreadable)."""


class DeliveryError(ConnectorError):
    """An output could not be delivered; its input must not be committed."""

"""Typed errors, rooted at :class:`LabelgateError`; only the CLI turns them into exit codes.

The I/O edge has its own root (:class:`connectors.errors.ConnectorError`, re-exported here), so
``connectors`` never imports the service; :data:`ERRORS` is the tuple the CLI catches.
"""

from connectors.errors import ConnectorError, DeliveryError, TransactionAbortedError

__all__ = [
    "ERRORS",
    "ConfigError",
    "ConnectorError",
    "DeliveryError",
    "EncodingError",
    "LabelgateError",
    "ServerError",
    "StateError",
    "TransactionAbortedError",
]


class LabelgateError(Exception):
    """Base of every error labelgate raises on purpose."""


class ConfigError(LabelgateError):
    """The configuration is invalid; the message names the field path and the reason."""


class StateError(LabelgateError):
    """Persisted state (checkpoint, state log) could not be read or written."""


class ServerError(LabelgateError):
    """The ops server could not start (its port is in use, or the address cannot be bound)."""

    @classmethod
    def cannot_listen(cls, host: str, port: int, exc: OSError) -> "ServerError":
        """The error for a failed bind of ``host:port``, naming the setting and the reason."""
        return cls(f"server.port {port}: cannot listen on {host}:{port}: {exc.strerror or exc}")


class EncodingError(LabelgateError):
    """A message could not be written as strict JSON (it holds a NaN or an infinity)."""


ERRORS: tuple[type[Exception], ...] = (LabelgateError, ConnectorError)
"""Every error labelgate raises on purpose, for ``except ERRORS``."""

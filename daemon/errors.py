"""Typed errors, all rooted at :class:`LabelgateError`; only the CLI turns them into exit codes."""


class LabelgateError(Exception):
    """Base of every error labelgate raises on purpose."""


class ConfigError(LabelgateError):
    """The configuration is invalid; the message names the field path and the reason."""


class ConnectorError(LabelgateError):
    """A source or sink failed (broker unreachable, delivery failed, file unreadable)."""


class DeliveryError(ConnectorError):
    """An output could not be delivered; its input must not be committed."""


class StateError(LabelgateError):
    """Persisted state (checkpoint, state log) could not be read or written."""

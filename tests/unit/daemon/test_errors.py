"""Error roots: the service's LabelgateError and the I/O edge's ConnectorError."""

from __future__ import annotations

from connectors.errors import ConnectorError as EdgeError
from daemon.errors import (
    ERRORS,
    ConfigError,
    ConnectorError,
    DeliveryError,
    LabelgateError,
    StateError,
)


def test_service_errors_share_one_root():
    """Config and state errors are LabelgateErrors."""
    assert issubclass(ConfigError, LabelgateError)
    assert issubclass(StateError, LabelgateError)


def test_connector_errors_are_re_exported_and_caught_with_the_service_ones():
    """ConnectorError is the connectors' own class; ERRORS catches both roots."""
    assert ConnectorError is EdgeError
    assert issubclass(DeliveryError, ConnectorError)
    assert not issubclass(ConnectorError, LabelgateError)
    assert set(ERRORS) == {LabelgateError, ConnectorError}

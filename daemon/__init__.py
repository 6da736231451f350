"""The labelgate service: config, message contracts, the loop, learner, state, metrics, CLI."""

from daemon.config import Settings, load_settings
from daemon.contracts.messages import (
    DeadLetterRecord,
    EvidenceRecord,
    LabelEvent,
    LabelRequest,
    PredictionEvent,
)
from daemon.errors import ConfigError, ConnectorError, DeliveryError, LabelgateError, StateError

__all__ = [
    "ConfigError",
    "ConnectorError",
    "DeadLetterRecord",
    "DeliveryError",
    "EvidenceRecord",
    "LabelEvent",
    "LabelRequest",
    "LabelgateError",
    "PredictionEvent",
    "Settings",
    "StateError",
    "load_settings",
]

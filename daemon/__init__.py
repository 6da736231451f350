"""The labelgate service in rooms: contracts, model, labeling, monitoring, service, tools."""

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

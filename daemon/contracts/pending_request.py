"""The durable record of an open label request, and of the labels collected for it.

It is what the state topic carries and what intake learns from, so it is a contract: the pending
store (``daemon.labeling.pending``) holds these, it does not define them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ReceivedLabel(BaseModel):
    """One label collected for a request (several when a queue asks for overlap)."""

    model_config = ConfigDict(frozen=True)

    label: str
    labeler_id: str | None = None
    labeler_role: str = "expert"


class PendingRequest(BaseModel):
    """What labelgate keeps about a request until it is resolved: enough to learn from it."""

    model_config = ConfigDict(frozen=True)

    id: str
    request_id: str
    queue: str
    features: dict[str, Any]
    requested_at: float
    deadline: float
    probability: float
    reason: str
    utility: float = 0.0
    prediction: str | None = None
    confidence: float | None = None
    group: dict[str, str] = Field(default_factory=dict)
    route_rule: str | None = None
    labels: tuple[ReceivedLabel, ...] = ()
    escalated: bool = False
    event_time: float | None = None
    model_version: str | None = None
    proba: dict[str, float] | None = None

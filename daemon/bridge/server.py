"""The bridge's HTTP endpoints: ``POST /webhook`` (Label Studio's calls), ``/metrics``,
``/healthz`` and ``/readyz``, served on a background thread.

A webhook call is only queued here; the bridge's loop handles it on its own thread, so the
HTTP thread never touches Kafka or the bridge's state. Label Studio gets 200 once the call is
queued: should the bridge die before forwarding it, the catch-up poll finds the answer again.
"""

from __future__ import annotations

import hmac
import queue
import time
from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from connectors.http_endpoints import (
    EndpointServer,
    Response,
    json_response,
    ops_routes,
    probe_response,
)

SECRET_HEADER = "X-Labelgate-Secret"


@dataclass
class BridgeHealth:
    """What liveness and readiness are made of; written by the loop, read by the server."""

    heartbeat: float = 0.0
    label_studio: bool = False
    kafka: bool = False
    started: bool = False
    stopping: bool = False
    heartbeat_timeout: float = 60.0

    def beat(self) -> None:
        """The loop is alive."""
        self.heartbeat = time.monotonic()

    @property
    def live(self) -> bool:
        """The loop turned recently (or has not started yet)."""
        return not self.started or time.monotonic() - self.heartbeat < self.heartbeat_timeout

    @property
    def ready(self) -> bool:
        """Label Studio answers, the requests are being consumed, not shutting down."""
        return self.started and self.label_studio and self.kafka and not self.stopping


class BridgeServer(EndpointServer):
    """Serves the endpoints; ``port=0`` binds a free port (see :attr:`port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: BridgeHealth,
        inbox: queue.Queue[bytes],
        secret: str | None = None,
    ) -> None:
        self.registry = registry
        self.health = health
        self.inbox = inbox
        self.secret = secret
        super().__init__(
            host,
            port,
            ops_routes(registry, self._live, self._ready),
            {"/webhook": self._webhook},
            name="bridge-http",
        )

    def _live(self) -> Response:
        return probe_response(self.health.live, {"live": self.health.live})

    def _ready(self) -> Response:
        h = self.health
        why = {"label_studio": h.label_studio, "kafka": h.kafka, "stopping": h.stopping}
        return probe_response(h.ready, {"ready": h.ready, **why})

    def _webhook(self, headers: Mapping[str, str], body: bytes) -> Response:
        if self.secret is not None and not hmac.compare_digest(
            headers.get(SECRET_HEADER.lower(), ""), self.secret
        ):
            return json_response(403, {"error": "bad secret"})
        self.inbox.put(body)
        return json_response(200, {"queued": True})

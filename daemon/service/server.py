"""The daemon's HTTP endpoints: /metrics, /healthz, /readyz and /status, on a background thread."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from connectors.http_endpoints import EndpointServer, Response, json_response, metrics_response
from daemon.monitoring.status import Status, status_document
from daemon.service.health import Health


class OpsServer(EndpointServer):
    """Serves the operational endpoints; ``port=0`` binds a free port (see :attr:`port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Health,
        status: Callable[[], Status],
    ) -> None:
        self.registry = registry
        self.health = health
        self.status = status
        super().__init__(
            host,
            port,
            {
                "/metrics": lambda: metrics_response(registry),
                "/healthz": self._live,
                "/readyz": self._ready,
                "/status": lambda: json_response(200, status_document(status())),
            },
        )

    def _live(self) -> Response:
        ok = self.health.live
        return json_response(
            200 if ok else 503, {"live": ok, "heartbeat_age_seconds": self.health.heartbeat_age()}
        )

    def _ready(self) -> Response:
        h = self.health
        return json_response(
            200 if h.ready else 503,
            {
                "ready": h.ready,
                "restored": h.restored,
                "assigned": h.assigned,
                "stopping": h.stopping,
            },
        )

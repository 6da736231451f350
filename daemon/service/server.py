"""The daemon's HTTP endpoints: /metrics, /healthz, /readyz and /status, on a background thread."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry

from connectors.http_endpoints import (
    EndpointServer,
    Response,
    json_response,
    ops_routes,
    probe_response,
)
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
        routes = ops_routes(registry, self._live, self._ready)
        routes["/status"] = lambda: json_response(200, status_document(status()))
        super().__init__(host, port, routes)

    def _live(self) -> Response:
        h = self.health
        return probe_response(h.live, {"live": h.live, "heartbeat_age_seconds": h.heartbeat_age()})

    def _ready(self) -> Response:
        h = self.health
        why = {"restored": h.restored, "assigned": h.assigned, "stopping": h.stopping}
        return probe_response(h.ready, {"ready": h.ready, **why})

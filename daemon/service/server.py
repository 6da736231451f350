"""HTTP endpoints: /metrics, /healthz, /readyz and /status, on a background thread."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from daemon.monitoring.status import Status, status_document
from daemon.service.health import Health


class OpsServer:
    """Serves the operational endpoints; ``port=0`` binds a free port (see :attr:`port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        health: Health,
        status: Callable[[], Status],
    ) -> None:
        self.host = host
        self.requested_port = port
        self.registry = registry
        self.health = health
        self.status = status
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Bind and serve in a daemon thread."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    ok = outer.health.live
                    self._json(
                        200 if ok else 503,
                        {"live": ok, "heartbeat_age_seconds": outer.health.heartbeat_age()},
                    )
                elif path == "/readyz":
                    h = outer.health
                    self._json(
                        200 if h.ready else 503,
                        {
                            "ready": h.ready,
                            "restored": h.restored,
                            "assigned": h.assigned,
                            "stopping": h.stopping,
                        },
                    )
                elif path == "/status":
                    self._json(200, status_document(outer.status()))
                else:
                    self._json(404, {"error": "not found"})

            def _json(self, code: int, doc: dict[str, Any]) -> None:
                self._send(code, json.dumps(doc).encode(), "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # probes every few seconds would drown the structured log

        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ops-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

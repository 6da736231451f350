"""The bridge's HTTP endpoints: ``POST /webhook`` (Label Studio's calls), ``/metrics``,
``/healthz`` and ``/readyz``, served on a background thread.

A webhook call is only queued here; the bridge's loop handles it on its own thread, so the
HTTP thread never touches Kafka or the bridge's state. Label Studio gets 200 once the call is
queued: should the bridge die before forwarding it, the catch-up poll finds the answer again.
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

SECRET_HEADER = "X-Labelgate-Secret"
_MAX_BODY = 10_000_000


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


class BridgeServer:
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
        self.host = host
        self.requested_port = port
        self.registry = registry
        self.health = health
        self.inbox = inbox
        self.secret = secret
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
                h = outer.health
                if path == "/metrics":
                    self._send(200, generate_latest(outer.registry), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._json(200 if h.live else 503, {"live": h.live})
                elif path == "/readyz":
                    self._json(
                        200 if h.ready else 503,
                        {
                            "ready": h.ready,
                            "label_studio": h.label_studio,
                            "kafka": h.kafka,
                            "stopping": h.stopping,
                        },
                    )
                else:
                    self._json(404, {"error": "not found"})

            def do_POST(self) -> None:
                if self.path.split("?", 1)[0] != "/webhook":
                    self._json(404, {"error": "not found"})
                    return
                if outer.secret is not None and not hmac.compare_digest(
                    self.headers.get(SECRET_HEADER, ""), outer.secret
                ):
                    self._json(403, {"error": "bad secret"})
                    return
                try:
                    length = int(self.headers.get("Content-Length", "0"))
                except ValueError:
                    length = -1
                if length < 0 or length > _MAX_BODY:
                    self._json(413, {"error": "body too large or length missing"})
                    return
                outer.inbox.put(self.rfile.read(length))
                self._json(200, {"queued": True})

            def _json(self, code: int, doc: dict[str, Any]) -> None:
                self._send(code, json.dumps(doc).encode(), "application/json")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bridge-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (bounded)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

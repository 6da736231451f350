"""A small HTTP server for operational endpoints (metrics, probes, webhooks) on a thread.

The daemon and the Label Studio bridge both serve Prometheus metrics and Kubernetes probes, and
the bridge a webhook; each only says which paths answer what. Handlers run on the server's
threads, so they must only read shared state or hand work over (a queue), never block on I/O.

>>> server = EndpointServer("127.0.0.1", 0, {"/ping": lambda: json_response(200, {"ok": True})})
>>> server.start()
>>> import urllib.request
>>> urllib.request.urlopen(f"http://127.0.0.1:{server.port}/ping").read()
b'{"ok": true}'
>>> server.stop()
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

MAX_BODY = 10_000_000
"""Largest request body read (bytes); a larger or missing ``Content-Length`` gets 413."""


@dataclass(frozen=True)
class Response:
    """What one endpoint answers."""

    code: int
    body: bytes
    content_type: str = "application/json"


def json_response(code: int, doc: Mapping[str, Any]) -> Response:
    """A JSON body with the given status."""
    return Response(code, json.dumps(doc).encode())


def probe_response(ok: bool, doc: Mapping[str, Any]) -> Response:
    """A Kubernetes probe's answer: 200 when ``ok``, else 503, with ``doc`` saying why."""
    return json_response(200 if ok else 503, doc)


def metrics_response(registry: CollectorRegistry) -> Response:
    """The registry in Prometheus' text exposition format."""
    return Response(200, generate_latest(registry), CONTENT_TYPE_LATEST)


GetRoute = Callable[[], Response]
PostRoute = Callable[[Mapping[str, str], bytes], Response]
"""Called with the request headers (names lower-cased) and its body (already bounded by
:data:`MAX_BODY`)."""


def ops_routes(registry: CollectorRegistry, live: GetRoute, ready: GetRoute) -> dict[str, GetRoute]:
    """The routes every labelgate process serves: ``/metrics``, ``/healthz`` (liveness) and
    ``/readyz`` (readiness), as Prometheus and Kubernetes expect them."""
    return {"/metrics": lambda: metrics_response(registry), "/healthz": live, "/readyz": ready}


class EndpointServer:
    """Serves ``get`` and ``post`` routes by exact path (the query string is ignored);
    anything else is 404. ``port=0`` binds a free port (see :attr:`port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        get: Mapping[str, GetRoute],
        post: Mapping[str, PostRoute] | None = None,
        name: str = "ops-http",
    ) -> None:
        self.host = host
        self.requested_port = port
        self.get = dict(get)
        self.post = dict(post or {})
        self.name = name
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the requested one before :meth:`start`)."""
        if self._server is None:
            return self.requested_port
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Bind and serve in a daemon thread."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                route = outer.get.get(self.path.split("?", 1)[0])
                self._answer(route() if route else _NOT_FOUND)

            def do_POST(self) -> None:
                route = outer.post.get(self.path.split("?", 1)[0])
                if route is None:
                    self._answer(_NOT_FOUND)
                    return
                try:
                    length = int(self.headers.get("Content-Length", ""))
                except ValueError:
                    length = -1
                if length < 0 or length > MAX_BODY:
                    self._answer(json_response(413, {"error": "body too large or length missing"}))
                    return
                headers = {key.lower(): value for key, value in self.headers.items()}
                self._answer(route(headers, self.rfile.read(length)))

            def _answer(self, response: Response) -> None:
                self.send_response(response.code)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            def log_message(self, format: str, *args: Any) -> None:
                return None  # probes every few seconds would drown the structured log

        self._server = ThreadingHTTPServer((self.host, self.requested_port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=self.name, daemon=True
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


_NOT_FOUND = json_response(404, {"error": "not found"})

"""The endpoint server: exact-path routing, bounded bodies, lower-cased header names."""

from __future__ import annotations

import http.client

import pytest

from connectors.http_endpoints import MAX_BODY, EndpointServer, Response, json_response


@pytest.fixture
def server():
    seen: list[tuple[dict[str, str], bytes]] = []

    def echo(headers, body):
        seen.append((dict(headers), body))
        return Response(201, body, "text/plain")

    srv = EndpointServer("127.0.0.1", 0, {"/a": lambda: json_response(200, {"a": 1})}, {"/p": echo})
    srv.start()
    yield srv, seen
    srv.stop()


def _request(srv, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_routes_by_exact_path_and_ignores_the_query_string(server):
    srv, _ = server
    assert _request(srv, "GET", "/a?x=1") == (200, b'{"a": 1}')
    assert _request(srv, "GET", "/a/b")[0] == 404
    assert _request(srv, "POST", "/a", b"{}")[0] == 404
    assert _request(srv, "GET", "/p")[0] == 404


def test_post_gets_the_body_and_lower_cased_headers(server):
    srv, seen = server
    assert _request(srv, "POST", "/p", b"hello", {"X-Secret": "s"}) == (201, b"hello")
    headers, body = seen[0]
    assert body == b"hello"
    assert headers["x-secret"] == "s"


def test_a_body_without_length_or_over_the_bound_is_refused_unread(server):
    srv, seen = server
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    conn.putrequest("POST", "/p")
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    status, _ = _request(srv, "POST", "/p", b"x", {"Content-Length": str(MAX_BODY + 1)})
    assert status == 413
    assert seen == []


def test_port_is_the_bound_one_after_start_and_stop_is_idempotent():
    srv = EndpointServer("127.0.0.1", 0, {})
    assert srv.port == 0
    srv.start()
    assert srv.port > 0
    srv.stop()
    srv.stop()

"""The Label Studio client against a local stub server: auth schemes, retries, errors, paging,
and the labeling-config helpers."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from connectors.label_studio import (
    LabelConfigError,
    LabelStudioClient,
    LabelStudioRejectedError,
    LabelStudioUnavailableError,
    choices_config,
    choices_of,
    is_jwt,
)

PAT = "aaa.bbb.ccc"


class Stub:
    """A scripted Label Studio: a list of (status, body) per path, plus what it received."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], list[tuple[int, object]]] = {}
        self.seen: list[tuple[str, str, dict, object]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                path = self.path.split("?", 1)[0]
                stub.seen.append((self.command, self.path, dict(self.headers), body))
                script = stub.routes.get((self.command, path)) or [(404, {"detail": "nope"})]
                status, doc = script.pop(0) if len(script) > 1 else script[0]
                raw = b"" if doc is None else json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _any  # noqa: N815 - stdlib handler names

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, method: str, path: str, *answers: tuple[int, object]) -> None:
        self.routes[(method, path)] = list(answers)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    s = Stub()
    yield s
    s.close()


def _client(stub, token=PAT, **kw):
    return LabelStudioClient(stub.url, token, sleep=lambda _s: None, **kw)


def test_personal_token_is_traded_for_an_access_token(stub):
    """A JWT refresh token is exchanged at /api/token/refresh/ and sent as Bearer."""
    stub.route("POST", "/api/token/refresh/", (200, {"access": "ACCESS-1"}))
    stub.route("GET", "/api/projects/3/", (200, {"id": 3}))
    assert _client(stub).project(3) == {"id": 3}
    refresh, call = stub.seen
    assert refresh[3] == {"refresh": PAT}
    assert call[2]["Authorization"] == "Bearer ACCESS-1"


def test_expired_access_token_is_refreshed_once(stub):
    """A 401 with a personal token triggers one refresh and a retry."""
    stub.route("POST", "/api/token/refresh/", (200, {"access": "A1"}), (200, {"access": "A2"}))
    stub.route("GET", "/api/projects/3/", (401, {"detail": "expired"}), (200, {"id": 3}))
    assert _client(stub).project(3)["id"] == 3
    auths = [h.get("Authorization") for m, _p, h, _b in stub.seen if m == "GET"]
    assert auths == ["Bearer A1", "Bearer A2"]


def test_legacy_token_is_sent_as_token(stub):
    """A token that is not a JWT goes out as 'Token <token>' without a refresh."""
    stub.route("GET", "/api/projects/3/", (200, {"id": 3}))
    _client(stub, token="0123abcd").project(3)
    assert [h["Authorization"] for _m, _p, h, _b in stub.seen] == ["Token 0123abcd"]


def test_server_errors_are_retried_then_raised(stub):
    """5xx answers are retried a bounded number of times, then raise Unavailable."""
    stub.route("POST", "/api/token/refresh/", (200, {"access": "A"}))
    stub.route("GET", "/api/projects/3/", (503, None))
    with pytest.raises(LabelStudioUnavailableError) as info:
        _client(stub, retries=2).project(3)
    assert not info.value.ambiguous
    assert len([s for s in stub.seen if s[0] == "GET"]) == 3


def test_a_create_that_failed_on_the_server_is_ambiguous(stub):
    """A POST answered with 5xx is not retried: it may have taken effect."""
    stub.route("POST", "/api/token/refresh/", (200, {"access": "A"}))
    stub.route("POST", "/api/tasks/", (500, None))
    with pytest.raises(LabelStudioUnavailableError) as info:
        _client(stub, retries=5).create_task(1, {"x": 1})
    assert info.value.ambiguous
    assert len([s for s in stub.seen if s[1] == "/api/tasks/"]) == 1


def test_unreachable_server_is_unavailable_and_not_ambiguous():
    """Connection refused proves nothing was created: retried, then Unavailable."""
    client = LabelStudioClient("http://127.0.0.1:9", "tok", retries=1, sleep=lambda _s: None)
    with pytest.raises(LabelStudioUnavailableError) as info:
        client.create_task(1, {"x": 1})
    assert not info.value.ambiguous
    assert not client.healthy()


def test_client_errors_are_rejected_with_status(stub):
    """4xx answers raise Rejected with the status and body, without retries."""
    stub.route("GET", "/api/tasks/9/", (400, {"detail": "bad"}))
    with pytest.raises(LabelStudioRejectedError) as info:
        _client(stub, token="legacy").task(9)
    assert info.value.status == 400
    assert "bad" in info.value.body


def test_delete_of_a_missing_task_is_not_an_error(stub):
    """Deleting a task that is already gone returns False."""
    stub.route("DELETE", "/api/tasks/4/", (404, {"detail": "gone"}))
    assert _client(stub, token="legacy").delete_task(4) is False


def test_tasks_are_paged_and_filtered(stub):
    """Task listing walks the pages and passes the Data Manager filter as query."""
    page = [{"id": i} for i in range(100)]
    stub.route(
        "GET",
        "/api/tasks/",
        (200, {"tasks": page, "total": 101}),
        (200, {"tasks": [{"id": 100}], "total": 101}),
    )
    rows = _client(stub, token="legacy").tasks_where(5, "request_id", "r-1")
    assert len(rows) == 101
    first = stub.seen[0][1]
    assert "filter%3Atasks%3Adata.request_id" in first
    assert "page=2" in stub.seen[1][1]


def test_generated_config_offers_exactly_the_classes():
    """The generated labeling config round-trips through the checker."""
    config = choices_config(["ok", "fraud", 'a"b'])
    assert choices_of(config, ["fraud", "ok", 'a"b']) == ("label", "item")


def test_given_config_must_match_the_classes():
    """A config with other choices, none or two Choices tags, or no XML is refused."""
    other = choices_config(["ok", "spam"])
    with pytest.raises(LabelConfigError, match="offers"):
        choices_of(other, ["ok", "fraud"])
    with pytest.raises(LabelConfigError, match="one <Choices>"):
        choices_of("<View><Text name='t' value='$t'/></View>", ["ok"])
    with pytest.raises(LabelConfigError, match="XML"):
        choices_of("<View>", ["ok"])


def test_jwt_shape():
    """Personal access tokens are told from legacy tokens by their three parts."""
    assert is_jwt(PAT)
    assert not is_jwt("abc")
    assert not is_jwt("a..c")

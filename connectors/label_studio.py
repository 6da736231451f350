"""A small HTTP client for Label Studio's REST API (projects, tasks, predictions, annotations,
users, webhooks), over the standard library so the bridge adds no HTTP dependency.

Authentication follows Label Studio's two token kinds:

* a **personal access token** (the default kind in current versions) is a JWT *refresh*
  token; the client trades it for a short-lived access token at ``POST /api/token/refresh``
  and sends ``Authorization: Bearer <access>``, refreshing again when the server answers 401;
* a **legacy token** is sent as ``Authorization: Token <token>`` (organisations must enable
  legacy tokens for it to work).

``auth="auto"`` tells them apart by shape: a JWT has three dot-separated parts.

Every call retries a bounded number of times with exponential backoff when Label Studio is
unreachable or answers 5xx, then raises :class:`LabelStudioUnavailableError`. Requests that create
something are retried only when nothing can have reached the server (connection refused);
otherwise the error says ``ambiguous=True`` and the caller must look before creating again.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal
from xml.etree import ElementTree

from connectors.errors import ConnectorError

AuthKind = Literal["auto", "personal", "legacy"]
Json = Any

_PAGE_SIZE = 100


class LabelStudioError(ConnectorError):
    """Label Studio refused or failed a request."""


class LabelStudioUnavailableError(LabelStudioError):
    """Label Studio could not be reached (or kept failing) within the retry budget.

    ``ambiguous`` is true when a request that creates something may have reached the server:
    the caller must check whether it took effect before sending it again.
    """

    def __init__(self, message: str, ambiguous: bool = False) -> None:
        super().__init__(message)
        self.ambiguous = ambiguous


class LabelStudioRejectedError(LabelStudioError):
    """Label Studio answered with a 4xx status: the request itself is wrong (or not allowed)."""

    def __init__(self, message: str, status: int, body: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class LabelConfigError(LabelStudioError):
    """A labeling config does not offer exactly the configured classes."""


def is_jwt(token: str) -> bool:
    """Whether a token has the shape of a JWT (a personal access token), not a legacy token.

    >>> is_jwt("aaa.bbb.ccc"), is_jwt("0123456789abcdef")
    (True, False)
    """
    parts = token.split(".")
    return len(parts) == 3 and all(parts)


class LabelStudioClient:
    """Label Studio's REST API, one method per call the bridge needs.

    Parameters
    ----------
    url
        Base URL of the server, e.g. ``http://label-studio:8080``.
    token
        A personal access token (JWT refresh token) or a legacy token.
    auth
        ``auto`` (by the token's shape), ``personal`` or ``legacy``.
    timeout
        Seconds per HTTP request.
    retries
        Extra attempts after a failure that may pass (unreachable, 5xx); more retries ride out
        longer outages inside one call, fewer return control to the caller sooner.
    backoff, backoff_max
        First wait between attempts, doubled per attempt up to ``backoff_max`` seconds.
    sleep
        Injected for tests.
    """

    def __init__(
        self,
        url: str,
        token: str,
        auth: AuthKind = "auto",
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        backoff_max: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
        opener: urllib.request.OpenerDirector | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.auth: AuthKind = auth
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.sleep = sleep
        self._token = token
        self._personal = is_jwt(token) if auth == "auto" else auth == "personal"
        self._access: str | None = None
        self._opener = opener or urllib.request.build_opener()

    # -- transport ---------------------------------------------------------------------------

    def _authorization(self) -> str:
        if not self._personal:
            return f"Token {self._token}"
        if self._access is None:
            self._access = self._refresh_access()
        return f"Bearer {self._access}"

    def _refresh_access(self) -> str:
        doc = self._send("POST", "/api/token/refresh/", {"refresh": self._token}, auth=None)
        access = doc.get("access") if isinstance(doc, dict) else None
        if not isinstance(access, str) or not access:
            raise LabelStudioError("token refresh returned no access token")
        return access

    def _send(
        self,
        method: str,
        path: str,
        body: Json = None,
        params: Mapping[str, Any] | None = None,
        auth: str | None = "token",
        creates: bool = False,
    ) -> Json:
        """One request with bounded retries; the decoded JSON body (None when empty)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        target = f"{self.url}{path}{query}"
        data = None if body is None else json.dumps(body).encode()
        wait = self.backoff
        refreshed = False
        attempt = 0
        while True:
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            try:
                if auth is not None:
                    headers["Authorization"] = self._authorization()
                request = urllib.request.Request(target, data=data, method=method, headers=headers)
                with self._opener.open(request, timeout=self.timeout) as response:
                    raw = response.read()
                return json.loads(raw) if raw.strip() else None
            except urllib.error.HTTPError as exc:
                text = exc.read().decode(errors="replace")[:2000]
                if exc.code == 401 and self._personal and auth is not None and not refreshed:
                    # The access token expired: trade the refresh token again, once.
                    self._access = None
                    refreshed = True
                    continue
                if exc.code < 500:
                    raise LabelStudioRejectedError(
                        f"{method} {path}: HTTP {exc.code}: {text[:300]}", exc.code, text
                    ) from exc
                failure = f"{method} {path}: HTTP {exc.code}"
                ambiguous = creates
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                reason = getattr(exc, "reason", exc)
                failure = f"{method} {path}: {reason}"
                # Only a refused connection proves that nothing reached the server.
                ambiguous = creates and not isinstance(reason, ConnectionRefusedError)
            except json.JSONDecodeError as exc:
                raise LabelStudioError(f"{method} {path}: the answer is not JSON") from exc
            if ambiguous or attempt >= self.retries:
                raise LabelStudioUnavailableError(failure, ambiguous=ambiguous)
            attempt += 1
            self.sleep(wait)
            wait = min(wait * 2, self.backoff_max)

    # -- health, users -----------------------------------------------------------------------

    def healthy(self) -> bool:
        """``GET /health`` answers (no authentication, no retries)."""
        try:
            request = urllib.request.Request(f"{self.url}/health", method="GET")
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status) == 200
        except (urllib.error.URLError, OSError, TimeoutError):
            return False

    def user(self, user_id: int) -> dict[str, Any]:
        """One user (id, email, username, first/last name)."""
        return dict(self._send("GET", f"/api/users/{int(user_id)}/"))

    def current_user(self) -> dict[str, Any]:
        """The user the token belongs to."""
        return dict(self._send("GET", "/api/current-user/whoami"))

    # -- projects ----------------------------------------------------------------------------

    def project(self, project_id: int) -> dict[str, Any]:
        """One project, with its ``label_config`` and ``maximum_annotations``."""
        return dict(self._send("GET", f"/api/projects/{int(project_id)}/"))

    def find_project(self, title: str) -> dict[str, Any] | None:
        """The first project with exactly this title, if any."""
        page = 1
        while True:
            doc = self._send(
                "GET", "/api/projects/", params={"title": title, "page": page, "page_size": 100}
            )
            rows = doc.get("results", []) if isinstance(doc, dict) else doc
            for row in rows:
                if row.get("title") == title:
                    return dict(row)
            if not isinstance(doc, dict) or not doc.get("next"):
                return None
            page += 1

    def create_project(self, title: str, **fields: Any) -> dict[str, Any]:
        """A new project (``label_config``, ``maximum_annotations``, ... as keyword fields)."""
        return dict(self._send("POST", "/api/projects/", {"title": title, **fields}, creates=True))

    def update_project(self, project_id: int, **fields: Any) -> dict[str, Any]:
        """Change a project's fields."""
        return dict(self._send("PATCH", f"/api/projects/{int(project_id)}/", fields))

    # -- tasks -------------------------------------------------------------------------------

    def tasks(
        self, project_id: int, filters: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every task of a project (paged), optionally filtered the Data Manager's way.

        ``filters`` is the Data Manager's ``{"conjunction": ..., "items": [...]}`` document.
        """
        page = 1
        seen = 0
        while True:
            params: dict[str, Any] = {
                "project": int(project_id),
                "page": page,
                "page_size": _PAGE_SIZE,
                "fields": "all",
            }
            if filters is not None:
                params["query"] = json.dumps({"filters": filters})
            try:
                doc = self._send("GET", "/api/tasks/", params=params)
            except LabelStudioRejectedError as exc:
                if exc.status == 404 and page > 1:
                    return  # past the last page
                raise
            rows = doc.get("tasks", []) if isinstance(doc, dict) else doc
            yield from (dict(row) for row in rows)
            seen += len(rows)
            total = doc.get("total") if isinstance(doc, dict) else None
            if not rows or len(rows) < _PAGE_SIZE or (total is not None and seen >= total):
                return
            page += 1

    def tasks_where(self, project_id: int, field: str, value: str) -> list[dict[str, Any]]:
        """Tasks whose ``data[field]`` equals ``value`` (the idempotency look-up)."""
        filters = {
            "conjunction": "and",
            "items": [
                {
                    "filter": f"filter:tasks:data.{field}",
                    "operator": "equal",
                    "type": "String",
                    "value": value,
                }
            ],
        }
        return list(self.tasks(project_id, filters))

    def task(self, task_id: int) -> dict[str, Any]:
        """One task, with its data."""
        return dict(self._send("GET", f"/api/tasks/{int(task_id)}/"))

    def create_task(
        self, project_id: int, data: Mapping[str, Any], **fields: Any
    ) -> dict[str, Any]:
        """A new task; may raise an ambiguous :class:`LabelStudioUnavailableError` (look first)."""
        body = {"project": int(project_id), "data": dict(data), **fields}
        return dict(self._send("POST", "/api/tasks/", body, creates=True))

    def update_task(self, task_id: int, **fields: Any) -> dict[str, Any]:
        """Change a task's fields (e.g. ``meta``)."""
        return dict(self._send("PATCH", f"/api/tasks/{int(task_id)}/", fields))

    def delete_task(self, task_id: int) -> bool:
        """Delete a task; False when it was already gone."""
        try:
            self._send("DELETE", f"/api/tasks/{int(task_id)}/")
        except LabelStudioRejectedError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    # -- predictions, annotations ------------------------------------------------------------

    def predictions(self, task_id: int) -> list[dict[str, Any]]:
        """The predictions (pre-annotations) of a task."""
        doc = self._send("GET", "/api/predictions/", params={"task": int(task_id)})
        rows = doc.get("results", doc) if isinstance(doc, dict) else doc
        return [dict(row) for row in rows]

    def create_prediction(
        self,
        task_id: int,
        result: Sequence[Mapping[str, Any]],
        score: float | None,
        model_version: str | None,
    ) -> dict[str, Any]:
        """A pre-annotation for a task."""
        body: dict[str, Any] = {"task": int(task_id), "result": [dict(r) for r in result]}
        if score is not None:
            body["score"] = score
        if model_version is not None:
            body["model_version"] = model_version
        return dict(self._send("POST", "/api/predictions/", body, creates=True))

    def annotations(self, task_id: int) -> list[dict[str, Any]]:
        """The annotations of a task, submitted and skipped (``was_cancelled``)."""
        doc = self._send("GET", f"/api/tasks/{int(task_id)}/annotations/")
        return [dict(row) for row in (doc or [])]

    def create_annotation(
        self, task_id: int, result: Sequence[Mapping[str, Any]], **fields: Any
    ) -> dict[str, Any]:
        """Submit an annotation as the token's user (what an expert's Submit does)."""
        body = {"result": [dict(r) for r in result], **fields}
        return dict(
            self._send("POST", f"/api/tasks/{int(task_id)}/annotations/", body, creates=True)
        )

    def update_annotation(self, annotation_id: int, **fields: Any) -> dict[str, Any]:
        """Change an annotation."""
        return dict(self._send("PATCH", f"/api/annotations/{int(annotation_id)}/", fields))

    def delete_annotation(self, annotation_id: int) -> None:
        """Delete an annotation."""
        self._send("DELETE", f"/api/annotations/{int(annotation_id)}/")

    # -- webhooks ----------------------------------------------------------------------------

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        """The webhooks registered for a project."""
        doc = self._send("GET", "/api/webhooks/", params={"project": int(project_id)})
        return [dict(row) for row in (doc or [])]

    def create_webhook(
        self,
        project_id: int,
        url: str,
        actions: Sequence[str],
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Ask Label Studio to POST the given actions (with full payloads) to ``url``."""
        body = {
            "project": int(project_id),
            "url": url,
            "send_payload": True,
            "send_for_all_actions": False,
            "actions": list(actions),
            "headers": dict(headers or {}),
            "is_active": True,
        }
        return dict(self._send("POST", "/api/webhooks/", body, creates=True))

    def update_webhook(self, webhook_id: int, **fields: Any) -> dict[str, Any]:
        """Change a webhook."""
        return dict(self._send("PATCH", f"/api/webhooks/{int(webhook_id)}/", fields))


# -- labeling configs --------------------------------------------------------------------------


def choices_config(classes: Sequence[str], from_name: str = "label", to_name: str = "item") -> str:
    """A labeling config offering exactly ``classes`` as single-choice answers.

    The item is shown as its allow-listed fields (``$summary``, one ``name: value`` per line)
    under a header with the queue's instructions, priority and deadline.

    >>> print(choices_config(["ok", "fraud"]))  # doctest: +ELLIPSIS
    <View>
    ...
      <Choices name="label" toName="item" choice="single-radio" showInline="true">
        <Choice value="ok"/>
        <Choice value="fraud"/>
      </Choices>
    </View>
    """
    choices = "\n".join(f'    <Choice value="{_xml_attr(c)}"/>' for c in classes)
    return (
        "<View>\n"
        '  <Header value="$title"/>\n'
        '  <Text name="meta" value="$context"/>\n'
        f'  <Text name="{_xml_attr(to_name)}" value="$summary"/>\n'
        f'  <Choices name="{_xml_attr(from_name)}" toName="{_xml_attr(to_name)}" '
        'choice="single-radio" showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>"
    )


def _xml_attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def choices_of(label_config: str, classes: Sequence[str]) -> tuple[str, str]:
    """The (from_name, to_name) of the config's ``Choices`` tag, checked against ``classes``.

    Raises
    ------
    LabelConfigError
        The config is not XML, has no (or more than one) ``Choices`` tag, or its choices are not
        exactly the classes (an expert could otherwise answer a class the model cannot learn).
    """
    try:
        root = ElementTree.fromstring(label_config)
    except ElementTree.ParseError as exc:
        raise LabelConfigError(f"the labeling config is not valid XML: {exc}") from exc
    tags = [el for el in root.iter() if el.tag == "Choices"]
    if len(tags) != 1:
        raise LabelConfigError(f"the labeling config needs one <Choices> tag, found {len(tags)}")
    tag = tags[0]
    name, to_name = tag.get("name"), tag.get("toName")
    if not name or not to_name:
        raise LabelConfigError("the <Choices> tag needs name and toName")
    offered = [c.get("value") or c.get("alias") or "" for c in tag.iter("Choice")]
    if sorted(offered) != sorted(classes):
        raise LabelConfigError(
            f"the labeling config offers {sorted(offered)}, the classes are {sorted(classes)}"
        )
    return name, to_name


__all__ = [
    "LabelConfigError",
    "LabelStudioClient",
    "LabelStudioError",
    "LabelStudioRejectedError",
    "LabelStudioUnavailableError",
    "choices_config",
    "choices_of",
    "is_jwt",
]

"""A real Label Studio server for integration tests: installed (cached) by
scripts/install-label-studio.sh, started on a free loopback port with SQLite in a tmp dir, plus
the browser-free steps a person would take in its UI (sign up, log in, make an access token)."""

from __future__ import annotations

import http.cookiejar
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from tests.integration.daemon_process import free_port

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install-label-studio.sh"


def install_label_studio() -> Path:
    """Run the (idempotent, cached) install script; the path of the label-studio executable."""
    proc = subprocess.run(
        ["bash", str(INSTALL)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, f"install-label-studio failed:\n{proc.stderr[-3000:]}"
    return Path(proc.stdout.strip().splitlines()[-1])


class LabelStudioServer:
    """``label-studio start`` on loopback; the admin account is created at start."""

    admin_email = "admin@example.com"
    admin_password = "admin-secret-1"

    def __init__(self, executable: Path, workdir: Path) -> None:
        self.executable = executable
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "label-studio.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 600) -> LabelStudioServer:
        """Start and wait for ``/health``."""
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "LABEL_STUDIO_BASE_DATA_DIR": str(data),
            # The bridge's webhook listens on loopback, which Label Studio blocks by default.
            "SSRF_PROTECTION_ENABLED": "false",
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
        }
        self._log_fh = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                str(self.executable),
                "start",
                "--no-browser",
                "--host",
                "127.0.0.1",
                "--internal-host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(data),
                "--username",
                self.admin_email,
                "--password",
                self.admin_password,
            ],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"label-studio exited:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"label-studio not healthy in {timeout}s\n{self.log_tail()}")
            time.sleep(1)

    def stop(self) -> None:
        """Terminate the server's process group."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            self._log_fh.close()
            self.proc = None

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections hang, as with an overloaded server."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)

    def log_tail(self, n: int = 40) -> str:
        """The last lines of the server log."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # -- what a person does in the UI, done over HTTP ----------------------------------------

    def signup(self, email: str, password: str) -> Session:
        """Create an account (the open sign-up page) and return its logged-in session."""
        session = Session(self.url)
        session.form("/user/signup/", {"email": email, "password": password})
        return session

    def login(self, email: str, password: str) -> Session:
        """A logged-in browser session."""
        session = Session(self.url)
        session.form("/user/login/", {"email": email, "password": password})
        assert session.cookie("sessionid"), f"login of {email} failed"
        return session


class Session:
    """Cookies plus CSRF, as a browser would have them."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str | None:
        """A cookie's value."""
        return next((c.value for c in self.jar if c.name == name), None)

    def form(self, path: str, fields: dict[str, str]) -> None:
        """GET a form page (for the CSRF cookie) and POST it."""
        self.opener.open(self.url + path, timeout=60).read()
        body = urllib.parse.urlencode(
            {**fields, "csrfmiddlewaretoken": self.cookie("csrftoken") or ""}
        ).encode()
        request = urllib.request.Request(
            self.url + path, data=body, headers={"Referer": self.url + path}
        )
        self.opener.open(request, timeout=60).read()

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A JSON API call with the session."""
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": self.cookie("csrftoken") or "",
                "Referer": self.url,
            },
        )
        with self.opener.open(request, timeout=60) as r:
            raw = r.read()
        return json.loads(raw) if raw else None

    def personal_access_token(self) -> str:
        """Create the account's personal access token (a JWT refresh token)."""
        return str(self.api("POST", "/api/token/")["token"])

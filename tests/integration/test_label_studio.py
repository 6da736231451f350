"""Experts label in a real Label Studio: the daemon and the bridge run as processes against the
real broker, experts answer through Label Studio's API, and the answers train the model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.label_studio import LabelStudioClient
from daemon.bridge.tasks import REQUEST_KEYS, VIEW_KEYS
from tests.integration.daemon_process import (
    DaemonProcess,
    free_port,
    jsons,
    produce,
    read_all,
    wait_for,
    write_config,
)
from tests.integration.label_studio_server import LabelStudioServer, install_label_studio

START = datetime(2026, 3, 1, tzinfo=UTC)
TTL = 3600.0
QUEUE = "experts"
ALLOWED_FEATURES = {"x0", "x1"}


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    """A real Label Studio server for this module (installed once, cached)."""
    server = LabelStudioServer(install_label_studio(), tmp_path_factory.mktemp("label-studio"))
    try:
        yield server.start()
    finally:
        server.stop()


class BridgeProcess(DaemonProcess):
    """`python -m daemon.cli bridge label-studio --config FILE`."""

    def start(self) -> BridgeProcess:
        """Start the process and wait until it is ready (/readyz 200)."""
        self._log_fh = self.log.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daemon.cli",
                "bridge",
                "label-studio",
                "--config",
                str(self.config),
            ],
            stdout=self._log_fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
        wait_for(lambda: self.http("/readyz")[0] == 200, 120, "bridge ready", self)
        return self

    def sigkill(self) -> None:
        """Kill without any chance to clean up."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._log_fh.close()

    def counter(self, name: str) -> float:
        """Sum of a counter's samples on /metrics."""
        _, body = self.http("/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name + "{") or line.startswith(name + " "):
                total += float(line.rsplit(" ", 1)[1])
        return total


def _prediction(i: int, p1: float, seconds: float | None = None) -> tuple[bytes, bytes]:
    item = f"ls-{i:03d}"
    doc = {
        "id": item,
        "event_time": (START + timedelta(seconds=i if seconds is None else seconds)).isoformat(),
        "features": {"x0": round(0.1 * i, 3), "x1": 1000.0 + i, "x2": f"secret-{i}"},
        "prediction": "1" if p1 >= 0.5 else "0",
        "proba": {"0": round(1 - p1, 6), "1": round(p1, 6)},
        "model_version": "prod-7",
        "group": {"region": "EU"},
    }
    return item.encode(), json.dumps(doc).encode()


def _choice(label: str) -> list[dict]:
    return [
        {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [label]}}
    ]


def test_experts_label_in_label_studio(
    tmp_path, label_studio, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """Requests become exactly one task each (allow-listed fields only, prediction shown);
    expert answers train the model; withdrawn and expired requests leave Label Studio; a
    SIGKILLed bridge restarts without a duplicate task or a lost answer; bad answers are
    dead-lettered."""
    ls = label_studio
    admin = ls.login(ls.admin_email, ls.admin_password)
    bridge_token = admin.personal_access_token()
    experts = {
        name: ls.signup(f"{name}@example.com", f"{name}-secret-1") for name in ("alice", "bob")
    }
    tokens = {name: s.personal_access_token() for name, s in experts.items()}
    as_expert = {name: LabelStudioClient(ls.url, t) for name, t in tokens.items()}
    owner = LabelStudioClient(ls.url, bridge_token)

    topics = {n: kafka_topic_factory() for n in ("predictions", "labels", "audit", "dead_letter")}
    topics["requests"] = kafka_topic_factory()
    topics["state"] = kafka_topic_factory(config={"cleanup.policy": "compact"})
    cursor_topic = kafka_topic_factory(config={"cleanup.policy": "compact"})
    daemon_port, bridge_port = free_port(), free_port()
    title = f"labelgate {unique_group}"
    config = write_config(
        tmp_path / "labelgate.yaml",
        {
            "source": "kafka",
            "classes": ["0", "1"],
            "clock": "event",
            "kafka": {
                "bootstrap_servers": kafka_bootstrap,
                "group_id": unique_group,
                "topics": topics,
                "commit_interval_seconds": 0.5,
                "poll_timeout_seconds": 0.1,
            },
            "model": {"score_source": "production"},
            "policy": {
                "strategy": "random",
                "cold_start_items": 0,
                "queue_gate_exponent": None,
                "budget": {"fraction": 1.0, "window": 10},
            },
            "queues": [
                {
                    "name": QUEUE,
                    "role": "specialist",
                    "capacity": 6,
                    "overflow": "replace",
                    "ttl_seconds": TTL,
                    "topic": topics["requests"],
                    "labels_required": 2,
                    "resolution": "majority",
                    "instructions_id": "experts-v2",
                    "fields": sorted(ALLOWED_FEATURES),
                    "redact": {"x1": "hash"},
                    "label_studio": {
                        "url": ls.url,
                        "project_title": title,
                        "webhook_url": f"http://127.0.0.1:{bridge_port}/webhook",
                        "webhook_secret": "hook-secret",
                        "roles": {"alice@example.com": "specialist", "bob": "senior"},
                        "cursor_topic": cursor_topic,
                        "poll_interval_seconds": 2.0,
                        "timeout_seconds": 3.0,
                        "retries": 1,
                        "backoff_seconds": 0.2,
                        "backoff_max_seconds": 2.0,
                        "host": "127.0.0.1",
                        "port": bridge_port,
                    },
                }
            ],
            "routing": {"default": [QUEUE]},
            "redaction_salt": "test-salt",
            "server": {"host": "127.0.0.1", "port": daemon_port},
            "state_dir": str(tmp_path / "state"),
        },
    )
    env = {"LABEL_STUDIO_TOKEN": bridge_token}
    daemon = DaemonProcess(config, daemon_port, tmp_path / "daemon.log")
    bridge = BridgeProcess(config, bridge_port, tmp_path / "bridge.log", env=env)

    def project_id() -> int:
        found = owner.find_project(title)
        assert found is not None
        return int(found["id"])

    def tasks() -> list[dict]:
        return list(owner.tasks(project_id()))

    def requests() -> list[dict]:
        return jsons(read_all(kafka_bootstrap, topics["requests"]))

    try:
        daemon.start()
        bridge.start()
        pid = project_id()
        project = owner.project(pid)
        assert project["maximum_annotations"] == 2
        assert '<Choice value="0"/>' in project["label_config"]

        produce(
            kafka_bootstrap,
            topics["predictions"],
            [_prediction(i, p) for i, p in enumerate([0.9, 0.8, 0.3, 0.6, 0.55, 0.7])],
        )
        wait_for(lambda: len(tasks()) == 6, 120, "six tasks", bridge)
        opened = [r for r in requests() if not r["withdrawn"]]
        assert len(opened) == 6
        by_item = {t["data"]["id"]: t for t in tasks()}

        # Exactly one task per request, carrying only what the request carries.
        assert sorted(t["data"]["request_id"] for t in tasks()) == sorted(
            r["request_id"] for r in opened
        )
        for task in tasks():
            data = task["data"]
            assert set(data) <= set(REQUEST_KEYS) | set(VIEW_KEYS)
            assert set(data["features"]) <= ALLOWED_FEATURES
            assert data["features"]["x1"] != 1000.0 + int(data["id"][3:])  # hashed
            assert "secret-" not in json.dumps(data)
            assert data["instructions_id"] == "experts-v2"
            assert data["model_version"] == "prod-7"
            assert task["overlap"] == 2
            assert data["deadline"]
            assert data["priority"] is not None
            [prediction] = task["predictions"]
            assert prediction["model_version"] == "prod-7"
            assert prediction["result"][0]["value"]["choices"] == [data["prediction"]]
            assert prediction["score"] == pytest.approx(data["proba"][data["prediction"]])

        # A person opening a task page sees the production prediction pre-selected.
        shown = by_item["ls-005"]
        screenshot = _browser_check(
            ls, admin, pid, shown["id"], shown["data"]["prediction"], tmp_path
        )

        # Alice answers four items (one skipped, one with a class that does not exist);
        # a task someone added by hand gets an answer too.
        truth = {"ls-000": "1", "ls-001": "1", "ls-002": "0"}
        for item, label in truth.items():
            as_expert["alice"].create_annotation(by_item[item]["id"], _choice(label))
        as_expert["alice"].create_annotation(by_item["ls-003"]["id"], [], was_cancelled=True)
        as_expert["alice"].create_annotation(by_item["ls-004"]["id"], _choice("7"))
        stray = owner.create_task(pid, {"title": "t", "context": "c", "summary": "by hand"})
        as_expert["alice"].create_annotation(stray["id"], _choice("1"))
        wait_for(
            lambda: (
                bridge.counter("labelgate_bridge_annotations_forwarded_total") >= 4
                and bridge.counter("labelgate_bridge_dead_letters_total") >= 2
            ),
            60,
            "alice's answers forwarded",
            bridge,
        )
        wait_for(
            lambda: "ls-003" not in {t["data"].get("id") for t in tasks()},
            60,
            "the skipped task removed",
            bridge,
        )

        assert bridge.counter("labelgate_bridge_webhooks_received_total") >= 1

        # An answer changed after submitting is sent again (the daemon keeps the first); a
        # deleted one is counted.
        first = as_expert["alice"].annotations(by_item["ls-000"]["id"])[0]
        as_expert["alice"].update_annotation(first["id"], result=_choice("1"))
        wait_for(
            lambda: (
                bridge.counter(
                    'labelgate_bridge_annotations_forwarded_total{kind="update",queue="experts"}'
                )
                == 1
            ),
            60,
            "the update forwarded",
            bridge,
        )
        bad = as_expert["alice"].annotations(by_item["ls-004"]["id"])[0]
        as_expert["alice"].delete_annotation(bad["id"])
        wait_for(
            lambda: bridge.counter("labelgate_bridge_annotations_deleted_total") == 1,
            60,
            "the deletion counted",
            bridge,
        )

        # The bridge dies mid-run: while it is down, Bob answers and requests are replayed.
        bridge.sigkill()
        for item, label in truth.items():
            as_expert["bob"].create_annotation(by_item[item]["id"], _choice(label))
        produce(
            kafka_bootstrap,
            topics["requests"],
            [(r["id"].encode(), json.dumps(r).encode()) for r in opened],
        )
        bridge = BridgeProcess(config, bridge_port, tmp_path / "bridge.log", env=env).start()
        wait_for(
            lambda: daemon.metric("labelgate_model_labels_learned") == 3,
            120,
            "three items learned from two agreeing experts",
            daemon,
        )
        # No second task for a replayed request: five bridged tasks (the skipped one left)
        # plus the stray one.
        items = sorted(t["data"].get("id", "stray") for t in tasks())
        assert items == ["ls-000", "ls-001", "ls-002", "ls-004", "ls-005", "stray"]

        # Expiry: an item far in event time ends the others' TTL; their tasks leave.
        produce(kafka_bootstrap, topics["predictions"], [_prediction(9, 0.5, seconds=TTL * 3)])
        open_ids = {"ls-004", "ls-005"}  # a bad answer only, unanswered
        wait_for(
            lambda: not open_ids & {t["data"].get("id") for t in tasks()},
            120,
            "expired requests' tasks removed",
            bridge,
        )
        withdrawn = {r["id"] for r in requests() if r["withdrawn"]}
        assert {"ls-004", "ls-005"} <= withdrawn
        remaining = {t["data"].get("id") for t in tasks()}
        assert {"ls-000", "ls-001", "ls-002", "ls-009"} <= remaining

        # Label Studio hangs (SIGSTOP): the bridge turns unready and recovers when it is back;
        # the request sent meanwhile becomes exactly one task (a create that may have reached
        # the server is looked up before it is sent again).
        ls.pause()
        try:
            produce(kafka_bootstrap, topics["predictions"], [_prediction(10, 0.8, TTL * 3 + 1)])
            wait_for(
                lambda: bridge.http("/readyz")[0] == 503, 180, "unready while LS hangs", bridge
            )
            assert bridge.metric('labelgate_bridge_label_studio_up{queue="experts"}') == 0
        finally:
            ls.resume()
        wait_for(lambda: bridge.http("/readyz")[0] == 200, 180, "ready again", bridge)
        wait_for(
            lambda: "ls-010" in {t["data"].get("id") for t in tasks()}, 120, "late task", bridge
        )
        assert [t["data"].get("id") for t in tasks()].count("ls-010") == 1
        assert bridge.counter("labelgate_bridge_errors_total") >= 1

        # A full queue replaces its least useful request with a more uncertain one: the
        # displaced request is withdrawn and its task leaves Label Studio.
        produce(
            kafka_bootstrap,
            topics["predictions"],
            [_prediction(11 + i, 0.97, TTL * 3 + 2 + i) for i in range(4)]
            + [_prediction(15, 0.5, TTL * 3 + 6)],
        )
        wait_for(
            lambda: any(r["withdrawn"] and r["reason"] == "evicted" for r in requests()),
            120,
            "an eviction",
            daemon,
        )
        [evicted] = [r["id"] for r in requests() if r["withdrawn"] and r["reason"] == "evicted"]
        wait_for(
            lambda: (
                evicted not in {t["data"].get("id") for t in tasks()}
                and "ls-015" in {t["data"].get("id") for t in tasks()}
            ),
            120,
            "the evicted task removed, the new one created",
            bridge,
        )

        assert bridge.terminate() == 0, bridge.log_tail()
        assert daemon.terminate() == 0, daemon.log_tail()
    finally:
        bridge.kill()
        daemon.kill()

    # Every answer reached the daemon, once per expert and item, with the configured roles.
    events = jsons(read_all(kafka_bootstrap, topics["labels"]))
    answered = {(e["id"], e["labeler_id"]) for e in events}
    expected = {(i, f"{n}@example.com") for i in truth for n in ("alice", "bob")}
    assert expected | {("ls-003", "alice@example.com")} == answered
    roles = {e["labeler_id"]: e["labeler_role"] for e in events}
    assert roles == {"alice@example.com": "specialist", "bob@example.com": "senior"}
    assert [e["abstain"] for e in events if e["id"] == "ls-003"] == [True]
    assert all(e["label"] == truth[e["id"]] for e in events if e["id"] in truth)

    dead = jsons(read_all(kafka_bootstrap, topics["dead_letter"]))
    reasons = sorted(d["reason"] for d in dead)
    assert reasons == ["unknown_class", "unknown_task"]
    trail = jsons(read_all(kafka_bootstrap, topics["audit"]))
    resolved = {e["id"]: e for e in trail if e["kind"] == "label" and e.get("used_for")}
    assert set(resolved) == set(truth)
    assert all(e["agreement"] == 1.0 for e in resolved.values())
    assert screenshot.stat().st_size > 0


def _browser_check(ls, session, project_id: int, task_id: int, choice: str, out: Path) -> Path:
    """Open the task page in headless Chromium, logged in, and check the pre-annotation."""
    browser = Path(__file__).with_name("label_studio_browser.mjs")
    shot = out / "task-page.png"
    proc = subprocess.run(
        ["node", str(browser)],
        env={
            **os.environ,
            "LS_URL": f"{ls.url}/projects/{project_id}/data?task={task_id}",
            "LS_BASE": ls.url,
            "LS_SESSION": session.cookie("sessionid") or "",
            "LS_CSRF": session.cookie("csrftoken") or "",
            "SCREENSHOT": str(shot),
            "EXPECT_CHOICE": choice,
            "EXPECT_MODEL": "prod-7",
            "USER_DATA_DIR": str(out / "chromium-profile"),
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return shot

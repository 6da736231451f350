"""End to end: a real daemon on a real broker, scraped by a real Prometheus running the chart's
alert rules; LabelgateBudgetWillRunOut fires while part of the budget is spent fast,
LabelgateBudgetExhausted goes inactive -> pending -> firing as the budget runs out, and every
query of the chart's Grafana dashboard evaluates against what Prometheus scraped."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.extract_rules import CHART, extract
from tests.integration.daemon_process import (
    DaemonProcess,
    free_port,
    produce,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.helm, pytest.mark.integration]

ALERT = "LabelgateBudgetExhausted"
FORECAST = "LabelgateBudgetWillRunOut"
LIMIT = 20
FIRST_BURST = 10  # predictions that spend part of the budget, not all of it
DEADLINE_SECONDS = 120


def _get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return json.loads(response.read())


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _alerts(port: int, name: str) -> list[dict[str, Any]]:
    alerts = _get(port, "/api/v1/alerts")["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name]


def _alert_state(port: int, name: str = ALERT) -> str:
    """The alert's state in Prometheus: inactive, pending or firing."""
    states = {a["state"] for a in _alerts(port, name)}
    if "firing" in states:
        return "firing"
    return "pending" if "pending" in states else "inactive"


def _rule(port: int, name: str = ALERT) -> dict[str, Any] | None:
    for group in _get(port, "/api/v1/rules?type=alert")["data"]["groups"]:
        for rule in group["rules"]:
            if rule["name"] == name:
                return dict(rule)
    return None


def _query(port: int, promql: str) -> list[dict[str, Any]]:
    path = "/api/v1/query?query=" + urllib.request.quote(promql)
    return list(_get(port, path)["data"]["result"])


# Panels where at least one query must return data in this run (random sampling under a cap,
# two regions, two agreeing labels per item from non-human oracles); the others need drift or
# scores this run lacks.
MUST_HAVE_DATA = {
    "Budget remaining",
    "Budget exhausted",
    "Period ends in",
    "Decisions by reason",
    "Representation ratio by subgroup",
    "Population vs queried share",
    "Non-human share of training labels",
    "Label agreement by queue",
    "Selection-rate disparity",
    "Items and dead letters",
    "Ready and up",
}


def _dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) for every panel target and template variable of the dashboard,
    with Grafana's variables filled in as Grafana would for "All"."""
    dashboard = json.loads((CHART / "dashboards" / "labelgate.json").read_text())

    def fill(expr: str) -> str:
        return (
            expr.replace("$__rate_interval", "15s")
            .replace("$namespace", ".*")
            .replace("$job", ".*")
        )

    out = [
        (panel["title"], fill(target["expr"]))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        definition = variable.get("definition", "")
        if definition.startswith("label_values("):
            selector = definition[len("label_values(") : definition.rindex(",")]
            out.append((f"${variable['name']}", fill(selector)))
    return out


def _dashboard_query(title: str) -> str:
    return next(expr for t, expr in _dashboard_queries() if t == title)


def _label(i: int, labeler: str) -> bytes:
    return json.dumps(
        {
            "schema_version": 1,
            "id": f"e2e-{i}",
            "label": "a",
            "labeler_role": "llm",
            "labeler_id": labeler,
            "labeled_at": datetime.now(UTC).isoformat(),
        }
    ).encode()


def _prediction(i: int) -> bytes:
    proba = 0.5 + (i % 10) / 40
    return json.dumps(
        {
            "schema_version": 1,
            "id": f"e2e-{i}",
            "event_time": datetime.now(UTC).isoformat(),
            "features": {"x": float(i % 7), "y": float(i % 3)},
            "prediction": "a",
            "proba": {"a": proba, "b": 1 - proba},
            "model_version": "m1",
            "group": {"region": "EU" if i % 2 else "US"},
        }
    ).encode()


def _start_prometheus(prometheus: str, tmp: Path, daemon_port: int) -> tuple[Any, int]:
    """Prometheus scraping the daemon every second with the chart's rules (for: 5s)."""
    rules = extract(
        sets=[
            "alerts.budgetExhausted.for=5s",
            "alerts.budgetWillRunOut.for=5s",
            "prometheusRule.interval=1s",
        ],
        release="labelgate",
        namespace="default",
    )
    (tmp / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp / "rules.yaml")],
        "scrape_configs": [
            {
                # What a ServiceMonitor yields: job = the Service's name, plus namespace and pod.
                "job_name": "labelgate",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{daemon_port}"],
                        "labels": {"namespace": "default", "pod": "labelgate-e2e"},
                    }
                ],
            }
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            prometheus,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    return proc, port


def test_budget_exhausted_alert_fires(
    prometheus, helm, tmp_path, kafka_bootstrap, kafka_topic_factory, unique_group
):
    """Before spending the alerts are inactive; part of the budget spent within seconds fires
    the forecast alert (the burn rate per second of the daemon's clock empties it long before
    the day ends); once the budget is spent the exhaustion alert goes pending, then firing, and
    the forecast alert stops, in Prometheus evaluating the chart's own rules against the
    daemon's metrics."""
    started = time.monotonic()
    topics = {
        "predictions": kafka_topic_factory(partitions=1),
        "labels": kafka_topic_factory(),
        "requests": kafka_topic_factory(),
        "audit": kafka_topic_factory(),
        "dead_letter": kafka_topic_factory(),
        "state": kafka_topic_factory(config={"cleanup.policy": "compact"}),
    }
    daemon_port = free_port()
    config = write_config(
        tmp_path / "labelgate.yaml",
        {
            "source": "kafka",
            "classes": ["a", "b"],
            "kafka": {
                "bootstrap_servers": kafka_bootstrap,
                "group_id": unique_group,
                "topics": topics,
                "commit_interval_seconds": 1.0,
                "poll_timeout_seconds": 0.1,
            },
            "policy": {
                "strategy": "random",
                "cold_start_items": 0,
                "budget": {"fraction": 0.5, "limit": LIMIT, "period_seconds": 86400.0},
            },
            "queues": [{"name": "default", "labels_required": 2, "resolution": "majority"}],
            "monitoring": {"refresh_seconds": 0.5},
            "server": {"host": "127.0.0.1", "port": daemon_port},
            "state_dir": str(tmp_path / "state"),
            "shutdown_grace_seconds": 10.0,
        },
    )
    daemon = DaemonProcess(config, daemon_port, tmp_path / "daemon.log")
    prom = None
    try:
        daemon.start()
        prom, port = _start_prometheus(prometheus, tmp_path, daemon_port)

        def logs() -> str:
            return (tmp_path / "prometheus.log").read_text(errors="replace")[-3000:]

        wait_for(lambda: _ready(port), 30, "prometheus ready", daemon)

        def scraped_and_evaluated() -> bool:
            rule = _rule(port)
            series = _query(port, 'labelgate_budget_exhausted{job="labelgate"}')
            return (
                rule is not None
                and rule.get("health") == "ok"
                and bool(series)
                and rule.get("lastEvaluation", "").startswith("20")
                and not rule["lastEvaluation"].startswith("0001")
            )

        wait_for(scraped_and_evaluated, 30, "first scrape and rule evaluation", daemon)
        assert _query(port, 'labelgate_budget_exhausted{job="labelgate"}')[0]["value"][1] == "0"
        assert _rule(port)["state"] == "inactive", logs()
        assert _alert_state(port) == "inactive"
        assert _alert_state(port, FORECAST) == "inactive"

        produce(
            kafka_bootstrap,
            topics["predictions"],
            [(f"e2e-{i}".encode(), _prediction(i)) for i in range(FIRST_BURST)],
        )
        wait_for(
            lambda: 0 < daemon.metric("labelgate_budget_spent") < LIMIT,
            30,
            "part of the budget spent",
            daemon,
        )
        wait_for(
            lambda: _alert_state(port, FORECAST) == "firing",
            30,
            "the budget forecast alert firing",
            daemon,
        )
        assert daemon.metric("labelgate_budget_exhausted") == 0.0
        assert _rule(port, FORECAST)["health"] == "ok", logs()
        (forecast,) = _alerts(port, FORECAST)
        assert forecast["labels"]["pod"] == "labelgate-e2e"
        (left,) = _query(port, _dashboard_query("Period ends in"))
        # Seconds of the daemon's clock until the budget is gone: positive, shorter than the
        # time left in the period (what fired the alert), and not the +Inf of a zero rate.
        assert 0.0 < float(forecast["value"]) < float(left["value"][1])
        # The dashboard's burn rate, per second of the same clock, over a window holding the spend.
        (burn,) = _query(port, _dashboard_query("Burn rate and pacing").replace("15s", "1h"))
        assert float(burn["value"][1]) > 0.0

        produce(
            kafka_bootstrap,
            topics["predictions"],
            [(f"e2e-{i}".encode(), _prediction(i)) for i in range(FIRST_BURST, 200)],
        )
        wait_for(
            lambda: daemon.metric("labelgate_budget_exhausted") == 1.0,
            30,
            "budget exhausted in the daemon",
            daemon,
        )
        assert daemon.metric("labelgate_budget_spent") == LIMIT

        seen: list[str] = []
        deadline = started + DEADLINE_SECONDS
        while time.monotonic() < deadline:
            state = _alert_state(port)
            if not seen or seen[-1] != state:
                seen.append(state)
            if state == "firing":
                break
            time.sleep(0.2)
        assert seen[-1:] == ["firing"], f"states seen: {seen}\n{logs()}"
        assert "pending" in seen, f"states seen: {seen}"
        assert seen.index("pending") < seen.index("firing")
        alert = next(
            a
            for a in _get(port, "/api/v1/alerts")["data"]["alerts"]
            if a["labels"]["alertname"] == ALERT
        )
        assert alert["labels"]["pod"] == "labelgate-e2e"
        assert alert["annotations"]["runbook_url"].endswith("#labelgatebudgetexhausted")
        assert time.monotonic() - started < DEADLINE_SECONDS
        wait_for(
            lambda: _alert_state(port, FORECAST) == "inactive",
            30,
            "the forecast alert resolved once the budget is exhausted",
            daemon,
        )

        # Two agreeing labels per item from non-human oracles reach the model; then every
        # dashboard query is evaluated by the same Prometheus, and the key panels show data.
        produce(
            kafka_bootstrap,
            topics["labels"],
            [(None, _label(i, labeler)) for i in range(200) for labeler in ("llm-a", "llm-b")],
        )
        wait_for(
            lambda: bool(_query(port, 'labelgate_model_updates_total{oracle="non_human"} > 0')),
            30,
            "non-human labels learned and scraped",
            daemon,
        )
        errors, with_data = [], set()
        for title, expr in _dashboard_queries():
            try:
                result = _query(port, expr)
            except urllib.error.HTTPError as exc:
                errors.append(f"{title}: {expr}: {exc.read()[:300]!r}")
                continue
            if result:
                with_data.add(title)
        assert not errors, errors
        assert not MUST_HAVE_DATA - with_data, "panels without data"
        (left,) = _query(port, _dashboard_query("Period ends in"))
        assert 0.0 < float(left["value"][1]) <= 86400.0, "the period's own clock, not time()"
        (share,) = _query(port, _dashboard_query("Non-human share of training labels"))
        assert float(share["value"][1]) == 1.0
        (agreement,) = _query(port, _dashboard_query("Label agreement by queue"))
        assert float(agreement["value"][1]) == 1.0
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait(5)
        if daemon.proc is not None and daemon.proc.poll() is None:
            try:
                daemon.terminate(20)
            except subprocess.TimeoutExpired:
                daemon.kill()

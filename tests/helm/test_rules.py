"""The chart's alert rules: promtool checks them, and every alert has a unit test that bites."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from scripts.extract_rules import CHART, ROOT, extract
from tests.helm.conftest import PROMTOOL_TESTS, VALUES_FULL, VALUES_RULES, run

pytestmark = pytest.mark.helm

NEVER = "vector(0) > 1"  # a broken expression that never fires
ALWAYS = "vector(1)"  # a broken expression that always fires, without the alert's labels


@pytest.fixture(scope="module")
def rules(helm):
    """The rules file extracted from the chart rendered with tests/helm/values-rules.yaml."""
    return extract([VALUES_RULES])


def _alerts(rules_doc):
    return [r for g in rules_doc["groups"] for r in g["rules"] if "alert" in r]


def _workdir(tmp: Path, rules_doc) -> Path:
    """A directory with rules.yaml and the promtool test files."""
    for path in PROMTOOL_TESTS.glob("*.yaml"):
        shutil.copy(path, tmp / path.name)
    (tmp / "rules.yaml").write_text(yaml.safe_dump(rules_doc, sort_keys=False))
    return tmp


def _test_files(tmp: Path) -> list[str]:
    return sorted(str(p) for p in tmp.glob("*.yaml") if p.name != "rules.yaml")


def _tested_alerts() -> dict[str, Path]:
    """Alert name -> the promtool test file that asserts it."""
    out: dict[str, Path] = {}
    for path in PROMTOOL_TESTS.glob("*.yaml"):
        doc = yaml.safe_load(path.read_text())
        for group in doc["tests"]:
            for case in group.get("alert_rule_test", []):
                out.setdefault(case["alertname"], path)
    return out


@pytest.mark.parametrize("values", [VALUES_RULES, VALUES_FULL], ids=["rules", "full"])
def test_promtool_check_rules(promtool, tmp_path, values):
    """promtool accepts the extracted rules."""
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(extract([values]), sort_keys=False))
    result = run([promtool, "check", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_required_alerts_present(rules):
    """The chart ships at least the alerts the operators asked for."""
    names = {r["alert"] for r in _alerts(rules)}
    assert {
        "LabelgateBudgetExhausted",
        "LabelgateBudgetWillRunOut",
        "LabelgateQueueSaturated",
        "LabelgateRequestsOverdue",
        "LabelgateSubgroupUnderSampled",
        "LabelgateLabeledShiftHigh",
        "LabelgateConsumerLagHigh",
        "LabelgateCommitsStalled",
        "LabelgateDeadLetterRateHigh",
        "LabelgateDown",
        "LabelgateNotReady",
    } <= names
    for rule in _alerts(rules):
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])
        assert rule["labels"]["severity"]


def test_every_alert_has_a_unit_test(rules):
    """No alert ships without a promtool unit test."""
    untested = {r["alert"] for r in _alerts(rules)} - set(_tested_alerts())
    assert not untested


def test_promtool_unit_tests_pass(promtool, rules, tmp_path):
    """Each alert fires when it should and stays silent when it should not."""
    work = _workdir(tmp_path, rules)
    result = run([promtool, "test", "rules", *_test_files(work)])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("broken", [NEVER, ALWAYS], ids=["never", "always"])
def test_unit_tests_catch_broken_expressions(promtool, rules, tmp_path, broken):
    """Replacing any one alert's expression makes its unit test fail."""
    tested = _tested_alerts()
    survivors = []
    for alert in sorted(tested):
        mutated = json.loads(json.dumps(rules))
        for rule in _alerts(mutated):
            if rule["alert"] == alert:
                rule["expr"] = broken
        work = tmp_path / alert
        work.mkdir()
        _workdir(work, mutated)
        result = run([promtool, "test", "rules", str(work / tested[alert].name)])
        if result.returncode == 0:
            survivors.append(alert)
    assert not survivors, f"unit tests still pass with `{broken}` as the expression: {survivors}"


def _documented_metrics() -> set[str]:
    """Metric names in the tables of docs/metrics.md, with the labelgate_ prefix."""
    doc = (ROOT / "docs" / "metrics.md").read_text()
    names: set[str] = set()
    for row in re.findall(r"^\| ([a-z_ /]+) \|", doc, flags=re.M):
        names |= {f"labelgate_{n.strip()}" for n in row.split("/") if n.strip() != "metric"}
    return names


def _used_metrics(text: str) -> set[str]:
    used = set(re.findall(r"\blabelgate_[a-z0-9_]*[a-z0-9]", text))
    # Histograms are documented by family name; PromQL reads their _bucket/_sum/_count series.
    return {
        re.sub(r"_(bucket|sum|count)$", "", n)
        if n.endswith(("_bucket", "_sum", "_count")) and "seconds" in n
        else n
        for n in used
    }


def test_rules_use_only_documented_metrics(rules):
    """Every metric an alert reads is in the metric contract, docs/metrics.md."""
    documented = _documented_metrics()
    assert len(documented) > 30
    used = _used_metrics("\n".join(r["expr"] for r in _alerts(rules)))
    assert used
    assert not used - documented


def test_dashboard_uses_only_documented_metrics():
    """Every metric a dashboard panel queries is in docs/metrics.md."""
    dashboard = json.loads((CHART / "dashboards" / "labelgate.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [v.get("definition", "") for v in dashboard["templating"]["list"]]
    used = _used_metrics("\n".join(exprs))
    assert len(used) > 25
    assert not used - _documented_metrics()


def test_budget_forecast_runs_on_the_daemons_clock(promtool, rules, tmp_path):
    """The budget-forecast test fails for a burn rate per wall second (the rate a replay or a
    lagging stream gets wrong): the forecast must divide by how far the daemon's clock moved."""
    (rule,) = (r for r in _alerts(rules) if r["alert"] == "LabelgateBudgetWillRunOut")
    assert "labelgate_clock_timestamp_seconds" in rule["expr"].split("<")[0]
    selector = 'job="labelgate",namespace="default"'
    wall = (
        f"(labelgate_budget_remaining{{{selector}}}"
        f" / rate(labelgate_budget_charged_total{{{selector}}}[1h]))"
        f" < (labelgate_budget_period_end_timestamp_seconds{{{selector}}}"
        f" - labelgate_clock_timestamp_seconds{{{selector}}})"
        f" and labelgate_budget_exhausted{{{selector}}} == 0"
    )
    mutated = json.loads(json.dumps(rules))
    for r in _alerts(mutated):
        if r["alert"] == "LabelgateBudgetWillRunOut":
            r["expr"] = wall
    work = _workdir(tmp_path, mutated)
    result = run([promtool, "test", "rules", str(work / "budget_will_run_out.yaml")])
    assert result.returncode != 0
    # Wrong both ways at 84m: a replay's false alarm, and a slow clock's missed alert.
    report = result.stdout + result.stderr
    got = report.split("time: 1h24m", 1)[1].split("got:", 1)[1].split("alertname:", 1)[0]
    assert 'pod="labelgate-replay-1"' in got
    assert 'pod="labelgate-slow-0"' not in got


def test_no_budget_burn_rate_per_wall_second(rules):
    """Alerts and panels take the budget's burn rate per second of the daemon's clock (the
    clock its periods run on), never rate() of the charged counter (per wall second)."""
    dashboard = json.loads((CHART / "dashboards" / "labelgate.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [r["expr"] for r in _alerts(rules)]
    uses = [e for e in exprs if "labelgate_budget_charged_total" in e]
    assert len(uses) >= 2
    for expr in uses:
        assert not re.search(r"\b[i]?rate\(\s*labelgate_budget_charged_total", expr), expr
        assert "labelgate_clock_timestamp_seconds" in expr, expr

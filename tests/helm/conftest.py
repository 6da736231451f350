"""Fixtures for the chart tests: the tools from scripts/install-tools.sh and rendering helpers.

A missing tool skips the tests on a developer's machine and fails them in CI (``CI`` set), where
``make test`` has run ``make tools`` first.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.extract_rules import CHART, ROOT, find_tool, tools_dir

HERE = Path(__file__).resolve().parent
VALUES_FULL = HERE / "values-full.yaml"
VALUES_ALT = HERE / "values-alt.yaml"
VALUES_RULES = HERE / "values-rules.yaml"
PROMTOOL_TESTS = HERE / "promtool"


def _missing(what: str) -> None:
    message = f"{what} not found: run scripts/install-tools.sh (make tools)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _tool(name: str) -> str:
    path = find_tool(name)
    if path is None:
        _missing(name)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def helm() -> str:
    """Path of helm."""
    return _tool("helm")


@pytest.fixture(scope="session")
def kubeconform() -> str:
    """Path of kubeconform."""
    return _tool("kubeconform")


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool."""
    return _tool("promtool")


@pytest.fixture(scope="session")
def prometheus() -> str:
    """Path of prometheus."""
    return _tool("prometheus")


def k8s_schemas_dir() -> Path:
    """The JSON schemas install-tools.sh generates, for the client-go version in go.mod."""
    gomod = (ROOT / "scripts" / "k8s-schemas" / "go.mod").read_text()
    match = re.search(r"k8s\.io/client-go v0\.(\d+)\.(\d+)", gomod)
    assert match, "scripts/k8s-schemas/go.mod must require k8s.io/client-go"
    return tools_dir().parent / f"k8s-schemas-v1.{match[1]}.{match[2]}"


@pytest.fixture(scope="session")
def schema_location() -> str:
    """kubeconform's -schema-location for the offline schemas."""
    schemas = k8s_schemas_dir()
    if not (schemas / ".complete").exists():
        _missing(f"Kubernetes JSON schemas ({schemas})")
    return str(schemas) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json"


def run(cmd: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing text output (no check: tests assert on the result)."""
    return subprocess.run(
        list(cmd), check=False, capture_output=True, text=True, timeout=120, **kwargs
    )


def helm_template(
    helm: str, values: Sequence[Path] = (), sets: Sequence[str] = (), release: str = "labelgate"
) -> subprocess.CompletedProcess[str]:
    """``helm template`` the chart in namespace default."""
    cmd = [helm, "template", release, str(CHART), "--namespace", "default"]
    for path in values:
        cmd += ["-f", str(path)]
    for item in sets:
        cmd += ["--set", item]
    return run(cmd)


def rendered(
    helm: str, values: Sequence[Path] = (), sets: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """The chart's documents; fails the test when rendering fails."""
    result = helm_template(helm, values, sets)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(
    documents: Sequence[dict[str, Any]], kind: str, name: str | None = None
) -> dict[str, Any]:
    """The one document of a kind (and name)."""
    found = [
        doc for doc in documents if doc["kind"] == kind and name in (None, doc["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]

#!/usr/bin/env python3
"""Render the chart and extract its PrometheusRule groups into a plain Prometheus rules file.

The alert rules ship in the chart as a PrometheusRule (Prometheus Operator); promtool and a plain
Prometheus read the same ``spec.groups`` from a rules file. Usage::

    python scripts/extract_rules.py -o rules.yaml [-f values.yaml ...] [--set key=value ...]

``prometheusRule.enabled=true`` is always set. helm comes from PATH or the cache that
scripts/install-tools.sh fills (``$LABELGATE_TOOLS``, ``~/.cache/labelgate/bin``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "labelgate"


def tools_dir() -> Path:
    """Where scripts/install-tools.sh puts helm, kubeconform and hadolint."""
    if os.environ.get("LABELGATE_TOOLS"):
        return Path(os.environ["LABELGATE_TOOLS"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "labelgate" / "bin"


def find_tool(name: str) -> str | None:
    """The tool's path: the project's tools cache first, then PATH."""
    candidate = tools_dir() / name
    if candidate.exists() and os.access(candidate, os.X_OK):
        return str(candidate)
    return shutil.which(name)


def render(
    values: Sequence[Path] = (),
    sets: Sequence[str] = (),
    release: str = "labelgate",
    namespace: str = "default",
    helm: str | None = None,
) -> list[dict[str, Any]]:
    """``helm template`` the chart; return the rendered documents."""
    helm = helm or find_tool("helm")
    if helm is None:
        raise FileNotFoundError("helm not found; run scripts/install-tools.sh")
    cmd = [helm, "template", release, str(CHART), "--namespace", namespace]
    for path in values:
        cmd += ["-f", str(path)]
    for item in sets:
        cmd += ["--set", item]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def rule_groups(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``spec.groups`` of every PrometheusRule, as one rules-file document."""
    groups: list[dict[str, Any]] = []
    for doc in documents:
        if doc.get("kind") == "PrometheusRule":
            groups.extend(doc["spec"]["groups"])
    if not groups:
        raise ValueError("the rendered chart has no PrometheusRule")
    return {"groups": groups}


def extract(
    values: Sequence[Path] = (),
    sets: Sequence[str] = (),
    release: str = "labelgate",
    namespace: str = "default",
) -> dict[str, Any]:
    """Render with ``prometheusRule.enabled=true`` and return the rules-file document."""
    documents = render(values, ["prometheusRule.enabled=true", *sets], release, namespace)
    return rule_groups(documents)


def main(argv: list[str] | None = None) -> int:
    """Write the rules file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="rules file to write")
    parser.add_argument("-f", "--values", type=Path, action="append", default=[])
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--release", default="labelgate")
    parser.add_argument("--namespace", default="default")
    args = parser.parse_args(argv)
    try:
        doc = extract(args.values, args.sets, args.release, args.namespace)
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(exc.stderr)
        return 1
    args.output.write_text(yaml.safe_dump(doc, sort_keys=False, width=100))
    return 0


if __name__ == "__main__":
    sys.exit(main())

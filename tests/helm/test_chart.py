"""The chart: lint, strict schema validation of the rendered manifests, secure defaults."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from daemon.config import MASK, Settings, is_secret_property
from tests.helm.conftest import (
    CHART,
    VALUES_ALT,
    VALUES_FULL,
    by_kind,
    helm_template,
    rendered,
    run,
)

pytestmark = pytest.mark.helm

VALUE_SETS = {"default": [], "full": [VALUES_FULL], "alt": [VALUES_ALT]}


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_helm_lint(helm, name):
    """helm lint --strict passes with the default, full-featured and alternative values."""
    cmd = [helm, "lint", "--strict", str(CHART)]
    for path in VALUE_SETS[name]:
        cmd += ["-f", str(path)]
    result = run(cmd)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_manifests_valid_strict(helm, kubeconform, schema_location, tmp_path, name):
    """Every rendered object, CRDs included, validates strictly against its schema offline."""
    result = helm_template(helm, VALUE_SETS[name])
    assert result.returncode == 0, result.stderr
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(result.stdout)
    check = run(
        [kubeconform, "-strict", "-summary", "-schema-location", schema_location, str(manifest)]
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Skipped: 0" in check.stdout
    assert "Errors: 0" in check.stdout


def test_full_values_render_every_optional_object(helm):
    """values-full.yaml and values-alt.yaml together render every kind the chart has."""
    kinds = {doc["kind"] for doc in rendered(helm, [VALUES_FULL])}
    kinds |= {doc["kind"] for doc in rendered(helm, [VALUES_ALT])}
    assert kinds == {
        "ConfigMap",
        "ServiceAccount",
        "Service",
        "Deployment",
        "StatefulSet",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "ScaledObject",
        "HorizontalPodAutoscaler",
    }


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("spec.template.spec.containers.0.ports.0.containerPort", "http-port"),
        ("spec.template.spec.containers.0.imagePullPolicyy", "Always"),
    ],
)
def test_kubeconform_rejects_broken_manifest(
    helm, kubeconform, schema_location, tmp_path, path, value
):
    """The schemas are strict: a wrong type or a misspelled field is reported invalid."""
    docs = rendered(helm)
    deployment = by_kind(docs, "StatefulSet")
    node = deployment
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    manifest = tmp_path / "broken.yaml"
    manifest.write_text(yaml.safe_dump(deployment))
    check = run(
        [kubeconform, "-strict", "-summary", "-schema-location", schema_location, str(manifest)]
    )
    assert check.returncode != 0
    assert "Invalid: 1" in check.stdout


def test_secure_pod_defaults(helm):
    """Non-root uid 10001, read-only root, no privilege escalation, no capabilities, seccomp."""
    pod = by_kind(rendered(helm), "StatefulSet")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    sc = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["runAsUser"] == 10001
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/var/lib/labelgate", "/tmp"}


def test_config_mounted_and_passed(helm):
    """The ConfigMap holds config.yaml with the chart-owned fields; the container runs it."""
    docs = rendered(helm, [VALUES_FULL])
    config = yaml.safe_load(by_kind(docs, "ConfigMap", "labelgate")["data"]["config.yaml"])
    assert config["state_dir"] == "/var/lib/labelgate"
    assert config["server"] == {"host": "0.0.0.0", "port": 8080}
    assert config["kafka"]["group_id"] == "labelgate-fraud"
    assert "sasl_password" not in config["kafka"]
    pod = by_kind(docs, "StatefulSet")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"] == ["run", "--config", "/etc/labelgate/config.yaml"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/labelgate"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["terminationGracePeriodSeconds"] == 50  # shutdown_grace_seconds 40 + 10


def test_credentials_come_from_secrets(helm):
    """SASL password, TLS files and the redaction salt come from Secrets, never the ConfigMap."""
    docs = rendered(helm, [VALUES_FULL])
    container = by_kind(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["LABELGATE_KAFKA__SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-credentials",
        "key": "password",
    }
    assert env["LABELGATE_KAFKA__SASL_USERNAME"]["valueFrom"]["secretKeyRef"]["key"] == "username"
    assert env["LABELGATE_REDACTION_SALT"]["valueFrom"]["secretKeyRef"]["name"] == "labelgate-salt"
    assert env["LABELGATE_KAFKA__SSL_CA_LOCATION"]["value"] == "/etc/labelgate/kafka-tls/ca.crt"
    assert env["LABELGATE_INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    oauth = env["LABELGATE_KAFKA__EXTRA__sasl.oauthbearer.client.secret"]
    assert oauth["valueFrom"]["secretKeyRef"] == {
        "name": "kafka-credentials",
        "key": "oauth-client-secret",
    }
    pod = by_kind(docs, "StatefulSet")["spec"]["template"]["spec"]
    tls = next(v for v in pod["volumes"] if v["name"] == "kafka-tls")
    assert tls["secret"]["secretName"] == "kafka-tls"


@pytest.mark.parametrize(
    "setting",
    [
        "config.kafka.sasl_password=hunter2",
        "config.kafka.ssl_key_password=hunter2",
        "config.redaction_salt=pepper",
    ],
)
def test_inline_secrets_refused(helm, setting):
    """A secret written into config is refused instead of landing in a ConfigMap."""
    result = helm_template(helm, sets=[setting])
    assert result.returncode != 0
    assert "must not be inlined" in result.stderr


# A spread of librdkafka property names: secrets by every rule of is_secret_property, and
# look-alikes that are not secrets (paths to key files, plain tuning).
EXTRA_PROPERTIES = [
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.config",
    "ssl.keystore.password",
    "ssl.key.pem",
    "sasl.kerberos.keytab",
    "ssl.key.location",
    "ssl.keystore.location",
    "fetch.min.bytes",
    "socket.keepalive.enable",
]


@pytest.mark.parametrize("prop", EXTRA_PROPERTIES)
def test_secret_kafka_extra_refused_by_the_daemons_rule(helm, prop, tmp_path):
    """config.kafka.extra may hold tuning, not secrets: the chart refuses exactly the
    properties the daemon masks as secrets, so none lands in the ConfigMap."""
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump({"config": {"kafka": {"extra": {prop: "v"}}}}))
    result = helm_template(helm, values=[values])
    if is_secret_property(prop):
        assert result.returncode != 0
        assert f"config.kafka.extra.{prop} looks like a secret" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        config = yaml.safe_load(
            by_kind([d for d in yaml.safe_load_all(result.stdout) if d], "ConfigMap", "labelgate")[
                "data"
            ]["config.yaml"]
        )
        assert config["kafka"]["extra"] == {prop: "v"}


def test_secret_extra_from_the_secret_reaches_the_daemon(helm, monkeypatch):
    """A property mapped by kafkaSecret.extra is set as an environment variable that the
    daemon's settings merge into kafka.extra (and mask when printed)."""
    docs = rendered(helm, [VALUES_FULL])
    data = yaml.safe_load(by_kind(docs, "ConfigMap", "labelgate")["data"]["config.yaml"])
    container = by_kind(docs, "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    names = [e["name"] for e in container["env"] if e["name"].startswith("LABELGATE_KAFKA__EXTRA")]
    assert names == ["LABELGATE_KAFKA__EXTRA__sasl.oauthbearer.client.secret"]
    monkeypatch.setenv(names[0], "from-the-secret")
    settings = Settings(**data)
    assert settings.kafka.extra["sasl.oauthbearer.client.secret"] == "from-the-secret"
    assert settings.masked()["kafka"]["extra"]["sasl.oauthbearer.client.secret"] == MASK


def test_secret_extra_without_a_secret_name_is_refused(helm):
    """kafkaSecret.extra without kafkaSecret.name would silently drop the properties."""
    result = helm_template(helm, sets=["kafkaSecret.extra.sasl\\.oauthbearer\\.config=k"])
    assert result.returncode != 0
    assert "set kafkaSecret.name" in result.stderr


def test_autoscaler_capped_at_partitions(helm):
    """KEDA's maxReplicaCount and the HPA's maxReplicas never exceed the partition count."""
    scaled = by_kind(rendered(helm, [VALUES_FULL]), "ScaledObject")["spec"]
    assert scaled["maxReplicaCount"] == 6  # maxReplicaCount 12, partitions 6
    trigger = scaled["triggers"][0]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == "labelgate-fraud"
    assert trigger["metadata"]["topic"] == "fraud-predictions"
    hpa = by_kind(rendered(helm, [VALUES_ALT]), "HorizontalPodAutoscaler")["spec"]
    assert hpa["maxReplicas"] == 4  # maxReplicas 8, partitions 4
    missing = helm_template(helm, sets=["keda.enabled=true"])
    assert missing.returncode != 0
    assert "partitions" in missing.stderr


def test_scaled_workload_has_no_fixed_replicas(helm):
    """Under an autoscaler the workload leaves replicas to it."""
    assert "replicas" not in by_kind(rendered(helm, [VALUES_FULL]), "StatefulSet")["spec"]
    assert by_kind(rendered(helm), "StatefulSet")["spec"]["replicas"] == 1


def test_shared_rwo_volume_refused_for_several_replicas(helm):
    """A Deployment cannot share one ReadWriteOnce claim between replicas: the chart says so."""
    result = helm_template(
        helm, sets=["persistence.enabled=true", "replicaCount=2", "workload.kind=Deployment"]
    )
    assert result.returncode != 0
    assert "StatefulSet" in result.stderr
    sts = by_kind(
        rendered(
            helm, sets=["persistence.enabled=true", "replicaCount=2", "workload.kind=StatefulSet"]
        ),
        "StatefulSet",
    )
    assert sts["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "state"


def test_dashboard_configmap(helm):
    """The dashboard ConfigMap carries the Grafana sidecar label and the dashboard JSON."""
    docs = rendered(helm, [VALUES_FULL])
    dashboard = next(d for d in docs if d["metadata"]["name"].endswith("-dashboard"))
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    shipped = json.loads((CHART / "dashboards" / "labelgate.json").read_text())
    assert json.loads(dashboard["data"]["labelgate.json"]) == shipped
    titles = " ".join(p["title"].lower() for p in shipped["panels"])
    for topic in (
        "burn-down",
        "queue fill",
        "representation ratio",
        "shift",
        "error rate",
        "lag",
        "latency",
    ):
        assert topic in titles


def test_rule_labels_for_rule_selector(helm):
    """additionalLabels reach the PrometheusRule, for a Prometheus Operator ruleSelector."""
    rule = by_kind(rendered(helm, [VALUES_FULL]), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = rule["spec"]["groups"][0]["rules"]
    assert all(a["labels"]["team"] == "ml-platform" for a in alerts)
    assert all(a["annotations"]["runbook_url"].startswith("http") for a in alerts)
    disabled = rendered(helm, [VALUES_FULL], ["alerts.down.enabled=false"])
    names = {a["alert"] for a in by_kind(disabled, "PrometheusRule")["spec"]["groups"][0]["rules"]}
    assert "LabelgateDown" not in names
    assert "LabelgateBudgetExhausted" in names


def _notes(helm, tmp_path, sets):
    """NOTES.txt as `helm install` would print it (helm template skips NOTES, so wrap it)."""
    chart = tmp_path / "labelgate"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    (chart / "templates" / "_notes.tpl").write_text('{{- define "notes" -}}' + notes + "{{- end }}")
    (chart / "templates" / "notes.yaml").write_text('notes: {{ include "notes" . | toJson }}\n')
    cmd = [helm, "template", "labelgate", str(chart), "--show-only", "templates/notes.yaml"]
    for item in sets:
        cmd += ["--set", item]
    result = run(cmd)
    assert result.returncode == 0, result.stderr
    return str(yaml.safe_load(result.stdout)["notes"])


def test_notes(helm, tmp_path):
    """NOTES.txt renders; it tells how to reach the daemon and warns where a setup is risky."""
    plain = _notes(helm, tmp_path / "a", [])
    assert "port-forward svc/labelgate 8080:8080" in plain
    assert "kafkaSecret.name" in plain
    assert "emptyDir" in plain
    assert "workload.kind=StatefulSet" not in plain
    deployment = _notes(helm, tmp_path / "b", ["workload.kind=Deployment"])
    assert "workload.kind=StatefulSet" in deployment

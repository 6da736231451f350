"""values.schema.json comes from the daemon's pydantic model, and helm enforces it."""

from __future__ import annotations

import json

import pytest
import yaml

from daemon.config import Settings
from scripts import gen_values_schema
from tests.helm.conftest import by_kind, helm_template, rendered

pytestmark = pytest.mark.helm


def test_schema_up_to_date():
    """The committed schema equals one regenerated from daemon.config.Settings now."""
    committed = gen_values_schema.SCHEMA_PATH.read_text()
    assert committed == gen_values_schema.render(), (
        "helm/labelgate/values.schema.json is stale: run scripts/gen_values_schema.py"
    )


def test_config_schema_is_the_settings_schema():
    """The config property is Settings.model_json_schema(by_alias=True), definitions hoisted."""
    model = Settings.model_json_schema(by_alias=True)
    schema = json.loads(gen_values_schema.SCHEMA_PATH.read_text())
    config = schema["properties"]["config"]
    assert config["properties"] == model["properties"]
    assert config["required"] == model["required"]
    assert schema["$defs"] == model.get("$defs", {})


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("config.policy.budget.fraction=2", "/config/policy/budget/fraction"),
        ("config.kafka.no_such_field=1", "no_such_field"),
        ("config.kafka.security_protocol=TLS", "/config/kafka/security_protocol"),
        ("config.classes=null", "/config"),
        ("replicaCount=-1", "/replicaCount"),
        ("alerts.queueSaturated.threshold=1.5", "/alerts/queueSaturated/threshold"),
        ("no_such_value=1", "no_such_value"),
    ],
)
def test_helm_rejects_invalid_values(helm, setting, message):
    """helm refuses values the schema (hence the daemon) would reject, naming the field."""
    result = helm_template(helm, sets=[setting])
    assert result.returncode != 0
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr


def test_default_config_is_valid_for_the_daemon(helm):
    """The config the chart renders by default loads in the daemon."""
    data = yaml.safe_load(by_kind(rendered(helm), "ConfigMap", "labelgate")["data"]["config.yaml"])
    settings = Settings(**data)
    assert str(settings.state_dir) == "/var/lib/labelgate"
    assert settings.server.port == 8080

"""Configuration: YAML file plus LABELGATE_* environment, validated with precise errors."""

import json

import pytest
from pydantic import ValidationError

from daemon.config import Settings, is_secret_property, load_settings
from daemon.errors import ConfigError, LabelgateError

SECRET = "hunter2-secret"


def _write(tmp_path, text, name="labelgate.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


BASE = f"""\
classes: [ok, fraud]
kafka:
  bootstrap_servers: file-broker:9092
  group_id: file-group
  security_protocol: SASL_SSL
  sasl_mechanism: SCRAM-SHA-512
  sasl_username: svc
  sasl_password: {SECRET}
policy:
  strategy: random
  budget:
    fraction: 0.2
    window: 400
"""


def test_load_settings_reads_the_yaml_file(tmp_path):
    """Values come from the file; everything else keeps its default."""
    s = load_settings(_write(tmp_path, BASE))
    assert s.classes == ["ok", "fraud"]
    assert (s.kafka.bootstrap_servers, s.kafka.group_id) == ("file-broker:9092", "file-group")
    assert (s.policy.strategy.value, s.policy.budget.fraction) == ("random", 0.2)
    assert s.policy.budget.window == 400
    assert s.schema_.max_message_bytes == Settings(classes=["a", "b"]).schema_.max_message_bytes


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    """LABELGATE_KAFKA__BOOTSTRAP_SERVERS overrides the file's kafka.bootstrap_servers."""
    monkeypatch.setenv("LABELGATE_KAFKA__BOOTSTRAP_SERVERS", "env-broker:9093")
    s = load_settings(_write(tmp_path, BASE))
    assert s.kafka.bootstrap_servers == "env-broker:9093"


def test_nested_environment_override_keeps_file_siblings(tmp_path, monkeypatch):
    """An env override of one nested field merges with the file's sibling fields."""
    monkeypatch.setenv("LABELGATE_KAFKA__BOOTSTRAP_SERVERS", "env-broker:9093")
    monkeypatch.setenv("LABELGATE_POLICY__BUDGET__WINDOW", "50")
    s = load_settings(_write(tmp_path, BASE))
    assert s.kafka.group_id == "file-group"
    assert s.kafka.sasl_username == "svc"
    assert s.kafka.sasl_password.get_secret_value() == SECRET
    assert (s.policy.budget.window, s.policy.budget.fraction) == (50, 0.2)
    assert s.policy.strategy.value == "random"


def test_environment_alone_configures(monkeypatch):
    """Without a file, the environment (JSON for lists) is enough."""
    monkeypatch.setenv("LABELGATE_CLASSES", '["a", "b", "c"]')
    monkeypatch.setenv("LABELGATE_MODEL__CLASSIFIER", "gaussian_nb")
    s = load_settings()
    assert (s.classes, s.model.classifier.value) == (["a", "b", "c"], "gaussian_nb")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("classes: [a, b]\npolicy:\n  budget:\n    fraction: 1.5\n", "policy.budget.fraction"),
        ("classes: [a, b]\npolicy:\n  budget:\n    window: 3\n", "policy.budget.window"),
        ("classes: [a, b]\nkafka:\n  security_protocol: TLS\n", "kafka.security_protocol"),
        ("classes: [a, b]\nserver:\n  port: 70000\n", "server.port"),
        ("classes: [a]\n", "classes"),
        ("{}\n", "classes"),
    ],
)
def test_invalid_value_names_the_dotted_path(tmp_path, text, path):
    """A ConfigError (a LabelgateError) names each invalid field by its dotted path."""
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text))
    assert isinstance(info.value, LabelgateError)
    assert any(line.startswith(f"{path}: ") for line in str(info.value).splitlines()), info.value


def test_invalid_environment_value_names_the_dotted_path(tmp_path, monkeypatch):
    """A bad value from the environment is reported like one from the file."""
    monkeypatch.setenv("LABELGATE_POLICY__BUDGET__FRACTION", "2")
    with pytest.raises(ConfigError, match=r"policy\.budget\.fraction: "):
        load_settings(_write(tmp_path, BASE))


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("classes: [a, b]\nbogus: 1\n", "bogus"),
        ("classes: [a, b]\nkafka:\n  bootstrap: x\n", "kafka.bootstrap"),
        ("classes: [a, b]\npolicy:\n  budget:\n    fractoin: 0.1\n", "policy.budget.fractoin"),
    ],
)
def test_unknown_keys_are_rejected_by_name(tmp_path, text, path):
    """A misspelt key is an error naming it, not silently ignored."""
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text))
    assert f"{path}: Extra inputs are not permitted" in str(info.value)


def test_secrets_are_masked_when_printed(tmp_path):
    """masked() and repr never show the SASL password; the value itself is kept."""
    s = load_settings(_write(tmp_path, BASE))
    masked = s.masked()
    assert SECRET not in json.dumps(masked)
    assert SECRET not in repr(s)
    assert masked["kafka"]["sasl_password"] == "**********"
    assert s.kafka.sasl_password.get_secret_value() == SECRET


def test_kafka_common_maps_sasl_to_librdkafka_keys(tmp_path):
    """kafka.common() gives librdkafka properties with the real secret; extra passes through."""
    text = BASE.replace(
        "  sasl_password:",
        "  ssl_ca_location: /etc/ca.pem\n"
        "  extra:\n    socket.keepalive.enable: 'true'\n    client.id: override\n"
        "  sasl_password:",
    )
    s = load_settings(_write(tmp_path, text))
    assert s.kafka.common() == {
        "bootstrap.servers": "file-broker:9092",
        "client.id": "override",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc",
        "sasl.password": SECRET,
        "ssl.ca.location": "/etc/ca.pem",
        "socket.keepalive.enable": "true",
    }


def test_kafka_common_omits_unset_optional_properties():
    """Defaults give only the three always-present properties."""
    conf = Settings(classes=["a", "b"]).kafka.common()
    assert conf == {
        "bootstrap.servers": "localhost:9092",
        "client.id": "labelgate",
        "security.protocol": "PLAINTEXT",
    }


def test_binary_classifier_with_three_classes_is_rejected(tmp_path):
    """logistic_regression is binary: three classes fail at load time, naming the classifier."""
    with pytest.raises(ConfigError, match="logistic_regression"):
        load_settings(_write(tmp_path, "classes: [a, b, c]\n"))
    s = load_settings(
        _write(tmp_path, "classes: [a, b, c]\nmodel:\n  classifier: softmax_regression\n")
    )
    assert s.classes == ["a", "b", "c"]


def test_duplicate_classes_are_rejected(tmp_path):
    """Class names must be unique."""
    with pytest.raises(ConfigError, match="unique"):
        load_settings(_write(tmp_path, "classes: [a, b, a]\n"))


def test_fingerprint_is_stable_and_changes_with_a_value():
    """Equal settings share a fingerprint; changing one value changes it."""
    a = Settings(classes=["a", "b"])
    assert a.fingerprint() == Settings(classes=["a", "b"]).fingerprint()
    b = Settings(classes=["a", "b"], policy={"budget": {"fraction": 0.06}})
    c = Settings(classes=["a", "b"], kafka={"group_id": "other"})
    assert len({a.fingerprint(), b.fingerprint(), c.fingerprint()}) == 3


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    """files.*, expert.truth and state_dir in a config file are relative to its directory."""
    text = (
        "classes: [a, b]\nfiles:\n  predictions: in/p.jsonl\n  audit: /abs/audit.jsonl\n"
        "expert:\n  truth: truth.jsonl\nstate_dir: st\n"
    )
    s = load_settings(_write(tmp_path, text))
    base = tmp_path.resolve()
    assert s.files.predictions == base / "in" / "p.jsonl"
    assert str(s.files.audit) == "/abs/audit.jsonl"
    assert s.expert.truth == base / "truth.jsonl"
    assert s.state_dir == base / "st"


@pytest.mark.parametrize(
    ("text", "match"),
    [("- a\n- b\n", "mapping at the top level"), ("classes: [a, b\n", "not valid YAML")],
)
def test_malformed_file_is_a_config_error(tmp_path, text, match):
    """A YAML syntax error or a non-mapping document is a ConfigError naming the file."""
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=match) as info:
        load_settings(path)
    assert str(path) in str(info.value)


def test_missing_file_is_a_config_error(tmp_path):
    """A config path that does not exist is a ConfigError, not an OSError."""
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml")


def test_settings_are_frozen():
    """Settings cannot be changed after validation."""
    s = Settings(classes=["a", "b"])
    with pytest.raises(ValidationError):
        s.instance_id = "1"


SECRET_EXTRA = {
    "sasl.password": "extra-sasl-pw",
    "ssl.key.password": "extra-key-pw",
    "sasl.oauthbearer.client.secret": "extra-client-secret",
    "ssl.key.pem": "-----BEGIN PRIVATE KEY-----abc",
    "sasl.oauthbearer.config": "clientSecret=extra-oauth",
    "sasl.jaas.config": "password=extra-jaas",
}


def test_secret_looking_extra_properties_are_masked_everywhere():
    """kafka.extra secrets are masked in masked(), model_dump and repr; common() keeps them."""
    extra = {**SECRET_EXTRA, "linger.ms": "5", "ssl.key.location": "/tls/key.pem"}
    s = Settings(classes=["a", "b"], kafka={"extra": extra})
    shown = [json.dumps(s.masked()), json.dumps(s.model_dump(mode="json")), repr(s), str(s)]
    for text in shown:
        for value in SECRET_EXTRA.values():
            assert value not in text
    masked = s.masked()["kafka"]["extra"]
    assert masked["linger.ms"] == "5"
    assert masked["ssl.key.location"] == "/tls/key.pem"
    assert {masked[k] for k in SECRET_EXTRA} == {"**********"}
    assert s.kafka.common()["sasl.password"] == "extra-sasl-pw"
    assert s.kafka.extra["ssl.key.pem"].startswith("-----BEGIN")


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("sasl.password", True),
        ("ssl.keystore.password", True),
        ("sasl.oauthbearer.client.secret", True),
        ("sasl.oauthbearer.token.endpoint.url", True),
        ("ssl.key.pem", True),
        ("ssl.key.location", False),
        ("sasl.kerberos.keytab", False),
        ("linger.ms", False),
        ("sasl.username", False),
    ],
)
def test_secret_property_names(name, secret):
    """Password, secret, token and key-material names are secret; paths to keys are not."""
    assert is_secret_property(name) is secret


def test_extra_numbers_and_booleans_become_librdkafka_text(tmp_path):
    """YAML numbers and booleans in kafka.extra are passed to librdkafka as text."""
    text = "classes: [a, b]\nkafka:\n  extra:\n    linger.ms: 5\n    socket.nagle.disable: true\n"
    extra = load_settings(_write(tmp_path, text)).kafka.extra
    assert extra == {"linger.ms": "5", "socket.nagle.disable": "true"}


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("enable.auto.commit", "set by labelgate"),
        ("isolation.level", "set by labelgate"),
        ("Linger MS", "not a librdkafka property name"),
    ],
)
def test_extra_refuses_managed_and_malformed_property_names(tmp_path, key, match):
    """kafka.extra cannot override delivery-critical properties or hold non-property names."""
    text = f"classes: [a, b]\nkafka:\n  extra:\n    {key}: 'x'\n"
    with pytest.raises(ConfigError, match=match) as info:
        load_settings(_write(tmp_path, text))
    assert str(info.value).startswith("kafka.extra: ")


def test_setting_for_names_the_config_path_of_a_property():
    """Errors about a librdkafka property name the setting that supplies it."""
    k = Settings(classes=["a", "b"], kafka={"extra": {"client.id": "x"}}).kafka
    assert k.setting_for("bootstrap.servers") == "kafka.bootstrap_servers"
    assert k.setting_for("client.id") == "kafka.extra.client.id"
    assert k.setting_for("foo.bar") == "kafka.extra.foo.bar"


def test_schema_limits_have_sensible_defaults_and_refuse_infinity():
    """schema.max_abs_feature defaults to 1e12 and must be a finite positive number."""
    s = Settings(classes=["a", "b"])
    assert (s.schema_.max_abs_feature, s.schema_.max_string_length) == (1e12, 4096)
    for bad in (float("inf"), 0):
        with pytest.raises(ValidationError):
            Settings(classes=["a", "b"], schema={"max_abs_feature": bad})


def test_yaml_errors_name_the_position_without_quoting_the_file(tmp_path):
    """A YAML syntax error is one line with line/column, never the file's text (secrets)."""
    text = f'classes: [a, b]\nkafka:\n  sasl_password: "{SECRET}\n  group_id: x\n'
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, text))
    message = str(info.value)
    assert SECRET not in message
    assert "\n" not in message
    assert "line 3, column 18" in message


def test_unparseable_environment_value_is_a_config_error(tmp_path, monkeypatch):
    """A LABELGATE_* variable that should hold JSON but does not is a ConfigError, no traceback."""
    monkeypatch.setenv("LABELGATE_KAFKA__EXTRA", "{not json " + SECRET)
    with pytest.raises(ConfigError, match=r"^environment: .*field \"kafka\"") as info:
        load_settings(_write(tmp_path, "classes: [a, b]\n"))
    assert SECRET not in str(info.value)


def _panel(labelers, queues):
    return {"classes": ["a", "b"], "expert": {"truth": "t.jsonl", "labelers": labelers}, **queues}


def test_expert_panel_must_meet_every_queues_overlap():
    """A queue wanting 3 labels per item needs 3 labelers serving it; names must be known."""
    crowd = {"queues": [{"name": "crowd", "labels_required": 3, "resolution": "majority"}]}
    crowd["routing"] = {"default": ["crowd"]}
    two = [{"id": "h1"}, {"id": "m1", "role": "llm"}]
    with pytest.raises(ValidationError, match="wants 3 labels per item but 2"):
        Settings(**_panel(two, crowd))
    settings = Settings(**_panel([*two, {"id": "h2", "accuracy": 0.7}], crowd))
    assert settings.expert is not None
    assert [x.role for x in settings.expert.labelers] == ["simulated", "llm", "simulated"]
    with pytest.raises(ValidationError, match=r"unknown queue\(s\) \['nope'\]"):
        Settings(**_panel([{"id": "h1", "queues": ["nope"]}], {}))
    with pytest.raises(ValidationError, match="ids must be unique"):
        Settings(**_panel([{"id": "h1"}, {"id": "h1"}], {}))


def test_default_expert_is_one_exact_labeler():
    """Without a panel the simulated expert is one labeler who is always right."""
    settings = Settings(classes=["a", "b"], expert={"truth": "t.jsonl"})
    assert settings.expert is not None
    (only,) = settings.expert.labelers
    assert (only.id, only.role, only.accuracy, only.queues) == ("sim-1", "simulated", 1.0, None)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("model:\n  interactions: segment\n", r"model\.interactions: "),
        ("model:\n  interactions: [3]\n", r"model\.interactions\.0: "),
        ("model:\n  interactions: ['']\n", r"a non-empty name without '='"),
        ("model:\n  interactions: [a=b]\n", r"a non-empty name without '='"),
        ("model:\n  interactions: [sex, sex]\n", r"listed twice"),
        ("model:\n  interaction: [sex]\n", r"model\.interaction: Extra inputs are not permitted"),
    ],
)
def test_model_interactions_are_validated(tmp_path, text, match):
    """A list of distinct attribute names without '='; anything else is a ConfigError."""
    with pytest.raises(ConfigError, match=match):
        load_settings(_write(tmp_path, "classes: [a, b]\n" + text))


def test_model_interactions_default_to_none_and_read_a_list(tmp_path):
    """Off by default; a YAML list of names is kept in order."""
    assert load_settings(_write(tmp_path, "classes: [a, b]\n")).model.interactions == ()
    text = "classes: [a, b]\nmodel:\n  interactions: [sex, race]\n"
    assert load_settings(_write(tmp_path, text)).model.interactions == ("sex", "race")

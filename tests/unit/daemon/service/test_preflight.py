"""Startup checks: each failure is one typed error naming the setting, raised before processing."""

from __future__ import annotations

import pytest

from daemon.config import Settings
from daemon.errors import ConfigError, ConnectorError, StateError
from daemon.service.preflight import (
    check_files,
    check_kafka_properties,
    check_startup,
    check_state_dir,
    topic_settings,
)


def test_state_dir_is_created_and_left_clean(tmp_path):
    """A missing state_dir is created; the write probe leaves nothing behind."""
    target = tmp_path / "a" / "b"
    check_state_dir(target)
    assert target.is_dir()
    assert list(target.iterdir()) == []


def test_state_dir_below_a_file_is_a_state_error(tmp_path):
    """A state_dir that cannot exist is a StateError naming state_dir and the reason."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match=r"^state_dir '.*file/st' is not writable: "):
        check_state_dir(blocker / "st")


def _file_settings(tmp_path, **files):
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("")
    return Settings(
        classes=["a", "b"],
        files={"predictions": predictions, "audit": tmp_path / "out" / "audit.jsonl", **files},
        state_dir=tmp_path / "state",
    )


def test_file_outputs_are_created_and_inputs_must_exist(tmp_path):
    """check_files creates output files (and folders) and refuses a missing label file."""
    check_files(_file_settings(tmp_path))
    assert (tmp_path / "out" / "audit.jsonl").exists()
    with pytest.raises(ConnectorError, match=r"^files.labels '.*absent.jsonl': cannot read: "):
        check_files(_file_settings(tmp_path, labels=tmp_path / "absent.jsonl"))


def test_unwritable_output_file_names_its_setting(tmp_path):
    """An output path below a regular file is a ConnectorError naming files.<name>."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ConnectorError, match=r"^files.dead_letter .*cannot write"):
        check_files(_file_settings(tmp_path, dead_letter=blocker / "dl.jsonl"))


def test_check_startup_checks_state_dir_first(tmp_path):
    """state_dir is checked before the inputs: its error comes first."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    settings = Settings(
        classes=["a", "b"], files={"predictions": tmp_path / "absent"}, state_dir=blocker / "s"
    )
    with pytest.raises(StateError):
        check_startup(settings)


def test_topic_settings_lists_queue_topics_and_drops_the_unused_default():
    """Per-queue topics are listed by their setting; kafka.topics.requests only when used."""
    shared = Settings(classes=["a", "b"])
    assert topic_settings(shared)["kafka.topics.requests"] == "label-requests"
    own = Settings(classes=["a", "b"], queues=[{"name": "default", "topic": "fraud-requests"}])
    topics = topic_settings(own)
    assert "kafka.topics.requests" not in topics
    assert topics["queues.0.topic"] == "fraud-requests"
    assert set(topics) >= {"kafka.topics.predictions", "kafka.topics.state"}


@pytest.mark.parametrize(
    ("kafka", "setting"),
    [
        ({"extra": {"no.such.thing": "1"}}, "kafka.extra.no.such.thing"),
        ({"extra": {"linger.ms": "soon"}}, "kafka.extra.linger.ms"),
        ({"sasl_mechanism": "NOPE", "security_protocol": "SASL_SSL"}, "kafka"),
    ],
)
def test_librdkafka_refusals_name_the_setting(kafka, setting):
    """librdkafka's refusal becomes a ConfigError naming the setting (no broker needed)."""
    settings = Settings(classes=["a", "b"], source="kafka", kafka=kafka)
    with pytest.raises(ConfigError) as info:
        check_kafka_properties(settings)
    assert str(info.value).startswith(f"{setting}: librdkafka refuses it: ")


def test_accepted_properties_pass_and_refused_values_are_not_echoed():
    """Valid properties pass; a refused value (it may be a secret) is never quoted back."""
    ok = Settings(classes=["a", "b"], source="kafka", kafka={"extra": {"linger.ms": "7"}})
    check_kafka_properties(ok)
    extra = {"ssl.endpoint.identification.algorithm": "hunter2"}
    bad = Settings(classes=["a", "b"], source="kafka", kafka={"extra": extra})
    with pytest.raises(ConfigError, match="Invalid value") as info:
        check_kafka_properties(bad)
    assert "hunter2" not in str(info.value)

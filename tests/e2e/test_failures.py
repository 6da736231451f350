"""Clear failures: a misconfigured `labelgate run` exits at startup with one error line naming the
setting and a documented exit status, never a traceback."""

from __future__ import annotations

import json
import pickle
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from daemon.cli import EXIT_CONFIG, EXIT_IO, EXIT_SERVER, EXIT_STATE

pytestmark = pytest.mark.e2e

SECRET = "pw-that-must-not-leak"


def _closed_port() -> int:
    """A loopback port nobody listens on (bound to 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(tmp_path: Path, doc: dict, command: str = "run") -> subprocess.CompletedProcess[str]:
    config = tmp_path / "labelgate.yaml"
    config.write_text(yaml.safe_dump(doc))
    args = ["--config", str(config)] if command == "run" else [str(config)]
    return subprocess.run(
        [sys.executable, "-m", "daemon.cli", command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _one_error_line(proc: subprocess.CompletedProcess[str], code: int, setting: str) -> str:
    """The process failed with ``code`` and exactly one `labelgate: error: <setting>...` line."""
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith(f"labelgate: error: {setting}"), line
    assert proc.returncode == code, (proc.returncode, line)
    return line


def _kafka(bootstrap: str, **kafka: object) -> dict:
    return {
        "source": "kafka",
        "classes": ["ok", "fraud"],
        "kafka": {"bootstrap_servers": bootstrap, "startup_timeout_seconds": 1.0, **kafka},
        "server": {"enabled": False},
        "state_dir": "state",
    }


def test_unreachable_broker_is_one_line_naming_bootstrap_servers(tmp_path):
    """A broker nobody answers at: exit 4 within the startup timeout, naming the setting."""
    address = f"127.0.0.1:{_closed_port()}"
    line = _one_error_line(_run(tmp_path, _kafka(address)), EXIT_IO, "kafka.bootstrap_servers")
    assert address in line
    assert "unreachable" in line
    assert "kafka.startup_timeout_seconds" in line


def test_unknown_librdkafka_property_is_one_line_naming_it(tmp_path):
    """An unknown kafka.extra property: exit 2 naming kafka.extra.<name>; secrets stay masked."""
    doc = _kafka(
        f"127.0.0.1:{_closed_port()}", extra={"no.such.property": "1", "sasl.password": SECRET}
    )
    line = _one_error_line(_run(tmp_path, doc), EXIT_CONFIG, "kafka.extra.no.such.property")
    assert "No such configuration property" in line
    assert SECRET not in line


def test_invalid_librdkafka_value_names_the_setting_not_the_alias(tmp_path):
    """A bad value names the kafka.extra key the user wrote (librdkafka reports an alias)."""
    doc = _kafka(f"127.0.0.1:{_closed_port()}", extra={"linger.ms": "soon"})
    _one_error_line(_run(tmp_path, doc), EXIT_CONFIG, "kafka.extra.linger.ms")


def test_check_config_refuses_an_unknown_property_too(tmp_path):
    """check-config validates kafka.extra against librdkafka without a broker."""
    doc = _kafka(f"127.0.0.1:{_closed_port()}", extra={"no.such.property": "1"})
    proc = _run(tmp_path, doc, command="check-config")
    _one_error_line(proc, EXIT_CONFIG, "kafka.extra.no.such.property")
    assert proc.stdout == ""


def test_check_config_masks_secrets_given_through_kafka_extra(tmp_path):
    """sasl.password, ssl.key.password and OAuth secrets in kafka.extra print masked."""
    extra = {
        "sasl.password": SECRET,
        "ssl.key.password": SECRET + "2",
        "sasl.oauthbearer.client.secret": SECRET + "3",
    }
    doc = {"classes": ["ok", "fraud"], "kafka": {"extra": extra, "sasl_password": SECRET + "4"}}
    proc = _run(tmp_path, doc, command="check-config")
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    body = proc.stdout.rpartition("\n# config OK")[0]
    assert set(json.loads(body)["kafka"]["extra"].values()) == {"**********"}


def test_missing_topics_are_one_line_naming_each_setting(tmp_path, kafka_bootstrap):
    """Topics that do not exist (create_topics off): exit 4 listing every missing topic setting."""
    name = f"absent-{uuid.uuid4().hex[:8]}"
    topics = {
        k: f"{name}-{k}"
        for k in ("predictions", "labels", "requests", "audit", "dead_letter", "state")
    }
    doc = _kafka(kafka_bootstrap, topics=topics, startup_timeout_seconds=30.0)
    line = _one_error_line(_run(tmp_path, doc), EXIT_IO, "missing Kafka topics")
    for key, topic in topics.items():
        assert f"kafka.topics.{key}={topic!r}" in line
    assert "kafka.create_topics" in line


def test_unwritable_state_dir_fails_at_startup(tmp_path):
    """A state_dir that cannot be created is exit 3 before any item is read."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("")
    doc = {
        "classes": ["ok", "fraud"],
        "files": {"predictions": str(predictions), "audit": str(tmp_path / "audit.jsonl")},
        "server": {"enabled": False},
        "state_dir": str(blocker / "state"),
    }
    line = _one_error_line(_run(tmp_path, doc), EXIT_STATE, "state_dir")
    assert "not writable" in line
    assert not (tmp_path / "audit.jsonl").exists(), "nothing was processed"


def test_ops_port_in_use_is_one_line_naming_server_port(tmp_path):
    """A port another process listens on: exit 5 naming server.port."""
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_text("")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        doc = {
            "classes": ["ok", "fraud"],
            "files": {"predictions": str(predictions)},
            "server": {"host": "127.0.0.1", "port": port},
            "state_dir": str(tmp_path / "state"),
        }
        line = _one_error_line(_run(tmp_path, doc), EXIT_SERVER, f"server.port {port}")
    assert "in use" in line


def test_missing_predictions_file_is_one_line_naming_it(tmp_path):
    """File mode: an unreadable input file is exit 4 naming files.predictions."""
    doc = {
        "classes": ["ok", "fraud"],
        "files": {"predictions": str(tmp_path / "absent.jsonl")},
        "server": {"enabled": False},
        "state_dir": str(tmp_path / "state"),
    }
    _one_error_line(_run(tmp_path, doc), EXIT_IO, "files.predictions")


def _pickled(obj: object) -> bytes:
    return pickle.dumps(obj)


def _file_doc(directory: Path) -> dict:
    return {
        "classes": ["ok", "fraud"],
        "files": {
            "predictions": str(directory / "predictions.jsonl"),
            "audit": str(directory / "audit.jsonl"),
        },
        "server": {"enabled": False},
        "state_dir": str(directory / "state"),
    }


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A real checkpoint, as the daemon writes it on its final commit."""
    directory = tmp_path_factory.mktemp("checkpoint")
    (directory / "predictions.jsonl").write_text("")
    first = _run(directory, _file_doc(directory))
    assert first.returncode == 0, first.stderr
    (checkpoint,) = (directory / "state").glob("model-*.pkl")
    return checkpoint.read_bytes()


@pytest.mark.parametrize(
    "damage",
    ["empty", "truncated", "noise", "foreign_pickle", "dict_without_learner"],
)
def test_a_damaged_model_checkpoint_is_one_line_and_nothing_is_processed(
    tmp_path, damage, good_checkpoint
):
    """A checkpoint that cannot be read (disk damage, a half-copied file, some other pickle)
    stops the daemon at startup with exit 3 naming the file and what to do, without a
    traceback, before any item is processed, leaving the file for the operator."""
    damaged = {
        "empty": b"",
        "truncated": good_checkpoint[: len(good_checkpoint) // 2],
        "noise": bytes(range(256)) * 4,
        "foreign_pickle": _pickled([1, 2, 3]),
        "dict_without_learner": _pickled({"extra": {}}),
    }[damage]
    checkpoint = tmp_path / "state" / "model-0.pkl"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(damaged)
    (tmp_path / "predictions.jsonl").write_text(
        '{"id": "a", "ts": "2026-01-01T00:00:00Z", "features": {"x": 1.0}}\n'
    )
    proc = _run(tmp_path, _file_doc(tmp_path))
    assert "Traceback" not in proc.stderr + proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("labelgate: error:")]
    assert len(errors) == 1, proc.stderr
    assert proc.returncode == EXIT_STATE, proc.stderr
    assert f"cannot read model checkpoint {checkpoint}" in errors[0] or (
        f"{checkpoint} does not hold a labelgate model checkpoint" in errors[0]
    )
    assert "fresh model" in errors[0]
    assert checkpoint.read_bytes() == damaged
    audit = tmp_path / "audit.jsonl"
    assert not audit.exists() or audit.read_text() == "", "no item was processed"

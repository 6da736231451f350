"""The command line: ``schema`` and ``check-config`` (the process-exiting edge)."""

import json

import pytest

from daemon.cli import exit_code, main
from daemon.errors import (
    ConfigError,
    ConnectorError,
    DeliveryError,
    EncodingError,
    LabelgateError,
    ServerError,
    StateError,
)

SECRET = "s3cr3t-value"
CONTRACT_NAMES = {"prediction", "label", "label_request", "evidence", "dead_letter"}


def test_schema_prints_every_contract_and_the_config(capsys):
    """``labelgate schema`` prints one JSON document with the five contracts and the config."""
    assert main(["schema"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == CONTRACT_NAMES | {"config"}
    for name, schema in doc.items():
        assert schema["type"] == "object", name
        assert schema["properties"], name
    assert {"id", "event_time", "features", "prediction"} <= set(doc["prediction"]["required"])
    assert "schema_version" in doc["label"]["properties"]
    assert {"kafka", "schema", "policy"} <= set(doc["config"]["properties"])


@pytest.mark.parametrize("name", sorted(CONTRACT_NAMES))
def test_schema_prints_one_contract_by_name(capsys, name):
    """``labelgate schema NAME`` prints just that contract's JSON Schema."""
    assert main(["schema", name]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "properties" in doc
    assert "id" in doc["properties"] or "reason" in doc["properties"]


def test_check_config_prints_masked_config_and_hash(tmp_path, capsys):
    """check-config prints the effective config with secrets masked, then its hash."""
    path = tmp_path / "c.yaml"
    path.write_text(f"classes: [a, b]\nkafka:\n  sasl_password: {SECRET}\n")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    body, _, trailer = out.rpartition("\n# config OK, hash ")
    doc = json.loads(body)
    assert doc["kafka"]["sasl_password"] == "**********"
    assert doc["classes"] == ["a", "b"]
    assert len(trailer.strip()) == 16


def test_check_config_rejects_invalid_config_with_exit_code_2(tmp_path, capsys):
    """An invalid config exits 2 and names the field on stderr, printing nothing on stdout."""
    path = tmp_path / "c.yaml"
    path.write_text("classes: [a, b]\npolicy:\n  budget:\n    fraction: 0\n")
    assert main(["check-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert "policy.budget.fraction" in captured.err
    assert captured.err.startswith("labelgate: error: ")
    assert captured.out == ""


def test_check_config_on_missing_file_exits_2(tmp_path, capsys):
    """A missing config file is a clean error, not a traceback."""
    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("x"), 2),
        (StateError("x"), 3),
        (ConnectorError("x"), 4),
        (DeliveryError("x"), 4),
        (ServerError("x"), 5),
        (EncodingError("x"), 1),
        (LabelgateError("unknown stream 'x'"), 2),
    ],
)
def test_each_error_family_has_its_exit_status(error, code):
    """Config 2, state 3, Kafka/files 4, ops server 5, a NaN output 1, other usage errors 2."""
    assert exit_code(error) == code


def test_main_prints_one_line_and_returns_the_family_status(monkeypatch, capsys):
    """A StateError raised by a command is one stderr line and exit status 3."""

    def fail(_args):
        raise StateError("state_dir '/x' is not writable: Read-only file system")

    monkeypatch.setattr("daemon.cli._cmd_schema", fail)
    assert main(["schema"]) == 3
    err = capsys.readouterr().err
    assert err == "labelgate: error: state_dir '/x' is not writable: Read-only file system\n"


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["check-config", "--help"]])
def test_help_documents_the_exit_statuses(capsys, argv):
    """--help of the program, run and check-config lists every exit status."""
    with pytest.raises(SystemExit):
        main(argv)
    out = capsys.readouterr().out
    assert "exit status:" in out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "130 "):
        assert f"\n  {code}" in out

"""The command line: ``schema`` and ``check-config`` (the process-exiting edge)."""

import json

import pytest

from daemon.cli import main

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

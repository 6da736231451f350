"""Settings become a bridge: which queue, which token, the config section's validation, and
the `labelgate bridge label-studio` command's errors."""

from __future__ import annotations

import pytest
import structlog
import yaml
from pydantic import ValidationError

from daemon.bridge.app import bridged_queue, token_of, webhook_secret_of
from daemon.cli import main
from daemon.config import LabelStudioSettings, Settings
from daemon.errors import ConfigError

LS = {"url": "http://ls:8080"}


def _settings(*queues) -> Settings:
    return Settings(
        classes=["0", "1"], queues=list(queues), routing={"default": [queues[0]["name"]]}
    )


def test_the_only_bridged_queue_is_chosen():
    """Without --queue, the single queue with a label_studio section is bridged."""
    s = _settings({"name": "a"}, {"name": "b", "label_studio": LS})
    q, ls = bridged_queue(s, None)
    assert q.name == "b"
    assert ls.url == "http://ls:8080"


def test_queue_choice_errors():
    """Several bridged queues need --queue; unknown or unbridged names are config errors."""
    s = _settings(
        {"name": "a", "label_studio": LS}, {"name": "b", "label_studio": LS}, {"name": "c"}
    )
    with pytest.raises(ConfigError, match="--queue"):
        bridged_queue(s, None)
    with pytest.raises(ConfigError, match="no queue named"):
        bridged_queue(s, "zz")
    with pytest.raises(ConfigError, match="no label_studio section"):
        bridged_queue(s, "c")
    assert bridged_queue(s, "b")[0].name == "b"


def test_token_from_config_or_environment(monkeypatch):
    """The token comes from the config, else from the named variable, else it is an error."""
    assert token_of(LabelStudioSettings(url="http://x", token="abc")) == "abc"
    monkeypatch.setenv("MY_TOKEN", "from-env")
    assert token_of(LabelStudioSettings(url="http://x", token_env="MY_TOKEN")) == "from-env"
    monkeypatch.delenv("MY_TOKEN")
    with pytest.raises(ConfigError, match="MY_TOKEN"):
        token_of(LabelStudioSettings(url="http://x", token_env="MY_TOKEN"))


def test_webhook_secret_optional(monkeypatch):
    """The webhook secret is optional; the environment supplies it when the config does not."""
    monkeypatch.delenv("LABEL_STUDIO_WEBHOOK_SECRET", raising=False)
    assert webhook_secret_of(LabelStudioSettings(url="http://x")) is None
    monkeypatch.setenv("LABEL_STUDIO_WEBHOOK_SECRET", "hook")
    assert webhook_secret_of(LabelStudioSettings(url="http://x")) == "hook"


def test_section_is_validated_and_masked():
    """A URL without scheme is refused; the token is masked when the config is printed."""
    with pytest.raises(ValidationError):
        LabelStudioSettings(url="ls:8080")
    s = _settings({"name": "a", "label_studio": {**LS, "token": "very-secret"}})
    assert "very-secret" not in str(s.masked())


def test_cli_reports_a_config_error(tmp_path, capsys, monkeypatch):
    """`labelgate bridge label-studio` without a token exits 2 with the reason."""
    monkeypatch.delenv("LABEL_STUDIO_TOKEN", raising=False)
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "classes": ["0", "1"],
                "queues": [{"name": "a", "label_studio": LS}],
                "routing": {"default": ["a"]},
            }
        )
    )
    try:
        assert main(["bridge", "label-studio", "--config", str(config)]) == 2
    finally:
        structlog.reset_defaults()  # the command configured logging onto capsys' stream
    assert "LABEL_STUDIO_TOKEN" in capsys.readouterr().err

"""The configuration examples in the README are valid configurations."""

import re
from pathlib import Path

import yaml

from daemon.config import Settings

README = Path(__file__).parents[2] / "README.md"


def test_readme_yaml_examples_validate():
    """Every YAML block of the README validates as a daemon config (Helm values: their config)."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        doc = yaml.safe_load(block)
        if "config" in doc and "image" in doc:
            doc = doc["config"]  # Helm values: their `config:` is the daemon's config verbatim
        doc.setdefault("classes", ["legit", "fraud"])
        if "routing" in doc and "queues" in doc:
            settings = Settings.model_validate(doc)
            assert {q.name for q in settings.queues} >= set(doc["routing"]["default"])
        else:
            Settings.model_validate(doc)

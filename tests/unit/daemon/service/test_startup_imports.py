"""Start-up stays light: the default daemon runs without River's heavy modules or scipy.stats."""

import json
import math
import subprocess
import sys
import textwrap

import pytest

from daemon.tools import replay

HEAVY = (
    "scipy.stats",
    "scipy._lib._array_api",  # executed by scipy.special, which daemon.model defers
    "river.linear_model",
    "river.drift",
    "river.metrics",
    "river.proba",
)

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from daemon.cli import main
    code = main(["run", "--config", sys.argv[1]])
    print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
    """
)


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """A short replay, generated here (the replay generator itself uses River's models)."""
    return replay.generate(tmp_path_factory.mktemp("replay"), n=300)


def _run(tmp_path, stream, model: dict[str, str] | None = None) -> list[str]:
    predictions, truth = stream
    out = tmp_path / "run"
    config = {
        "source": "file",
        "classes": replay.CLASSES,
        "clock": "event",
        "files": {
            "predictions": str(predictions),
            "requests": str(out / "requests.jsonl"),
            "audit": str(out / "audit.jsonl"),
            "dead_letter": str(out / "dead-letter.jsonl"),
            "state": str(out / "state.jsonl"),
        },
        "expert": {"truth": str(truth), "delay_seconds": 60.0},
        "server": {"enabled": False},
        "state_dir": str(out / "state"),
        "log_level": "error",
    }
    if model is not None:
        config["model"] = model
    path = tmp_path / "labelgate.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0
    modules: list[str] = result["modules"]
    return modules


def test_the_default_daemon_imports_no_heavy_module(tmp_path, stream):
    """`labelgate run` with the default model, policy and monitors, over a whole (short)
    stream with labels: scipy.stats and River's linear_model, drift, metrics are never
    imported (they cost about a second of start-up)."""
    modules = _run(tmp_path, stream)
    assert "daemon.service.app" in modules  # the daemon really ran in that process
    assert [m for m in HEAVY if m in modules] == []


def test_a_configured_river_model_is_imported_when_configured(tmp_path, stream):
    """Softmax regression is River's own: its module is imported once configured."""
    modules = _run(tmp_path, stream, {"classifier": "softmax_regression"})
    assert "river.linear_model" in modules


def test_the_deferred_scipy_special_is_executed_on_first_use():
    """River's losses import scipy.special but leave it unexecuted until a loss reads it (the
    softmax of an array); the loss then gets scipy's own softmax."""
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        import daemon.model
        from river.optim import losses
        before = "scipy._lib._array_api" in sys.modules
        soft = losses.CrossEntropy().mean_func(np.array([1.0, 3.0])).tolist()
        after = "scipy._lib._array_api" in sys.modules
        print(json.dumps({"before": before, "after": after, "soft": soft}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["before"], result["after"]) == (False, True)
    a, b = math.exp(1.0), math.exp(3.0)
    assert result["soft"] == pytest.approx([a / (a + b), b / (a + b)])

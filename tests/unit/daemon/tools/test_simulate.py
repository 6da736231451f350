"""`labelgate simulate` options: --config backtests the configured daemon; file options."""

from __future__ import annotations

import argparse
import csv
import gzip
import random

import pytest
import yaml

from daemon.config import load_settings
from daemon.service.policy_builder import build_policy
from daemon.tools import simulate as cmd
from daemon.tools.backtest import SimulationError
from daemon.tools.streams import StreamError


def _args(*argv):
    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    return p.parse_args([*argv, "--no-progress"])


def _history(path, n=2000, seconds_apart=60.0, seed=0):
    rng = random.Random(seed)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t", "x", "z", "sex", "y"])
        for i in range(n):
            x, z = rng.random(), rng.random()
            sex = "F" if rng.random() < 0.3 else "M"
            w.writerow([i * seconds_apart, x, z, sex, "fraud" if x + z > 1 else "ok"])
    return path


def _config(tmp_path, **policy):
    data = {
        "classes": ["ok", "fraud"],
        "policy": {"budget": {"fraction": 0.1}, **policy},
        "queues": [{"name": "default", "capacity": 10_000, "cost": 1.0}],
    }
    path = tmp_path / "labelgate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _rows(out):
    with (out / "results.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_config_backtests_the_configured_policy(tmp_path, capsys):
    """--config: 'default' is the daemon's own policy (same id) at the configured fraction."""
    config = _config(tmp_path, budget={"fraction": 0.07})
    out = tmp_path / "out"
    args = _args("--input", str(_history(tmp_path / "h.csv")), "--label-column", "y",
                 "--config", str(config), "--out", str(out))  # fmt: skip
    assert cmd.run(args) == 0
    rows = {r["policy"]: r for r in _rows(out)}
    assert float(rows["default"]["budget"]) == 0.07
    assert rows["default"]["policy_id"] == build_policy(load_settings(config)).id
    assert "7.00%" in capsys.readouterr().out


def test_config_limit_and_period_hold_on_event_time(tmp_path):
    """budget.limit per period_seconds is enforced on the history's event time."""
    config = _config(tmp_path, budget={"fraction": 0.5, "limit": 3, "period_seconds": 3600})
    out = tmp_path / "out"
    history = _history(tmp_path / "h.csv", n=1200, seconds_apart=60.0)
    args = _args("--input", str(history), "--label-column", "y", "--time-column", "t",
                 "--config", str(config), "--out", str(out), "--policies", "default")  # fmt: skip
    cmd.run(args)
    spent = int(next(r for r in _rows(out) if r["policy"] == "default")["labels_spent"])
    assert 0 < spent <= 3 * (1200 * 60 // 3600)


def test_config_queue_capacity_and_expert_delay_limit_outstanding_requests(tmp_path):
    """A queue of capacity 5 with a one-day expert delay holds at most 5 unanswered queries."""
    data = yaml.safe_load(_config(tmp_path).read_text())
    data["queues"][0]["capacity"] = 5
    data["expert"] = {"truth": "truth.jsonl", "delay_seconds": 86400.0}
    config = tmp_path / "labelgate.yaml"
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    args = _args("--input", str(_history(tmp_path / "h.csv", n=1000)), "--label-column", "y",
                 "--time-column", "t", "--config", str(config), "--out", str(out))  # fmt: skip
    cmd.run(args)
    spent = int(next(r for r in _rows(out) if r["policy"] == "default")["labels_spent"])
    # 1000 items a minute apart span under one day: nothing is answered, 5 requests fit.
    assert spent == 5


def test_config_classes_must_cover_the_history(tmp_path):
    """A label the configuration does not know is a clear error."""
    data = yaml.safe_load(_config(tmp_path).read_text())
    data["classes"] = ["ok", "other"]
    config = tmp_path / "labelgate.yaml"
    config.write_text(yaml.safe_dump(data))
    args = _args("--input", str(_history(tmp_path / "h.csv", n=50)), "--label-column", "y",
                 "--config", str(config), "--out", str(tmp_path / "o"))  # fmt: skip
    with pytest.raises(StreamError, match="not among the configured classes"):
        cmd.run(args)


def test_whole_gz_file_by_default_with_shuffle_and_columns(tmp_path):
    """A .csv.gz is used whole; --shuffle varies the order per seed; columns are honoured."""
    plain = _history(tmp_path / "h.csv", n=1500)
    packed = tmp_path / "h.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    out = tmp_path / "out"
    args = _args("--input", str(packed), "--label-column", "y", "--group-columns", "sex",
                 "--drop-columns", "t", "--shuffle", "--seeds", "0,1", "--budgets", "0.1",
                 "--out", str(out))  # fmt: skip
    cmd.run(args)
    rows = _rows(out)
    assert {r["items"] for r in rows} == {"1500"}
    by_seed = {r["seed"]: r["accuracy"] for r in rows if r["policy"] == "random"}
    assert by_seed["0"] != by_seed["1"]
    assert "query_share[sex=F]" in rows[0]


def test_items_caps_and_help_says_so(capsys):
    """--items caps the run, and --help says the default is the whole file."""
    p = argparse.ArgumentParser()
    cmd.add_arguments(p)
    with pytest.raises(SystemExit):
        p.parse_args(["--help"])
    assert "whole --input file" in " ".join(capsys.readouterr().out.split())


def test_floors_are_parsed_by_attribute_and_value():
    """--floors takes attribute:value=share pairs, share a fraction or 'population'."""
    q = cmd.parse_floors("sex:F=population,race:B=0.12")
    assert q.bounds()[0] == {"sex": {"F": None}, "race": {"B": 0.12}}
    assert cmd.parse_floors("") is None
    with pytest.raises(SimulationError):
        cmd.parse_floors("sex=0.3")


def test_default_quotas_without_floors_for_the_stream_is_refused(tmp_path):
    """default_quotas on groups it has no floors for is an error, not a silent default."""
    args = _args("--input", str(_history(tmp_path / "h.csv", n=100)), "--label-column", "y",
                 "--group-columns", "sex", "--policies", "default_quotas",
                 "--out", str(tmp_path / "o"))  # fmt: skip
    with pytest.raises(SimulationError, match="needs --floors"):
        cmd.run(args)


def test_config_routing_rules_send_queries_to_their_queues(tmp_path):
    """A routing rule on a group column sends those items' queries to its queue (results.csv
    counts requests per queue); without the rule every query goes to the default queue."""
    data = yaml.safe_load(_config(tmp_path).read_text())
    data["queues"].append({"name": "women", "capacity": 10_000})
    data["routing"] = {
        "rules": [
            {"name": "f", "all": [{"field": "group.sex", "value": "F"}], "queues": ["women"]}
        ],
        "default": ["default"],
    }
    config = tmp_path / "labelgate.yaml"
    config.write_text(yaml.safe_dump(data))
    history = _history(tmp_path / "h.csv", n=1500)
    out = tmp_path / "out"
    args = _args("--input", str(history), "--label-column", "y", "--group-columns", "sex",
                 "--config", str(config), "--out", str(out), "--policies", "default")  # fmt: skip
    cmd.run(args)
    row = next(r for r in _rows(out) if r["policy"] == "default")
    women, default = int(row["requests[women]"]), int(row["requests[default]"])
    assert women > 0
    assert default > 0
    assert women + default == int(row["labels_spent"])
    # Every query of a woman went to her queue, and nothing else did.
    assert women == round(float(row["query_share[sex=F]"]) * int(row["labels_spent"]))
    data.pop("routing")
    config.write_text(yaml.safe_dump(data))
    cmd.run(args)
    row = next(r for r in _rows(out) if r["policy"] == "default")
    assert int(row["requests[default]"]) == int(row["labels_spent"])
    assert "requests[women]" not in row


def test_config_model_interactions_cross_the_group_column(tmp_path):
    """--config with ``model.interactions: [sex]``: the backtest's learner crosses the group
    column (not a feature here), so a subgroup whose label follows another feature is
    learned; without it the shared model is far worse on that subgroup."""
    rng = random.Random(1)
    history = tmp_path / "h.csv"
    with history.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x", "z", "sex", "y"])
        for _ in range(3000):
            x, z = rng.random(), rng.random()
            sex = "F" if rng.random() < 0.4 else "M"
            w.writerow([x, z, sex, "fraud" if (z if sex == "F" else x) > 0.5 else "ok"])

    def female_accuracy(name, model):
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump({"classes": ["ok", "fraud"], "model": model,
                                          "policy": {"budget": {"fraction": 0.3}}}))  # fmt: skip
        out = tmp_path / name
        args = _args("--input", str(history), "--label-column", "y", "--group-columns", "sex",
                     "--config", str(config), "--out", str(out),
                     "--policies", "random")  # fmt: skip
        assert cmd.run(args) == 0
        [row] = _rows(out)
        return float(row["accuracy[sex=F]"])

    crossed = female_accuracy("crossed", {"interactions": ["sex"]})
    shared = female_accuracy("shared", {})
    assert crossed > 0.8
    assert crossed > shared + 0.1

"""Fuzz at the whole-daemon level: a replay full of hostile items never stops `labelgate run`.

Every hostile line is dead-lettered with its precise reason, every valid item gets its decision
evidence, scores stay finite, and everything written is strict JSON.
"""

from __future__ import annotations

import json
import math
import random
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from daemon.config import load_settings
from daemon.service.app import serve
from daemon.service.lifecycle import StopFlag
from tests.strict_json import strict_loads

pytestmark = pytest.mark.e2e

SECRET = "extra-secret-never-printed"
VALID = 400


def _valid(i: int, rng: random.Random) -> dict:
    x = [rng.gauss(0.0, 1.0) for _ in range(3)]
    return {
        "id": f"item-{i}",
        "event_time": f"2026-01-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "features": {"x0": x[0], "x1": x[1], "x2": x[2], "n": i % 7, "region": "EU"},
        "prediction": "fraud" if x[0] > 0 else "ok",
        "proba": {"fraud": 0.6, "ok": 0.4} if x[0] > 0 else {"fraud": 0.3, "ok": 0.7},
        "group": {"region": "EU" if i % 3 else "US"},
    }


def _feature(literal: str) -> bytes:
    doc = json.dumps(_valid(0, random.Random(0)) | {"id": "hostile", "features": {"f": "@"}})
    return doc.replace('"@"', literal).encode()


def _field(name: str, literal: str) -> bytes:
    doc = json.dumps(_valid(0, random.Random(0)) | {"id": "hostile", name: "@"})
    return doc.replace('"@"', literal).encode()


DEEP = "[" * 10_000 + "]" * 10_000
HOSTILE: list[tuple[bytes, str]] = [
    (_feature("1" + "0" * 400), "out_of_range"),  # the 401-digit integer
    (_feature("-" + "9" * 5000), "out_of_range"),  # too long even for the JSON parser
    (_feature("1e308"), "out_of_range"),
    (_feature("-1e308"), "out_of_range"),
    (_feature("NaN"), "non_finite"),
    (_feature("Infinity"), "non_finite"),
    (_feature("-Infinity"), "non_finite"),
    (_feature("1e999"), "non_finite"),
    (_feature(DEEP), "too_deep"),
    (_field("debug", DEEP), "too_deep"),  # deep nesting in a field that would be ignored
    (_feature(json.dumps("s" * 20_000)), "too_long"),
    (_field("features", json.dumps({"n" * 10_000: 1.0})), "too_long"),
    (_field("group", json.dumps({"region": "r" * 1000})), "too_long"),
    (_field("id", json.dumps("i" * 600)), "too_long"),
    (_field("event_time", '"9999-12-31T23:59:59-14:00"'), "out_of_range"),
    (_field("cost", "1e308"), "out_of_range"),
    (_field("cost", "NaN"), "non_finite"),
    (_field("cost", "-1"), "out_of_range"),
    (_field("proba", '{"fraud": NaN, "ok": 0.5}'), "non_finite"),
    (_field("proba", '{"fraud": 1e308, "ok": 0.0}'), "out_of_range"),
    (_field("prediction", '"maybe"'), "unknown_class"),
    (_field("schema_version", "2"), "unsupported_version"),
    (_feature('{"nested": 1}'), "schema_violation"),
    (b'{"id": "cut-off", "features": {', "invalid_json"),
    (b'{"id": "\xff\xfe", "features": {}}', "invalid_json"),  # not UTF-8
    (_field("id", '"\\ud800"'), "invalid_json"),  # a lone surrogate cannot be written back
    (b"[1, 2, 3]", "schema_violation"),
    (b"null", "schema_violation"),
    (b'"just a string"', "schema_violation"),
    (_feature(json.dumps("z" * 3000) + ', "pad": ' + json.dumps("p" * 60_000)), "oversized"),
]


# Valid although extreme: at the limits, so they must be decided, not dead-lettered.
EDGE = [
    {"x0": 1e12, "x1": -1e12, "x2": 0.0},
    {"x0": 10**12, "x1": -(10**12), "n": 0},
    {"x0": 5e-324, "x1": -0.0, "note": "s" * 4096},
]


def _write_inputs(tmp_path: Path) -> tuple[Path, dict[int, str], list[str]]:
    """The replay (valid items with hostile lines spread through it) and the expert's truth."""
    rng = random.Random(7)
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    valid_ids: list[str] = []
    truth = []
    hostile = list(HOSTILE)
    rng.shuffle(hostile)
    slots = sorted(rng.sample(range(20, VALID), len(hostile)))
    for n in range(VALID):
        if slots and n == slots[0]:
            slots.pop(0)
            raw, reason = hostile.pop()
            expected[len(lines)] = reason
            lines.append(raw)
        item = _valid(n, rng)
        if n % 100 == 50:
            item["features"] = EDGE[(n // 100) % len(EDGE)]
        valid_ids.append(item["id"])
        truth.append({"id": item["id"], "label": "fraud" if item["features"]["x1"] > 0 else "ok"})
        lines.append(json.dumps(item).encode())
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_bytes(b"\n".join(lines) + b"\n")
    (tmp_path / "truth.jsonl").write_text("".join(json.dumps(t) + "\n" for t in truth))
    return predictions, expected, valid_ids


def _config(tmp_path: Path, predictions: Path, server: dict) -> Path:
    doc = {
        "source": "file",
        "classes": ["ok", "fraud"],
        "clock": "event",
        "files": {
            "predictions": str(predictions),
            "requests": "out/requests.jsonl",
            "audit": "out/audit.jsonl",
            "dead_letter": "out/dead-letter.jsonl",
            "state": "out/state.jsonl",
        },
        "expert": {"truth": "truth.jsonl", "delay_seconds": 0},
        "policy": {"budget": {"fraction": 0.2}},
        "schema": {"max_message_bytes": 50_000},
        "kafka": {"extra": {"sasl.password": SECRET}, "sasl_password": SECRET},
        "server": server,
        "state_dir": "state",
        "log_level": "debug",
    }
    path = tmp_path / "labelgate.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _strict_lines(path: Path) -> list[dict]:
    """Every line of an output file, parsed by a parser that refuses NaN/Infinity."""
    return [strict_loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_hostile_replay_is_dead_lettered_item_by_item_and_the_daemon_carries_on(tmp_path):
    """`labelgate run` on a replay with 30 hostile lines: exit 0, each hostile line dead-lettered
    with its reason, each valid item one decision record with finite scores, all strict JSON."""
    predictions, expected, valid_ids = _write_inputs(tmp_path)
    config = _config(tmp_path, predictions, {"enabled": False})
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout

    out = tmp_path / "out"
    dead = _strict_lines(out / "dead-letter.jsonl")
    got = {d["source"]["offset"]: d["reason"] for d in dead}
    assert len(dead) == len(got) == len(HOSTILE)
    assert got == expected
    assert all(d["detail"] and d["kind"] == "prediction" for d in dead)

    audit = _strict_lines(out / "audit.jsonl")
    decisions = [e for e in audit if e["kind"] == "decision"]
    assert sorted(e["id"] for e in decisions) == sorted(valid_ids)
    for e in decisions:
        assert e["scores"], e["id"]
        assert all(isinstance(v, float) and math.isfinite(v) for v in e["scores"].values())
    assert any(e["kind"] == "label" for e in audit), "the model kept learning"
    requests = _strict_lines(out / "requests.jsonl")
    assert requests, "items were still queried after the hostile ones"
    assert max(valid_ids.index(r["id"]) for r in requests) > VALID - 50
    _strict_lines(out / "state.jsonl")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_status_and_metrics_never_show_kafka_secrets(tmp_path):
    """/status and /metrics, read while the daemon runs, carry no secret from the config."""
    predictions, _, _ = _write_inputs(tmp_path)
    port = _free_port()
    config = _config(tmp_path, predictions, {"host": "127.0.0.1", "port": port})
    bodies: dict[str, bytes] = {}

    def on_tick(_status: object) -> None:
        for path in ("/status", "/metrics", "/healthz"):
            if path not in bodies:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
                    bodies[path] = r.read()

    serve(load_settings(config), StopFlag(), on_tick)
    assert set(bodies) == {"/status", "/metrics", "/healthz"}
    for body in bodies.values():
        assert SECRET.encode() not in body
    assert strict_loads(bodies["/status"])["items"] >= 0


def _label(literal_field: str, literal: str) -> bytes:
    doc = json.dumps({"id": "item-1", "label": "ok", "labeled_at": "2026-01-01T00:00:00Z"})
    doc = json.loads(doc) | {literal_field: "@"}
    return json.dumps(doc).replace('"@"', literal).encode()


HOSTILE_LABELS: list[tuple[bytes, str]] = [
    (_label("confidence", "NaN"), "non_finite"),
    (_label("confidence", "1e308"), "out_of_range"),
    (_label("labeled_at", '"9999-12-31T23:59:59Z"'), "out_of_range"),
    (_label("label", json.dumps("x" * 300)), "too_long"),
    (_label("labeler_id", json.dumps("y" * 300)), "too_long"),
    (_label("extra", DEEP), "too_deep"),
    (_label("id", "1" + "0" * 5000), "out_of_range"),
    (_label("label", '"spam"'), "unknown_class"),
    (b'{"id": "x", "label": ', "invalid_json"),
    (b"[]", "schema_violation"),
]


def test_hostile_label_events_are_dead_lettered_and_valid_ones_recorded(tmp_path):
    """A label file with hostile lines: each is dead-lettered (kind label) with its reason; the
    valid labels are recorded, the run ends normally."""
    predictions, _, valid_ids = _write_inputs(tmp_path)
    lines: list[bytes] = []
    expected: dict[int, str] = {}
    for i, item_id in enumerate(valid_ids[:40]):
        if i < len(HOSTILE_LABELS):
            raw, reason = HOSTILE_LABELS[i]
            expected[len(lines)] = reason
            lines.append(raw)
        label = {"id": item_id, "label": "ok", "labeled_at": "2026-01-01T12:00:00Z"}
        lines.append(json.dumps(label).encode())
    labels = tmp_path / "labels.jsonl"
    labels.write_bytes(b"\n".join(lines) + b"\n")
    config = _config(tmp_path, predictions, {"enabled": False})
    doc = yaml.safe_load(config.read_text())
    del doc["expert"]
    doc["files"]["labels"] = str(labels)
    config.write_text(yaml.safe_dump(doc))
    proc = subprocess.run(
        [sys.executable, "-m", "daemon.cli", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    dead = [
        d for d in _strict_lines(tmp_path / "out" / "dead-letter.jsonl") if d["kind"] == "label"
    ]
    assert {d["source"]["offset"]: d["reason"] for d in dead} == expected
    audit = _strict_lines(tmp_path / "out" / "audit.jsonl")
    assert len([e for e in audit if e["kind"] == "label"]) == 40


def _extreme(rng: random.Random) -> object:
    """A feature value that is valid but extreme: at the limits, tiny, long, odd text."""
    r = rng.random()
    if r < 0.25:
        return rng.choice([1e12, -1e12, 10**12, -(10**12), 5e-324, -0.0, 0, 1e-300, 9.99e11])
    if r < 0.35:
        return rng.choice(["", "x" * 4096, "\u00e9", "NaN", "Infinity", "\u0000"])
    if r < 0.4:
        return rng.choice([True, False, None])
    return rng.gauss(0.0, rng.choice([1.0, 1e3, 1e9, 1e11]))


@pytest.mark.parametrize("score_source", ["online", "production"])
@pytest.mark.parametrize("classifier", ["logistic_regression", "gaussian_nb", "hoeffding_tree"])
@pytest.mark.parametrize(
    "strategy",
    ["fixed_uncertainty", "entropy_sampling", "selective_sampling", "query_by_committee"],
)
def test_extreme_valid_values_keep_every_strategy_running_with_finite_scores(
    tmp_path, strategy, classifier, score_source
):
    """Valid items at the limits (+-1e12, 5e-324, 4096-character strings, certain or almost
    certain probas, extreme costs) run through each strategy and model: no exception, finite
    scores, strict JSON outputs, one decision per item."""
    rng = random.Random(f"{strategy}/{classifier}/{score_source}")
    lines, truth = [], []
    for i in range(300):
        p = rng.choice([0.0, 1.0, 0.5, 0.9999999, 1e-300, rng.random()])
        # Within the 1e-3 sum tolerance: one class almost certain, the other exactly 0.
        rest = 0.0 if p in (0.9999999, 1e-300) else 1.0 - p
        if p == 1e-300:
            p, rest = rest, 0.9999999
        item = {
            "id": f"i{i}",
            "event_time": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z",
            "features": {f"f{k}": _extreme(rng) for k in range(rng.randint(0, 6))},
            "prediction": rng.choice(["ok", "fraud"]),
            "proba": {"ok": p, "fraud": rest},
            "cost": rng.choice([None, 1e-300, 1e12, 1.0]),
            "group": {"g": rng.choice(["x", "y", ""])},
        }
        lines.append(json.dumps(item))
        truth.append(json.dumps({"id": item["id"], "label": rng.choice(["ok", "fraud"])}))
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "t.jsonl").write_text("\n".join(truth) + "\n")
    out = tmp_path / "out"
    settings = load_settings(
        None,
        classes=["ok", "fraud"],
        clock="event",
        files={
            "predictions": tmp_path / "p.jsonl",
            "audit": out / "audit.jsonl",
            "requests": out / "requests.jsonl",
            "dead_letter": out / "dead-letter.jsonl",
            "state": out / "state.jsonl",
        },
        expert={"truth": tmp_path / "t.jsonl", "delay_seconds": 0},
        policy={
            "strategy": strategy,
            "budget": {"fraction": 0.3},
            "cost_sensitive": True,
            "diversity": {"radius": 0.1},
        },
        model={"classifier": classifier, "score_source": score_source},
        server={"enabled": False},
        state_dir=tmp_path / "state",
    )
    serve(settings, StopFlag())
    decisions = [e for e in _strict_lines(out / "audit.jsonl") if e["kind"] == "decision"]
    assert len(decisions) == 300
    for e in decisions:
        assert all(isinstance(v, float) and math.isfinite(v) for v in e["scores"].values())
    for name in ("requests.jsonl", "dead-letter.jsonl", "state.jsonl"):
        _strict_lines(out / name)

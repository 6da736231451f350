"""The bundled replay: deterministic bytes, truth per valid item, malformed lines mixed in."""

from __future__ import annotations

import json

from daemon.tools import replay


def test_same_seed_same_bytes(tmp_path):
    """Two generations with the same arguments write identical files."""
    a = replay.generate(tmp_path / "a", n=300, malformed_every=100)
    b = replay.generate(tmp_path / "b", n=300, malformed_every=100)
    assert a[0].read_bytes() == b[0].read_bytes()
    assert a[1].read_bytes() == b[1].read_bytes()


def test_one_truth_per_item_and_one_malformed_line_per_period(tmp_path):
    """n items, each with a truth line; every malformed_every-th position adds a bad line."""
    predictions, truth = replay.generate(tmp_path, n=300, malformed_every=100)
    lines = predictions.read_text().splitlines()
    assert len(lines) == 303
    truths = [json.loads(x) for x in truth.read_text().splitlines()]
    assert len(truths) == 300
    assert {t["label"] for t in truths} <= set(replay.CLASSES)
    valid = 0
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        valid += doc.get("id", "").startswith("item-")
    assert valid == 300

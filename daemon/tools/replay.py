"""A bundled, deterministic replay stream of production predictions, with ground truth.

Built from River's synthetic rotating-Hyperplane concept (gradual drift), scored by a frozen
"production model" trained on the first 3,000 items only, so its accuracy decays as the concept
rotates while an online model fed with expert labels follows it. A few malformed
messages are mixed in, as in real traffic.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

from river import datasets, linear_model, preprocessing

CLASSES = ["0", "1"]
REGIONS = (("EU", 0.6), ("US", 0.3), ("APAC", 0.1))
_START = datetime(2026, 1, 1, tzinfo=UTC)


def _concept(seed: int) -> Any:
    return datasets.synth.Hyperplane(
        seed=seed,
        n_features=6,
        n_drift_features=2,
        mag_change=0.001,
        noise_percentage=0.05,
        sigma=0.1,
    )


def _stream(n: int, seed: int) -> Any:
    return _concept(seed)


def _malformed(i: int, when: str) -> str:
    kinds = [
        f'{{"id": "bad-{i}", "event_time": "{when}", "features": {{',
        json.dumps(
            {"id": f"bad-{i}", "event_time": when, "features": {"x0": "NaN"}, "prediction": "2"}
        ),
        f'{{"id": "bad-{i}", "event_time": "{when}", "features": {{"x0": NaN}}, '
        '"prediction": "1"}',
        json.dumps({"id": f"bad-{i}", "features": {"x0": 1.0}, "prediction": "1"}),
    ]
    return kinds[(i // 7) % len(kinds)]


def generate(
    out_dir: Path,
    n: int = 20_000,
    seed: int = 7,
    interval_seconds: float = 4.0,
    malformed_every: int = 500,
) -> tuple[Path, Path]:
    """Write ``predictions.jsonl`` and ``truth.jsonl`` into ``out_dir``; same inputs, same bytes.

    Returns the two paths. Items are ``interval_seconds`` apart in event time, starting
    2026-01-01T00:00:00Z; every ``malformed_every``-th position also gets one malformed line.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    predictions = out_dir / "predictions.jsonl"
    truth = out_dir / "truth.jsonl"
    rng = random.Random(seed)
    production = preprocessing.StandardScaler() | linear_model.LogisticRegression()
    for x, y in islice(_concept(seed), 3000):
        production.learn_one(x, y)
    regions = [r for r, _ in REGIONS]
    weights = [w for _, w in REGIONS]
    with predictions.open("w") as pf, truth.open("w") as tf:
        for i, (x, y) in enumerate(islice(_stream(n, seed), n)):
            when = (_START + timedelta(seconds=i * interval_seconds)).isoformat()
            region = rng.choices(regions, weights)[0]
            features: dict[str, Any] = {f"x{k}": round(float(v), 6) for k, v in x.items()}
            features["region"] = region
            p1 = float(production.predict_proba_one(x).get(True, 0.5))
            item = {
                "schema_version": 1,
                "id": f"item-{i:07d}",
                "event_time": when,
                "features": features,
                "prediction": "1" if p1 >= 0.5 else "0",
                "proba": {"0": round(1.0 - p1, 6), "1": round(p1, 6)},
                "model_version": "prod-2025-12",
                "group": {"region": region},
            }
            pf.write(json.dumps(item) + "\n")
            tf.write(json.dumps({"id": item["id"], "label": "1" if y else "0"}) + "\n")
            if malformed_every and i % malformed_every == malformed_every - 1:
                pf.write(_malformed(i, when) + "\n")
    return predictions, truth


def file_settings(
    predictions: Path,
    out: Path,
    truth: Path | None = None,
    delay_seconds: float = 0.0,
    **sections: Any,
) -> dict[str, Any]:
    """The configuration document of a file-mode run over a replay stream, outputs in ``out``.

    Event clock, no ops server, errors-only logs; with ``truth``, a simulated expert answers
    ``delay_seconds`` of event time after each request. ``sections`` replace top-level keys;
    a mapping given for ``files`` is merged into the default file paths. The demo, the
    decision benchmark and the tests that run the daemon on a replay stream start from it.

    >>> doc = file_settings(Path("p.jsonl"), Path("out"), policy={"strategy": "random"})
    >>> doc["files"]["audit"], doc["policy"], "expert" in doc
    (PosixPath('out/audit.jsonl'), {'strategy': 'random'}, False)
    """
    files = {
        "predictions": predictions,
        "requests": out / "requests.jsonl",
        "audit": out / "audit.jsonl",
        "dead_letter": out / "dead-letter.jsonl",
        "state": out / "state.jsonl",
    }
    files.update(sections.pop("files", {}))
    doc: dict[str, Any] = {
        "source": "file",
        "classes": CLASSES,
        "clock": "event",
        "files": files,
        "server": {"enabled": False},
        "state_dir": out / "state",
        "log_level": "error",
    }
    if truth is not None:
        doc["expert"] = {"truth": truth, "delay_seconds": delay_seconds}
    doc.update(sections)
    return doc

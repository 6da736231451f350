"""The label-efficiency bench's scikit-activeml adapter feeds the same values as before."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from daemon.tools.streams import Example

BENCH = Path(__file__).resolve().parents[3] / "bench" / "label_efficiency.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("label_efficiency", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("label_efficiency", module)
    spec.loader.exec_module(module)
    return module


def _naive(ex: Example) -> np.ndarray:
    """The per-item definition the cached order replaces."""
    values = [float(v) for _, v in sorted(ex.features.items()) if isinstance(v, int | float)]
    return np.asarray(values, dtype=float)


def test_vector_matches_sorting_each_item() -> None:
    vector = _bench()._Vectorizer()
    items = [
        Example({"b": 2.5, "a": 1, "seg": "x", "c": True}, "y", {}),
        Example({"b": -1.0, "a": 3.0, "seg": "z", "c": False}, "n", {}),
        Example({"z": 0.5, "a": 7}, "y", {}),  # another key set: its own order
        Example({"a": 2, "seg": "x", "b": 0.0, "c": True}, "n", {}),  # same keys, other order
    ]
    for ex in items:
        assert vector(ex).tolist() == _naive(ex).tolist()


def test_vector_refuses_a_feature_that_stops_being_numeric() -> None:
    vector = _bench()._Vectorizer()
    vector(Example({"a": 1.0, "b": 2.0}, "y", {}))
    with pytest.raises(TypeError):
        vector(Example({"a": "one", "b": 2.0}, "y", {}))

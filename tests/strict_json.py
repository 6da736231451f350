"""A JSON reader that refuses what Python's ``json`` module accepts but JSON does not."""

from __future__ import annotations

import json
from typing import Any


def _refuse(token: str) -> Any:
    raise ValueError(f"not JSON: the constant {token}")


def strict_loads(text: str | bytes) -> Any:
    """Parse ``text`` like a strict JSON parser: ``NaN``, ``Infinity``, ``-Infinity`` raise."""
    return json.loads(text, parse_constant=_refuse)

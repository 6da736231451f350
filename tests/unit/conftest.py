"""Fixtures shared by the unit tests (no broker, no network beyond localhost)."""

import os

import pytest


@pytest.fixture(autouse=True)
def _no_labelgate_env(monkeypatch):
    """Settings read LABELGATE_* variables; a developer's shell must not leak into unit tests."""
    for name in list(os.environ):
        if name.upper().startswith("LABELGATE_"):
            monkeypatch.delenv(name)

"""Shared fixtures. Engines here are in memory unless a test asks for a home on disk."""

from __future__ import annotations

import os

import pytest

for _var in [v for v in os.environ if v.startswith("TEXTUAL_")] + ["NO_COLOR"]:
    os.environ.pop(_var, None)

from engine import Engine  # noqa: E402


@pytest.fixture
def engine() -> Engine:
    """An empty in-memory engine (unseeded: real OpenSSL randomness)."""
    return Engine.in_memory()


@pytest.fixture
def seeded() -> Engine:
    """An empty in-memory engine with seed 1 (deterministic ids and key material)."""
    return Engine.in_memory(seed=1)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh CMKLAB_HOME for tests that use the real store."""
    h = tmp_path / "home"
    monkeypatch.setenv("CMKLAB_HOME", str(h))
    return h

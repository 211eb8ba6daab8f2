"""Fixtures of the classroom tests: a served classroom (see classroom_helpers.py)."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from classroom_helpers import start_classroom, stop_classroom  # noqa: E402


@pytest.fixture
def classroom(tmp_path):
    """A served classroom of two trainees (trainee-01, trainee-02) on scenario disable-key."""
    served = start_classroom(tmp_path / "room")
    try:
        yield served
    finally:
        stop_classroom(served)

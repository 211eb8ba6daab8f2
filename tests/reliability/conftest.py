"""The reliability suites' session summary: the figures each suite counted (see reliability_harness.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import reliability_harness as harness  # noqa: E402


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not harness.FIGURES:
        return
    mode = "long (CMKLAB_LONG=1)" if harness.LONG else "quick"
    terminalreporter.section(f"cmklab reliability figures, {mode} mode")
    for line in harness.figures_text():
        terminalreporter.write_line(line)
    target = os.environ.get("CMKLAB_FIGURES")
    if target:
        harness.write_figures(target)

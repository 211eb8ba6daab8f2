"""Moved to :mod:`console.cli.replay` (the command registry's replay script). This name stays only until
``console/screens`` (being moved by another change) imports ``console.cli.replay``; then it goes."""

from .cli.replay import AZ, CMKLAB, Raw, az_lines, join, script

__all__ = ["AZ", "CMKLAB", "Raw", "az_lines", "join", "script"]

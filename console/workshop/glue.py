"""The workshop's console glue: the one module of :mod:`console.workshop` that reaches the Textual console.

``cmklab scenario run`` opens the console on the lab's home when it runs in a terminal; ``main`` is the
``python -m console.workshop`` entry point: the ``cmklab`` program (``console.main``).
The rest of the package (scenario data and parsing, objectives, the Lab model, the ``cmklab scenario``
CLI) imports no textual: an import-linter contract in pyproject.toml holds it to that, with this
module's imports of the console as its only exception. Import this module lazily, where a console opens.
"""

from __future__ import annotations

import sys
from pathlib import Path


def open_console(home: Path) -> int:
    """Run the console on ``home`` until the user quits; 0 when the console cannot be loaded here."""
    try:
        from console.app import run_console
    except ImportError:
        return 0
    return run_console(home=str(home)) or 0


def main(argv: list[str] | None = None) -> int:
    """``python -m console.workshop [GLOBAL OPTIONS] scenario|serve ...``: the ``cmklab`` program itself
    (``console.main``: one argument tree, which parses the global options)."""
    from console.main import main as cmklab

    return cmklab(list(sys.argv[1:] if argv is None else argv))

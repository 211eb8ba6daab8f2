"""Small side files kept with a home's state (the console's command log): ``db/.NAME.json``.

They live in the ``db`` directory so that they go with the state: removed with it (``remove_state``,
``scenario run --reset``), replaced with it (``move_state``). Their names start with a dot, so they
are not part of :func:`store.state_files` (two homes that went through the same commits still hold
the same state bytes). Written atomically: a temporary file (whose name does not end in ``.tmp``,
so a writer's clean-up of dead temporaries never takes it), fsync, rename.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ._compat import fsync_dir
from .storage import atomic_write


def note_path(home: str | os.PathLike, name: str) -> str:
    return os.path.join(os.fspath(home), "db", f".{name}.json")


def read_note(home: str | os.PathLike, name: str) -> Any:
    """The note's JSON value, or None when there is none (or it cannot be read)."""
    try:
        with open(note_path(home, name), "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def write_note(home: str | os.PathLike, name: str, value: Any) -> None:
    """Replace the note atomically (mode 0600, as every file of a home). Raises ``OSError`` when it cannot
    be written (the old one stays)."""
    path = note_path(home, name)
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, _st = atomic_write(path, json.dumps(value, separators=(",", ":")).encode(), suffix=".new")
    os.close(fd)
    fsync_dir(directory)


__all__ = ["note_path", "read_note", "write_note"]

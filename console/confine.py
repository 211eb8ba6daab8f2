"""Files a console user names (a PEM to import, where to export the command log), kept inside one
directory when the console runs for a classroom.

``cmklab classroom`` starts each trainee's console with ``CMKLAB_CONFINE=HOME/files``: a browser
console runs as the trainer's user on the trainer's machine, so a path typed in it must not reach
another trainee's home, the classroom's tokens, or any other file of that user. There, a relative path
is taken from that directory and a path that resolves outside it (``..``, an absolute path, a symbolic
link) is refused, and what the console says names a file by its path inside that directory, never by
its path on the trainer's machine. Without the variable (a console in a terminal of your own), paths are
used and shown as typed.

A console served to a browser (``cmklab serve``, ``cmklab classroom``) is also given its lab's name in
``CMKLAB_LAB_NAME``: its header names the lab, not the home's path on the server.
"""

from __future__ import annotations

import os

ENV = "CMKLAB_CONFINE"
LAB_ENV = "CMKLAB_LAB_NAME"


def lab_name() -> str | None:
    """The name a served console shows for its lab (``LAB_ENV``), or None (a console in a terminal of your
    own shows its store's path)."""
    return os.environ.get(LAB_ENV) or None


def files_root() -> str | None:
    """The directory file paths are confined to, or None."""
    root = os.environ.get(ENV)
    return os.path.realpath(root) if root else None


def user_path(value: str) -> str:
    """The file ``value`` names, as this console may use it; ``ValueError`` (naming the allowed
    directory) when it is confined and ``value`` leads out of it."""
    root = files_root()
    path = os.path.expanduser(str(value))
    if root is None:
        return path
    full = os.path.realpath(os.path.join(root, path))
    if full != root and not full.startswith(root + os.sep):
        raise ValueError(f"{value}: not allowed here; files are kept in this lab's files directory (give a name, "
                         "or a path inside it)")
    return full


def shown_path(path: str) -> str:
    """``path`` as the console names it: inside the confined directory, relative to it (``session.sh``), not
    by its path on the trainer's machine; as it is when nothing is confined."""
    root = files_root()
    if root is None:
        return str(path)
    full = os.path.realpath(os.path.join(root, os.path.expanduser(str(path))))
    if full == root:
        return "."
    if full.startswith(root + os.sep):
        return os.path.relpath(full, root)
    return os.path.basename(full)


def default_path(name: str, fallback_dir: str) -> str:
    """Where a file the console writes goes by default: in the confined directory, if any (then named by
    ``name`` alone, which ``user_path`` takes from that directory)."""
    return name if files_root() is not None else os.path.join(fallback_dir, name)


__all__ = ["ENV", "LAB_ENV", "default_path", "files_root", "lab_name", "shown_path", "user_path"]

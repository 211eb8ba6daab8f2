"""Which facade methods change state, said once: on the method, with ``@action``.

Every front end asks here (through :func:`engine.facade.changes_state` and
:func:`engine.facade.previewable`) instead of keeping its own list: the CLI's what-if, the console's
confirmations and read-only footer, the command log. A new action is one decorator on its backend
method; nothing else needs to learn about it.

``previewable=False`` marks an action what-if cannot preview (the data plane: a VM's write changes the
bytes on a disk, not the resources what-if reports on).
"""

from __future__ import annotations

from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)

ACTION_ATTR = "__cmklab_action__"


def action(fn: F | None = None, *, previewable: bool = True):
    """Mark a facade method as one that changes state (``@action`` or ``@action(previewable=False)``)."""
    def mark(f: F) -> F:
        setattr(f, ACTION_ATTR, "previewable" if previewable else "action")
        return f
    return mark(fn) if fn is not None else mark


def actions_of(cls: type) -> dict[str, bool]:
    """Every action of ``cls`` (its methods marked with :func:`action`): name -> previewable."""
    out = {}
    for name in sorted(dir(cls)):
        mark = getattr(getattr(cls, name, None), ACTION_ATTR, None)
        if mark is not None:
            out[name] = mark == "previewable"
    return out

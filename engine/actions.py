"""Which facade methods change state, said once: on the method, with ``@action``.

Every front end asks here (through :func:`engine.facade.changes_state` and
:func:`engine.facade.previewable`) instead of keeping its own list: the CLI's what-if, the console's
confirmations and read-only footer, the command log. A new action is one decorator on its backend
method; nothing else needs to learn about it.

``previewable=False`` marks an action what-if cannot preview (the data plane: a VM's write changes the
bytes on a disk, not the resources what-if reports on).

The decorator is also the facade's one dispatch point for actions: inside ``Engine.acting_as(...,
origin=...)`` (the endpoint serving a real client), the outermost action notes its own call in the origin
(:func:`call_note`: its name and keyword arguments, JSON-safe, bounded, never a secret), so that every
journal line it writes says which engine call made it and a reader (the console's command log) can say
that call in ``cmklab az`` words. Outside such a block the decorator adds one attribute test per call.
"""

from __future__ import annotations

import functools
import threading
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable)

ACTION_ATTR = "__cmklab_action__"

NOTE_LIMIT = 4096
"""The most characters (as JSON) a call note's arguments take; past it, the large ones are left out."""
VALUE_LIMIT = 256
"""When a note is past :data:`NOTE_LIMIT`, an argument larger than this (as JSON) is left out."""
SECRET_ARGS = frozenset({"pem", "password", "data", "value", "signature", "secret", "admin_password",
                         "custom_data", "protected_settings", "client_secret"})
"""Parameters a note never carries (key material, passwords, a VM's bytes, a key operation's input)."""
SECRET_KEYS = frozenset({"adminpassword", "customdata", "protectedsettings", "password", "secret",
                         "clientsecret", "privatekey"})
"""Keys (lower case) dropped from any object in a note's arguments, at any depth."""


def action(fn: F | None = None, *, previewable: bool = True):
    """Mark a facade method as one that changes state (``@action`` or ``@action(previewable=False)``)."""
    def mark(f: F) -> F:
        name = f.__name__

        @functools.wraps(f)
        def run(self, *args, **kwargs):
            if self._origin is None or self._origin_thread != threading.get_ident() or self._noting:
                return f(self, *args, **kwargs)
            return _noted(self, f, name, args, kwargs)

        setattr(run, ACTION_ATTR, "previewable" if previewable else "action")
        return run  # type: ignore[return-value]
    return mark(fn) if fn is not None else mark


def _noted(engine, f: Callable, name: str, args: tuple, kwargs: dict):
    """Run the outermost action of an origin's block with its call noted in the origin (``call``) while
    it runs; the actions it calls in turn are part of it, not noted again."""
    origin = engine._origin
    engine._origin_calls += 1
    origin["call"] = call_note(f, name, args, kwargs, engine._origin_calls)
    engine._noting = True
    try:
        return f(engine, *args, **kwargs)
    finally:
        engine._noting = False
        origin.pop("call", None)


def call_note(f: Callable, name: str, args: tuple, kwargs: dict, n: int = 1) -> dict:
    """``{"n", "action", "args"[, "omitted"]}``: the call of action ``name`` by parameter name (only those
    given), JSON-native. Never a secret: a parameter of :data:`SECRET_ARGS`, bytes, a key of
    :data:`SECRET_KEYS` in an object, a private parameter (``_by_platform``) or a value JSON cannot say is
    left out (its name in ``omitted``); past :data:`NOTE_LIMIT` the largest values are left out too."""
    import inspect
    import json

    try:
        bound = inspect.signature(f).bind(None, *args, **kwargs).arguments
    except TypeError:  # the call itself fails the same way: nothing to note but its name
        return {"n": n, "action": name, "args": {}, "omitted": ["(arguments)"]}
    out: dict[str, Any] = {}
    omitted: list[str] = []
    for i, (param, value) in enumerate(bound.items()):
        if i == 0:
            continue  # self
        if param.startswith("_") or param.lower() in SECRET_ARGS:
            omitted.append(param)
            continue
        safe = _safe(value)
        if safe is _OMIT:
            omitted.append(param)
        else:
            out[param] = safe
    if len(json.dumps(out, default=str)) > NOTE_LIMIT:
        for param in sorted(out, key=lambda p: -len(json.dumps(out[p], default=str))):
            if len(json.dumps(out[param], default=str)) > VALUE_LIMIT or len(json.dumps(out, default=str)) > NOTE_LIMIT:
                out.pop(param)
                omitted.append(param)
    note = {"n": n, "action": name, "args": out}
    if omitted:
        note["omitted"] = omitted
    return note


_OMIT = object()


def _safe(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON says it, without secrets; :data:`_OMIT` when it cannot be said safely."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 8 or isinstance(value, (bytes, bytearray, memoryview)):
        return _OMIT
    if isinstance(value, Enum):
        return _safe(value.value, depth + 1)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{int(value.total_seconds())}s"
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_safe(v, depth + 1) for v in (sorted(value, key=str) if isinstance(value, (set, frozenset))
                                               else value)]
        return _OMIT if any(v is _OMIT for v in items) else items
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                return _OMIT
            if k.lower() in SECRET_KEYS:
                continue
            v = _safe(v, depth + 1)
            if v is not _OMIT:
                out[k] = v
        return out
    return _OMIT


def actions_of(cls: type) -> dict[str, bool]:
    """Every action of ``cls`` (its methods marked with :func:`action`): name -> previewable."""
    out = {}
    for name in sorted(dir(cls)):
        mark = getattr(getattr(cls, name, None), ACTION_ATTR, None)
        if mark is not None:
            out[name] = mark == "previewable"
    return out

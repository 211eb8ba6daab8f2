"""cmklab's one record mechanism: ``@dataclass`` for plain data classes (engine models, the CLI's specs, the
workshop's scenarios, the endpoint's requests ...).

``dataclasses.dataclass`` execs generated source for every class and imports ``inspect``; the CLI
starts a new process for every command, and those imports were a third of its start-up. This one
builds ``__init__`` (positional or keyword, defaults, ``field(default_factory=...)``), ``__eq__`` and
``__repr__`` from the class annotations, with no code generation. ``frozen=True`` makes instances
read-only after ``__init__`` (and hashable). ``field(repr=False)`` keeps a field out of ``repr``;
:func:`replace` is ``dataclasses.replace``. The console's Textual messages are records too (``__init__`` calls
Textual's ``Message.__post_init__``, as a stdlib dataclass's does).
"""

from __future__ import annotations

from typing import Any

_MISSING = object()


class _Field:
    __slots__ = ("default_factory", "default", "repr")

    def __init__(self, default_factory=None, default=_MISSING, repr=True) -> None:
        self.default_factory = default_factory
        self.default = default
        self.repr = repr

    @property
    def required(self) -> bool:
        return self.default_factory is None and self.default is _MISSING


def field(*, default_factory=None, default=_MISSING, repr: bool = True):
    return _Field(default_factory, default, repr)


def replace(obj, **changes):
    """A copy of the record ``obj`` with ``changes`` (as ``dataclasses.replace``)."""
    cls = type(obj)
    return cls(**{**{n: obj.__dict__[n] for n in cls.__light_fields__}, **changes})


class FrozenInstanceError(AttributeError):
    """Raised when assigning to a frozen instance (as dataclasses.FrozenInstanceError)."""


def dataclass(cls=None, *, frozen: bool = False, shared_init: bool = False):
    """``shared_init``: the class and the subclasses :func:`record` makes of it share one ``__init__``, which
    reads the class's fields from it (a little slower per instance, and no method made per subclass)."""
    def wrap(klass):
        names: list[str] = list(getattr(klass, "__light_fields__", ()))
        defaults: dict = dict(getattr(klass, "__light_defaults__", {}))
        hidden: set = set(getattr(klass, "__light_hidden__", ()))
        for name, ann in klass.__dict__.get("__annotations__", {}).items():
            if "ClassVar" in str(ann):
                continue
            if name not in names:
                names.append(name)
            if name in klass.__dict__:
                value = klass.__dict__[name]
                if isinstance(value, _Field):
                    if not value.repr:
                        hidden.add(name)
                    if value.required:
                        delattr(klass, name)
                        continue
                    if value.default_factory is None:
                        setattr(klass, name, value.default)
                    else:
                        delattr(klass, name)
                defaults[name] = value
        for attr, value in _methods(klass.__name__, tuple(names), defaults, frozenset(hidden), frozen,
                                    shared_init=shared_init).items():
            setattr(klass, attr, value)
        return klass

    return wrap(cls) if cls is not None else wrap


def record(name: str, base: type, fields: dict, namespace: dict | None = None) -> type:
    """A subclass of the record class ``base`` with more ``fields`` (name -> default), made in one step: what
    ``@dataclass`` makes of a subclass, for classes made by the dozen (the engine's event kinds)."""
    names = base.__light_fields__ + tuple(f for f in fields if f not in base.__light_fields__)
    frozen = base.__setattr__ is _frozen_setattr
    body = _methods(name, names, {**base.__light_defaults__, **fields}, base.__light_hidden__, frozen,
                    inherited=True, shared_init=base.__init__ is _shared_init)
    return type(name, (base,), {**(namespace or {}), **body, **{f: d for f, d in fields.items()}})


def _methods(name: str, ordered: tuple, defaults: dict, hidden: frozenset, frozen: bool, *,
             inherited: bool = False, shared_init: bool = False) -> dict:
    """A record class's attributes: its fields, defaults and hidden fields, ``__init__`` (or, ``shared_init``,
    what the shared one reads), and (unless ``inherited`` from a record base) ``__eq__``, ``__repr__``,
    ``__setattr__`` and ``__hash__``."""
    # set up once per class: __init__ then fills a model with three C-level dict updates (importing
    # 100,000 resources builds a quarter of a million models)
    known = frozenset(ordered)
    required = tuple(n for n in ordered if n not in defaults)
    template = dict.fromkeys(ordered)  # the fields in their order
    plain = {}
    factories = []
    for field_name in ordered:
        if field_name in defaults:
            dv = defaults[field_name]
            if isinstance(dv, _Field):
                if dv.default_factory is not None:
                    factories.append((field_name, dv.default_factory))
                else:
                    plain[field_name] = dv.default
            else:
                plain[field_name] = dv

    spec = (name, ordered, known, required, template, plain, tuple(factories))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _fill(self, spec, args, kwargs)

    out = {"__light_fields__": ordered, "__light_defaults__": defaults, "__light_hidden__": hidden}
    if not shared_init:
        out["__init__"] = __init__
    else:
        out["__light_init__"] = spec
        if not inherited:
            out["__init__"] = _shared_init
    if not inherited:
        out.update(__eq__=_eq, __repr__=_repr)
        out.update(__setattr__=_frozen_setattr, __hash__=_frozen_hash) if frozen else out.update(__hash__=None)
    return out


def _shared_init(self, *args: Any, **kwargs: Any) -> None:
    """The ``__init__`` of a ``shared_init`` record and its :func:`record` subclasses (as the one ``_methods``
    makes, with the class's fields read from it)."""
    _fill(self, type(self).__light_init__, args, kwargs)


def _fill(self, spec: tuple, args: tuple, kwargs: dict) -> None:
    """A record's fields from its constructor's arguments, its defaults and its factories; then its
    ``__post_init__``."""
    name, ordered, known, required, template, plain, factories = spec
    if args:
        if len(args) > len(ordered):
            raise TypeError(f"{name} takes at most {len(ordered)} positional arguments")
        for field_name, value in zip(ordered, args):
            kwargs[field_name] = value
    if not known.issuperset(kwargs):
        raise TypeError(f"{name} has no field(s) {', '.join(sorted(set(kwargs) - known))}")
    for field_name in required:
        if field_name not in kwargs:
            raise TypeError(f"{name} needs {field_name!r}")
    d = self.__dict__
    d.update(template)
    d.update(plain)
    d.update(kwargs)
    for field_name, factory in factories:
        if field_name not in kwargs:
            d[field_name] = factory()
    if hasattr(self, "__post_init__"):
        self.__post_init__()


def _eq(self, other: object) -> bool:
    return type(other) is type(self) and other.__dict__ == self.__dict__


def _repr(self) -> str:
    hidden = type(self).__light_hidden__
    shown = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k not in hidden)
    return f"{type(self).__name__}({shown})"


def _frozen_setattr(self, name, value):
    # __init__ fills self.__dict__ directly, so only later assignments reach __setattr__
    raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _frozen_hash(self) -> int:
    d = self.__dict__
    return hash(tuple(_hashable(d.get(n)) for n in type(self).__light_fields__))


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, set):
        return frozenset(value)
    return value

"""A light ``@dataclass`` for plain data classes on the CLI's import path.

``dataclasses.dataclass`` execs generated source for every class and imports ``inspect``; the CLI
starts a new process for every command, and those imports were a third of its start-up. This one
builds ``__init__`` (positional or keyword, defaults, ``field(default_factory=...)``), ``__eq__`` and
``__repr__`` from the class annotations, with no code generation. ``frozen=True`` makes instances
read-only after ``__init__``.
"""

from __future__ import annotations

from typing import Any


class _Field:
    __slots__ = ("default_factory", "default")

    def __init__(self, default_factory=None, default=None) -> None:
        self.default_factory = default_factory
        self.default = default


def field(*, default_factory=None, default=None):
    return _Field(default_factory, default)


class FrozenInstanceError(AttributeError):
    """Raised when assigning to a frozen instance (as dataclasses.FrozenInstanceError)."""


def dataclass(cls=None, *, frozen: bool = False):
    def wrap(klass):
        names: list[str] = list(getattr(klass, "__light_fields__", ()))
        defaults: dict = dict(getattr(klass, "__light_defaults__", {}))
        for name, ann in klass.__dict__.get("__annotations__", {}).items():
            if "ClassVar" in str(ann):
                continue
            if name not in names:
                names.append(name)
            if name in klass.__dict__:
                value = klass.__dict__[name]
                defaults[name] = value
                if isinstance(value, _Field):
                    if value.default_factory is None:
                        setattr(klass, name, value.default)
                    else:
                        delattr(klass, name)
        klass.__light_fields__ = tuple(names)
        klass.__light_defaults__ = defaults
        ordered = tuple(names)

        # set up once per class: __init__ then fills a model with three C-level dict updates (importing
        # 100,000 resources builds a quarter of a million models)
        known = frozenset(ordered)
        required = tuple(n for n in ordered if n not in defaults)
        template = dict.fromkeys(ordered)  # the fields in their order
        plain = {}
        factories = []
        for name in ordered:
            if name in defaults:
                dv = defaults[name]
                if isinstance(dv, _Field):
                    if dv.default_factory is not None:
                        factories.append((name, dv.default_factory))
                    else:
                        plain[name] = dv.default
                else:
                    plain[name] = dv

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if args:
                if len(args) > len(ordered):
                    raise TypeError(f"{klass.__name__} takes at most {len(ordered)} positional arguments")
                for name, value in zip(ordered, args):
                    kwargs[name] = value
            if not known.issuperset(kwargs):
                raise TypeError(f"{klass.__name__} has no field(s) {', '.join(sorted(set(kwargs) - known))}")
            for name in required:
                if name not in kwargs:
                    raise TypeError(f"{klass.__name__} needs {name!r}")
            d = self.__dict__
            d.update(template)
            d.update(plain)
            d.update(kwargs)
            for name, factory in factories:
                if name not in kwargs:
                    d[name] = factory()
            if hasattr(self, "__post_init__"):
                self.__post_init__()

        def __eq__(self, other: object) -> bool:
            return type(other) is type(self) and other.__dict__ == self.__dict__

        def __repr__(self) -> str:
            return f"{klass.__name__}({', '.join(f'{k}={v!r}' for k, v in self.__dict__.items())})"

        klass.__init__ = __init__
        klass.__eq__ = __eq__
        klass.__repr__ = __repr__
        if frozen:
            # __init__ fills self.__dict__ directly, so only later assignments reach __setattr__
            def __setattr__(self, name, value):
                raise FrozenInstanceError(f"cannot assign to field {name!r} of a frozen {klass.__name__}")

            def __hash__(self):
                return hash(tuple(_hashable(self.__dict__.get(n)) for n in ordered))

            klass.__setattr__ = __setattr__
            klass.__hash__ = __hash__
        else:
            klass.__hash__ = None
        return klass

    return wrap(cls) if cls is not None else wrap


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    if isinstance(value, set):
        return frozenset(value)
    return value

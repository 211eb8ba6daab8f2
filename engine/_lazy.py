"""cmklab's one lazy-import idiom: ``module(name)``, a stand-in that imports the module on first attribute use.

cryptography's compiled bindings are a fifth of a CLI call's start-up, and most commands (``show``, ``list``)
never encrypt anything: engine modules say ``from ._lazy import crypto`` and use it as the module; the CLI's
command specs take ``engine.views`` the same way (``--help`` and usage errors never import the engine's views).
Anywhere else, a function-level ``import`` is the idiom.
"""

from __future__ import annotations

import importlib


class _LazyModule:
    def __init__(self, name: str) -> None:
        self.__dict__["_name"] = name
        self.__dict__["_module"] = None

    def __getattr__(self, attr: str):
        mod = self.__dict__["_module"]
        if mod is None:
            mod = self.__dict__["_module"] = importlib.import_module(self.__dict__["_name"])
        return getattr(mod, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_name']!r}>"


def module(name: str) -> _LazyModule:
    """The module ``name``, imported when an attribute of it is first read."""
    return _LazyModule(name)


crypto = module("engine.crypto")

"""``crypto``: engine.crypto, imported on first use.

cryptography's compiled bindings are a fifth of a CLI call's start-up, and most commands
(``show``, ``list``) never encrypt anything; modules say ``from ._lazy import crypto`` and use it
as the module.
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


crypto = _LazyModule("engine.crypto")

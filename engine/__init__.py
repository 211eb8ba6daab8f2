"""cmklab's engine: key vaults, keys, disk encryption sets, disks and VMs, with real envelope encryption.

Headless: nothing here imports textual, rich, tinydb or the console. Persistence is reached through
:mod:`engine.repository`'s interfaces, implemented by ``store/``.
"""

from .errors import EngineError
from .facade import ACTIONS, Engine, Impact

__all__ = ["ACTIONS", "Engine", "EngineError", "Impact"]

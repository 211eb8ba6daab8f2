"""Persistence for cmklab: the engine's ``StateStore`` and ``BlobStore`` on TinyDB and the file system.

This is the only package that imports tinydb. ``open_store(home)`` (or ``TinyStore(home)``) gives a
store whose state lives in ``home/state.json``, written atomically once per unit of work (see
``store.storage`` for why and how, ``store.tinystore`` for the layout, locking and change detection,
``store.blobs`` for disk ciphertext and ``store.rootkey`` for the simulated HSM root key).
"""

from engine.errors import StoreError

from .blobs import FileBlobStore
from .rootkey import ROOT_KEY_SIZE, load_or_create_root_key
from .storage import AtomicJSONStorage
from .tinystore import SCHEMA_VERSION, TinyStore, open_store

__all__ = [
    "AtomicJSONStorage",
    "FileBlobStore",
    "ROOT_KEY_SIZE",
    "SCHEMA_VERSION",
    "StoreError",
    "TinyStore",
    "load_or_create_root_key",
    "open_store",
]

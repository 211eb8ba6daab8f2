"""Persistence for cmklab: the engine's ``StateStore`` and ``BlobStore`` on TinyDB and the file system.

This is the only package that imports tinydb. ``open_store(home)`` (or ``TinyStore(home)``) gives a
store whose state lives in ``home/db/``: TinyDB files, one per shard of each table, and a commit log that
takes one fsync'd append per unit of work (``store.tinystore`` for the layout, commits, compaction,
migration and change detection; ``store.storage`` for atomic file replaces; ``store.locking`` for the
inter-process lock; ``store.blobs`` for disk ciphertext and ``store.rootkey`` for the simulated HSM
root key).
"""

from engine.errors import StoreError

from .blobs import FileBlobStore
from .rootkey import ROOT_KEY_SIZE, load_or_create_root_key
from .storage import AtomicJSONStorage
from .tinystore import (SCHEMA_VERSION, TinyStore, has_state, move_state, open_store, remove_state,
                        state_files)

__all__ = [
    "AtomicJSONStorage",
    "FileBlobStore",
    "ROOT_KEY_SIZE",
    "SCHEMA_VERSION",
    "StoreError",
    "TinyStore",
    "has_state",
    "move_state",
    "remove_state",
    "state_files",
    "load_or_create_root_key",
    "open_store",
]

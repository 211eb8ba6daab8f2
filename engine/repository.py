"""The engine's side of persistence: the interfaces a store must implement.

The engine never imports a storage library. It talks to a :class:`StateStore` (documents
grouped in tables, committed once per unit of work) and a :class:`BlobStore` (the
ciphertext of disk data). ``store/`` implements both on TinyDB and the file system;
:class:`MemoryStore` here implements them in memory for tests and throw-away engines.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from typing import Any, Iterable, Iterator, Protocol

Docs = dict[str, dict[str, dict]]
"""All documents: ``{table: {key: document}}``. Keys are strings (resource ids)."""

SIDE_DOCUMENTS = ("scenario",)
"""The side documents a store keeps beside its state (:meth:`StateStore.read_side`): small JSON values that are
not part of the state (no commit, no journal, no generation), each written whole. ``scenario``: the progress of
the workshop lab played on the store (which scenario, which step, the steps completed)."""


def check_side(name: str) -> str:
    """``name`` if it is one of :data:`SIDE_DOCUMENTS`; :class:`ValueError` otherwise."""
    if name not in SIDE_DOCUMENTS:
        raise ValueError(f"unknown side document {name!r}; side documents: {', '.join(SIDE_DOCUMENTS)}")
    return name


class BlobStore(Protocol):
    """Byte storage for disk ciphertext, one blob per disk (sparse; unwritten bytes read as zero)."""

    def read(self, blob_id: str, offset: int, length: int) -> bytes:
        """Return ``length`` bytes from ``offset``; bytes never written read as zero."""

    def map(self, blob_id: str, offset: int, length: int):
        """The stored bytes of ``[offset, offset + length)`` as a read-only buffer without a copy (a memory map),
        shorter where the blob ends sooner (the rest reads as zero); or None: the caller uses :meth:`read`."""

    def write(self, blob_id: str, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset``; durable (fsynced) when it returns."""

    def writev(self, blob_id: str, offset: int, parts: Iterable) -> None:
        """Write ``parts`` back to back from ``offset``; durable when it returns (one sync). ``parts`` is drawn
        one at a time and each is written before the next is drawn (a producer may reuse one buffer)."""

    def copy(self, src_id: str, dst_id: str) -> None:
        """Make ``dst_id`` a byte-for-byte copy of ``src_id`` (an empty blob if src has none)."""

    def delete(self, blob_id: str) -> None:
        """Remove a blob; no error if it does not exist."""

    def extents(self, blob_id: str) -> list[tuple[int, int]]:
        """``(offset, length)`` of the regions that may hold data (holes of a sparse file excluded)."""


class StateStore(Protocol):
    """Where the engine's documents live between processes."""

    path: str | None
    """The file the state lives in (None for memory)."""

    blobs: BlobStore

    read_only: bool
    """Opened read-only: ``commit`` and ``append_log`` refuse with :class:`~engine.errors.ReadOnly` (the one
    place a read-only session is enforced; the engine and the front ends ask it)."""

    def load(self) -> Docs:
        """Read every table (never the store's own meta table): a full read, for tools and tests."""

    def refresh(self):
        """Take the persisted state as it is now as this store's view. None: nothing changed; a dict
        ``{table: {key: document or None}}``: only these documents changed (another process appended
        commits); ``"reset"``: the view was read again from scratch (re-read every table you need)."""

    def shard_of(self, key: str) -> int:
        """The shard a document key belongs to (documents are read a shard at a time)."""

    def shards(self, table: str) -> Iterable[int]:
        """The shards of ``table`` that may hold documents."""

    def load_shard(self, table: str, shard: int) -> dict[str, dict]:
        """The documents of one shard of a table, as the view sees them; the caller owns them."""

    def load_doc(self, table: str, key: str) -> dict | None:
        """One document as the view sees it (None if there is none), reading no more than it needs; the
        caller owns it."""

    def commit(self, upserts: Docs, deletes: dict[str, list[str]], *, shred: bool = False,
               log: list[tuple[str, dict]] = ()) -> list[str]:
        """Apply one unit of work and persist it atomically, at a cost proportional to the change.
        ``shred``: the change destroys key material; no persisted copy of it may remain afterwards.
        ``log``: the action's ``(log, document)`` pairs (logs ``audit`` and ``events``), committed with the
        change, atomically: sets and returns their ids (increasing), as :meth:`append_log`.
        The documents are the engine's live models' fields: a store serialises or copies them before it
        returns and keeps no reference to them."""

    generation: int
    """How many state commits this store has seen (journal lines are tagged with it)."""

    def append_log(self, entries: list[tuple[str, dict]], gen: int | None = None) -> list[str]:
        """Append ``(log, document)`` pairs (logs ``audit`` and ``events``) of an action that changes no
        state to the journal with one write, for state generation ``gen`` (default: the current one); sets
        and returns their ids (increasing). Durable when it returns. (An action that changes state passes
        its pairs to :meth:`commit`.) Readers ignore lines of a generation the state never reached."""

    def read_log(self, name: str) -> list[dict]:
        """Every document of the log of a committed generation, oldest first."""

    def read_log_since(self, name: str | tuple[str, ...], start: int) -> tuple[list[dict], int]:
        """The documents of the log from position ``start`` (0, or what an earlier call returned) on, and
        the position after them: a reader that follows the log reads only what is new. ``name`` a tuple of
        logs: the documents of each, in the order they were appended, each keeping its ``log`` (positions
        then count in that merged sequence: from :meth:`log_end` of the same tuple)."""

    def log_end(self, name: str | tuple[str, ...]) -> int:
        """The position after the last committed document of the log (what :meth:`read_log_since` returns
        once it has read everything), found without reading the log's history."""

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """An exclusive inter-process lock held for one read-modify-write."""

    def changed(self) -> bool:
        """True when the persisted state differs from what this process last loaded or committed."""

    def read_side(self, name: str) -> Any:
        """The JSON value of the side document ``name`` (one of :data:`SIDE_DOCUMENTS`, else
        :class:`ValueError`), or None when there is none. A document that cannot be parsed is a
        :class:`~engine.errors.StoreError`."""

    def write_side(self, name: str, value: Any) -> None:
        """Replace the side document ``name`` with ``value`` (JSON), atomically and under :meth:`lock`; refused
        with :class:`~engine.errors.ReadOnly` when the store was opened read-only."""

    def side_signature(self, name: str):
        """Something cheap that changes whenever the side document ``name`` is written (by any process), or
        None when there is none: a reader compares it with the one it saw to know when to read again."""

    def root_key(self) -> bytes:
        """The 32-byte root key that seals key material (the simulated HSM boundary)."""

    def close(self) -> None:
        """Release files and locks."""


class MemoryBlobStore:
    """Blobs in a dict of bytearrays."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytearray] = {}

    def read(self, blob_id: str, offset: int, length: int) -> bytes:
        blob = self._blobs.get(blob_id, bytearray())
        out = bytes(blob[offset : offset + length])
        return out + bytes(length - len(out))

    def map(self, blob_id: str, offset: int, length: int) -> None:
        return None  # a view of a bytearray would stop it from growing while it lives: the engine reads

    def write(self, blob_id: str, offset: int, data: bytes) -> None:
        blob = self._blobs.setdefault(blob_id, bytearray())
        if len(blob) < offset:
            blob.extend(bytes(offset - len(blob)))
        blob[offset : offset + len(data)] = data

    def writev(self, blob_id: str, offset: int, parts: Iterable) -> None:
        for p in parts:
            self.write(blob_id, offset, p)
            offset += len(p)

    def copy(self, src_id: str, dst_id: str) -> None:
        self._blobs[dst_id] = bytearray(self._blobs.get(src_id, bytearray()))

    def delete(self, blob_id: str) -> None:
        self._blobs.pop(blob_id, None)

    def extents(self, blob_id: str) -> list[tuple[int, int]]:
        blob = self._blobs.get(blob_id)
        return [(0, len(blob))] if blob else []

    def raw(self, blob_id: str) -> bytes:
        """Everything stored for a blob (tests look at ciphertext with it)."""
        return bytes(self._blobs.get(blob_id, b""))


def refuse_if_read_only(store, what: str = "this change") -> None:
    """Raise :class:`~engine.errors.ReadOnly` when ``store`` was opened read-only."""
    if getattr(store, "read_only", False):
        from .errors import ReadOnly

        where = getattr(store, "home", None) or getattr(store, "path", None) or "this store"
        raise ReadOnly(f"{where} was opened read-only (--read-only): {what} was refused and nothing was "
                       "changed; queries and what-if previews work, run without --read-only to act")


class MemoryStore:
    """A :class:`StateStore` in memory: same contract, no files."""

    path: str | None = None

    def __init__(self, root_key: bytes | None = None, *, read_only: bool = False) -> None:
        self.read_only = read_only
        self._docs: Docs = {}
        self._root = root_key or os.urandom(32)
        self.blobs = MemoryBlobStore()
        self.commits = 0
        """How many commits were made (tests assert one write per user action)."""
        self.logs: dict[str, list[dict]] = {}
        self.journal_lines = 0
        self.appends = 0
        """How many journal appends were made alone (one per action that audits or emits events but changes
        no state: an action that changes state carries its lines in its commit)."""
        self._side: dict[str, tuple[int, str]] = {}
        """Side documents: name -> (how many times it was written, its JSON text)."""

    def load(self) -> Docs:
        return copy.deepcopy(self._docs)

    def refresh(self):
        return None

    def shard_of(self, key: str) -> int:
        return 0

    def shards(self, table: str) -> list[int]:
        return [0] if self._docs.get(table) else []

    def load_shard(self, table: str, shard: int) -> dict[str, dict]:
        return copy.deepcopy(self._docs.get(table, {}))

    def load_doc(self, table: str, key: str) -> dict | None:
        doc = self._docs.get(table, {}).get(key)
        return None if doc is None else copy.deepcopy(doc)

    def commit(self, upserts: Docs, deletes: dict[str, list[str]], *, shred: bool = False,
               log: list[tuple[str, dict]] = ()) -> list[str]:
        refuse_if_read_only(self)
        for name, _doc in log:
            if name not in ("audit", "events"):
                raise ValueError(f"unknown log {name!r}; logs: audit, events")
        for table, docs in upserts.items():
            self._docs.setdefault(table, {}).update(copy.deepcopy(docs))
        for table, keys in deletes.items():
            for key in keys:
                self._docs.get(table, {}).pop(key, None)
        self.commits += 1
        return self._add_lines(log, self.commits)

    @property
    def generation(self) -> int:
        return self.commits

    def append_log(self, entries: list[tuple[str, dict]], gen: int | None = None) -> list[str]:
        refuse_if_read_only(self)
        if entries:
            self.appends += 1
        return self._add_lines(entries, self.commits if gen is None else gen)

    def _add_lines(self, entries: list[tuple[str, dict]], gen: int) -> list[str]:
        for log in self.logs.values():  # drop orphans: lines of a generation never committed
            log[:] = [d for d in log if d.get("_gen", 0) <= self.commits]
        self.journal_lines = sum(len(v) for v in self.logs.values())
        ids = []
        for name, doc in entries:
            self.journal_lines += 1
            doc["id"] = f"{self.journal_lines:09d}"
            self.logs.setdefault(name, []).append(dict(copy.deepcopy(doc), _gen=gen))
            ids.append(doc["id"])
        return ids

    def read_log_since(self, name: str | tuple[str, ...], start: int) -> tuple[list[dict], int]:
        docs = self._merged(name) if isinstance(name, tuple) else self.read_log(name)
        return docs[start:], len(docs)

    def log_end(self, name: str | tuple[str, ...]) -> int:
        return len(self._merged(name) if isinstance(name, tuple) else self.read_log(name))

    def _merged(self, names: tuple[str, ...]) -> list[dict]:
        return sorted((dict(d, log=n) for n in names for d in self.read_log(n)), key=lambda d: d["id"])

    def read_log(self, name: str) -> list[dict]:
        out = []
        for d in self.logs.get(name, []):
            if d.get("_gen", 0) > self.commits:
                continue
            doc = copy.deepcopy(d)
            doc.pop("_gen", None)
            out.append(doc)
        return out

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        yield

    def changed(self) -> bool:
        return False

    def read_side(self, name: str) -> Any:
        found = self._side.get(check_side(name))
        return None if found is None else json.loads(found[1])

    def write_side(self, name: str, value: Any) -> None:
        check_side(name)
        refuse_if_read_only(self, f"saving the {name} document")
        text = json.dumps(value)  # what a file store could write: a value JSON cannot hold is refused here too
        self._side[name] = (self._side.get(name, (0, ""))[0] + 1, text)

    def side_signature(self, name: str) -> tuple[int] | None:
        found = self._side.get(check_side(name))
        return None if found is None else (found[0],)

    def root_key(self) -> bytes:
        return self._root

    def close(self) -> None:
        pass

"""``TinyStore``: the engine's :class:`~engine.repository.StateStore` on TinyDB, in a home directory.

Layout of ``HOME`` (created 0700)::

    state.json   the TinyDB database (0600): one table per engine table, documents keyed by resource id,
                 plus ``_meta`` = {"meta": {"schema_version": 1, "generation": N}}
    state.lock   fcntl.flock target for :meth:`TinyStore.lock`
    root.key     32 random bytes, the simulated HSM root key (0600, created once, never replaced)
    blobs/       one sparse file per disk blob (see ``store.blobs``)

One atomic write per unit of work: :meth:`TinyStore.commit` applies all upserts and deletes of an
engine action (2,000 disks at once, say) to the in-memory database and then writes the whole file
once, atomically (``store.storage``). Either the whole action is on disk or none of it is, and the cost
is one serialisation whatever the number of documents. If the write fails, the in-memory view is put
back as it was before the commit and :class:`StoreError` names the file.

TinyDB tables use string document ids (resource ids contain ``/`` and ``:``). TinyDB's public
``upsert`` re-reads and rebuilds the whole table for *each* document (``Table._update_table`` copies
the table dict twice), which is O(N) per document; so commit calls ``Table._update_table`` once per
touched table with an updater that applies every change of that table. This is TinyDB's own update
path (it converts ids, writes through the storage and clears the table's query cache); only this
module relies on it, and tinydb is pinned (4.9.0). Tables that become empty are dropped, so the file
depends only on the documents, not on the history that produced them.

Changes by other processes: every commit replaces state.json with a new inode. :meth:`changed` is one
``os.stat`` compared with the version this object last read or wrote; :meth:`load` re-reads the file
only then. :meth:`commit` refuses (StoreError) to write over a file that changed since it was read --
that would silently drop another process's commit; callers reload under :meth:`lock` first.

Opening never modifies state.json: a file that is not JSON, truncated, not TinyDB's ``{table: {id:
doc}}`` shape, without a valid ``_meta`` or from a newer schema is refused with :class:`StoreError`
and left byte for byte as it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from typing import Iterator, Mapping

from tinydb import TinyDB
from tinydb.table import Table

from engine.errors import StoreError
from engine.repository import Docs

from .blobs import FileBlobStore
from .logs import LogFiles
from .rootkey import load_or_create_root_key
from .storage import AtomicJSONStorage, fsync_dir

SCHEMA_VERSION = 1
"""Version of the state file layout this code writes; files with a greater version are refused."""

META_TABLE = "_meta"
META_KEY = "meta"


class _StrIdTable(Table):
    """A TinyDB table whose document ids are the engine's string keys."""

    document_id_class = str


class _StoreDB(TinyDB):
    table_class = _StrIdTable


def _ensure_dir(path: str) -> None:
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            os.chmod(path, 0o700)
        except OSError as exc:
            raise StoreError(f"cannot create directory {path}: {exc.strerror or exc}") from exc


def _copy_doc(doc: dict) -> dict:
    """A deep copy of a JSON object (dicts, lists, scalars), ~4x faster than ``copy.deepcopy``."""
    out = {}
    for key, value in doc.items():
        kind = type(value)
        if kind is dict:
            value = _copy_doc(value)
        elif kind is list:
            value = _copy_list(value)
        out[key] = value
    return out


def _copy_list(items: list) -> list:
    return [_copy_doc(v) if type(v) is dict else _copy_list(v) if type(v) is list else v for v in items]


class TinyStore:
    """:class:`engine.repository.StateStore` on TinyDB + files in ``home`` (see the module docstring)."""

    def __init__(self, home: str | os.PathLike) -> None:
        self.home = os.path.abspath(os.fspath(home))
        self.path: str = os.path.join(self.home, "state.json")
        self.lock_path = os.path.join(self.home, "state.lock")
        self.root_key_path = os.path.join(self.home, "root.key")
        self._closed = False
        self._lock_fd: int | None = None
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        _ensure_dir(self.home)
        self._logs = LogFiles(self.home)
        self._generation: int | None = None
        self.last_load_owned = False
        """Whether the documents the last :meth:`load` returned belong to the caller (no copy needed)."""
        self._log_sig = self._logs.signature()
        # Read (and validate) the state first: a refused file stops us before anything else is created.
        self._db = _StoreDB(self.path, storage=AtomicJSONStorage, validate=self._check_schema)
        self._storage: AtomicJSONStorage = self._db.storage  # type: ignore[assignment]
        try:
            # A state that exists was sealed with a root key: never make a new one beside it.
            has_state = self._storage.signature is not None
            self._root_key = load_or_create_root_key(self.root_key_path, create=not has_state,
                                                     state_path=self.path)
            try:
                self.blobs = FileBlobStore(os.path.join(self.home, "blobs"))
            except OSError as exc:
                raise StoreError(f"cannot create blob directory in {self.home}: {exc.strerror or exc}") from exc
            try:
                self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise StoreError(f"cannot open lock file {self.lock_path}: {exc.strerror or exc}") from exc
        except BaseException:
            self._storage.close()
            raise

    # -- validation ---------------------------------------------------------------------------
    def _check_schema(self, data: dict) -> None:
        if not data:
            return  # a new, empty store
        meta = data.get(META_TABLE)
        doc = meta.get(META_KEY) if isinstance(meta, dict) else None
        if not isinstance(doc, dict):
            raise StoreError(f"state file {self.path} is not a cmklab state file: no {META_TABLE!r} table "
                             f"with a {META_KEY!r} document")
        version = doc.get("schema_version")
        if type(version) is not int or version < 1:
            raise StoreError(f"state file {self.path} has an invalid schema_version {version!r}")
        if version > SCHEMA_VERSION:
            raise StoreError(f"state file {self.path} was written by a newer cmklab (schema {version}; "
                             f"this version reads {SCHEMA_VERSION})")
        generation = doc.get("generation")
        if type(generation) is not int or generation < 0:
            raise StoreError(f"state file {self.path} has an invalid generation {generation!r}")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"state store {self.path} is closed")

    # -- StateStore ---------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """How many commits the state in memory has seen (0 for a new store). Cached: reading it must
        not force a parse of a state handed over to the engine (a KeyGet only appends to the journal)."""
        if self._generation is None:
            meta = self._storage.read().get(META_TABLE, {}).get(META_KEY, {})
            self._generation = meta.get("generation", 0)
        return self._generation

    def load(self) -> Docs:
        """Every table but ``_meta``.

        When the documents come from a fresh parse of the file (the first load after opening, or any load
        after another process replaced it) they are handed over: ``last_load_owned`` is True, the caller
        owns them, and the store parses its own copy again when it next needs it. Otherwise they are the
        store's live documents, read-only to the caller (``last_load_owned`` False: copy what you keep).
        """
        self._check_open()
        self._note_logs()
        with self._thread_lock:
            if self._storage.changed_on_disk():
                data = self._storage.reload(detach=True)
                self._clear_query_caches()
                owned = True
            else:
                data = self._storage.take()
                owned = data is not None
                if data is None:
                    # The live documents: TinyDB replaces table dicts on commit instead of mutating
                    # them (_update_table), so what was handed out stays as it was read.
                    data = self._storage.read()
            meta = data.get(META_TABLE, {}).get(META_KEY, {})
            self._generation = meta.get("generation", 0) if isinstance(meta, dict) else 0
            self.last_load_owned = owned
            return {table: docs for table, docs in data.items() if table != META_TABLE}

    def commit(self, upserts: Docs, deletes: Mapping[str, list[str]]) -> None:
        """Apply upserts (whole documents), then deletes, and persist them with one atomic file write."""
        self._check_open()
        upserts, deletes = self._normalise(upserts, deletes)
        with self.lock():
            if self._storage.changed_on_disk():
                raise StoreError(f"state file {self.path} was changed by another process since this one read it; "
                                 f"reload before committing")
            if not os.access(self.path, os.W_OK) and os.path.exists(self.path):
                # Replacing would succeed in a writable directory, but a read-only file says "do not modify".
                raise StoreError(f"state file {self.path} is read-only; nothing was committed")
            before = self._storage.read()
            snapshot = dict(before)  # tables are replaced, never mutated, by _update_table: a shallow copy is a snapshot
            try:
                for table in sorted(set(upserts) | set(deletes)):
                    self._apply(table, upserts.get(table, {}), deletes.get(table, ()))
                generation = self.generation + 1
                self._db.table(META_TABLE)._update_table(
                    lambda t: t.__setitem__(META_KEY, {"schema_version": SCHEMA_VERSION, "generation": generation}))
                try:
                    self._storage.flush()
                finally:
                    if not self._storage.dirty:  # the new file is in place (even if syncing its directory failed)
                        self._generation = generation
            except StoreError:
                raise  # raised by flush after the new file is in place: memory and file agree, no rollback
            except OSError as exc:
                self._rollback(snapshot)
                raise StoreError(f"cannot write state file {self.path}: {exc.strerror or exc}; "
                                 f"nothing was committed") from exc
            except BaseException:
                self._rollback(snapshot)
                raise

    def _apply(self, table: str, ups: dict, dels) -> None:
        def updater(docs: dict) -> None:
            docs.update(ups)
            for key in dels:
                docs.pop(key, None)

        tbl = self._db.table(table)
        tbl._update_table(updater)  # one O(table) pass for all of this table's changes (see module docstring)
        if not self._storage.read().get(table):
            self._db.drop_table(table)

    def _normalise(self, upserts: Docs, deletes: Mapping[str, list[str]]) -> tuple[dict, dict]:
        for table in list(upserts) + list(deletes):
            if not isinstance(table, str) or not table or table == META_TABLE:
                raise ValueError(f"invalid table name {table!r}")
        for table, docs in upserts.items():
            for key, doc in docs.items():
                if not isinstance(key, str):
                    raise ValueError(f"document key {key!r} in table {table!r} is not a string")
                if not isinstance(doc, Mapping):
                    raise ValueError(f"document {key!r} in table {table!r} is not a mapping")
        for table, keys in deletes.items():
            if isinstance(keys, str) or any(not isinstance(k, str) for k in keys):
                raise ValueError(f"deletes for table {table!r} must be a list of string keys")
        # A JSON round trip gives the store its own copy, exactly as it will read back from the file
        # (tuples become lists...), and rejects what JSON cannot hold before anything is changed.
        try:
            copied = json.loads(json.dumps(upserts, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"documents are not JSON-serialisable: {exc}") from exc
        copied = {table: docs for table, docs in copied.items() if docs}
        return copied, {table: list(keys) for table, keys in deletes.items() if keys}

    def _rollback(self, snapshot: dict) -> None:
        self._storage.restore(snapshot)
        self._clear_query_caches()

    def _clear_query_caches(self) -> None:
        for table in list(self._db._tables.values()):
            table.clear_cache()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive ``flock`` on state.lock for one read-modify-write.

        Re-entrant within this object (and exclusive between its threads); another TinyStore object on
        the same home, in this process or another, waits.
        """
        self._check_open()
        with self._thread_lock:
            if self._lock_depth == 0:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                try:
                    self._sweep_leftovers()
                except BaseException:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                    raise
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _sweep_leftovers(self) -> None:
        """Remove the temporary files of writes that a crash interrupted (called under the lock).

        A killed state write can leave ``.state.json.*.tmp``: a full copy of the sealed state. Beside
        ``root.key`` it would still open key material that a later purge destroyed, defeating
        crypto-shredding; so every writer removes such leftovers before it writes. State and blob-copy
        temporaries are only ever created under this lock, so any that exist now belong to a dead write.
        """
        prefix = f".{os.path.basename(self.path)}."
        for directory, pref in ((self.home, prefix), (self.blobs.directory, ".copy.")):
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            gone = False
            for name in names:
                if name.startswith(pref) and name.endswith(".tmp"):
                    try:
                        os.unlink(os.path.join(directory, name))
                        gone = True
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        raise StoreError(f"cannot remove the leftover temporary file {name} in {directory} "
                                         f"({exc.strerror or exc}); remove it by hand") from exc
            if gone:
                fsync_dir(directory)

    def changed(self) -> bool:
        """True if state.json is not the version this object last loaded or committed (one ``os.stat``)."""
        if self._closed:
            return False
        if self._storage.changed_on_disk():
            return True
        return self._logs.signature() != self._log_sig

    def _note_logs(self) -> None:
        """Remember the logs as they are now: the caller has (or will lazily read) this version."""
        self._log_sig = self._logs.signature()

    def append_log(self, entries: list[tuple[str, dict]], gen: int | None = None) -> list[str]:
        """Append ``(log, document)`` pairs to the journal (logs ``audit``, ``events``) with one write.

        ``gen``: the state generation they belong to (default: the current one; the engine passes the next
        one when the state write follows). Lines beyond the committed generation are orphans: hidden from
        readers, truncated by the next append (see store/logs.py)."""
        self._check_open()
        with self.lock():
            committed = self.generation
            others = self._logs.signature() != self._log_sig
            ids = self._logs.append(entries, committed if gen is None else gen, committed)
            if not others:
                self._log_sig = self._logs.signature()
            return ids

    def read_log(self, name: str) -> list[dict]:
        """The documents of one log, of generations the state has reached (orphans excluded)."""
        self._check_open()
        return self._logs.read(name, self.generation)

    def root_key(self) -> bytes:
        return self._root_key

    def close(self) -> None:
        with self._thread_lock:
            if self._closed:
                return
            self._closed = True
            self._storage.close()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> "TinyStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TinyStore({self.home!r})"


def open_store(home: str | os.PathLike) -> TinyStore:
    """Open (creating if needed) the store in ``home``; :class:`StoreError` if its files are unusable."""
    return TinyStore(home)

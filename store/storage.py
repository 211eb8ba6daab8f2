"""A TinyDB storage that keeps the database in memory and persists it with atomic file replaces.

Why atomic: TinyDB's own ``JSONStorage`` seeks to 0, rewrites the file in place and truncates.
A crash (or a reader in another process) in the middle sees a half-written, invalid file, and the
state of every key and disk is lost with it. Here :meth:`AtomicJSONStorage.flush` writes the whole
database to a temporary file in the same directory, fsyncs it, ``os.replace``-s it over the old one
and fsyncs the directory: any reader, at any moment, sees either the old file or the new one.

Why in memory: TinyDB calls ``read()`` and ``write()`` for every table operation. ``read()`` hands
back the live dict (no copy, no I/O) and ``write()`` only remembers the reference and marks it dirty,
so a unit of work made of many operations costs one serialisation and one file write, at
:meth:`flush` -- the owner (``store.tinystore``) flushes exactly once per commit. After
``reload(detach=True)`` the parsed file goes to the caller and the storage keeps the raw bytes,
parsing them again only when it is next read (one parse per reload for a reader that never commits).

How changes from other processes are seen: every replace creates a new inode. The storage remembers
the (device, inode, size, mtime, ctime) of the file version it last read or wrote and keeps that
version open, so its inode number cannot be recycled for a later file while it is remembered;
:meth:`changed_on_disk` is then a single ``os.stat``. (Not on Windows, where an open file cannot be
replaced: see ``store._compat.REPLACE_WHILE_OPEN``.)

Output is deterministic (``sort_keys=True``, compact separators, ASCII): identical state gives a
byte-identical file. Sorting costs 15-35% of ``json.dumps`` (measured) and makes the bytes independent
of the order in which documents and their fields were inserted.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from typing import Any, Callable, Optional

from tinydb.storages import Storage

from engine.errors import StoreError

from ._compat import O_CLOEXEC, REPLACE_WHILE_OPEN, fsync_dir  # fsync_dir: re-exported for the store's modules

Signature = Optional[tuple[int, int, int, int, int]]
"""What identifies one version of a file: (st_dev, st_ino, st_size, st_mtime_ns, st_ctime_ns); None if absent."""


def signature_of(st: os.stat_result) -> tuple[int, int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def atomic_write(path: str, payload: bytes, mode: int = 0o600, suffix: str = ".tmp") -> tuple[int, os.stat_result]:
    """Replace ``path`` with ``payload`` atomically (temp file in the same directory, fsync, replace).
    ``suffix``: of the temporary file's name (writers sweep dead ``.tmp`` files under the store's lock; a
    file written without that lock takes another suffix).

    Returns an open descriptor of the new file and its stat; the caller owns the descriptor and
    fsyncs the directory (:func:`fsync_dir`) to make the rename durable. On any failure the old file
    is untouched, the temporary file is removed and the ``OSError`` propagates.
    """
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}{suffix}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_CLOEXEC, mode)
    try:
        _write_all(fd, payload)
        os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return fd, os.fstat(fd)


def _describe(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def check_tables(path: str, data: Any) -> None:
    """Raise :class:`StoreError` unless ``data`` is TinyDB's shape: ``{table: {doc_id: {...}}}``."""
    if not isinstance(data, dict):
        raise StoreError(f"state file {path} is not a cmklab state file: expected a JSON object of tables, "
                         f"found {_describe(data)}")
    for table, docs in data.items():
        if not isinstance(docs, dict):
            raise StoreError(f"state file {path} is damaged: table {table!r} is {_describe(docs)}, "
                             f"expected an object of documents")
        for key, doc in docs.items():
            if type(doc) is not dict:
                raise StoreError(f"state file {path} is damaged: document {key!r} in table {table!r} is "
                                 f"{_describe(doc)}, expected an object")


def read_state_file(path: str) -> tuple[Optional[dict], Optional[bytes], Optional[int], Signature]:
    """Read and parse ``path``: ``(data, raw_bytes, open_fd, signature)``, or all None if it does not exist.

    Every problem is a :class:`StoreError` naming the file; the file is only read, never modified.
    """
    try:
        fd = os.open(path, os.O_RDONLY | O_CLOEXEC)
    except FileNotFoundError:
        return None, None, None, None
    except OSError as exc:
        raise StoreError(f"cannot read state file {path}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"state file {path} is not a regular file")
        chunks = []
        while True:
            chunk = os.read(fd, max(st.st_size, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
        raw = b"".join(chunks)
        if not raw.strip():
            raise StoreError(f"state file {path} is empty (truncated?): expected a JSON object of tables")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise StoreError(f"state file {path} is not valid JSON (truncated or corrupt): {exc}") from exc
        check_tables(path, data)
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot read state file {path}: {exc.strerror or exc}") from exc
    except BaseException:
        os.close(fd)
        raise
    return data, raw, fd, signature_of(st)


class AtomicJSONStorage(Storage):
    """TinyDB storage: the database lives in memory; :meth:`flush` persists it atomically.

    ``validate`` (optional) is called with freshly read data before it replaces the in-memory
    database; it raises :class:`StoreError` to refuse the file (schema checks live with the owner).
    """

    def __init__(self, path: str | os.PathLike, *, validate: Callable[[dict], None] | None = None,
                 mode: int = 0o600) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.mode = mode
        self._validate = validate
        self._data: Optional[dict] = {}
        self._raw: Optional[bytes] = None  # file content not parsed yet (see reload(detach=True))
        self._spare_raw: Optional[bytes] = None  # the bytes behind _data, while nobody else holds _data
        self._dirty = False
        self._held_fd: Optional[int] = None
        self._signature: Signature = None
        self.reload(keep_raw=True)

    # -- TinyDB's interface -------------------------------------------------------------------
    def read(self) -> dict:
        """The live in-memory database (not a copy: TinyDB's tables build new dicts on update)."""
        if self._data is None:
            # After reload(detach=True): parse the bytes read then (already validated) on first use.
            self._data, self._raw = json.loads(self._raw), None
        return self._data

    def write(self, data: dict) -> None:
        """Remember the new state; nothing touches the disk until :meth:`flush`."""
        self._data, self._raw, self._spare_raw = data, None, None
        self._dirty = True

    def take(self) -> Optional[dict]:
        """Hand the parsed database over to the caller, once, if it is exactly the file's content:
        this storage keeps the bytes and parses them again on its next :meth:`read`. (Opening a store
        parses the file; the engine that opened it then owns that parse and need not copy it.)"""
        if self._data is None or self._spare_raw is None or self._dirty:
            return None
        data = self._data
        self._data, self._raw, self._spare_raw = None, self._spare_raw, None
        return data

    def close(self) -> None:
        self._hold(None, None)

    # -- persistence --------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return self._dirty

    @property
    def signature(self) -> Signature:
        """The file version this storage last read or wrote."""
        return self._signature

    def changed_on_disk(self) -> bool:
        """True if the file is not the version this storage last read or wrote (one ``os.stat``)."""
        try:
            current = signature_of(os.stat(self.path))
        except FileNotFoundError:
            current = None
        except OSError:
            return True  # let the caller's reload report the problem
        return current != self._signature

    def reload(self, *, detach: bool = False, keep_raw: bool = False) -> dict:
        """Replace the in-memory database with the file's content (an absent file is an empty database).

        Returns the data read. With ``detach=True`` that object is handed over to the caller, and this
        storage keeps only the raw bytes, parsed again on its next :meth:`read`: a reader that only
        wants a private copy of the file (``TinyStore.load`` after another process committed) pays
        one ``json.loads`` instead of a parse plus a deep copy.

        If the file is refused, the in-memory database is left as it was and :class:`StoreError` propagates.
        """
        data, raw, fd, sig = read_state_file(self.path)
        try:
            if data is None:
                data = {}
            if self._validate is not None:
                self._validate(data)
        except BaseException:
            if fd is not None:
                os.close(fd)
            raise
        if detach and raw is not None:
            self._data, self._raw, self._spare_raw = None, raw, None
        else:
            self._data, self._raw, self._spare_raw = data, None, (raw if keep_raw else None)
        self._dirty = False
        self._hold(fd, sig)
        return data

    def restore(self, data: dict) -> None:
        """Put back an earlier in-memory database (after a failed flush); marks it clean."""
        self._data, self._raw, self._spare_raw = data, None, None
        self._dirty = False

    def serialise(self) -> bytes:
        return json.dumps(self.read(), separators=(",", ":"), sort_keys=True, allow_nan=False).encode("ascii")

    def flush(self) -> None:
        """Write the whole database atomically (temp file, fsync, replace, fsync directory). One write."""
        payload = self.serialise()
        fd, st = atomic_write(self.path, payload, self.mode)
        self._dirty = False
        self._hold(fd, signature_of(st))
        try:
            fsync_dir(os.path.dirname(self.path) or ".")
        except OSError as exc:
            # The new file is in place (and is what is in memory); only the rename's durability is in doubt.
            raise StoreError(f"state file {self.path} was written, but syncing its directory failed "
                             f"({exc.strerror or exc}): the last commit may not survive a crash") from exc

    def _hold(self, fd: Optional[int], sig: Signature) -> None:
        if fd is not None and not REPLACE_WHILE_OPEN:
            # Windows refuses to replace a file that is open: let go of it at once (NTFS file ids carry a
            # sequence number, so a recycled id does not pass for the version remembered here)
            os.close(fd)
            fd = None
        old, self._held_fd, self._signature = self._held_fd, fd, sig
        if old is not None:
            os.close(old)

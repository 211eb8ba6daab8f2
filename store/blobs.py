"""Disk ciphertext on the file system: one sparse file per blob in ``HOME/blobs/`` (files 0600, directory 0700).

Blob writes are durable when they return (``pwrite`` + ``fsync``; the directory is fsynced when a file
is created or removed), so a committed state never refers to ciphertext that a crash lost. Files are
sparse: bytes never written are holes and read as zeros, as do reads past the end of the file, so a
simulated 1 TiB disk costs only what was written to it; ``extents`` lists the regions that may hold data
so that the engine re-encrypts only those. ``copy`` keeps holes (it copies data extents
only, found with SEEK_DATA/SEEK_HOLE) and is atomic (temporary file + ``os.replace``).

Blob ids are normally uuid strings and are used as file names as they are. Anything else that could
be unsafe as a file name (``/``, ``..``, a leading dot, other characters, very long ids) is hashed
instead: ``~`` + sha256 hex, a name no plain id can take (``~`` is not allowed in plain ids).
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import re
import secrets

from .storage import fsync_dir

_PLAIN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\Z")
_CHUNK = 1 << 20


class FileBlobStore:
    """:class:`engine.repository.BlobStore` backed by one sparse file per blob in ``directory``."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            os.chmod(self.directory, 0o700)

    def filename(self, blob_id: str) -> str:
        """The path of a blob's file (it need not exist)."""
        if not isinstance(blob_id, str):
            raise TypeError(f"blob id must be a string, not {type(blob_id).__name__}")
        if _PLAIN_ID.match(blob_id) and ".." not in blob_id:
            name = blob_id
        else:
            name = "~" + hashlib.sha256(blob_id.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self.directory, name)

    def read(self, blob_id: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError(f"offset and length must be >= 0 (got {offset}, {length})")
        try:
            fd = os.open(self.filename(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return bytes(length)
        try:
            parts = []
            got = 0
            while got < length:
                chunk = os.pread(fd, length - got, offset + got)
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
        finally:
            os.close(fd)
        data = b"".join(parts)
        return data + bytes(length - len(data))

    def read_view(self, blob_id: str, offset: int, length: int):
        """Like :meth:`read`, as a read-only buffer: large ranges inside the file are mapped, not copied."""
        if length < (1 << 20):
            return self.read(blob_id, offset, length)
        try:
            fd = os.open(self.filename(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return bytes(length)
        try:
            size = os.fstat(fd).st_size
            if offset + length > size:
                return self.read(blob_id, offset, length)
            mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        finally:
            os.close(fd)
        return memoryview(mapped)[offset:offset + length]

    def write(self, blob_id: str, offset: int, data: bytes) -> None:
        self.writev(blob_id, offset, [data])

    def writev(self, blob_id: str, offset: int, parts: list) -> None:
        """Write ``parts`` back to back from ``offset`` (one pwritev, one fsync): no join of big buffers."""
        if offset < 0:
            raise ValueError(f"offset must be >= 0 (got {offset})")
        path = self.filename(blob_id)
        created = True
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            created = False
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            views = [memoryview(p).cast("B") for p in parts if len(p)]
            pos = offset
            while views:
                n = os.pwritev(fd, views[:512], pos)
                pos += n
                while views and n >= len(views[0]):
                    n -= len(views[0])
                    views.pop(0)
                if views and n:
                    views[0] = views[0][n:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.directory)

    def copy(self, src_id: str, dst_id: str) -> None:
        src, dst = self.filename(src_id), self.filename(dst_id)
        if src == dst:
            return
        tmp = os.path.join(self.directory, f".copy.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            try:
                inp = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                inp = None  # no source: the copy is an empty blob
            if inp is not None:
                try:
                    _copy_sparse(inp, out)
                finally:
                    os.close(inp)
            os.fsync(out)
            os.replace(tmp, dst)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        finally:
            os.close(out)
        fsync_dir(self.directory)

    def delete(self, blob_id: str) -> None:
        try:
            os.unlink(self.filename(blob_id))
        except FileNotFoundError:
            return
        fsync_dir(self.directory)

    def extents(self, blob_id: str) -> list[tuple[int, int]]:
        """``(offset, length)`` of the regions that may hold data: holes excluded, [] for no blob.

        Found with SEEK_DATA/SEEK_HOLE (file-system block granularity); where the file system cannot
        tell, the whole file is one extent.
        """
        try:
            fd = os.open(self.filename(blob_id), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return []
        try:
            return _data_extents(fd)
        finally:
            os.close(fd)

    def raw(self, blob_id: str) -> bytes:
        """Everything stored for a blob (tests look at ciphertext with it)."""
        try:
            with open(self.filename(blob_id), "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""


def _copy_range(inp: int, out: int, start: int, end: int) -> None:
    pos = start
    while pos < end:
        chunk = os.pread(inp, min(_CHUNK, end - pos), pos)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            n = os.pwrite(out, view, pos)
            view = view[n:]
            pos += n


def _data_extents(fd: int) -> list[tuple[int, int]]:
    """The data regions of an open file, ``[(offset, length)]``, holes excluded."""
    size = os.fstat(fd).st_size
    extents: list[tuple[int, int]] = []
    try:
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole remains
                    break
                raise
            hole = min(os.lseek(fd, data, os.SEEK_HOLE), size)
            if hole > data:
                extents.append((data, hole - data))
            pos = hole
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        return [(0, size)] if size else []  # no SEEK_DATA on this file system: all of it may hold data
    return extents


def _copy_sparse(inp: int, out: int) -> None:
    """Copy the data extents of ``inp`` to the same offsets of ``out``; holes stay holes."""
    for offset, length in _data_extents(inp):
        _copy_range(inp, out, offset, offset + length)
    os.ftruncate(out, os.fstat(inp).st_size)

"""Disk ciphertext on the file system: one sparse file per blob in ``HOME/blobs/`` (files 0600, directory 0700).

Blob writes are durable when they return (``pwrite`` + ``fdatasync``, ``fsync`` where there is none:
``_compat.datasync``; the directory is fsynced when a file is created or removed), so a committed state never refers to ciphertext that a crash lost. A big write
starts writing back every ``_WRITEBACK_STEP`` bytes it has handed to the page cache (``sync_file_range``
where there is one), so that the device works while the next part is prepared and the closing sync
waits for less; that sync stays what makes the write durable. Files are
sparse: bytes never written are holes and read as zeros, as do reads past the end of the file, so a
simulated 1 TiB disk costs only what was written to it; ``extents`` lists the regions that may hold data
so that the engine re-encrypts only those. ``copy`` keeps holes (it copies data extents
only, found with SEEK_DATA/SEEK_HOLE) and is atomic (temporary file + ``os.replace``). Positional I/O,
memory maps and SEEK_DATA go through ``store._compat``, which has portable fallbacks (on Windows a file
is one extent, and new files are marked sparse on NTFS).

Blob ids are normally uuid strings and are used as file names as they are. Anything else that could
be unsafe as a file name (``/``, ``..``, a leading dot, other characters, very long ids) is hashed
instead: ``~`` + sha256 hex, a name no plain id can take (``~`` is not allowed in plain ids).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets

from . import _compat
from .storage import fsync_dir

_PLAIN_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\Z")
_CHUNK = 1 << 20
_BLOCK = 4096
_ZEROS = bytes(_BLOCK)
_WRITEBACK_STEP = 8 << 20  # (the engine hands over 1 MiB chunks: every eighth one starts a writeback)


class FileBlobStore:
    """:class:`engine.repository.BlobStore` backed by one sparse file per blob in ``directory``."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = os.path.abspath(os.fspath(directory))
        if not os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            _compat.chmod(self.directory, 0o700)

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
            fd = os.open(self.filename(blob_id), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return bytes(length)
        try:
            parts = []
            got = 0
            while got < length:
                chunk = _compat.pread(fd, length - got, offset + got)
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
            fd = os.open(self.filename(blob_id), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return bytes(length)
        try:
            size = os.fstat(fd).st_size
            if offset + length > size:
                return self.read(blob_id, offset, length)
            return _compat.map_readonly(fd, offset, length)
        finally:
            os.close(fd)

    def map(self, blob_id: str, offset: int, length: int):
        """The stored bytes of ``[offset, offset + length)`` that lie inside the blob's file, as a read-only
        memory map (nothing copied: the engine decrypts straight from the page cache); shorter than
        ``length`` where the file ends sooner (the rest reads as zeros). None where nothing is mapped: the
        platform does not map (``store._compat``), there is no file or no byte of it in the range, or the
        map failed; the caller then uses :meth:`read`.

        Safe to hold while the blob is written: blob files never shrink in place (``copy`` replaces the
        file, ``delete`` unlinks it; a map keeps the old file's pages), so the map never runs past its end."""
        if offset < 0 or length < 0:
            raise ValueError(f"offset and length must be >= 0 (got {offset}, {length})")
        if not _compat.maps():
            return None
        try:
            fd = os.open(self.filename(blob_id), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            inside = min(length, os.fstat(fd).st_size - offset)
            if inside <= 0:
                return None
            return _compat.map_readonly(fd, offset, inside)
        except (OSError, ValueError):  # e.g. no address space for the window: read instead
            return None
        finally:
            os.close(fd)

    def write(self, blob_id: str, offset: int, data: bytes) -> None:
        self.writev(blob_id, offset, [data])

    def writev(self, blob_id: str, offset: int, parts) -> None:
        """Write ``parts`` back to back from ``offset``, then one fsync: no join of big buffers. ``parts`` is
        any iterable, drawn one part at a time, each written before the next is drawn: a producer may hand
        out the same buffer again and again (the engine encrypts a big write a chunk at a time into one
        buffer, so the write never touches memory it has not touched before)."""
        if offset < 0:
            raise ValueError(f"offset must be >= 0 (got {offset})")
        path = self.filename(blob_id)
        created = True
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _compat.O_CLOEXEC, 0o600)
        except FileExistsError:
            created = False
            fd = os.open(path, os.O_WRONLY | _compat.O_CLOEXEC)
        try:
            if created:
                _compat.make_sparse(fd)
            pos = kicked = offset
            for part in parts:
                with memoryview(part) as whole, whole.cast("B") as view:
                    while view:
                        n = _compat.pwritev(fd, [view], pos)
                        pos += n
                        view = view[n:]
                if pos - kicked >= _WRITEBACK_STEP:
                    _compat.start_writeback(fd, kicked, pos - kicked)
                    kicked = pos
            _compat.datasync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.directory)

    def copy(self, src_id: str, dst_id: str) -> None:
        src, dst = self.filename(src_id), self.filename(dst_id)
        if src == dst:
            return
        tmp = os.path.join(self.directory, f".copy.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _compat.O_CLOEXEC, 0o600)
        try:
            _compat.make_sparse(out)
            try:
                inp = os.open(src, os.O_RDONLY | _compat.O_CLOEXEC)
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

        Found with SEEK_DATA/SEEK_HOLE (file-system block granularity); where the file system or the
        platform cannot tell (no SEEK_DATA: ``store._compat``), the whole file is one extent.
        """
        try:
            fd = os.open(self.filename(blob_id), os.O_RDONLY | _compat.O_CLOEXEC)
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


def _copy_range(inp: int, out: int, start: int, end: int, skip_zeros: bool = False) -> None:
    """Copy ``[start, end)`` of ``inp`` to the same offsets of ``out``; with ``skip_zeros``, blocks of zeros
    are not written (they stay holes, or read as zeros past the end: the caller sets the size)."""
    pos = start
    while pos < end:
        chunk = _compat.pread(inp, min(_CHUNK, end - pos), pos)
        if not chunk:
            return
        if skip_zeros:
            for run_start, run_end in _nonzero_runs(chunk):
                _write_at(out, memoryview(chunk)[run_start:run_end], pos + run_start)
            pos += len(chunk)
            continue
        view = memoryview(chunk)
        while view:
            n = _compat.pwrite(out, view, pos)
            view = view[n:]
            pos += n


def _write_at(out: int, view: memoryview, pos: int) -> None:
    while view:
        n = _compat.pwrite(out, view, pos)
        view = view[n:]
        pos += n


def _nonzero_runs(chunk: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` of the runs of ``_BLOCK``-sized blocks of ``chunk`` that are not all zeros."""
    runs: list[tuple[int, int]] = []
    for at in range(0, len(chunk), _BLOCK):
        block = chunk[at:at + _BLOCK]  # (a 4 KiB copy compares faster than a memoryview)
        if block == _ZEROS[:len(block)]:
            continue
        if runs and runs[-1][1] == at:
            runs[-1] = (runs[-1][0], at + len(block))
        else:
            runs.append((at, at + len(block)))
    return runs


def _data_extents(fd: int) -> list[tuple[int, int]]:
    """The data regions of an open file, ``[(offset, length)]``, holes excluded."""
    size = os.fstat(fd).st_size
    if _compat.SEEK_DATA is None:  # no SEEK_DATA on this platform: all of it may hold data
        return [(0, size)] if size else []
    extents: list[tuple[int, int]] = []
    try:
        pos = 0
        while pos < size:
            try:
                data = os.lseek(fd, pos, _compat.SEEK_DATA)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # only a hole remains
                    break
                raise
            hole = min(os.lseek(fd, data, _compat.SEEK_HOLE), size)
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
    # Without SEEK_DATA the file is one extent: chunks of zeros are skipped instead, so that holes stay
    # holes where the file system makes them (and a blob that is mostly zeros costs little to copy).
    skip_zeros = _compat.SEEK_DATA is None
    for offset, length in _data_extents(inp):
        _copy_range(inp, out, offset, offset + length, skip_zeros)
    os.ftruncate(out, os.fstat(inp).st_size)

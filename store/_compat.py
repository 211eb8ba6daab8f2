"""Every platform-specific facility the store uses, each with a portable fallback.

The store runs on Linux, macOS and Windows. The other modules of ``store`` never call a POSIX-only
function directly: they go through this module, which picks the native facility where the platform
has it and a portable one elsewhere.

Each facility, native (Linux, macOS) -> portable fallback (Windows, or ``CMKLAB_PORTABLE=1``):

* ``O_CLOEXEC``: ``os.O_CLOEXEC`` -> 0 (Python's descriptors are non-inheritable anyway, PEP 446);
  ``os.O_BINARY`` is added where it exists (Windows opens files in text mode otherwise).
* ``pread``/``pwrite``: ``os.pread``/``os.pwrite`` -> ``lseek`` + ``read``/``write`` under a per-fd lock.
* ``pwritev``: ``os.pwritev`` -> one ``pwrite`` per buffer.
* ``map_readonly``: a read-only ``mmap`` (``PROT_READ``) -> a plain positional read (on Windows a
  mapping would pin the file: it could not be replaced or removed while the view lives).
* ``fsync_dir``: open the directory (``O_DIRECTORY``) and ``fsync`` it -> nothing (Windows cannot open
  a directory with ``os.open``; NTFS journals metadata changes such as renames).
* ``SEEK_DATA``/``SEEK_HOLE``: ``os.SEEK_DATA``/``os.SEEK_HOLE`` -> None (callers treat the whole file as
  data; the blob store's copy then skips blocks of zeros to keep holes).
* ``REPLACE_WHILE_OPEN``: True (``os.replace`` may replace a file this process holds open, so the
  storage keeps the version it read open and its inode number is not recycled) -> False (Windows
  refuses to replace an open file: the storage closes what it read at once).
* ``start_writeback``: ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` on Linux (through ctypes: ``os`` has no
  binding), which starts writing a range back without waiting -> nothing (macOS and Windows have no such
  call; the ``fsync`` after a write does all of the writing, as it always makes it durable).
* ``make_sparse``: nothing to do where every file is sparse (Linux, macOS file systems) -> on Windows,
  ``FSCTL_SET_SPARSE`` on a new blob file (NTFS zero-fills a write past the end otherwise), best effort.
* ``fork``: ``os.fork`` for a second process that writes part of a large bulk commit's shard files (an
  import's) beside this one -> none (this process writes every shard).
* ``datasync``: ``os.fdatasync`` (the data and the metadata needed to read it back, not the times) ->
  ``os.fsync``. A blob write is durable either way; the first spares an overwrite the journal commit of
  its modification time.
* ``chmod``: ``os.chmod`` on POSIX; nothing elsewhere (modes are POSIX: on Windows ``os.chmod`` only
  sets "read-only"). Not affected by ``CMKLAB_PORTABLE``.

Forcing the portable paths on POSIX, for tests: set ``CMKLAB_PORTABLE=1`` in the environment. It is
read once, when this module is first imported, so set it before the process starts (CI runs the store
and engine tests a second time that way: ``CMKLAB_PORTABLE=1 python -m pytest -q tests/store
tests/engine``). It hides the POSIX-only I/O facilities above; file modes are not hidden (they are
what the platform offers, not an I/O path: a Linux run with ``CMKLAB_PORTABLE=1`` still creates 0600
files). :data:`FALLBACKS` names the facilities that take the portable path in this process.

Thread safety of the positional fallbacks: ``os.pread``/``os.pwrite`` never move the descriptor's file
offset, so any number of threads can use one descriptor at once. The fallback takes four steps (remember
the offset, seek, read or write, seek back), and another thread seeking the same descriptor between
them would make it read or write at the wrong place. So each fallback call holds a lock of its
descriptor (one lock per descriptor number, made on first use; a number reused after ``close`` reuses
its lock, which is harmless: it only serialises calls). The store itself opens a descriptor per call and
never shares one between threads, so the lock is never contended there; it keeps the functions as safe
as the native ones for any caller. Processes do not share file offsets: the store's descriptors are
opened by each process itself and are not inherited. The offset is restored afterwards, so a caller
mixing these functions with ``os.read``/``os.write`` sees the same file offset as with the native calls.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import mmap
import os
import sys
import threading

PORTABLE = os.environ.get("CMKLAB_PORTABLE", "") not in ("", "0")
"""True when ``CMKLAB_PORTABLE`` asked for the portable paths (read once, at import)."""

POSIX = os.name == "posix"
"""File modes (0600, 0700) mean something here; not hidden by ``CMKLAB_PORTABLE``."""

_NATIVE_CLOEXEC = hasattr(os, "O_CLOEXEC") and not PORTABLE
_NATIVE_PREAD = hasattr(os, "pread") and not PORTABLE
_NATIVE_PWRITE = hasattr(os, "pwrite") and not PORTABLE
_NATIVE_PWRITEV = hasattr(os, "pwritev") and not PORTABLE
_NATIVE_MMAP = POSIX and hasattr(mmap, "PROT_READ") and not PORTABLE
_NATIVE_FSYNC_DIR = POSIX and hasattr(os, "O_DIRECTORY") and not PORTABLE
_NATIVE_SEEK_DATA = hasattr(os, "SEEK_DATA") and hasattr(os, "SEEK_HOLE") and not PORTABLE
_NATIVE_REPLACE_WHILE_OPEN = os.name != "nt" and not PORTABLE
_NATIVE_WRITEBACK = sys.platform.startswith("linux") and not PORTABLE
_NATIVE_FORK = POSIX and hasattr(os, "fork") and not PORTABLE
_NATIVE_DATASYNC = hasattr(os, "fdatasync") and not PORTABLE
_NATIVE_DIRECT = sys.platform.startswith("linux") and hasattr(os, "O_DIRECT") and not PORTABLE

FALLBACKS: frozenset[str] = frozenset(name for name, native in (
    ("O_CLOEXEC", _NATIVE_CLOEXEC),
    ("pread", _NATIVE_PREAD),
    ("pwrite", _NATIVE_PWRITE),
    ("pwritev", _NATIVE_PWRITEV),
    ("map_readonly", _NATIVE_MMAP),
    ("fsync_dir", _NATIVE_FSYNC_DIR),
    ("SEEK_DATA", _NATIVE_SEEK_DATA),
    ("REPLACE_WHILE_OPEN", _NATIVE_REPLACE_WHILE_OPEN),
    ("start_writeback", _NATIVE_WRITEBACK),
    ("fork", _NATIVE_FORK),
    ("datasync", _NATIVE_DATASYNC),
    ("write_direct", _NATIVE_DIRECT),
) if not native)
"""The facilities that take their portable path in this process (empty on Linux by default)."""

O_CLOEXEC: int = (os.O_CLOEXEC if _NATIVE_CLOEXEC else 0) | getattr(os, "O_BINARY", 0)
"""Flags every ``os.open`` of the store adds: close-on-exec where it exists, binary mode on Windows."""

SEEK_DATA: int | None = os.SEEK_DATA if _NATIVE_SEEK_DATA else None
SEEK_HOLE: int | None = os.SEEK_HOLE if _NATIVE_SEEK_DATA else None
"""``lseek`` whences that find data and holes in sparse files; None where unavailable."""

REPLACE_WHILE_OPEN: bool = _NATIVE_REPLACE_WHILE_OPEN
"""True where ``os.replace`` may replace a file this process holds open (POSIX); False on Windows."""


DIRECT_ALIGN = 4096
"""The alignment of a direct write's buffer, length and offset (a page: every device's logical block divides it)."""
_direct_buf: list = []  # (the reused page-aligned buffer of write_direct)


def write_direct(path: str, parts: tuple, mode: int = 0o600) -> bool:
    """Create the file ``path`` (it must not exist) holding the bytes of ``parts`` one after the other, written
    straight to the device (``O_DIRECT``, Linux), without going through the page cache: 264 MB of an import's
    shards took 0.9 s through the cache here (each page allocated and copied into) and 0.26 s this way. The
    bytes are copied into one reused page-aligned buffer; what is left after the last whole block is written
    through the cache. Not synced (an fsync still makes the file durable: its size, and that tail). False, and
    nothing created, where this cannot be done: not Linux, ``CMKLAB_PORTABLE``, or a file system that refuses
    direct writes (tmpfs); the caller then writes it as any file."""
    if not _NATIVE_DIRECT:
        return False
    import fcntl

    total = sum(len(p) for p in parts)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_DIRECT, mode)
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # (the file system has no direct I/O)
            return False
        raise
    done = False
    try:
        size = -(-max(total, 1) // DIRECT_ALIGN) * DIRECT_ALIGN
        if not _direct_buf or len(_direct_buf[0]) < size:
            if _direct_buf:
                _direct_buf.pop().close()
            # (private: a forked process writing shards beside this one gets its own copy, not this buffer)
            _direct_buf.append(mmap.mmap(-1, max(size, 4 << 20), flags=mmap.MAP_PRIVATE))
        buf = memoryview(_direct_buf[0])
        at = 0
        for part in parts:
            n = len(part)
            buf[at:at + n] = part
            at += n
        whole = total - total % DIRECT_ALIGN
        written = 0
        try:
            while written < whole:
                written += os.write(fd, buf[written:whole])
        except OSError as exc:
            if exc.errno != errno.EINVAL or written:
                raise
            # (a device whose blocks the alignment does not fit: written through the cache instead)
        if written < total:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
            while written < total:
                written += os.pwrite(fd, buf[written:total], written)
        buf.release()
        done = True
    finally:
        os.close(fd)
        if not done:
            with contextlib.suppress(OSError):
                os.unlink(path)
    return True


def can_fork() -> bool:
    """True where this process may fork a helper that runs Python code: POSIX, ``CMKLAB_PORTABLE`` not set, and
    called on the main thread (a fork copies only the calling thread: a lock another thread held at that moment
    would stay held in the child for ever)."""
    return _NATIVE_FORK and threading.current_thread() is threading.main_thread()

_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_of(fd: int) -> threading.Lock:
    lock = _locks.get(fd)
    if lock is None:
        with _locks_guard:
            lock = _locks.setdefault(fd, threading.Lock())
    return lock


def _seek_pread(fd: int, n: int, offset: int) -> bytes:
    with _lock_of(fd):
        saved = os.lseek(fd, 0, os.SEEK_CUR)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            return os.read(fd, n)
        finally:
            os.lseek(fd, saved, os.SEEK_SET)


def _seek_pwrite(fd: int, data, offset: int) -> int:
    with _lock_of(fd):
        saved = os.lseek(fd, 0, os.SEEK_CUR)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            return os.write(fd, data)
        finally:
            os.lseek(fd, saved, os.SEEK_SET)


def pread(fd: int, n: int, offset: int) -> bytes:
    """Up to ``n`` bytes of ``fd`` from ``offset`` (fewer at the end of the file); the file offset is unchanged."""
    if _NATIVE_PREAD:
        return os.pread(fd, n, offset)
    return _seek_pread(fd, n, offset)


def pwrite(fd: int, data, offset: int) -> int:
    """Write ``data`` at ``offset`` of ``fd``; the number of bytes written (it may be short, like ``write``)."""
    if _NATIVE_PWRITE:
        return os.pwrite(fd, data, offset)
    return _seek_pwrite(fd, data, offset)


def pwritev(fd: int, buffers, offset: int) -> int:
    """Write ``buffers`` back to back from ``offset``; the number of bytes written (it may be short)."""
    if _NATIVE_PWRITEV:
        return os.pwritev(fd, buffers, offset)
    total = 0
    for buf in buffers:
        size = len(memoryview(buf).cast("B"))
        n = pwrite(fd, buf, offset + total)
        total += n
        if n < size:
            break  # a short write: the caller writes the rest, as after a short pwritev
    return total


def map_readonly(fd: int, offset: int, length: int):
    """``length`` bytes of ``fd`` from ``offset`` as a read-only buffer, the file being at least that long.

    Natively a memory map of just that window (nothing is copied; the map stays valid after ``fd`` is
    closed, and is unmapped when the last view of it goes); elsewhere the bytes read (zeros where the file
    has shrunk since its size was checked)."""
    if length <= 0:
        return b""
    if _NATIVE_MMAP:
        start = offset - offset % mmap.ALLOCATIONGRANULARITY  # a map starts on a granularity boundary
        mapped = mmap.mmap(fd, offset + length - start, prot=mmap.PROT_READ, offset=start)
        return memoryview(mapped)[offset - start:offset - start + length]
    parts = []
    got = 0
    while got < length:
        chunk = pread(fd, length - got, offset + got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    data = b"".join(parts)
    return data + bytes(length - len(data))


SYNC_FILE_RANGE_WRITE = 2
"""``sync_file_range`` flag (linux/fs.h): start writing the range's dirty pages back; wait for nothing."""


@functools.lru_cache(maxsize=None)
def _libc_sync_file_range():
    """libc's ``sync_file_range`` through ctypes (loaded on first use: only a big blob write needs it), or
    None where the C library has none."""
    try:
        import ctypes

        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


def datasync(fd: int) -> None:
    """Make what was written to ``fd`` durable: its data and the metadata needed to read it back (size,
    allocation), not its times (``fdatasync``); ``fsync`` where there is no such call."""
    if _NATIVE_DATASYNC:
        os.fdatasync(fd)
    else:
        os.fsync(fd)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing ``[offset, offset + length)`` of ``fd`` to the device, without waiting for it: the
    device then works while the caller prepares what comes next, and the ``fsync`` that makes the whole
    write durable has less left to wait for. A hint only: it never replaces that ``fsync``, and where the
    call is missing or fails nothing is lost but the overlap."""
    if not _NATIVE_WRITEBACK:
        return
    fn = _libc_sync_file_range()
    if fn is not None:
        fn(fd, offset, length, SYNC_FILE_RANGE_WRITE)  # (-1 with errno, e.g. on a file system without it: ignored)


def maps() -> bool:
    """True where :func:`map_readonly` maps the file (nothing is copied); False where it reads the bytes."""
    return _NATIVE_MMAP


def fsync_dir(directory: str) -> None:
    """Make a rename/creation/removal in ``directory`` durable (a no-op where directories cannot be synced)."""
    if not _NATIVE_FSYNC_DIR:
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def chmod(path: str, mode: int) -> None:
    """Set POSIX permission bits; nothing elsewhere (Windows has no such modes: ``os.chmod`` there only
    toggles the read-only attribute, and the user's profile directory already keeps others out)."""
    if POSIX:
        os.chmod(path, mode)


_FSCTL_SET_SPARSE = 0x000900C4


def make_sparse(fd: int) -> bool:
    """Ask for holes in a new file where the file system only makes them on request (NTFS), so that bytes
    never written cost no disk space, as on Linux and macOS. Best effort: False if the file system said no
    (the file then works the same, only bigger on disk); nothing to do (True) off Windows."""
    if os.name != "nt":
        return True
    try:
        import ctypes
        import msvcrt
        from ctypes import wintypes

        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # (own prototypes, not windll's shared ones)
        ioctl = kernel32.DeviceIoControl
        ioctl.argtypes = [wintypes.HANDLE, wintypes.DWORD, wintypes.LPVOID, wintypes.DWORD, wintypes.LPVOID,
                          wintypes.DWORD, ctypes.POINTER(wintypes.DWORD), wintypes.LPVOID]
        ioctl.restype = wintypes.BOOL
        returned = wintypes.DWORD()
        return bool(ioctl(msvcrt.get_osfhandle(fd), _FSCTL_SET_SPARSE, None, 0, None, 0, ctypes.byref(returned),
                          None))
    except (ImportError, AttributeError, OSError, ValueError, TypeError):
        return False

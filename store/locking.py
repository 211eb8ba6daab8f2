"""The inter-process lock of a home (``state.lock``): ``fcntl.flock`` where the system has it (Linux, macOS:
a built-in module, nothing to import at start-up), the cross-platform ``filelock`` library elsewhere (Windows)
and whenever ``CMKLAB_PORTABLE=1`` (store/_compat.py), so CI exercises that path too.

A writer that finds the lock taken waits; after ``NOTICE_AFTER`` seconds it says on stderr whom it waits
for, and after ``CMKLAB_LOCK_TIMEOUT`` seconds (default 30) it gives up with a :class:`StoreError` that
names the lock file: a stuck or forgotten process never makes a command hang silently forever.

The holder's mark: where the lock is ``fcntl.flock``, the lock file's bytes name the last holder that marked it
(:meth:`FileLock.mark`, :meth:`FileLock.marked`). A writer that finds its own mark there when it takes the lock
knows that nobody else has held it since (every holder marks the file before it writes anything), so that no
other write can have died half-way in the meantime (store.tinystore sweeps crash leftovers only then). The
``filelock`` path has no mark (``marked`` is always False): its writers sweep as if a stranger had held it.
"""

from __future__ import annotations

import os
import sys
import time

from engine.errors import StoreError

from . import _compat

NOTICE_AFTER = 1.0
DEFAULT_TIMEOUT = 30.0


def lock_timeout() -> float:
    raw = os.environ.get("CMKLAB_LOCK_TIMEOUT", "")
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise StoreError(f"CMKLAB_LOCK_TIMEOUT={raw!r} is not a number of seconds") from None
    if not (value > 0 and value < 1e7):
        raise StoreError(f"CMKLAB_LOCK_TIMEOUT={raw!r} must be a positive number of seconds")
    return value


class _Timeout(Exception):
    pass


class _FlockBackend:
    """``fcntl.flock`` on an open descriptor, polled without blocking until a deadline."""

    def __init__(self, path: str) -> None:
        import fcntl

        self._fcntl = fcntl
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | _compat.O_CLOEXEC, 0o600)
        self.held = False

    def acquire(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fcntl.flock(self.fd, self._fcntl.LOCK_EX | self._fcntl.LOCK_NB)
                self.held = True
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise _Timeout from None
                time.sleep(0.005)

    def release(self) -> None:
        self._fcntl.flock(self.fd, self._fcntl.LOCK_UN)
        self.held = False

    def marked(self, mark: bytes) -> bool:
        return _compat.pread(self.fd, len(mark) + 1, 0) == mark

    def mark(self, mark: bytes) -> None:
        _compat.pwrite(self.fd, mark, 0)
        os.ftruncate(self.fd, len(mark))

    def close(self) -> None:
        if self.held:
            self.release()
        os.close(self.fd)


class _FilelockBackend:
    """The ``filelock`` library (imported only where it is used)."""

    def __init__(self, path: str) -> None:
        import filelock

        self._timeout = filelock.Timeout
        self._lock = filelock.FileLock(path, mode=0o600, thread_local=False, preserve_lock_file=True,
                                       poll_interval=0.005)

    def acquire(self, timeout: float) -> None:
        try:
            self._lock.acquire(timeout=timeout)
        except self._timeout:
            raise _Timeout from None

    def release(self) -> None:
        self._lock.release()

    def close(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

    def marked(self, mark: bytes) -> bool:
        return False  # the library owns the file (it may truncate or lock its bytes): no mark

    def mark(self, mark: bytes) -> None:
        pass


NATIVE = _compat.POSIX and not _compat.PORTABLE
"""Whether the lock is ``fcntl.flock`` (else ``filelock``)."""


class FileLock:
    """An exclusive lock on ``path`` (not re-entrant: the owner counts its own nesting)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._lock = _FlockBackend(path) if NATIVE else _FilelockBackend(path)
        except OSError as exc:  # pragma: no cover - depends on the file system
            raise StoreError(f"cannot open lock file {path}: {exc.strerror or exc}") from exc

    def acquire(self) -> None:
        timeout = lock_timeout()
        try:
            self._lock.acquire(min(NOTICE_AFTER, timeout))
            return
        except _Timeout:
            if timeout <= NOTICE_AFTER:
                raise self._gave_up(timeout) from None
        except OSError as exc:
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        sys.stderr.write(f"cmklab: waiting for another cmklab process to finish (it holds {self.path}); "
                         f"giving up after {timeout:g} s\n")
        sys.stderr.flush()
        try:
            self._lock.acquire(timeout - NOTICE_AFTER)
        except _Timeout:
            raise self._gave_up(timeout) from None

    def _gave_up(self, timeout: float) -> StoreError:
        return StoreError(f"gave up after {timeout:g} s waiting for the lock {self.path}: another cmklab process "
                          f"holds it (let it finish, or set CMKLAB_LOCK_TIMEOUT to wait longer); nothing was changed",
                          code="StoreLocked")

    def release(self) -> None:
        self._lock.release()

    def marked(self, mark: bytes) -> bool:
        """Whether the lock file still holds ``mark`` (call while holding the lock): nobody marked it since."""
        try:
            return self._lock.marked(mark)
        except OSError:
            return False

    def mark(self, mark: bytes) -> None:
        """Name this holder in the lock file (call while holding the lock, before writing anything). Where the
        mark cannot be written, it is erased (no holder then trusts its own); where neither can be done, a
        :class:`StoreError`: writing on would let an earlier holder trust a mark that is no longer true."""
        try:
            self._lock.mark(mark)
        except OSError as exc:
            try:
                self._lock.mark(b"")
            except OSError:
                raise StoreError(f"cannot write the lock file {self.path}: {exc.strerror or exc}; nothing was "
                                 f"changed") from exc

    def close(self) -> None:
        self._lock.close()

"""The inter-process lock of a home (``state.lock``), through the cross-platform ``filelock`` library.

A writer that finds the lock taken waits; after ``NOTICE_AFTER`` seconds it says on stderr whom it waits
for, and after ``CMKLAB_LOCK_TIMEOUT`` seconds (default 30) it gives up with a :class:`StoreError` that
names the lock file: a stuck or forgotten process never makes a command hang silently forever.
"""

from __future__ import annotations

import os
import sys

import filelock

from engine.errors import StoreError

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


class FileLock:
    """An exclusive lock on ``path`` (not re-entrant: the owner counts its own nesting)."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            self._lock = filelock.FileLock(path, mode=0o600, thread_local=False, preserve_lock_file=True,
                                           poll_interval=0.005)
        except OSError as exc:  # pragma: no cover - depends on the file system
            raise StoreError(f"cannot open lock file {path}: {exc.strerror or exc}") from exc

    def acquire(self) -> None:
        timeout = lock_timeout()
        try:
            self._lock.acquire(timeout=min(NOTICE_AFTER, timeout))
            return
        except filelock.Timeout:
            if timeout <= NOTICE_AFTER:
                raise self._gave_up(timeout) from None
        except OSError as exc:
            raise StoreError(f"cannot lock {self.path}: {exc.strerror or exc}") from exc
        sys.stderr.write(f"cmklab: waiting for another cmklab process to finish (it holds {self.path}); "
                         f"giving up after {timeout:g} s\n")
        sys.stderr.flush()
        try:
            self._lock.acquire(timeout=timeout - NOTICE_AFTER)
        except filelock.Timeout:
            raise self._gave_up(timeout) from None

    def _gave_up(self, timeout: float) -> StoreError:
        return StoreError(f"gave up after {timeout:g} s waiting for the lock {self.path}: another cmklab process "
                          f"holds it (let it finish, or set CMKLAB_LOCK_TIMEOUT to wait longer); nothing was changed",
                          code="StoreLocked")

    def release(self) -> None:
        self._lock.release()

    def close(self) -> None:
        if self._lock.is_locked:
            self._lock.release(force=True)

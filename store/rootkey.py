"""The simulated HSM root key: 32 random bytes in ``HOME/root.key`` (mode 0600), created once.

Key material in the state file is sealed with this key, so the file is never replaced: a file of
the wrong size is refused (replacing it would make every sealed key unreadable), and so is a missing
file beside an existing state (the owner asks for ``create=False`` then: a new key would silently
make every sealed key unreadable) and a file that others can read (it guards every sealed key).
The engine records a one-way fingerprint of the root it seals with, so a wrong key file is named as
such instead of failing later as "corrupt" sealed material. Creation is
atomic even with two processes starting at once: the key is written and fsynced to a temporary
file, then hard-linked to its final name (``link`` fails if the name exists, so the first process
wins and the other one reads the winner's key; nobody can see a partly written key).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat

from engine.errors import StoreError

from . import _compat
from .storage import _write_all, fsync_dir

ROOT_KEY_SIZE = 32


def read_root_key(path: str) -> bytes:
    """Read an existing root key; :class:`FileNotFoundError` if absent, :class:`StoreError` if unusable."""
    try:
        fd = os.open(path, os.O_RDONLY | _compat.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot read root key file {path}: {exc.strerror or exc}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"root key file {path} is not a regular file")
        if st.st_size != ROOT_KEY_SIZE:
            raise StoreError(f"root key file {path} has {st.st_size} bytes, expected {ROOT_KEY_SIZE}; "
                             f"refusing to use or replace it (keys sealed with it would be lost)")
        if _compat.POSIX and stat.S_IMODE(st.st_mode) & 0o077:
            raise StoreError(f"root key file {path} can be read by other users (mode "
                             f"{stat.S_IMODE(st.st_mode):04o}); it guards every sealed key: run "
                             f"'chmod 600 {path}' and try again")
        key = os.read(fd, ROOT_KEY_SIZE + 1)
    except OSError as exc:
        raise StoreError(f"cannot read root key file {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    if len(key) != ROOT_KEY_SIZE:
        raise StoreError(f"root key file {path} has {len(key)} bytes, expected {ROOT_KEY_SIZE}")
    return key


def load_or_create_root_key(path: str | os.PathLike, *, create: bool = True, state_path: str = "") -> bytes:
    """Return the root key at ``path``; if it does not exist, create it (0600, fsynced) when ``create``,
    else refuse with a :class:`StoreError` naming the file (``state_path``: the state sealed with it)."""
    path = os.fspath(path)
    try:
        return read_root_key(path)
    except FileNotFoundError:
        if not create:
            raise StoreError(f"root key file {path} is missing, but the state in {state_path or 'this home'} "
                             f"holds key material sealed with it: restore root.key from your backup (a new "
                             f"key could not open the sealed keys); nothing was changed") from None
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _compat.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, secrets.token_bytes(ROOT_KEY_SIZE))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # A file system without hard links: rename does not refuse an existing name, so check first.
            # (Only a concurrent first start on such a file system can race here.)
            if not os.path.exists(path):
                os.rename(tmp, path)
        fsync_dir(directory)
    except OSError as exc:
        raise StoreError(f"cannot create root key file {path}: {exc.strerror or exc}") from exc
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return read_root_key(path)

"""Every file the CLI reads is read with a bound: a value is never bigger than what it is for, and a device
(``/dev/zero``), a FIFO or a huge file fails fast with a clear error instead of growing memory or blocking."""

from __future__ import annotations

import os
import stat

from .errors import UsageError

KIB = 1024
MIB = 1024 * KIB
AT_FILE_LIMIT = 1 * MIB
"""``@file`` values (``--tags @tags.txt``, ``--value @policy.json`` ...)."""
PEM_LIMIT = 64 * KIB
"""``--pem-file``: an RSA private key is a few KiB."""
POLICY_LIMIT = 1 * MIB
"""``az keyvault key rotation-policy update --value PATH``."""


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit // KIB} KiB"


def read_bounded(path: str, limit: int, what: str) -> bytes:
    """The bytes of the regular file or character device ``path``, refused when over ``limit`` bytes."""
    path = os.path.expanduser(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise UsageError(f"{what}: cannot read '{path}': {e.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
            raise UsageError(f"{what}: '{path}' is not a regular file")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(64 * KIB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except BlockingIOError:
        raise UsageError(f"{what}: '{path}' is not a regular file") from None
    except OSError as e:
        raise UsageError(f"{what}: cannot read '{path}': {e.strerror}") from None
    finally:
        os.close(fd)
    if total > limit:
        raise UsageError(f"{what}: '{path}' is larger than {_size(limit)}, the most this value may be")
    return b"".join(chunks)


def read_text(path: str, limit: int, what: str) -> str:
    data = read_bounded(path, limit, what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{what}: '{os.path.expanduser(path)}' is not UTF-8 text") from None

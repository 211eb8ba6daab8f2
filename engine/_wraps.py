"""An import's RSA wraps in a worker process, beside the import's Python work.

An import of 100,000 resources wraps ~110,000 data keys (RSA-OAEP-256): ~4 s of one core. Threads barely help
(cryptography holds the GIL for about a quarter of each encrypt, and the import's Python work on the main thread
competes for it), so on POSIX the wraps run in a process forked at the start of the import (while the process
is small): the import hands it the public keys' numbers and the data keys once the plan and the stand-ins know
them, puts placeholders of the wrapped values' length in the documents, and builds, indexes and serialises the
commit meanwhile; the store fills the placeholders in last (``store.bulk_commit(late=...)``).

Where fork is not offered (Windows), or with ``CMKLAB_PORTABLE=1``, :func:`available` is False and the import
wraps on threads before it commits (twin.py). A seeded import never comes here: its wraps draw OAEP's
randomness from the seeded stream, in order, so that it is reproducible.

A failure of the worker (an error in a wrap, the process killed) is raised by :meth:`WrapWorker.wait`, inside
the commit: the commit is abandoned and nothing is written."""

from __future__ import annotations

import base64
import os
import sys
from typing import Any, Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import wrap_key
from .errors import EngineError

CHUNK = 2048
"""Data keys per progress message of the worker."""


def available() -> bool:
    """True where the wraps can run in a forked process: POSIX with fork, and ``CMKLAB_PORTABLE`` not set."""
    if os.environ.get("CMKLAB_PORTABLE", "") not in ("", "0") or sys.platform == "win32":
        return False
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _serve(conn, other) -> None:
    """The worker: one job ``(numbers, items)`` (``numbers``: ``[(e, n)]``; ``items``: ``[(key index, data
    key)]``), answered with ``("progress", n)`` after each :data:`CHUNK` and ``("done", [base64 of each
    wrap, ASCII bytes])`` at the end, or ``("error", text)``; ``None`` (or the pipe closed) ends it without work."""
    other.close()
    try:
        job = conn.recv()
    except (EOFError, OSError):
        return
    if job is None:
        return
    try:  # (nothing is imported here: the modules a fork inherits are ready)
        numbers, items = job
        pubs = [rsa.RSAPublicNumbers(e, n).public_key() for e, n in numbers]
        b64 = base64.b64encode
        out: list[bytes] = []
        for at in range(0, len(items), CHUNK):
            out += [b64(wrap_key(pubs[k], dek)) for k, dek in items[at:at + CHUNK]]
            conn.send(("progress", len(out)))
        conn.send(("done", out))
    except BaseException as exc:  # reported to the import, which aborts
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
        except OSError:
            pass
    finally:
        conn.close()


def b64_length(pub) -> int:
    """The length of the base64 of a wrap by ``pub`` (OAEP's output is exactly the modulus's length)."""
    return 4 * -(-((pub.key_size + 7) // 8) // 3)


class WrapWorker:
    """A forked process that wraps one list of data keys (:meth:`submit`), and the values it returns, as the
    store's ``late`` argument takes them (``tables``, :meth:`wait`, :meth:`fill`). :meth:`close` ends it
    (always: ``with WrapWorker() as w``)."""

    def __init__(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self._conn), name="cmklab-import-wraps", daemon=True)
        self._proc.start()
        child.close()
        self.tables: set[str] = set()
        self._prefix = "~" + os.urandom(8).hex() + "~"  # unguessable: an input cannot hold it
        self._count = 0
        self._values: list[bytes] | None = None
        self._then: Callable[[list[str]], None] | None = None
        self._told: Callable[[int], None] = lambda n: None

    def __enter__(self) -> "WrapWorker":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def submit(self, pairs: list[tuple[Any, bytes]], *, tables: set[str], told: Callable[[int], None],
               then: Callable[[list[str]], None]) -> list[str]:
        """Start wrapping ``pairs`` (``(public key, data key)``); returns a placeholder of each wrap's base64,
        as long as it (what the documents of ``tables`` hold until the store fills them). ``told(n)``: n
        wrapped so far (while :meth:`wait` waits); ``then(values)``: called by :meth:`wait` with the base64 of
        each wrap, in order (it puts them in the models)."""
        index: dict[int, tuple[int, str]] = {}
        numbers: list[tuple[int, int]] = []
        items = []
        holders = []
        prefix = self._prefix
        for i, (pub, dek) in enumerate(pairs):
            known = index.get(id(pub))
            if known is None:
                nums = pub.public_numbers()
                known = index[id(pub)] = (len(numbers), "~" * (b64_length(pub) - len(prefix) - 9))
                numbers.append((nums.e, nums.n))
            items.append((known[0], dek))
            holders.append(f"{prefix}{i:09d}{known[1]}")
        self._conn.send((numbers, items))
        self._count = len(pairs)
        self.tables, self._told, self._then = set(tables), told, then
        return holders

    def wait(self) -> None:
        """Block until every wrap is back (progress told meanwhile), then hand them to ``then``; a failure of
        the worker raises :class:`~engine.errors.EngineError` (the import is abandoned)."""
        if self._values is not None:
            return
        while True:
            try:
                msg = self._conn.recv()
            except (EOFError, OSError):
                msg = ("error", f"the process ended (exit code {self._proc.exitcode})")
            if msg[0] == "progress":
                self._told(msg[1])
                continue
            if msg[0] == "done" and len(msg[1]) == self._count:
                break
            why = msg[1] if msg[0] == "error" else "a short answer"
            raise EngineError(f"the data keys could not be wrapped ({why}); nothing was imported",
                              inner_code="WrapFailed")
        self._values = msg[1]
        self.close()
        if self._then is not None:
            self._then([v.decode("ascii") for v in self._values])

    def fill(self, buf: bytearray) -> None:
        """Replace each placeholder in ``buf`` (serialised ASCII JSON) by its value, in place (after :meth:`wait`;
        a value is as long as its placeholder)."""
        prefix = self._prefix.encode("ascii")
        values = self._values
        find, cut = buf.find, len(prefix)
        at = find(prefix)
        if at >= 0:
            assert values is not None, "fill before wait"
        while at >= 0:
            value = values[int(buf[at + cut:at + cut + 9])]
            buf[at:at + len(value)] = value
            at = find(prefix, at + len(value))

    def close(self) -> None:
        """End the worker (killed if it still runs) and its pipe."""
        proc = self._proc
        if proc.is_alive():
            if self._count and self._values is None:
                proc.kill()  # abandoned mid-work (the import failed)
            else:
                try:
                    self._conn.send(None)  # a worker still waiting for its job ends; one that answered is ending
                except OSError:
                    proc.kill()
            proc.join()
        self._conn.close()

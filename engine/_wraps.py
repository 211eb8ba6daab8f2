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
    """True where the wraps can run in a forked process: POSIX with fork, ``CMKLAB_PORTABLE`` not set, and the
    import running on the main thread (the CLI's). An import on another thread (the console's importer, whose
    UI and watcher threads go on meanwhile) wraps on threads instead: a fork copies only the forking thread, and
    a lock another thread held at that moment would stay held in the child for ever."""
    if os.environ.get("CMKLAB_PORTABLE", "") not in ("", "0") or sys.platform == "win32":
        return False
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False
    import multiprocessing

    return "fork" in multiprocessing.get_all_start_methods()


def _serve(conn, other, bounds) -> None:
    """The worker: one job ``(numbers, items)`` (``numbers``: ``[(e, n)]``; ``items``: ``[(key index, data
    key)]``), wrapped in chunks of :data:`CHUNK` taken from the front of ``bounds`` (``[next, end)``, shared: the
    import takes them from the end once it waits), answered with ``("progress", n)`` after each chunk and
    ``("done", {chunk: [base64 of each wrap, ASCII bytes]})`` at the end, or ``("error", text)``; ``None`` (or
    the pipe closed) ends it without work."""
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
        got: dict[int, list[bytes]] = {}
        done = 0
        lock = bounds.get_lock()
        while True:
            with lock:
                c = bounds[0]
                if c >= bounds[1]:
                    break
                bounds[0] = c + 1
            got[c] = [b64(wrap_key(pubs[k], dek)) for k, dek in items[c * CHUNK:(c + 1) * CHUNK]]
            done += len(got[c])
            conn.send(("progress", done))
        conn.send(("done", got))
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
        self._bounds = ctx.Array("q", 2)  # the chunks not taken yet, [next, end): shared with the worker
        self._proc = ctx.Process(target=_serve, args=(child, self._conn, self._bounds), name="cmklab-import-wraps",
                                 daemon=True)
        self._proc.start()
        child.close()
        self.tables: set[str] = set()
        self._prefix = "~" + os.urandom(8).hex() + "~"  # unguessable: an input cannot hold it
        self._count = 0
        self._pairs: list = []
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
        self._bounds[0], self._bounds[1] = 0, -(-len(pairs) // CHUNK)
        self._conn.send((numbers, items))
        self._count, self._pairs = len(pairs), pairs
        self.tables, self._told, self._then = set(tables), told, then
        return holders

    def wait(self) -> None:
        """Wrap the chunks the worker has not taken yet, from the end, while it goes on from the front; then
        wait for its own (progress told meanwhile) and hand every value to ``then``. A failure of the worker
        raises :class:`~engine.errors.EngineError` (the import is abandoned)."""
        if self._values is not None:
            return
        b64, pairs, bounds, lock = base64.b64encode, self._pairs, self._bounds, self._bounds.get_lock()
        mine: dict[int, list[bytes]] = {}
        theirs: dict[int, list[bytes]] | None = None
        counts = [0, 0]  # wrapped here, wrapped there

        def take(msg) -> dict | None:
            if msg[0] == "progress":
                counts[1] = msg[1]
                self._told(sum(counts))
                return None
            if msg[0] == "done":
                return msg[1]
            raise EngineError(f"the data keys could not be wrapped ({msg[1]}); nothing was imported",
                              inner_code="WrapFailed")

        conn = self._conn
        while theirs is None:
            with lock:
                c = bounds[1] - 1
                if c < bounds[0]:
                    break
                bounds[1] = c
            mine[c] = [b64(wrap_key(pub, dek)) for pub, dek in pairs[c * CHUNK:(c + 1) * CHUNK]]
            counts[0] += len(mine[c])
            while theirs is None and conn.poll():
                theirs = take(self._recv())
        while theirs is None:
            theirs = take(self._recv())
        theirs.update(mine)
        values = [v for c in range(len(theirs)) for v in theirs.get(c, ())]
        if len(values) != self._count:
            raise EngineError("the data keys could not be wrapped (a short answer); nothing was imported",
                              inner_code="WrapFailed")
        self._values = values
        self.close()
        if self._then is not None:
            self._then([v.decode("ascii") for v in values])

    def _recv(self):
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            return ("error", f"the process ended (exit code {self._proc.exitcode})")

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

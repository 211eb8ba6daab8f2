"""An import's RSA wraps in a worker process, beside the import's Python work.

An import of 100,000 resources wraps ~110,000 data keys (RSA-OAEP-256): ~4 s of one core. Threads barely help
(cryptography holds the GIL for about a quarter of each encrypt, and the import's Python work on the main thread
competes for it), so on POSIX the wraps run in a process forked at the start of the import (while the process
is small). It also generates the stand-in keys the data keys are wrapped by (:meth:`WrapWorker.generate`; into
an empty home, as soon as the planning knows the key versions, while the planning goes on) and seals them with
the home's sealer (the fork's copy): the import gets back only their public numbers and sealed material
(:meth:`WrapWorker.keys`); while nothing is asked of it yet, it makes a few stand-ins of the default size ahead,
and once they are made, until the first resources come, it wraps data keys ahead by each key it holds.
The import hands it each resource (by chunks) with the indexes of its wrapping keys: the worker draws the data
keys, wraps them and seals the resource's host copy of them (with the key :meth:`WrapWorker.host` gives it once
the home is open), so no data key is drawn in the import's process. The import puts short placeholders of the
values in the documents, and builds, indexes and serialises the commit meanwhile; the store fills the
placeholders in last (``store.bulk_commit(late=...)``), sharing the shards that hold them with the worker
(:meth:`WrapWorker.hand_over`), which fills in and writes those it takes.

Where fork is not offered (Windows), or with ``CMKLAB_PORTABLE=1``, :func:`available` is False and the import
wraps on threads before it commits (twin.py). A seeded import never comes here: its wraps draw OAEP's
randomness from the seeded stream, in order, so that it is reproducible.

A failure of the worker (an error in a generation or a wrap, the process killed) is raised by
:meth:`WrapWorker.keys` or :meth:`WrapWorker.wait`, inside the import's unit of work: it is abandoned and nothing
is written."""

from __future__ import annotations

import binascii
import os
import sys
from typing import Callable

from cryptography.hazmat.primitives.asymmetric import rsa

from .crypto import (DATA_KEY_SIZE, XTS_KEY_SIZE, Sealer, generate_rsa, new_xts_key, private_to_der, public_from_jwk,
                     public_numbers_jwk, wrap_key)
from .errors import EngineError, StoreError

CHUNK = 2048
"""Data keys per progress message of the worker."""
SPARE_BITS = 2048
"""The size of the stand-ins the worker makes ahead (the default stand-in's: twin.DEFAULT_STAND_IN_BITS)."""
SPARE_KEYS = 2
"""How many it makes ahead at most, while the import reads and plans and asks it nothing (the second core is
idle then): the first key versions' and regions' stand-ins then cost the import no wait. Those not asked for are
dropped with the worker (their time is not counted as the import's key generation). Not on a machine of one
core (there they would take the import's own time). (Six, when the worker had nothing else to do ahead: most of
them were never asked for; the time goes to wraps ahead now, :data:`AHEAD_WRAPS`.)"""
AHEAD_WRAPS = 1 << 16
"""How many data keys the worker draws and wraps ahead at most, once its stand-ins are made and until the first
resources come (:func:`_serve`): by each key it holds in turn, 32-byte keys (a resource's own) and, by keys of
2,048 bits (a region's platform key is one), 64-byte XTS keys too. A resource whose layer's key has some takes
them instead of drawing and wrapping its own (:func:`_make`). Those never taken are dropped with the worker."""
AHEAD_BATCH = 32
"""Data keys wrapped ahead between two looks at the pipe (about a millisecond of RSA-3072)."""
AHEAD_MAX = 16
"""How many stand-ins of the sizes the input names (:meth:`WrapWorker.ahead`) it makes ahead at most, before
those of :data:`SPARE_BITS`."""
_IDLE = object()
QUEUED = 4 << 20
"""Bytes of shards handed over (WrapWorker.hand_over) below which the worker has room for more."""
SHM_RING = 64 << 20
"""The bytes of the memory file the shards handed over go through, used again from its start (its pages were
made once: 128 MB of an import's disk shards written into new pages cost the import a quarter of a second).
Safe while a shard and :data:`QUEUED` are each at most a quarter of it: the worker's unread shards are then at
most half of it, behind the place written (a larger shard goes past the end, into new pages)."""


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


def _serve(conn, other, bounds, seal, out: int, prefix: str = "", shm: int = -1) -> None:
    """The worker: the import's messages, in order: ``("pubs", [(e, n)])`` (public keys, indexed in the order
    they come), ``("gen", [(bits, aad)])`` (new private keys, indexed likewise, answered with ``("keys", [(n, e,
    sealed)], seconds)``: JWK numbers and ``seal(DER, aad)``; while nothing is asked yet, those of the sizes of
    ``("ahead", [bits])`` are made ahead, then up to :data:`SPARE_KEYS` of :data:`SPARE_BITS`), ``("host", key)`` (the key of the host copies), ``("chunk", c,
    [(key indexes, aad)])`` (chunk ``c``: :data:`CHUNK` resources, the last one fewer: for each, its data keys
    are drawn, wrapped by its keys and sealed as its host copy with ``aad``) and ``("end",)``; ``None`` (or the
    pipe closed) ends it without an answer. A thread reads the pipe while this one wraps (the import goes on
    planning and sending, never waiting for a wrap). A chunk is taken here unless the import took it first:
    ``bounds`` (``[next, end)``, shared) -- the import takes chunks from the end once it waits. Answered with
    ``("progress", n)`` after each chunk (n: data keys wrapped) and ``("done", {chunk: (offset, length)})`` at
    the end, or ``("error", text)``: each chunk's values (of each resource, the base64 of its wraps, then its
    sealed host copy), in ASCII, one after the other, are written to the file ``out`` (an unlinked temporary
    file both processes hold) at that span. (Sent through the pipe, the 110,000 wraps of an import were a 38 MB
    message, whose reading held the import for 0.3 s at its end.) After "end" it goes on serving the store's
    shards (:meth:`WrapWorker.hand_over`): ``("fill", {chunk: span})`` (every chunk's span, the import's own
    too), then ``("job", write, path, index, (offset, length) or None)`` (the body in the memory file ``shm``
    at that span, else sent next through the pipe: filled in, then ``write(path, body, index)``, answered with
    ``("wrote", n)``) and ``("jobs-end",)`` (answered with ``("written", paths)``), until None."""
    other.close()
    import threading  # (nothing else is imported here: the modules a fork inherits are ready)
    import time

    inbox: list = []
    ready = threading.Condition()
    spare: dict[int, list] = {}  # bits: [(private key, CPU seconds, pool)]: keys made ahead, while no message waits
    # each key's data keys wrapped ahead (AHEAD_WRAPS): {data key size: [(data key, base64 of its wrap)]}, by
    # the key's index once it has one (a spare's pool goes with it)
    pools: dict[int, dict[int, list]] = {}
    ahead_pools: list[tuple[object, dict[int, list]]] = []  # (public key, pool) of every key made here, in turn
    ahead_turn, ahead_left = 0, AHEAD_WRAPS
    started = False  # (the first resources came: no more wraps ahead)
    wanted: list[int] = []  # the sizes to make ahead first ("ahead")
    asked, made_ahead = False, 0  # (made ahead until the first "gen")

    def read() -> None:
        while True:
            try:
                msg = conn.recv()
                if msg is not None and msg[0] == "job" and msg[4] is None:
                    msg = (*msg, conn.recv_bytes())  # (its body, sent as it is: no pickled copy)
            except BaseException:  # (the pipe closed, or anything else: the worker ends, and the import sees it)
                msg = None
            with ready:
                if msg is not None and msg[0] == "host":
                    # the host copies' key goes before the chunks that wait: they are sealed as they are made,
                    # and those made without it at once, not last (0.16 s of a 100,000-resource import, while
                    # the import waited for its last wraps: now it wraps the chunks not begun yet itself)
                    inbox.insert(0, msg)
                else:
                    inbox.append(msg)
                ready.notify()
            if msg is None:
                return

    threading.Thread(target=read, name="cmklab-wraps-reader", daemon=True).start()
    try:
        pubs: list = []
        got: dict[int, tuple[int, int]] = {}  # chunk: its span in ``out``
        keys_of: list[list[int]] = []  # each chunk's key indexes (also of the chunks the import took)
        filler = sealer = None
        unsealed: list = []  # (chunk, values) waiting for the host copies' key
        written: list[str] = []

        def put(c: int, values: list[bytes], at: int) -> int:
            data = b"".join(values)
            view = memoryview(data)
            while view:
                view = view[os.write(out, view):]
            got[c] = (at, len(data))
            return at + len(data)

        at = 0
        done = 0
        lock = bounds.get_lock()
        while True:
            with ready:
                msg = inbox.pop(0) if inbox else _IDLE
            if msg is _IDLE:
                if not asked and (os.cpu_count() or 1) > 1 and (wanted or made_ahead < SPARE_KEYS):
                    # nothing asked yet (the import is reading and planning): a stand-in of a size the input
                    # names, else of the default size, made ahead; a "gen" of that size takes it instead of
                    # making one then
                    bits = wanted.pop(0) if wanted else SPARE_BITS
                    made_ahead += bits == SPARE_BITS
                    t = time.thread_time()
                    private = generate_rsa(bits)
                    pool: dict[int, list] = {}
                    spare.setdefault(bits, []).append((private, time.thread_time() - t, pool))
                    ahead_pools.append((private.public_key(), pool))
                    continue
                if not started and ahead_left > 0 and ahead_pools and (os.cpu_count() or 1) > 1:
                    # the stand-ins are made and no resource has come yet: data keys wrapped ahead, by each key
                    # in turn (the second core is idle while the import reads and plans)
                    pub, pool = ahead_pools[ahead_turn % len(ahead_pools)]
                    ahead_turn += 1
                    size = DATA_KEY_SIZE if pub.key_size != 2048 or ahead_turn // len(ahead_pools) % 2 == 0 \
                        else XTS_KEY_SIZE  # (XTS keys: the host layer, wrapped by a region's platform key)
                    pool.setdefault(size, []).extend(_ahead(pub, size, AHEAD_BATCH))
                    ahead_left -= AHEAD_BATCH
                    continue
                with ready:
                    while not inbox:
                        ready.wait()
                    msg = inbox.pop(0)
            if msg is None:
                return  # the import ended it (or died): no answer
            if msg[0] == "job":  # a shard to fill in and write (the values are known: "fill" came first)
                _kind, write, path, index, span = msg[:5]
                if span is None:
                    buf = bytearray(msg[5])  # (its body, sent through the pipe)
                else:
                    buf = bytearray(span[1])  # (read from the shared memory file: one copy)
                    got_n = 0
                    while got_n < span[1]:
                        n = os.preadv(shm, [memoryview(buf)[got_n:]], span[0] + got_n)
                        if n <= 0:
                            raise OSError("short read of a handed-over shard")
                        got_n += n
                del msg
                n = len(buf)
                buf, moves = filler.fill(buf)
                written += write(path, buf, index, moves)
                conn.send(("wrote", n))
                continue
            if msg[0] == "fill":  # every chunk's span in ``out`` (the import's own after the worker's)
                filler = _Filler(prefix, out, msg[1], keys_of, [b64_length(p) for p in pubs])
                continue
            if msg[0] == "jobs-end":
                conn.send(("written", written))
                continue
            if msg[0] == "ahead":  # the sizes the input names: made ahead first, while nothing is asked
                wanted = [int(b) for b in msg[1]][:AHEAD_MAX]
                continue
            if msg[0] == "pubs":
                pubs += [rsa.RSAPublicNumbers(e, n).public_key() for e, n in msg[1]]
            elif msg[0] == "gen":
                t = time.thread_time()  # (its CPU time: not what it waited for a core beside the planning)
                ahead = 0.0  # the CPU time of the keys made ahead that are used here
                asked = True
                made = []
                for bits, aad in msg[1]:
                    if spare.get(bits):
                        private, secs, pool = spare[bits].pop(0)
                        ahead += secs
                    else:
                        private = generate_rsa(bits)
                        pool = {}
                        ahead_pools.append((private.public_key(), pool))
                    pools[len(pubs)] = pool
                    jwk = public_numbers_jwk(private)
                    # sealed here with the home's sealer; without one (forked before the home was opened), the
                    # import seals it once the home is open (WrapWorker.keys)
                    der = private_to_der(private)
                    made.append((jwk["n"], jwk["e"], seal(der, aad) if seal is not None else der))
                    pubs.append(private.public_key())
                conn.send(("keys", made, time.thread_time() - t + ahead))
            elif msg[0] == "host":  # the host copies' key: what waited for it is sealed and written
                sealer = Sealer(msg[1])
                for c, values in unsealed:
                    at = put(c, [v if type(v) is bytes else sealer.seal_text(*v).encode("ascii") for v in values],
                             at)
                unsealed = []
            elif msg[0] == "chunk":
                c, items = msg[1], msg[2]
                keys_of.append([keys for keys, _aad in items])
                with lock:
                    if c >= bounds[1]:
                        continue  # the import took it (and every later one)
                    bounds[0] = c + 1
                started = True
                values = _make(items, pubs, sealer, pools)
                if sealer is None:
                    unsealed.append((c, values))  # (sealed once the host copies' key comes)
                else:
                    at = put(c, values, at)
                done += sum(len(keys) for keys, _aad in items)
                conn.send(("progress", done))
            else:  # "end": the spans of its chunks; it goes on serving ("fill", "job", "jobs-end") until None
                if unsealed:
                    raise EngineError("the host copies' key never came")
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
    return b64_length_bits(pub.key_size)


def b64_length_bits(bits: int) -> int:
    return 4 * -(-((bits + 7) // 8) // 3)




def _cache_length(layers: int) -> int:
    """The length of a resource's sealed host copy (``Sealer.seal_text``: nonce, its data keys, tag; base64) of
    ``layers`` data keys: a 32-byte key, then 64-byte XTS keys."""
    return 4 * -(-(12 + 32 + 64 * (layers - 1) + 16) // 3)


def _draw(items: list) -> list[bytes]:
    """The new data keys of ``items`` (``(key indexes, aad)``: one resource each), in one draw of randomness:
    of each resource, the outer 32-byte key, then (double encryption) the host's 64-byte XTS key (its two
    halves different: one drawn again where they are equal)."""
    sizes = [DATA_KEY_SIZE + XTS_KEY_SIZE * (len(keys) - 1) for keys, _aad in items]
    pool = os.urandom(sum(sizes))
    out, at = [], 0
    for keys, _aad in items:
        out.append(pool[at:at + DATA_KEY_SIZE])
        at += DATA_KEY_SIZE
        for _ in range(len(keys) - 1):
            xts = pool[at:at + XTS_KEY_SIZE]
            at += XTS_KEY_SIZE
            out.append(xts if xts[:32] != xts[32:] else new_xts_key())
    return out


def _make(items: list, pubs: list, sealer, pools: dict[int, dict[int, list]] | None = None) -> list:
    """The values of ``items`` (``(key indexes, aad)``: one resource each): for each, its data keys drawn and
    wrapped by its keys (base64), then their host copy sealed with ``aad`` (by ``sealer``; without one, the
    pair (data keys, aad) to seal once it comes). ``pools``: data keys some of the keys wrapped ahead, by key
    index and size (:data:`AHEAD_WRAPS`): a layer whose key has one of its size takes it instead."""
    b64, deks, wrap = binascii.b2a_base64, _draw(items), wrap_key
    layer_keys = [k for keys, _aad in items for k in keys]
    if pools:
        wrapped = []
        for i, (k, dek) in enumerate(zip(layer_keys, deks)):
            pool = pools.get(k)
            ready = pool.get(len(dek)) if pool else None
            if ready:
                deks[i], value = ready.pop()
                wrapped.append(value)
            else:
                wrapped.append(b64(wrap(pubs[k], dek), newline=False))
    else:
        wrapped = [b64(wrap(pubs[k], dek), newline=False) for k, dek in zip(layer_keys, deks)]
    hosts, at = [], 0
    for keys, aad in items:
        hosts.append((b"".join(deks[at:at + len(keys)]), aad))
        at += len(keys)
    sealed = sealer.seal_ascii_many(hosts) if sealer is not None else hosts
    out, at = [], 0
    for (keys, _aad), host in zip(items, sealed):
        out += wrapped[at:at + len(keys)]
        out.append(host)
        at += len(keys)
    return out


def _ahead(pub, size: int, n: int) -> list[tuple[bytes, bytes]]:
    """``n`` new data keys of ``size`` bytes (32, or 64 for XTS: halves different, as :func:`_draw` draws them),
    each with the base64 of its wrap by ``pub``."""
    pool = os.urandom(size * n)
    keys = [pool[i:i + size] for i in range(0, size * n, size)]
    if size == XTS_KEY_SIZE:
        keys = [k if k[:32] != k[32:] else new_xts_key() for k in keys]
    b64, wrap = binascii.b2a_base64, wrap_key
    return [(k, b64(wrap(pub, k), newline=False)) for k in keys]


class _Filler:
    """The values of an import's placeholders, read from the file ``out`` (a map of it): each chunk's span in
    it (``spans``: {chunk: (offset, length)}), its values one after the other: of each resource, the base64 of a
    wrap by each of its keys, then its sealed host copy (``keys_of``: each chunk's resources' key indexes,
    ``lengths``: each key's wraps' length)."""

    def __init__(self, prefix: str, out: int, spans: dict[int, tuple[int, int]], keys_of: list[list],
                 lengths: list[int]) -> None:
        self.prefix = prefix.encode("ascii")
        size = os.fstat(out).st_size
        self.blob = _map(out, size)
        self.at: list[int] = []  # each value's offset, in the order the values were handed over
        self.lengths: list[int] = []
        for c, keys in enumerate(keys_of):
            at, n = spans.get(c, (0, -1))
            end = at + n
            for item in keys:
                for n in [lengths[k] for k in item] + [_cache_length(len(item))]:
                    self.at.append(at)
                    self.lengths.append(n)
                    at += n
            if at != end or end > size:
                raise EngineError("the data keys could not be wrapped (a short answer); nothing was imported",
                                  inner_code="WrapFailed")

    def fill(self, buf: bytearray) -> tuple[bytes | bytearray, list[tuple[int, int]]]:
        """``buf`` with each placeholder replaced by its value, and where it grew (:func:`fill_values`)."""
        return fill_values(buf, self.prefix, self.at, self.lengths, self.blob)


def fill_values(buf: bytearray, prefix: bytes, spans: list[int], lengths: list[int], blob
                ) -> tuple[bytes | bytearray, list[tuple[int, int]]]:
    """``buf`` (a serialised shard's ASCII bytes) with each placeholder (``prefix`` and nine digits: the value's
    number) replaced by its value (``blob[spans[i]:spans[i] + lengths[i]]``), joined once; and, of each, its
    place in ``buf`` and how much longer its value is, in order (the store moves its index's offsets by them).
    ``buf`` itself where it holds none."""
    find, cut = buf.find, len(prefix)
    width = cut + 9
    view = memoryview(buf)
    parts: list = []
    moves: list[tuple[int, int]] = []
    pos, at = 0, find(prefix)
    while at >= 0:
        i = int(buf[at + cut:at + width])
        a, n = spans[i], lengths[i]
        parts += (view[pos:at], blob[a:a + n])
        moves.append((at, n - width))
        pos = at + width
        at = find(prefix, pos)
    if not moves:
        return buf, moves
    parts.append(view[pos:])
    return b"".join(parts), moves


def _map(fd: int, size: int):
    """A read-only map of the first ``size`` bytes of the file ``fd`` (an empty bytes object for none)."""
    if size == 0:
        return b""
    import mmap

    return mmap.mmap(fd, size, access=mmap.ACCESS_READ)


class WrapWorker:
    """A forked process that generates stand-in keys (:meth:`generate`, :meth:`keys`) and wraps data keys
    (:meth:`add`, then :meth:`finish`; or :meth:`submit`), and the values it returns, as the store's ``late``
    argument takes them (``tables``, :meth:`wait`, :meth:`fill`). ``seal(plaintext, aad)``: what seals the
    generated keys (the home's sealer, copied by the fork). :meth:`close` ends it (always: ``with
    WrapWorker() as w``)."""

    def __init__(self, seal: Callable[[bytes, bytes], str] | None = None) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._bounds = ctx.Array("q", 2)  # the chunks not taken yet, [next, end): shared with the worker
        self._bounds[1] = 1 << 62  # (the end is set when the import has handed over every data key)
        import tempfile

        self._out = tempfile.TemporaryFile(prefix="cmklab-wraps-")  # (unlinked: nothing of it outlives the two)
        self._prefix = "~" + os.urandom(8).hex() + "~"  # unguessable: an input cannot hold it
        # the shards handed over (hand_over) go through memory both processes share, where the system offers it
        # (Linux): a pipe made the import wait for the worker's reading, a quarter of a second for 140 MB
        self._shm = os.memfd_create("cmklab-import-shards", os.MFD_CLOEXEC) if hasattr(os, "memfd_create") else -1
        self._proc = ctx.Process(target=_serve, args=(child, self._conn, self._bounds, seal, self._out.fileno(),
                                                      self._prefix, self._shm),
                                 name="cmklab-import-wraps", daemon=True)
        self._proc.start()
        child.close()
        self.tables: set[str] = set()
        self._count = 0
        self._pairs: list = []  # each resource handed over: (its key indexes, aad)
        self._layers = 0  # the data keys handed over (of all resources)
        self._nvalues = 0  # the values handed over: each resource's wraps and its host copy
        self._vlens: list[int] = []  # each value's length
        self._host: Sealer | None = None
        self._known: dict[int, int] = {}  # id(public key): its index
        self._keys: list = []  # each index's public key (a generated one's once keys() has it)
        self._lengths: list[int] = []  # each index's wraps' length
        self._asked = self._answered = 0  # generations asked for ("gen" messages), and answered
        self._made: list = []  # what keys() got: (n, e, sealed) of each generated key, in order
        self._gen_at: list[int] = []  # the index of each generated key
        self._aads: list[bytes] = []  # each generated key's associated data (its id), in the same order
        self.seal_late: Callable[[bytes, bytes], str] | None = None
        """What seals the generated keys here when the worker had no sealer (forked before the home was opened,
        as ``cmklab import`` into a new home does): set before :meth:`keys` is asked."""
        self.keygen_s = 0.0  # the worker's CPU time generating and sealing them
        self._there = 0  # wraps the worker has told
        self._items: list = []  # the chunk being filled: (key index, data key)
        self._sent = 0  # chunks sent
        self._broken = False  # a send failed (the worker ended): keys() and wait() report it
        self._finished = False
        self.waited_s, self.wrapped_here = 0.0, 0  # (figures: how long wait() took, and the wraps made there)
        self._values: list[int] | None = None  # once wait() has them: each value's offset in self._blob
        self._blob = None  # a read-only map of the file of values
        self._then: Callable[[list[str]], None] | None = None
        self._told: Callable[[int], None] = lambda n: None
        self._done: dict | None = None  # the worker's "done" (its chunks' spans), once ready() has read it
        self._handing = False  # hand_over() has begun
        self._shm_at = 0  # the end of what was handed over in the memory file
        self._queued = 0  # bytes handed over that the worker has not written yet
        self._spans: dict[int, tuple[int, int]] | None = None  # every chunk's span in the file, once wait() has them

    def __enter__(self) -> "WrapWorker":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _send(self, msg) -> None:
        if not self._broken:
            try:
                self._conn.send(msg)
            except OSError:  # the worker ended: keys() and wait() report its failure
                self._broken = True

    def _index(self, key, length: int) -> int:
        """A new key index: ``key`` (None until generated) and its wraps' base64 ``length``."""
        self._keys.append(key)
        self._lengths.append(length)
        return len(self._keys) - 1

    def ahead(self, sizes: list[int]) -> None:
        """The sizes of stand-ins the import will likely ask for (the input's keys, read before its large
        files): the worker makes them ahead, before those of the default size, while it is asked nothing (at
        most :data:`AHEAD_MAX`)."""
        if sizes:
            self._send(("ahead", list(sizes)))

    def generate(self, wanted: list[tuple[int, bytes]]) -> list[int]:
        """Generate a private key of each ``(bits, aad)`` in the worker, sealed there with ``aad``; returns their
        indexes (what :meth:`add` takes). :meth:`keys` gives their public numbers and sealed material."""
        if not wanted:
            return []
        at = [self._index(None, b64_length_bits(bits)) for bits, _ in wanted]
        self._gen_at += at
        self._aads += [aad for _, aad in wanted]
        self._asked += 1
        self._send(("gen", [(bits, aad) for bits, aad in wanted]))
        return at

    def keys(self) -> dict[int, tuple[str, str, str]]:
        """``(n, e, sealed)`` of each key :meth:`generate` asked for, by its index (waits for the worker to make
        them). A failure of the worker raises :class:`~engine.errors.EngineError`."""
        while self._answered < self._asked:
            msg = self._recv()
            if msg[0] == "keys":
                self._answered += 1
                self._made += msg[1]
                self.keygen_s += msg[2]
            elif msg[0] == "progress":
                self._there = msg[1]
            else:
                raise EngineError(f"the stand-in keys could not be generated ({msg[1]}); nothing was imported",
                                  inner_code="WrapFailed")
        for j, (n, e, sealed) in enumerate(self._made):
            if not isinstance(sealed, str):  # the private key itself: sealed here, and forgotten
                if self.seal_late is None:
                    raise EngineError("the stand-in keys cannot be sealed: the home is not open; nothing was "
                                      "imported", inner_code="WrapFailed")
                self._made[j] = (n, e, self.seal_late(sealed, self._aads[j]))
        for i, (n, e, _sealed) in zip(self._gen_at, self._made):
            if self._keys[i] is None:
                self._keys[i] = public_from_jwk(n, e)
        return dict(zip(self._gen_at, self._made))

    def add(self, keys: list, aad: bytes) -> list[str]:
        """Hand over one resource whose data keys the worker draws, one wrapped by each of ``keys`` (public keys,
        or indexes of ones :meth:`generate` makes; outermost first: a 32-byte key, then 64-byte XTS keys), and
        whose host copy it seals with ``aad`` (by the key :meth:`host` gives); sent to it by chunks of
        :data:`CHUNK` resources. Returns the placeholders of the base64 of each wrap and of the sealed copy: the
        prefix and the value's number (27 characters, where the values are 80 to 684: the commit serialises and
        hands over 60 MB less of an import's 135 MB of disks' shards, and the filling moves the offsets)."""
        at = []
        for key in keys:
            if type(key) is int:
                at.append(key)
                continue
            k = self._known.get(id(key))
            if k is None:
                k = self._known[id(key)] = self._index(key, b64_length(key))
                nums = key.public_numbers()
                self._send(("pubs", [(nums.e, nums.n)]))
            at.append(k)
        item = (tuple(at), aad)
        self._pairs.append(item)
        self._items.append(item)
        self._layers += len(at)
        if len(self._items) >= CHUNK:
            self._flush()
        i, prefix, out = self._nvalues, self._prefix, []
        for k in at:
            out.append(f"{prefix}{i:09d}")
            self._vlens.append(self._lengths[k])
            i += 1
        out.append(f"{prefix}{i:09d}")
        self._vlens.append(_cache_length(len(at)))
        self._nvalues = i + 1
        return out

    def host(self, key: bytes) -> None:
        """The key that seals the resources' host copies (the engine's host sealer's): sent to the worker, which
        seals what waited for it (forked before the home was opened, it had none)."""
        self._host = Sealer(key)
        self._send(("host", key))

    def _flush(self) -> None:
        if self._items:
            self._send(("chunk", self._sent, self._items))
            self._sent += 1
            self._items = []

    def finish(self, *, tables: set[str], told: Callable[[int], None], then: Callable[[list[str]], None]) -> None:
        """Every data key handed over: ``told(n)``: n wrapped so far (while :meth:`wait` waits);
        ``then(values)``: called by :meth:`wait` with the base64 of each wrap, in the order of :meth:`add`."""
        self._flush()
        with self._bounds.get_lock():
            self._bounds[1] = self._sent
        self._send(("end",))
        self._finished = True
        self._count = self._nvalues
        self.tables, self._told, self._then = set(tables), told, then

    @property
    def count(self) -> int:
        """The data keys handed over so far."""
        return self._layers

    def placed(self, holder: str) -> int:
        """The index (in the order of :meth:`add`) of the value a placeholder stands for."""
        return int(holder[len(self._prefix):len(self._prefix) + 9])

    def submit(self, items: list[tuple[list, bytes]], *, tables: set[str], told: Callable[[int], None],
               then: Callable[[list[str]], None]) -> list[list[str]]:
        """:meth:`add` for each of ``items`` (``(keys, aad)``), then :meth:`finish`; returns the placeholders
        of each (what the documents of ``tables`` hold until the store fills them)."""
        holders = [self.add(keys, aad) for keys, aad in items]
        self.finish(tables=tables, told=told, then=then)
        return holders

    def wait(self) -> None:
        """Wrap the chunks the worker has not taken yet, from the end, while it goes on from the front; then
        wait for its own (progress told meanwhile) and hand every value to ``then``. A failure of the worker
        raises :class:`~engine.errors.EngineError` (the import is abandoned)."""
        if self._values is not None:
            return
        assert self._finished, "wait before finish"
        import time

        t = time.perf_counter()
        self.keys()  # (the generated keys' public numbers: to wrap here too)
        pairs, bounds, lock = self._pairs, self._bounds, self._bounds.get_lock()
        if self._host is None:
            raise EngineError("the host copies cannot be sealed: no key given (host); nothing was imported",
                              inner_code="WrapFailed")
        keys = self._keys
        mine: dict[int, list[bytes]] = {}
        theirs: dict[int, tuple[int, int]] | None = None  # the worker's chunks: their spans in the file
        counts = [0, self._there]  # wrapped here, wrapped there

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
        if self._done is not None:  # (read by ready())
            theirs, self._done = self._done, None
        while theirs is None:
            with lock:
                c = bounds[1] - 1
                if c < bounds[0]:
                    break
                bounds[1] = c
            part = pairs[c * CHUNK:(c + 1) * CHUNK]
            mine[c] = _make(part, keys, self._host)
            counts[0] += sum(len(k) for k, _aad in part)
            while theirs is None and conn.poll():
                theirs = take(self._recv())
        while theirs is None:
            theirs = take(self._recv())
        # the chunks wrapped here follow the worker's in the file (it has ended: the file is this process's),
        # so that every value is read from one map of it: no copy of the 38 MB of a 100,000-resource import
        out = self._out
        size = out.seek(0, os.SEEK_END)
        for c in sorted(mine):
            data = b"".join(mine[c])
            out.write(data)
            theirs[c] = (size, len(data))
            size += len(data)
        out.flush()
        blob = self._blob = _map(out.fileno(), size)
        spans: list[int] = []  # each value's offset in the file, in the order of add()
        lengths = self._vlens
        v = 0
        for c in range(self._sent):
            at, n = theirs.get(c, (0, -1))
            end = at + n
            for keys, _aad in pairs[c * CHUNK:(c + 1) * CHUNK]:
                for _ in range(len(keys) + 1):
                    spans.append(at)
                    at += lengths[v]
                    v += 1
            if at != end or end > size:
                raise EngineError("the data keys could not be wrapped (a short answer); nothing was imported",
                                  inner_code="WrapFailed")
        if len(spans) != self._count:
            raise EngineError("the data keys could not be wrapped (a short answer); nothing was imported",
                              inner_code="WrapFailed")
        self._values, self._spans = spans, theirs
        self.waited_s, self.wrapped_here = time.perf_counter() - t, counts[0]
        # (the worker goes on, for hand_over(); close() ends it)
        if self._then is not None:
            self._then([str(blob[a:a + n], "ascii") for a, n in zip(spans, lengths)])

    def ready(self) -> bool:
        """Whether :meth:`wait` would return without waiting for the worker (it has answered every data key, or
        failed: then wait() raises); reads the worker's messages that are there, without blocking."""
        if self._values is not None or self._done is not None:
            return True
        if not self._finished or self._answered < self._asked:
            return False
        while self._conn.poll():
            msg = self._recv()
            if msg[0] == "progress":
                self._there = msg[1]
                self._told(msg[1])
                continue
            if msg[0] == "done":
                self._done = msg[1]
                return True
            raise EngineError(f"the data keys could not be wrapped ({msg[1]}); nothing was imported",
                              inner_code="WrapFailed")
        return False

    def hand_over(self, write: Callable[[str, bytes, str, list], list[str]], jobs: list[tuple[str, bytes, str]]
                  ) -> None:
        """After :meth:`wait`: hand the worker serialised shards whose placeholders it fills in, as :meth:`fill`
        would, before it runs ``write(path, filled bytes, index, moves)`` for each ``(path, bytes, index)`` of
        ``jobs`` (``moves``: where the filling grew the body, as :meth:`fill` gives them)
        (``store.bulk_commit``: a module-level function, which the worker imports); :meth:`handed` waits for
        it. Each body is sent as it is, after its header."""
        assert self._spans is not None, "hand_over before wait"
        if not self._handing:
            self._handing = True
            self._send(("fill", self._spans))
        for path, body, index in jobs:
            if self._shm < 0:
                self._send(("job", write, path, index, None))
                if not self._broken:
                    try:
                        self._conn.send_bytes(body)
                    except OSError:
                        self._broken = True
            else:
                at = self._shm_at
                if at + len(body) > SHM_RING and len(body) <= SHM_RING // 4:
                    at = 0  # the ring's start again: what the worker had to read there, it has read
                view = memoryview(body)
                while view:
                    view = view[os.pwrite(self._shm, view, at + len(body) - len(view)):]
                self._send(("job", write, path, index, (at, len(body))))
                self._shm_at = at + len(body)
            self._queued += len(body)

    def room(self) -> bool:
        """Whether the worker has written nearly every shard handed over so far (less than :data:`QUEUED` bytes
        wait there): one handed over now would not wait long. Reads its messages that are there, without
        blocking."""
        while self._queued >= QUEUED and self._conn.poll():
            msg = self._recv()
            if msg[0] == "wrote":
                self._queued -= msg[1]
            elif msg[0] != "progress":
                raise StoreError(f"cannot write the new state ({msg[1]}); nothing was committed")
        return self._queued < QUEUED

    def handed(self) -> list[str]:
        """Wait for the worker to have written what :meth:`hand_over` gave it; the paths its ``write`` returned. A
        failure there raises :class:`~engine.errors.StoreError` (the commit is abandoned)."""
        if not self._handing:
            return []
        self._send(("jobs-end",))
        while True:
            msg = self._recv()
            if msg[0] == "written":
                if self._shm >= 0:
                    os.ftruncate(self._shm, 0)  # (the bodies handed over: their memory let go)
                return msg[1]
            if msg[0] not in ("progress", "wrote"):
                raise StoreError(f"cannot write the new state ({msg[1]}); nothing was committed")

    def abandon(self) -> None:
        """End the worker at once (the commit failed here: it writes nothing more)."""
        if self._proc.is_alive():
            self._proc.kill()
        self._proc.join()

    def _recv(self):
        try:
            return self._conn.recv()
        except (EOFError, OSError):
            self._proc.join(5)  # (the pipe closes as the process ends: its exit code once it is reaped)
            return ("error", f"the process ended (exit code {self._proc.exitcode})")

    def fill(self, buf: bytearray) -> tuple[bytes | bytearray, list[tuple[int, int]]]:
        """``buf`` (serialised ASCII JSON) with each placeholder replaced by its value, and where each grew
        (:func:`fill_values`; after :meth:`wait`)."""
        prefix = self._prefix.encode("ascii")
        if prefix in buf:
            assert self._values is not None, "fill before wait"
        return fill_values(buf, prefix, self._values, self._vlens, self._blob)

    def close(self) -> None:
        """End the worker (killed if it still runs) and its pipe, and let go of the values."""
        self._end()
        if self._blob is not None and not isinstance(self._blob, bytes):
            self._blob.close()
        self._blob = None
        self._out.close()
        if self._shm >= 0:
            os.close(self._shm)
            self._shm = -1

    def _end(self) -> None:
        """End the worker (killed if it still runs) and its pipe."""
        proc = self._proc
        if proc.is_alive():
            if (self._pairs or self._asked) and self._values is None:
                proc.kill()  # abandoned mid-work (the import failed)
            else:
                try:
                    self._conn.send(None)  # a worker still waiting for its job ends; one that answered is ending
                except OSError:
                    proc.kill()
            proc.join()
        self._conn.close()

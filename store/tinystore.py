"""``TinyStore``: the engine's :class:`~engine.repository.StateStore` on TinyDB, in a home directory.

Layout of ``HOME`` (created 0700; every file 0600)::

    db/meta.json             TinyDB file: {"_meta": {"meta": {"schema_version": 3, "generation": G}}}
    db/TABLE.NN.json         TinyDB file holding shard NN (of 64) of one engine table: {TABLE: {id: doc}}
    db/changes.log           the commit log: the changes committed since the shards were last compacted
    journal.jsonl            audit entries and events (store.logs), copied from the commit records
    NAME.json                a side document (``scenario.json``: the workshop lab's progress), see
                             :meth:`TinyStore.write_side`
    state.lock               the inter-process lock (store.locking)
    root.key                 32 random bytes, the simulated HSM root key (store.rootkey)
    blobs/                   one sparse file per disk blob (store.blobs)

Why this shape: the cost of a command must be the cost of what it touches, at 100 documents as at
100,000. A commit is one fsync'd append to ``changes.log`` (the commit point), whatever the size of the
store; the action's audit entries and events travel in the same record, so that append is the only
fsync an action pays (store.logs says how ``journal.jsonl`` follows). A read opens only the shards it
needs: a document's shard is a hash of its key, so ``key show`` never parses a disk and ``disk show``
parses one 64th of the disks. When the log's documents pass ``COMPACT_BYTES`` and a share
(``COMPACT_SHARE``) of the shard files they touch, the shards it touches are rewritten (each atomically: a
temporary, fsync'd, renamed over it; the fsyncs of one compaction in flight together) and the log starts again
empty: the work is proportional to what changed, paid once per ~megabyte of changes, and at most once per as
many bytes of changes as it writes (a change of every disk of a large set does not rewrite every disk shard
each time). Caps on the log's documents and on the whole log bound what a reader parses.

The commit log, one record per commit::

    G <TAB> TABLE <TAB> {"u": {id: doc, ...}, "d": [id, ...]}  <LF>     one line per table touched
    G <TAB> ! <TAB> {"gen": G, "id": ..., "log": ..., ...}  <LF>        one line per journal line (schema 3)
    G <TAB> # <TAB> CRC <LF>                                            the commit marker

``CRC`` is the CRC-32 of the commit's other lines. A record without its marker, or whose CRC does not
match, is a write a crash cut short: readers stop there (it and anything after it never happened) and
the next writer, under the lock, cuts the file back to the end of the last whole record. Replaying the
log is idempotent (upserts carry whole documents, deletes name keys), so a crash in the middle of a
compaction is harmless: the shards already rewritten get the same changes again.

Crypto-shredding: a commit that destroys key material (``shred=True``) compacts at once, so neither the
log nor an old shard file keeps a copy; temporary files of writes a crash interrupted are swept under
the lock before anything is written, whenever someone other than this object held the lock since it last
did (the holder's mark in ``state.lock``, see :meth:`TinyStore.lock`).

Migration: a home written by schema 1 (one ``state.json``) is converted under the lock the first time it
is opened: the shards and ``meta.json`` are written (``meta.json`` last: the conversion's commit point),
then ``state.json`` is removed. A file that schema 1 would have refused is refused here too, untouched.
A home written by schema 2 (journal lines written to ``journal.jsonl`` before each record, none in the
log) is readable as it is: the first writable open rewrites ``meta.json`` with schema 3, so that a schema
2 cmklab refuses the log it could no longer read, instead of misreading it.

Readers take no lock. A reader that loads a shard after another process compacted sees that shard as
of the compaction (newer than the rest of its view); every write runs under the lock on a view
refreshed there, so writes never act on a mixed view.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import threading
import time
import zlib
from itertools import accumulate, repeat
from typing import Iterable, Iterator, Mapping

from tinydb import TinyDB
from tinydb.table import Table

from engine.errors import StoreError
from engine.repository import SIDE_DOCUMENTS, Docs, check_side, refuse_if_read_only

from . import _compat
from .blobs import FileBlobStore
from .locking import FileLock
from .logs import LOG_NAMES, LogFiles
from .rootkey import load_or_create_root_key
from .storage import AtomicJSONStorage, check_tables, fsync_dir, read_state_file, signature_of

SCHEMA_VERSION = 3
"""Version of the layout this code writes; files with a greater version are refused. 3: journal lines in the
commit records (2: journal first, then the record; 1: one ``state.json``)."""

META_TABLE = "_meta"
META_KEY = "meta"
SHARDS = 64
"""Shards per table: a document's shard is ``crc32(key) % SHARDS``."""
COMPACT_BYTES = 1 << 20
"""The commit log is compacted into the shards when its documents pass this size and a share of the shard files
they touch (:data:`COMPACT_SHARE`), or when they pass :data:`TABLE_CAP` times it (whatever those files hold),
or when the whole log (journal lines included) passes :data:`LOG_CAP` times it (see :meth:`TinyStore._log_full`)."""
COMPACT_SHARE = 1.5
"""A log whose documents are fewer bytes than this share of the shard files they touch is not compacted (above
:data:`COMPACT_BYTES`): the compaction rewrites those files, so it is paid once per as many bytes of changes as
it writes. One change of every document of a table (a re-key of every disk of a set) then does not rewrite the
whole table at once; the next one does."""
TABLE_CAP = 8
"""The log's documents are compacted once they pass this many times :data:`COMPACT_BYTES`, whatever the shards
they touch hold (a reader of a table parses that table's changes in the log: this bounds it)."""
LOG_CAP = 8
"""The whole log (its journal lines too: every open reads them) is compacted once it passes this many times
:data:`COMPACT_BYTES`."""
LOG_FILE = "changes.log"
META_FILE = "meta.json"
MARK = b"#"
JOURNAL = b"!"
"""The table name of a commit record's journal lines."""
BULK_PREFIX = ".db-bulk."
"""A bulk commit's new ``db`` directory while it is written (in the home; swept under the lock)."""
OLD_PREFIX = ".db-old."
"""The ``db`` directory a bulk commit replaced, until it is removed (see :meth:`TinyStore.bulk_commit`)."""
HOME_TEMP_PREFIXES = (".state.json.", *(f".{name}.json." for name in SIDE_DOCUMENTS))
"""The temporaries written in the home under the lock (a schema-1 ``state.json``'s, the side documents'), all
ending in ``.tmp``: what a killed write leaves there is swept."""
OLD_SIDE_TEMPS = frozenset(f"{name}.json.tmp" for name in SIDE_DOCUMENTS)
"""The temporary name cmklab used for ``scenario.json`` before the store wrote it (written without the lock):
one a killed write left is swept too."""


class _ShardStorage(AtomicJSONStorage):
    """TinyDB storage of one shard file. The file is exactly what ``json.dumps(..., sort_keys=True)`` gives
    (TinyDB reads it as any database), written so that the offset of every document is known: a sidecar
    ``TABLE.NN.idx`` maps each key to its byte range. The two are bound by a tag that both hold, a hash of the
    shard's content (the
    shard as its first table, ``_shard``, at a fixed place, so a reader checks it with one small read; copies
    of a home keep it). A reader that wants a few documents reads only them; one whose index does not match
    the file (a crash between the two writes, a hand edit) parses the whole shard."""

    def flush(self) -> None:
        data = {t: docs for t, docs in self.read().items() if t != SHARD_TAG_TABLE}
        ((table, docs),) = data.items()
        payload, index = _shard_bytes(table, docs)
        fd, _st = _atomic_write(self.path, payload)
        os.close(fd)
        self._dirty = False
        _rewrite_derived(self.path[:-len(".json")] + ".idx", index)


def _shard_bytes(table: str, docs: Mapping[str, dict], encoded: Mapping[str, str] | None = None, *,
                 bulk: bool = False) -> tuple[bytes, bytes]:
    """A shard file's bytes (what ``json.dumps(..., sort_keys=True)`` gives, its tag first) and its index's:
    each document is encoded once, as ASCII, so a character is a byte and the offsets are string lengths.
    ``encoded``: documents encoded already (by the commit record that brought them: :func:`_encode_change`)."""
    return _shard_sealed(*_shard_text(table, docs, encoded, bulk=bulk))


def _shard_text(table: str, docs: Mapping[str, dict], encoded: Mapping[str, str] | None = None, *,
                bulk: bool = False) -> tuple[str | bytes | memoryview, str]:
    """The body of a shard file (its text after the tag) and its index's entries, as :func:`_shard_bytes`
    writes them once :func:`_shard_sealed` has tagged them: each document encoded once, as ASCII, so a
    character is a byte and the offsets are string lengths. ``bulk``: a bulk commit's, encoded by
    :func:`_bulk_encoder`, whose body is bytes or a view of them (:func:`_bulk_text`)."""
    if bulk:
        return _bulk_text(table, docs)
    esc, enc, join = json.encoder.encode_basestring_ascii, _encode_parsed, "".join
    keys = sorted(docs)  # (sorted as json.dumps sorts: by the keys themselves)
    names = [esc(key) for key in keys]
    if encoded:
        entries = [name + ":" + (encoded[key] if key in encoded else join(enc(docs[key], 0)))
                   for name, key in zip(names, keys)]
    else:
        entries = [name + ":" + join(enc(docs[key], 0)) for name, key in zip(names, keys)]
    head = esc(table) + ":{"
    pos = len(_tag_prefix("0" * 16)) + len(head)
    index = []
    for name, entry in zip(names, entries):
        at = pos + len(name) + 1
        index.append(f"{name}:[{at},{pos + len(entry) - at}]")
        pos += len(entry) + 1  # and the comma
    if entries:
        entries[0] = head + entries[0]
        entries[-1] += "}}"
    return (",".join(entries) if entries else head + "}}"), ",".join(index)


def _bulk_text(table: str, docs: Mapping[str, dict]) -> tuple[bytes | memoryview, str]:
    """:func:`_shard_text` of a bulk commit's shard: the same bytes, its documents encoded by
    :func:`_bulk_encoder`. The whole shard is encoded in one call, ``{"table":{...}}`` (its body is that, after
    the first brace: a view, not a copy); each document's length, which its index needs, is read off that text
    (:func:`_lengths_in`), or else is the length of its text encoded alone, keys unsorted (of the same length).
    No copy of each document's text into the body, and 87 MiB less at the peak of a 100,000-resource import. Where that cannot give the standard encoder's bytes
    (text outside ASCII, a value orjson refuses), each document is encoded alone (:func:`_bulk_text_each`)."""
    whole = _bulk_whole(table, docs)
    if whole is None:
        return _bulk_text_each(table, docs)
    keys = sorted(docs)  # (sorted as json.dumps sorts: by the keys themselves, ASCII here)
    plain_keys = _plain_keys(keys)
    # each entry's name, "key": (a plain key's length is its own and three: no names made)
    names = None if plain_keys else [json.encoder.encode_basestring_ascii(key) + ":" for key in keys]
    sizes = list(map((3).__add__, map(len, keys))) if names is None else list(map(len, names))
    head = len(json.encoder.encode_basestring_ascii(table)) + 2  # ("table":{)
    lengths = _lengths_in(whole, keys, sizes, 1 + head) if plain_keys else None
    if lengths is None:  # each document encoded alone again, for its length (keys unsorted: the same length)
        dumps, plain = _BULK_WHOLE[0], _BULK_WHOLE[2]
        lengths = list(map(len, map(dumps, map(docs.__getitem__, keys), repeat(None), repeat(plain))))
    # each text's offset in the file: after the tag's prefix, the table's head, then each entry, its name,
    # its text and a comma
    start = len(_tag_prefix("0" * 16)) + head
    ends = accumulate(map(int.__add__, sizes, map((1).__add__, lengths)), initial=start)
    offsets = map(int.__add__, ends, sizes)
    if names is None:  # the entries "key":[offset,length] in one orjson call (a third of the time of formatting each)
        return memoryview(whole)[1:], _BULK_WHOLE[0](dict(zip(keys, zip(offsets, lengths))))[1:-1].decode("ascii")
    return memoryview(whole)[1:], ",".join(map("{}[{},{}]".format, names, offsets, lengths))


def _lengths_in(whole: bytes, keys: list[str], sizes: list[int], first: int) -> list[int] | None:
    """Each document's length read off the shard's text ``whole`` (``{"table":{"key":text,...}}``, keys plain
    and sorted, ``sizes`` the lengths of their ``"key":``, the first at ``first``): a text ends where the next
    entry's ``,"key":`` begins. Reading it off the text spares a second walk over the documents, scattered in memory
    by then (in an import, encoding its 240,000 documents again for their lengths took 0.5-0.8 s; this, 0.2 s).
    That is exact only where no document holds a member named like a key after a comma (a string cannot hold
    ``,"`` unescaped): checked by finding every ``,"P`` (P: the keys' common prefix), which must occur only
    between entries; None where it does not, or where the keys share no prefix."""
    if not keys:
        return []
    common = os.path.commonprefix([keys[0], keys[-1]])  # (sorted: the first and last share what all share)
    if not common:
        return None
    import re

    seps = [m.start() for m in re.finditer(re.escape(b',"' + common.encode("ascii")), whole)]
    if len(seps) != len(keys) - 1:
        return None
    starts = [first + sizes[0], *map(int.__add__, seps, map((1).__add__, sizes[1:]))]
    seps.append(len(whole) - 2)  # (the last text ends before the shard's }})
    return list(map(int.__sub__, seps, starts))


def _plain_keys(keys: list[str]) -> bool:
    """Whether none of ``keys`` has a character JSON escapes (``"``, ``\\``, controls) or one outside ASCII:
    deleting every character that needs no escape (one C pass, ``bytes.translate``) leaves nothing. (Encoding
    them all and comparing took two and a half times as long: 0.2 s of a 100,000-resource import.)"""
    joined = "".join(keys)
    return joined.isascii() and not joined.encode("ascii").translate(None, _PLAIN_BYTES)


_PLAIN_BYTES = bytes(range(0x20, 0x7F)).replace(b'"', b"").replace(b"\\", b"")
"""The ASCII characters JSON writes as they are (what ``json.encoder.encode_basestring_ascii`` escapes is the rest)."""


_BULK_WHOLE: list = []  # (orjson.dumps, its options for a shard, for one document alone), once imported


def _bulk_whole(table: str, docs: Mapping[str, dict]) -> bytes | None:
    """``{"table":{...}}`` of ``docs`` as the standard encoder gives it (compact, keys sorted, ASCII), in one call
    of orjson; None where that is not it (text outside ASCII, a value orjson refuses or the standard encoder
    refuses: see :func:`_bulk_encoder`), or without orjson."""
    if not _BULK_WHOLE:
        try:
            import orjson
        except ImportError:  # pragma: no cover - a declared dependency
            _BULK_WHOLE.extend((None, 0, 0))
        else:
            plain = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
                     | orjson.OPT_PASSTHROUGH_DATACLASS)
            _BULK_WHOLE.extend((orjson.dumps, plain | orjson.OPT_SORT_KEYS, plain))
    dumps, options = _BULK_WHOLE[0], _BULK_WHOLE[1]
    if dumps is None or type(table) is not str:
        return None
    try:
        whole = dumps({table: docs}, None, options)
    except TypeError:  # (orjson.JSONEncodeError is one)
        return None
    return whole if whole.isascii() else None


def _bulk_text_each(table: str, docs: Mapping[str, dict]) -> tuple[bytes, str]:
    """:func:`_bulk_text`, each document encoded alone by :func:`_bulk_encoder` (the standard encoder where
    orjson's text would differ), the body joined once from its parts."""
    esc, enc = json.encoder.encode_basestring_ascii, _bulk_encoder()
    head = esc(table).encode("ascii") + b":{"
    parts = [head]
    index = []
    pos = len(_tag_prefix("0" * 16)) + len(head)
    for key in sorted(docs):  # (sorted as json.dumps sorts: by the keys themselves)
        name = esc(key)
        text = enc(docs[key])
        at = pos + len(name) + 1
        index.append(f"{name}:[{at},{len(text)}]")
        parts += (name.encode("ascii"), b":", text, b",")
        pos = at + len(text) + 1  # and the comma
    if len(parts) > 1:
        parts[-1] = b"}}"
    else:
        parts.append(b"}}")
    return b"".join(parts), ",".join(index)


_BULK_ENCODER: list = []


def _bulk_encoder():
    """What encodes one document of a bulk commit (an import), in ASCII bytes: what the standard encoder gives
    (compact, keys sorted, every character outside ASCII escaped), but about five times faster (an import's
    240,000 documents: 0.3 s instead of 1.8 s): orjson encodes it, and the standard encoder takes over where
    orjson's output would differ: text outside ASCII (orjson does not escape it), a value the standard encoder
    refuses (orjson would encode a date, a dataclass or a subclass: they are passed on, and refused there), an
    integer over 64 bits. One difference is left: a float is written in orjson's shortest form of the same value
    (``1e16`` where the standard encoder writes ``1e+16``), and a float that is not a number as ``null`` where
    the standard encoder refuses it. A bulk commit's documents come from an import, whose input refuses ``NaN``
    and ``Infinity`` (engine.twin.parse_text); a later commit re-encodes a document only when it changes it.
    orjson is imported on the first bulk commit, not by every command (importing it takes 12 ms, a tenth of a
    ``key show``)."""
    if _BULK_ENCODER:
        return _BULK_ENCODER[0]
    std = _encode_parsed

    def standard(doc) -> bytes:
        return "".join(std(doc, 0)).encode("ascii")
    try:
        import orjson
    except ImportError:  # pragma: no cover - a declared dependency; the standard encoder gives the same bytes
        _BULK_ENCODER.append(standard)
        return standard
    dumps = orjson.dumps
    options = (orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME
               | orjson.OPT_PASSTHROUGH_DATACLASS)

    def encode(doc) -> bytes:
        try:
            out = dumps(doc, None, options)
        except TypeError:  # (orjson.JSONEncodeError is one)
            return standard(doc)
        return out if out.isascii() else standard(doc)
    _BULK_ENCODER.append(encode)
    return encode


def _index_moved(index: str, moves: list[tuple[int, int]]) -> str:
    """:func:`_shard_text`'s ``index`` of a body whose late values were filled in: ``moves`` gives, in order, the
    place in the body (before) of each placeholder and how much longer its value is; each document's offset
    moves by the growth before it, its length by the growth within it. The entries are read as the JSON they
    are and written again as :func:`_shard_text` writes them (a key may hold any character)."""
    if not moves:
        return index
    from bisect import bisect_left

    base = len(_tag_prefix("0" * 16))  # (the offsets are the file's: the body follows the tag's prefix)
    places = [at + base for at, _grew in moves]
    grown = [0, *accumulate(grew for _at, grew in moves)]
    esc, out = json.encoder.encode_basestring_ascii, []
    for key, (at, n) in json.loads("{" + index + "}").items():
        before, within = bisect_left(places, at), bisect_left(places, at + n)
        out.append(f"{esc(key)}:[{at + grown[before]},{n + grown[within] - grown[before]}]")
    return ",".join(out)


def _shard_sealed(body: str | bytearray, index: str) -> tuple[bytes, bytes]:
    """A shard's bytes and its index's, of :func:`_shard_text`'s body (or its ASCII bytes) and index entries:
    the body tagged with a hash of its content (equal states, equal bytes)."""
    prefix, raw, index_bytes = _shard_parts(body, index)
    return prefix + raw, index_bytes


def _shard_parts(body: str | bytes | bytearray, index: str) -> tuple[bytes, bytes | bytearray, bytes]:
    """:func:`_shard_sealed`, the shard's bytes in two parts (its tag's prefix, then its body: what
    :func:`_write_new` writes one after the other, without joining a copy of a shard of megabytes)."""
    raw = body.encode("ascii") if isinstance(body, str) else body
    tag = hashlib.blake2b(raw, digest_size=8).hexdigest()
    # the index as _dumps({"tag": tag, "docs": {key: [offset, length]}}) gives it, its keys in the same order
    return _tag_prefix(tag), raw, ('{"docs":{' + index + '},"tag":"' + tag + '"}').encode("ascii")


SHARD_TAG_TABLE = "_shard"


def _tag_prefix(tag: str) -> bytes:
    """How every indexed shard file begins: ``{"_shard":{"tag":{"v":"<16 hex>"}},`` (sorted before any table)."""
    return b'{"' + SHARD_TAG_TABLE.encode() + b'":{"tag":{"v":"' + tag.encode() + b'"}},'


class _StrIdTable(Table):
    """A TinyDB table whose document ids are the engine's string keys."""

    document_id_class = str


class _StoreDB(TinyDB):
    table_class = _StrIdTable


def shard_of(key: str) -> int:
    """A key's shard: a hash of the key, or of its group for keys ``group|member`` (an index's entries for
    one group are then read together)."""
    return zlib.crc32(key.split("|", 1)[0].encode("utf-8", "surrogatepass")) % SHARDS


def _ensure_dir(path: str) -> None:
    if not os.path.isdir(path):
        try:
            os.makedirs(path, mode=0o700, exist_ok=True)
            _compat.chmod(path, 0o700)
        except OSError as exc:
            raise StoreError(f"cannot create directory {path}: {exc.strerror or exc}") from exc


def _stat_sig(path: str):
    try:
        return signature_of(os.stat(path))
    except FileNotFoundError:
        return None
    except OSError:
        return ("error",)


def _spans_in(raw: bytes, keys: list[str]) -> dict[str, list[int]] | None:
    """``{key: [offset, length]}`` of ``keys`` found in the text of a shard's index (``"key":[offset,length]``
    entries, sorted: sorted keys are found in one pass), without parsing the rest of it; None if one of them
    is not there or an entry is not of that form."""
    esc, find = json.encoder.encode_basestring_ascii, raw.find
    out: dict[str, list[int]] = {}
    pos = 0
    for key in keys:
        pattern = esc(key).encode("ascii") + b":["
        at = find(pattern, pos)
        if at < 0 and pos:
            at = find(pattern)  # out of order (keys whose escapes sort otherwise)
        while at > 0 and raw[at - 1] not in b"{,":  # inside another key (after an escaped quote)
            at = find(pattern, at + 1)
        if at <= 0:
            return None
        start = at + len(pattern)
        end = find(b"]", start)
        try:
            offset, length = raw[start:end].split(b",")
            out[key] = [int(offset), int(length)]
        except ValueError:
            return None
        pos = end
    return out


def _not_json(value):
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _dumps(value) -> bytes:
    """Compact, key-sorted, ASCII JSON: exactly ``json.dumps(value, separators=(",", ":"), sort_keys=True,
    allow_nan=False)``, through the C encoder directly (a shard writes one call per document: the per-call
    set-up of ``json.dumps`` would cost more than the encoding)."""
    enc = json.encoder.c_make_encoder({}, _not_json, json.encoder.encode_basestring_ascii, None, ":", ",",
                                      True, False, False)
    return "".join(enc(value, 0)).encode("ascii")


_encode_parsed = json.encoder.c_make_encoder(None, _not_json, json.encoder.encode_basestring_ascii, None, ":", ",",
                                             True, False, False)
"""The same encoding, shared and without the cycle check: for documents parsed from JSON (trees by nature)."""


def _encode_change(docs: Mapping[str, dict] | None, deleted: list[str] | None) -> tuple[bytes, dict[str, str]]:
    """A record line's change object, exactly ``_dumps({"u": docs, "d": deleted})`` (each part only when not
    empty), and each document's encoding in it (a compaction that follows puts the same bytes in the shards)."""
    esc, join = json.encoder.encode_basestring_ascii, "".join
    parts = []
    encoded: dict[str, str] = {}
    if deleted:
        parts.append('"d":' + join(_encode_parsed(list(deleted), 0)))
    if docs:
        for key in sorted(docs):
            encoded[key] = join(_encode_parsed(docs[key], 0))
        parts.append('"u":{' + ",".join([esc(key) + ":" + text for key, text in encoded.items()]) + "}")
    return ("{" + ",".join(parts) + "}").encode("ascii"), encoded


class _CopyOnGet(dict):
    """A read-only view of cached documents that hands out copies."""

    def get(self, key, default=None):
        doc = dict.get(self, key)
        return default if doc is None else _copy_doc(doc)


class _View:
    """What this process knows of the persisted state: the base generation, the log's whole records."""

    __slots__ = ("generation", "base_generation", "schema", "meta_sig", "log_sig", "log_end", "lines", "parsed",
                 "files", "latest", "indexes", "raw_indexes", "whole", "journal", "journal_last", "table_bytes",
                 "touched", "line_keys", "shard_sizes")

    def __init__(self) -> None:
        self.generation = 0
        self.base_generation = 0
        self.schema = SCHEMA_VERSION
        self.meta_sig = None
        self.log_sig = None
        self.log_end = 0
        self.lines: dict[str, list[bytes]] = {}
        """table -> the raw change objects of its log lines, oldest first."""
        self.parsed: dict[str, list[dict]] = {}
        self.files: dict[str, set[int]] = {}
        """table -> the shards that have a file."""
        self.latest: dict[str, dict] = {}
        """table -> {key: the last document the log holds for it, None if deleted}."""
        self.whole: dict[tuple[str, int], dict] = {}
        """(table, shard) -> the parsed documents of a shard read whole because it has no usable index."""
        self.indexes: dict[tuple[str, int], dict | None] = {}
        """(table, shard) -> {key: [offset, length]} of the shard file, None where no index matches it."""
        self.raw_indexes: dict[tuple[str, int], bytes | None] = {}
        """(table, shard) -> the text of the shard's index, not parsed (None where no index matches it)."""
        self.journal: list[bytes] = []
        """The journal lines the log's records carry, oldest first."""
        self.journal_last: int | None = None
        """The id of the last of them (parsed when first needed)."""
        self.table_bytes = 0
        """The bytes of the log's document changes (its table lines' change objects)."""
        self.touched: set[tuple[str, int]] | None = None
        """(table, shard) of every document the log's records change; None until first needed."""
        self.line_keys: dict[str, list[frozenset | None]] = {}
        """table -> the keys each of its log lines changes (as ``lines``; None where not known without a parse):
        a compaction skips the lines whose every key a later line changes again."""
        self.shard_sizes: dict[tuple[str, int], int] = {}
        """(table, shard) -> the size of its file as this view knows it (asked once: a shard file changes only
        with meta.json, and then the view is read again)."""

    def touched_shards(self) -> set[tuple[str, int]]:
        if self.touched is None:
            self.touched = {(table, shard_of(key)) for table in self.lines for change in self.changes(table)
                            for part in ("u", "d") for key in change.get(part, ())}
        return self.touched

    def last_journal_id(self) -> int:
        if self.journal_last is None:
            self.journal_last = int(json.loads(self.journal[-1])["id"]) if self.journal else 0
        return self.journal_last

    def latest_of(self, table: str) -> dict:
        out = self.latest.get(table)
        if out is None:
            out = self.latest[table] = {}
            for change in self.changes(table):
                out.update(change.get("u", {}))
                for key in change.get("d", ()):
                    out[key] = None
        return out

    def changes(self, table: str) -> list[dict]:
        out = self.parsed.get(table)
        if out is None:
            out = self.parsed[table] = [json.loads(raw) for raw in self.lines.get(table, ())]
        return out


RESET = "reset"
"""What :meth:`TinyStore.refresh` returns when it had to read the whole view again."""


def parse_log(data: bytes, after: int = 0) -> tuple[dict[str, list[bytes]], list[bytes], int, int]:
    """The whole records of a commit log: ``(table -> raw change objects, journal lines, last generation, end
    offset)``. ``after``: the generation before the first record (records must follow it)."""
    lines: dict[str, list[bytes]] = {}
    journal: list[bytes] = []
    pending: list[tuple[bytes, bytes]] = []
    crc = 0
    gen = after
    end = 0
    pos = 0
    size = len(data)
    while pos < size:
        nl = data.find(b"\n", pos)
        if nl < 0:
            break  # a torn last line
        line = data[pos:nl + 1]
        parts = line[:-1].split(b"\t", 2)
        if len(parts) != 3:
            break
        g, table, body = parts
        if table == MARK:
            try:
                ok = int(body, 16) == crc and pending and int(g) > gen
            except ValueError:
                ok = False
            if not ok:
                break
            gen = int(g)
            for t, raw in pending:
                if t == JOURNAL:
                    journal.append(raw)
                elif t != b"_meta":  # a commit that changed no document
                    lines.setdefault(t.decode(), []).append(raw)
            pending, crc = [], 0
            end = nl + 1
        else:
            pending.append((table, body))
            crc = zlib.crc32(line, crc)
        pos = nl + 1
    return lines, journal, gen, end


class TinyStore:
    """:class:`engine.repository.StateStore` on TinyDB + files in ``home`` (see the module docstring)."""

    def __init__(self, home: str | os.PathLike, *, read_only: bool = False) -> None:
        self.read_only = read_only
        """Opened read-only: every commit and journal append is refused (:class:`engine.errors.ReadOnly`)."""
        self.home = os.path.abspath(os.fspath(home))
        self.db_dir = os.path.join(self.home, "db")
        self.path: str = self.db_dir
        self.legacy_path = os.path.join(self.home, "state.json")
        self.meta_path = os.path.join(self.db_dir, META_FILE)
        self.log_path = os.path.join(self.db_dir, LOG_FILE)
        self.lock_path = os.path.join(self.home, "state.lock")
        self.root_key_path = os.path.join(self.home, "root.key")
        self._closed = False
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        self._current_in_hold = False
        """The view was found current under the lock held now (see :meth:`_view_is_current`)."""
        self._swept: dict[str, tuple | None] = {}
        """directory -> its (inode, mtime, ctime) when this object last found no leftover in it."""
        self._mark: tuple[int, bytes] | None = None
        """(pid, this object's mark in the lock file: see :meth:`lock`)."""
        self._left: tuple | None = None
        """The directories' signatures when this object last released the lock after a whole hold (None: sweep
        when next taken)."""
        self._sweep_next = False
        """Something of this object's current hold may have left a temporary: sweep when the lock is next taken."""
        self._flock: FileLock | None = None
        _ensure_dir(self.home)
        if not os.path.exists(self.meta_path) and _leftovers(self.home, OLD_PREFIX):
            self._undo_cut_bulk_commit()
        self._logs = LogFiles(self.home)
        self._log_sig = self._logs.signature()
        self._view = _View()
        # A state written by schema 1 is validated before anything else is created (a refused file stops us here).
        legacy = None
        if not os.path.exists(self.meta_path) and os.path.exists(self.legacy_path):
            legacy = self._read_legacy()
        has_state = legacy is not None or os.path.exists(self.meta_path)
        if has_state and legacy is None:
            self._refresh()  # validates meta.json before anything is created
        # A state that exists was sealed with a root key: never make a new one beside it.
        self._root_key = load_or_create_root_key(self.root_key_path, create=not has_state,
                                                 state_path=self.legacy_path if legacy else self.db_dir)
        try:
            self.blobs = FileBlobStore(os.path.join(self.home, "blobs"))
        except OSError as exc:
            raise StoreError(f"cannot create blob directory in {self.home}: {exc.strerror or exc}") from exc
        self._flock = FileLock(self.lock_path)
        if legacy is not None or (has_state and os.path.exists(self.legacy_path)):
            with self.lock():
                self._migrate()
        self._refresh()
        if has_state and self._writable() and (self._view.schema < SCHEMA_VERSION or self._journal_behind()):
            with self.lock():
                self._refresh()
                if self._view.schema < SCHEMA_VERSION and self._view.meta_sig is not None:
                    # schema 2 -> 3: the same state, a new format. Journal lines that schema 2 wrote for an
                    # action that never committed (tagged with a generation the state never reached) go
                    # first: from now on those generations are given to commits whose lines the log holds.
                    self._logs.write([], self._view.generation, self._view.generation, sync=True)
                    self._write_meta(self._view.base_generation)
                    self._refresh()
                try:
                    self._sync_journal()  # a writer died between its commit point and its journal write
                except StoreError:
                    pass  # readers take the lines from the log until a writer can copy them
            self._note_logs()

    # -- validation ---------------------------------------------------------------------------
    def _check_meta(self, path: str, data: dict, *, max_version: int = SCHEMA_VERSION) -> int:
        meta = data.get(META_TABLE)
        doc = meta.get(META_KEY) if isinstance(meta, dict) else None
        if not isinstance(doc, dict):
            raise StoreError(f"state file {path} is not a cmklab state file: no {META_TABLE!r} table "
                             f"with a {META_KEY!r} document")
        version = doc.get("schema_version")
        if type(version) is not int or version < 1:
            raise StoreError(f"state file {path} has an invalid schema_version {version!r}")
        if version > max_version:
            raise StoreError(f"state file {path} was written by a newer cmklab (schema {version}; "
                             f"this version reads {SCHEMA_VERSION})")
        generation = doc.get("generation")
        if type(generation) is not int or generation < 0:
            raise StoreError(f"state file {path} has an invalid generation {generation!r}")
        return generation

    def _read_legacy(self) -> dict | None:
        data, _raw, fd, _sig = read_state_file(self.legacy_path)
        if fd is not None:
            os.close(fd)
        if data is None:
            return None
        if not data:
            return None
        self._check_meta(self.legacy_path, data, max_version=1)
        return data

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"state store {self.path} is closed")

    # -- the view -----------------------------------------------------------------------------
    def _refresh(self) -> None:
        """Read meta.json and the log's whole records (no shard is read here)."""
        view = _View()
        view.meta_sig = _stat_sig(self.meta_path)
        if view.meta_sig is not None:
            data, _raw, fd, sig = read_state_file(self.meta_path)
            if fd is not None:
                os.close(fd)
            view.meta_sig = sig
            view.base_generation = self._check_meta(self.meta_path, data or {"": {}})
            view.schema = data[META_TABLE][META_KEY]["schema_version"]
        try:
            with open(self.log_path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
            view.log_sig = signature_of(st)
        except FileNotFoundError:
            raw = b""
        except OSError as exc:
            raise StoreError(f"cannot read the commit log {self.log_path}: {exc.strerror or exc}") from exc
        view.lines, view.journal, last, view.log_end = parse_log(raw)
        view.table_bytes = sum(len(r) for raws in view.lines.values() for r in raws)
        view.generation = max(view.base_generation, last)
        try:
            names = os.listdir(self.db_dir)
        except FileNotFoundError:
            names = []
        for name in names:
            parts = name.split(".")
            if len(parts) == 3 and parts[2] == "json" and parts[1].isdigit() and not name.startswith("."):
                view.files.setdefault(parts[0], set()).add(int(parts[1]))
        self._view = view

    def _view_is_current(self) -> bool:
        """Whether meta.json and the log are the files this view read (two stats). Under the lock, once it was
        found so, it stays so for the rest of the hold (every write of this object moves its view along, and
        no other writer can write): not asked again (the engine asks when it begins an action, the commit
        again before it writes)."""
        if self._lock_depth and self._current_in_hold:
            return True
        current = (_stat_sig(self.meta_path) == self._view.meta_sig
                   and _stat_sig(self.log_path) == self._view.log_sig)
        if current and self._lock_depth:
            self._current_in_hold = True
        return current

    @property
    def generation(self) -> int:
        """How many commits the state this object sees has had (0 for a new store)."""
        return self._view.generation

    def refresh(self):
        """Take the state as it is now as this object's view. Returns None when nothing changed; the
        documents other processes changed, ``{table: {key: document or None (deleted)}}``, when they only
        appended to the log since (read from where this view ended: the cost is what changed); or
        :data:`RESET` when the view had to be read again (another process compacted the log)."""
        self._check_open()
        self._note_logs()
        with self._thread_lock:
            if self._view_is_current():
                return None
            view = self._view
            if _stat_sig(self.meta_path) == view.meta_sig and view.log_sig is not None:
                changes = self._read_appended(view)
                if changes is not None:
                    return changes
            self._refresh()
            return RESET

    def _read_appended(self, view: _View) -> dict | None:
        """The records appended to the log after this view's end, applied to the view; None if the log is
        not the same file grown (replaced by a compaction, or cut)."""
        try:
            with open(self.log_path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_ino != view.log_sig[1] or st.st_dev != view.log_sig[0] or st.st_size < view.log_end:
                    return None
                f.seek(view.log_end)
                data = f.read()
        except OSError:
            return None
        lines, journal, last, end = parse_log(data, after=view.generation)
        if journal:
            view.journal.extend(journal)
            view.journal_last = None
        changes: dict[str, dict] = {}
        for table, raws in lines.items():
            view.lines.setdefault(table, []).extend(raws)
            view.parsed.pop(table, None)
            view.latest.pop(table, None)
            out = changes.setdefault(table, {})
            known = view.line_keys.setdefault(table, [])
            known.extend([None] * (len(view.lines[table]) - len(raws) - len(known)))
            for raw in raws:
                view.table_bytes += len(raw)
                change = json.loads(raw)
                known.append(frozenset(change.get("u", ())) | frozenset(change.get("d", ())))
                out.update(change.get("u", {}))
                for key in change.get("d", ()):
                    out[key] = None
            if view.touched is not None:
                view.touched.update((table, shard_of(key)) for key in out)
        view.log_end += end
        view.generation = max(view.generation, last)
        view.log_sig = signature_of(st) if end == len(data) else (st.st_dev, st.st_ino, -1, -1, -1)
        return changes

    # -- reads --------------------------------------------------------------------------------
    def shard_path(self, table: str, shard: int) -> str:
        return os.path.join(self.db_dir, f"{table}.{shard:02d}.json")

    def shard_of(self, key: str) -> int:
        return shard_of(key)

    def tables(self) -> set[str]:
        """The tables that have documents (files or log records) in this view."""
        return set(self._view.files) | set(self._view.lines)

    def shards(self, table: str) -> Iterable[int]:
        """The shards of ``table`` that may hold documents in this view."""
        view = self._view
        out = set(view.files.get(table, ()))
        for change in view.changes(table):
            out.update(shard_of(k) for k in change.get("u", ()))
        return sorted(out)

    def _read_shard_file(self, table: str, shard: int) -> dict:
        if shard not in self._view.files.get(table, ()):
            return {}
        path = self.shard_path(table, shard)
        data, _raw, fd, _sig = read_state_file(path)
        if fd is not None:
            os.close(fd)
        if data is None:
            return {}  # compacted away by another process since this view was taken
        docs = data.get(table)
        if docs is None or set(data) - {table, SHARD_TAG_TABLE}:
            raise StoreError(f"state file {path} is damaged: expected only the table {table!r}")
        return docs

    def load_shard(self, table: str, shard: int) -> dict[str, dict]:
        """The documents of one shard of ``table`` as this view sees them (a fresh copy the caller owns)."""
        self._check_open()
        docs = self._read_shard_file(table, shard)
        for change in self._view.changes(table):
            for key, doc in change.get("u", {}).items():
                if shard_of(key) == shard:
                    docs[key] = _copy_doc(doc)
            for key in change.get("d", ()):
                if shard_of(key) == shard:
                    docs.pop(key, None)
        return docs

    def load_doc(self, table: str, key: str) -> dict | None:
        """One document as this view sees it (a copy the caller owns), reading only its bytes where the shard
        has a matching index; None if there is none."""
        self._check_open()
        view = self._view
        latest = view.latest_of(table)
        if key in latest:
            doc = latest[key]
            return None if doc is None else _copy_doc(doc)
        shard = shard_of(key)
        if shard not in view.files.get(table, ()):
            return None
        index = view.indexes.get((table, shard), False)
        if index is False:
            index = view.indexes[(table, shard)] = self._read_index(table, shard)
        if index is None:
            return self._whole_shard(table, shard).get(key)
        where = index.get(key)
        if where is None:
            return None
        try:
            fd = os.open(self.shard_path(table, shard), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return None  # compacted away by another process since this view was taken
        try:
            raw = _compat.pread(fd, where[1], where[0])
        finally:
            os.close(fd)
        try:
            return json.loads(raw)
        except ValueError:
            view.indexes[(table, shard)] = None  # the file changed under the index: read it whole
            return self._whole_shard(table, shard).get(key)

    def load_docs(self, table: str, keys: Iterable[str]) -> dict[str, dict | None]:
        """Documents of ``table`` as :meth:`load_doc` gives them (copies the caller owns; None for a key that
        has none), read together: each shard file they lie in is opened once and the byte ranges its index
        names are parsed in one go (a what-if reads the thousands of disks and VMs a set serves)."""
        self._check_open()
        view = self._view
        latest = view.latest_of(table)
        files = view.files.get(table, ())
        out: dict[str, dict | None] = {}
        by_shard: dict[int, list[str]] = {}
        for key in keys:
            if key in out:
                continue
            if key in latest:
                doc = latest[key]
                out[key] = None if doc is None else _copy_doc(doc)
                continue
            shard = shard_of(key)
            if shard in files:
                by_shard.setdefault(shard, []).append(key)
            out[key] = None
        for shard, wanted in sorted(by_shard.items()):
            index = view.indexes.get((table, shard), False)
            if index is False:  # not parsed: the wanted keys are looked for in its text (a fraction of it)
                raw = view.raw_indexes.get((table, shard), False)
                if raw is False:
                    raw = view.raw_indexes[(table, shard)] = self._read_index_text(table, shard)
                found = _spans_in(raw, wanted) if raw is not None else None
                if found is None:  # (a key it lacks, or no usable index)
                    index = view.indexes[(table, shard)] = self._read_index(table, shard)
                else:
                    index = found
            if index is not None:
                spans = [(key, where) for key in wanted if (where := index.get(key)) is not None]
                docs = self._read_spans(table, shard, spans) if spans else []
                if docs is not None:
                    for (key, _where), doc in zip(spans, docs):
                        out[key] = doc
                    continue
                view.indexes[(table, shard)] = None  # the file changed under the index: read it whole
            whole = self._whole_shard(table, shard)
            for key in wanted:
                out[key] = whole.get(key)
        return out

    def _read_index_text(self, table: str, shard: int) -> bytes | None:
        """The text of a shard's index as _shard_bytes writes it, when it matches the shard file (its tag);
        None otherwise."""
        base = self.shard_path(table, shard)[:-len(".json")]
        try:
            with open(base + ".idx", "rb") as f:
                raw = f.read()
            if not raw.startswith(b'{"docs":{') or raw[-27:-18] != b'},"tag":"' or raw[-2:] != b'"}':
                return None
            expected = _tag_prefix(raw[-18:-2].decode("ascii"))
            with open(base + ".json", "rb") as f:
                head = f.read(len(expected))
        except (OSError, ValueError):
            return None
        return raw if head == expected else None

    def _read_spans(self, table: str, shard: int, spans: list[tuple[str, list]]) -> list[dict] | None:
        """The documents at ``spans`` (``(key, [offset, length])``) of a shard file, parsed as one JSON array;
        ``[None, ...]`` when the file is gone (compacted away since this view was taken), None when the bytes
        are not those documents."""
        try:
            fd = os.open(self.shard_path(table, shard), os.O_RDONLY | _compat.O_CLOEXEC)
        except FileNotFoundError:
            return [None] * len(spans)
        try:
            pread = _compat.pread
            raws = [pread(fd, where[1], where[0]) for _key, where in spans]
        finally:
            os.close(fd)
        try:
            docs = json.loads(b"[" + b",".join(raws) + b"]")
        except ValueError:
            return None
        if len(docs) != len(spans) or any(type(d) is not dict for d in docs):
            return None
        return docs

    def _whole_shard(self, table: str, shard: int) -> dict:
        """A shard without a usable index, parsed once for this view (then documents are copied out of it)."""
        cached = self._view.whole.get((table, shard))
        if cached is None:
            cached = self._view.whole[(table, shard)] = self._read_shard_file(table, shard)
        return _CopyOnGet(cached)

    def _read_index(self, table: str, shard: int) -> dict | None:
        base = self.shard_path(table, shard)[:-len(".json")]
        try:
            idx = json.loads(_read_bytes(base + ".idx"))
            if not isinstance(idx, dict) or not isinstance(idx.get("tag"), str):
                return None
            expected = _tag_prefix(idx["tag"])
            head = _read_bytes(base + ".json", len(expected))
        except (OSError, ValueError):
            return None
        if head != expected:
            return None  # not this file's index (a crash between the two writes, a hand edit)
        docs = idx.get("docs")
        return docs if isinstance(docs, dict) else None

    def load_table(self, table: str) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for shard in self.shards(table):
            out.update(self.load_shard(table, shard))
        return out

    def load(self) -> Docs:
        """Every table (a full read: tools and tests; the engine loads shards as it needs them)."""
        self._check_open()
        self.refresh()
        return {t: docs for t in sorted(self.tables()) if (docs := self.load_table(t))}

    # -- writes -------------------------------------------------------------------------------
    def commit(self, upserts: Docs, deletes: Mapping[str, list[str]], *, shred: bool = False,
               log: list[tuple[str, dict]] = ()) -> list[str]:
        """Apply upserts (whole documents), then deletes, as one commit: one fsync'd append to the log.

        ``shred``: the commit destroys key material; compact at once so that no file keeps a copy.
        ``log``: ``(log, document)`` pairs for the journal (logs ``audit``, ``events``), carried in the same
        record and so committed with it; they get their ids here (returned, and set in the documents) and
        are copied into ``journal.jsonl`` once the record is durable (see store.logs)."""
        self._check_open()
        refuse_if_read_only(self)
        upserts, deletes = self._normalise(upserts, deletes)
        for name, _doc in log:
            if name not in LOG_NAMES:  # refused before anything is written
                raise ValueError(f"unknown log {name!r}; logs: {', '.join(LOG_NAMES)}")
        with self.lock():
            self._check_committable()
            view = self._view
            generation = view.generation + 1
            sig = self._logs.signature()  # (one stat of the journal for the checks that follow)
            others = self._sync_journal(sig)
            if others:
                sig = self._logs.signature()
            others = others or sig != self._log_sig
            try:
                ids, journal = self._logs.encode(log, generation, self._logs.last_id(view.generation, sig))
                payload, per_table, encoded = self._record(generation, upserts, deletes, journal)
            except (TypeError, ValueError, RecursionError) as exc:
                raise ValueError(f"documents are not JSON-serialisable: {exc}") from exc
            record_shards: set[tuple[str, int]] = set()  # (table, shard) of this record's documents, once asked

            def shards_of_record() -> set[tuple[str, int]]:
                if not record_shards:
                    record_shards.update((table, shard_of(key)) for part in (upserts, deletes)
                                         for table, keys in part.items() for key in keys)
                return record_shards

            compacting = shred or self._log_full(view, per_table, shards_of_record, view.log_end + len(payload))
            if shred:
                self._sweep_leftovers(full=True)  # no copy of what this commit destroys may stay anywhere
            current: dict[str, dict] = {}  # table -> this commit's change of it, for the compaction
            if payload:
                self._append(payload)
                if journal:
                    view.journal.extend(journal)
                    view.journal_last = int(ids[-1])
                if view.touched is not None:
                    view.touched |= shards_of_record()
                for table, raw in per_table:
                    view.lines.setdefault(table, []).append(raw)
                    view.table_bytes += len(raw)
                    known = view.line_keys.setdefault(table, [])
                    known.extend([None] * (len(view.lines[table]) - 1 - len(known)))
                    known.append(frozenset(upserts.get(table, ())) | frozenset(deletes.get(table, ())))
                    view.parsed.pop(table, None)
                    view.latest.pop(table, None)
                    if compacting:
                        # the compaction that follows folds this change as it is (no parse of what was just
                        # written); the view is read again from the files after it
                        change = {}
                        if upserts.get(table):
                            change["u"] = upserts[table]
                        if deletes.get(table):
                            change["d"] = deletes[table]
                        current[table] = change
                view.generation = generation
            if journal:
                try:
                    self._logs.write(journal, generation - 1, generation, sync=False)
                    if not others:
                        self._log_sig = self._logs.written_signature()  # (as the write left it: no stat)
                except StoreError as exc:
                    # committed already (the record holds the lines): the next writer copies them
                    sys.stderr.write(f"cmklab: warning: the commit is saved, but {exc}; its journal lines are "
                                     f"copied from the commit log by the next change\n")
            if compacting:
                try:
                    self._compact(encoded, current)
                except (OSError, StoreError) as exc:
                    # The commit is durable already (the append was its commit point): never report it as
                    # failed. The log stays as it is and the next commit compacts again (after a sweep: a
                    # temporary of this one may be left).
                    self._sweep_next = True
                    self._current_in_hold = False
                    sys.stderr.write(f"cmklab: warning: the commit is saved, but the compaction of {self.db_dir} "
                                     f"failed ({getattr(exc, 'strerror', None) or exc}); it is retried with "
                                     f"the next change\n")
                    with contextlib.suppress(OSError, StoreError):
                        self._refresh()
            return ids

    def _log_full(self, view: _View, per_table: list[tuple[str, bytes]], shards_of_record, size: int) -> bool:
        """Whether the log, once this record (its table lines ``per_table``, the (table, shard) of its documents
        ``shards_of_record()``, ``size`` bytes of log after it) is appended, is to be compacted: its documents
        pass :data:`COMPACT_BYTES` and
        :data:`COMPACT_SHARE` of the shard files they touch (as those files are now), or :data:`TABLE_CAP`
        times it; or the whole log passes :data:`LOG_CAP` times it."""
        if size > LOG_CAP * COMPACT_BYTES:
            return True
        table_bytes = view.table_bytes + sum(len(raw) for _table, raw in per_table)
        if table_bytes <= COMPACT_BYTES:
            return False
        if table_bytes > TABLE_CAP * COMPACT_BYTES:
            return True
        touched = view.touched_shards() | shards_of_record()
        written = 0
        sizes = view.shard_sizes
        for table, shard in touched:
            if shard in view.files.get(table, ()):
                size = sizes.get((table, shard))
                if size is None:
                    try:
                        size = sizes[(table, shard)] = os.stat(self.shard_path(table, shard)).st_size
                    except OSError:
                        size = 0
                written += size
        return table_bytes > COMPACT_SHARE * written

    def _check_committable(self) -> None:
        """Under the lock, before a commit writes anything: the state is the one this process read, and
        neither its files nor its home are read-only."""
        if not self._view_is_current():
            raise StoreError(f"state in {self.path} was changed by another process since this one read it; "
                             f"reload before committing")
        for path in (self.meta_path, self.home):
            if not os.access(path, os.W_OK) and os.path.exists(path):
                # appending would work, but a read-only file or home says "do not modify"
                raise StoreError(f"state {path} is read-only; nothing was committed")

    def bulk_commit(self, upserts: Docs, deletes: Mapping[str, list[str]], *, late=None) -> None:
        """Apply a large commit (an import of 100,000 resources) by writing the state's files once, in one
        atomic step, instead of appending it to the log and then compacting it into the shards (which would
        serialise and write every document twice).

        Under the lock, the new ``db`` directory is written beside the home's as ``.db-bulk.*.tmp``: every
        shard the commit or the log touches is written with its documents (the log folded in), the others are
        hard-linked (copied where links are not offered), then ``meta.json`` (the next generation) and an empty
        log; each file and the directory are fsync'd. The swap is two renames: ``db`` -> ``.db-old.*.tmp``,
        then the new directory -> ``db`` (the commit point). A crash before the first rename leaves the old
        state and a staging directory that the next writer sweeps; a crash between the two renames leaves no
        ``db``: the next open puts the old one back (:meth:`_undo_cut_bulk_commit`), so the commit lands whole
        or not at all. The documents are serialised as they are given (dict keys sorted by the encoder), and
        not kept.

        ``late``: values that are still being computed while the commit serialises (an import's wrapped data
        keys, wrapped in another process), an object with ``tables`` (the tables whose documents hold
        placeholders of them, no longer than their values), ``wait()`` (blocks until every value is known;
        what it raises aborts the commit, nothing is written) and ``fill(buf)`` (a serialised shard's ASCII
        bytes, a bytearray, with the placeholders replaced, and where each one grew: ``[(place in buf,
        growth)]`` in order; :func:`_index_moved` moves the index's offsets by them). The shards of those tables are serialised with the others, then, once
        ``wait()`` has returned, filled, tagged and written; ``wait()`` is called before anything is made
        durable, also when those tables have nothing to write. A ``late`` that has ``hand_over(write, jobs)``
        shares those shards with the process that holds the values, once ``wait()`` has returned (called as soon
        as ``ready()`` says it would not wait, between two of the other shards, or after them): each one that
        ``room()`` says it can take at once is handed over (it fills it in and runs ``write(path, filled
        bytes, index, moves)``, :func:`_write_late_shard`, for each ``(path, ASCII bytes, index)`` of ``jobs``),
        the others are filled and written here; ``handed()`` then waits for it and gives the paths written, or
        raises what failed there (the commit is abandoned); ``abandon()`` stops it (this
        process failed first: nothing more is written in the staging directory, which is then removed)."""
        self._check_open()
        refuse_if_read_only(self, "an import")
        upserts, deletes = self._normalise(upserts, deletes)
        with self.lock():
            self._check_committable()
            view = self._view
            stage = os.path.join(self.home, f"{BULK_PREFIX}{os.getpid()}.{os.urandom(4).hex()}.tmp")
            try:
                os.mkdir(stage, 0o700)
                _compat.chmod(stage, 0o700)
                written: list[str] = []
                self._write_bulk(stage, view, upserts, deletes, written, late)
                for name, payload in ((META_FILE, _dumps({META_TABLE: {META_KEY: {
                        "schema_version": SCHEMA_VERSION, "generation": view.generation + 1}}})), (LOG_FILE, b"")):
                    _write_new(os.path.join(stage, name), payload, sync=False)
                    written.append(os.path.join(stage, name))
                _sync_files(written)  # every file is durable before the swap (an fsync error is raised here)
                fsync_dir(stage)
                if view.journal:
                    # the swap empties the log, the only durable copy of its journal lines until the journal
                    # holds them, synced
                    self._sync_journal()
                    self._logs.sync()
                self._swap_in(stage)
            except BaseException as exc:
                import shutil

                shutil.rmtree(stage, ignore_errors=True)
                if isinstance(exc, OSError):
                    raise StoreError(f"cannot write the new state in {self.home}: {exc.strerror or exc}; nothing "
                                     f"was committed") from exc
                raise
            self._refresh()

    def _write_bulk(self, stage: str, view: _View, upserts: dict, deletes: dict, written: list[str],
                    late=None) -> None:
        """Write the new ``db`` directory's shards into ``stage``, not synced (their paths are added to
        ``written``): the shards the commit or the log touches with their documents, the others linked.
        The shards of ``late.tables`` are written last, filled (see :meth:`bulk_commit`). A commit of
        :data:`FORK_MIN_DOCS` documents or more and no late values is written by two processes where the
        system forks (:func:`_compat.can_fork`): a forked one encodes and writes about half of the shards while
        this one encodes the others (the same bytes; :class:`_ShardWriter`)."""
        held: list[tuple[str, str, dict]] = []  # (path, table, documents) of late tables' shards
        whole: list[tuple[str, str, dict]] = []  # (path, table, documents) of the others
        waiting = set(late.tables) if late is not None else set()
        for table in sorted(set(view.files) | set(view.lines) | set(upserts) | set(deletes)):
            changes: dict[int, dict[str, dict | None]] = {n: {} for n in range(SHARDS)}
            crc = zlib.crc32
            for key, doc in upserts.get(table, {}).items():  # (shard_of, inline: 300,000 keys in an import)
                changes[crc(key.partition("|")[0].encode("utf-8", "surrogatepass")) % SHARDS][key] = doc
            for key in deletes.get(table, ()):
                changes[shard_of(key)][key] = None
            changes = {n: part for n, part in changes.items() if part}
            logged = {shard_of(k) for change in view.changes(table) for part in ("u", "d")
                      for k in change.get(part, ())}
            files = view.files.get(table, set())
            for shard in sorted(files | logged | set(changes)):
                src = self.shard_path(table, shard)
                dst = os.path.join(stage, os.path.basename(src))
                if shard not in changes and shard not in logged:
                    _link_or_copy(src, dst)  # unchanged: the same bytes (and its index, when it has one)
                    with contextlib.suppress(OSError):
                        _link_or_copy(src[:-len(".json")] + ".idx", dst[:-len(".json")] + ".idx")
                    continue
                docs = self.load_shard(table, shard) if shard in files or shard in logged else {}
                for key, doc in changes.get(shard, {}).items():
                    if doc is None:
                        docs.pop(key, None)
                    else:
                        docs[key] = doc
                if docs:
                    (held if table in waiting else whole).append((dst, table, docs))
        helper = None
        count = sum(len(docs) for _dst, _table, docs in whole)
        if whole and late is None and count >= FORK_MIN_DOCS and _compat.can_fork():
            # the forked process takes about half of the documents. Not with late values: they are being
            # computed in another process (an import's wraps), which keeps the second core busy then, and the
            # fork's copied pages (~0.6 s for an import's 240,000 documents) left no gain there
            share, at = [], 0
            for job in whole:
                if at < count // 2:
                    share.append(job)
                    at += len(job[2])
            whole = whole[len(share):]
            helper = _ShardWriter(share)
        # (the shards are written on this thread: a second one, to hash and write while this one encodes, waited
        # for the interpreter lock at each of its ~7 system calls per shard, up to the 5 ms switch interval each
        # time, and fell behind)
        handed = late is not None and getattr(late, "hand_over", None) is not None
        try:
            jobs = None
            if handed:
                # the process that computed the late values fills, tags and writes their shards (it holds the
                # values) while this one encodes and writes the others: their shards are encoded first, then
                # handed over one by one once every value is known, while it has room (ready(), room(): between
                # two of the others, without waiting); what is left at the end is shared, each shard taken by
                # whichever of the two is free (this one fills it in itself)
                jobs = [(dst, *_shard_text(table, docs, bulk=True)) for dst, table, docs in held]
                jobs.reverse()  # (taken from the end: in order)
                del held
            for dst, table, docs in whole:
                body, index = _shard_text(table, docs, bulk=True)
                if handed and not jobs and late.ready() and late.room():
                    # the other process has written every late shard and has room: it tags and writes this
                    # one too (it holds no placeholder: nothing to fill), while this one encodes the next
                    late.wait()
                    late.hand_over(_write_late_shard, [(dst, body, index)])
                    continue
                prefix, raw, index = _shard_parts(body, index)
                self._write_shard_files(dst, (prefix, raw), index, written)
                del raw, body
                if jobs and late.ready():
                    late.wait()
                    while jobs and late.room():
                        late.hand_over(_write_late_shard, [jobs.pop()])
            del whole
            if handed:
                if jobs:
                    late.wait()
                while jobs:
                    job = jobs.pop()
                    if late.room():
                        late.hand_over(_write_late_shard, [job])
                        continue
                    dst, body, index = job
                    raw = bytearray(body)
                    del job, body
                    raw, moves = late.fill(raw)
                    prefix, raw, index_bytes = _shard_parts(raw, _index_moved(index, moves))
                    self._write_shard_files(dst, (prefix, raw), index_bytes, written)
                written.extend(late.handed())
            else:
                texts = [(dst, *_shard_text(table, docs, bulk=True)) for dst, table, docs in held]
                del held
                if late is not None:
                    late.wait()
                    for i, (dst, body, index) in enumerate(texts):
                        raw = bytearray(body)
                        texts[i] = body = None
                        raw, moves = late.fill(raw)
                        self._write_shard_files(dst, *_shard_sealed(raw, _index_moved(index, moves)), written)
            if helper is not None:
                written.extend(helper.join())
        except BaseException:
            if handed:
                late.abandon()  # (the other process writes no more into the staging directory)
            raise
        finally:
            if helper is not None:
                helper.kill()  # (only if it still runs: this process failed first)

    @staticmethod
    def _write_shard_files(dst: str, payload: bytes | tuple, index: bytes, written: list[str]) -> None:
        # a bulk commit's shard, straight to the device where the system offers it (its pages are not read
        # again by this process; synced together at the end: _sync_files)
        if not _compat.write_direct(dst, payload if type(payload) is tuple else (payload,)):
            _write_new(dst, payload, sync=False)
        written.append(dst)
        _write_new(dst[:-len(".json")] + ".idx", index, sync=False)  # derived: checked by its tag

    def _swap_in(self, stage: str) -> None:
        old = os.path.join(self.home, f"{OLD_PREFIX}{os.getpid()}.{os.urandom(4).hex()}.tmp")
        had = os.path.isdir(self.db_dir)
        if had:
            os.replace(self.db_dir, old)
        try:
            os.replace(stage, self.db_dir)  # the commit point
        except BaseException:
            if had:
                os.replace(old, self.db_dir)
            raise
        fsync_dir(self.home)
        if had:
            import shutil

            shutil.rmtree(old, ignore_errors=True)  # a leftover is swept by the next writer (this one too)
            if os.path.lexists(old):
                self._sweep_next = True

    def _undo_cut_bulk_commit(self) -> None:
        """At open: a bulk commit was cut between its two renames (no ``db``, the old one set aside): put the
        old state back, under the lock (the commit never happened)."""
        lock = FileLock(self.lock_path)
        try:
            lock.acquire()
            try:
                self._restore_old_db()
            finally:
                lock.release()
        finally:
            lock.close()

    def _restore_old_db(self) -> None:
        olds = _leftovers(self.home, OLD_PREFIX)
        if os.path.exists(self.meta_path) or not olds:
            return
        if os.path.isdir(self.db_dir):  # a db without meta.json here is an empty new store: the old one wins
            import shutil

            shutil.rmtree(self.db_dir)
        os.replace(os.path.join(self.home, olds[0]), self.db_dir)
        fsync_dir(self.home)

    def _record(self, generation: int, upserts: dict, deletes: dict, journal: list[bytes] = ()
                ) -> tuple[bytes, list[tuple[str, bytes]], dict[str, dict[str, str]]]:
        """The commit record's bytes, its table lines ``[(table, change object)]`` and ``{table: {key: the
        document's encoding}}`` of the documents it upserts (and does not delete)."""
        per_table = []
        encodings: dict[str, dict[str, str]] = {}
        for table in sorted(set(upserts) | set(deletes)):
            if upserts.get(table) or deletes.get(table):
                raw, encoded = _encode_change(upserts.get(table), deletes.get(table))
                per_table.append((table, raw))
                for key in deletes.get(table, ()):
                    encoded.pop(key, None)  # (deleted in the same commit: gone)
                encodings[table] = encoded
        if not per_table:
            # a commit that changes no document still moves the generation (journal lines are tagged with it)
            per_table.append((META_TABLE, b"{}"))
        body = b"".join([b"%d\t%s\t%s\n" % (generation, t.encode(), raw) for t, raw in per_table]
                        + [b"%d\t!\t%s\n" % (generation, line) for line in journal])
        payload = body + b"%d\t#\t%08x\n" % (generation, zlib.crc32(body))
        return payload, [(t, raw) for t, raw in per_table if t != META_TABLE], encodings

    def _append(self, payload: bytes) -> None:
        """Append one record at the end of the last whole record (a torn tail is cut off); fsync."""
        view = self._view
        if view.log_sig is None:  # (a log this view read is in its directory: it exists)
            _ensure_dir(self.db_dir)
        try:
            fd = os.open(self.log_path, os.O_RDWR | os.O_CREAT | _compat.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the commit log {self.log_path}: {exc.strerror or exc}; "
                             f"nothing was committed") from exc
        created = view.log_sig is None
        if created and view.meta_sig is None:
            self._write_meta(view.base_generation)  # a new state: meta.json says from the start what it is
            view.meta_sig = _stat_sig(self.meta_path)
        try:
            try:
                size = os.fstat(fd).st_size
                if size != view.log_end:
                    os.ftruncate(fd, view.log_end)
                written = _compat.pwrite(fd, payload, view.log_end)
                if written != len(payload):
                    raise OSError(f"short write ({written} of {len(payload)} bytes)")
                os.fsync(fd)
            except OSError as exc:
                self._current_in_hold = False
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, view.log_end)
                raise StoreError(f"cannot write the commit log {self.log_path}: {exc.strerror or exc}; "
                                 f"nothing was committed") from exc
            view.log_end += len(payload)
            view.log_sig = signature_of(os.fstat(fd))
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.db_dir)

    def _compact(self, encoded: Mapping[str, Mapping[str, str]] | None = None,
                 current: Mapping[str, dict] | None = None) -> None:
        """Fold the log into the shards it touches, write meta.json, start an empty log (under the lock).
        ``encoded``: the encodings of the last record's documents (:meth:`_record`), reused as they are;
        ``current``: table -> the last record's change of it, as committed (not parsed again).

        The lines are folded newest first: a line whose every key a later line changes again is not parsed
        (a second re-key of the same disks supersedes the first)."""
        view = self._view
        current = current or {}
        final: dict[tuple[str, int], dict[str, dict | None]] = {}
        for table in list(view.lines):
            raws = view.lines[table]
            known = view.line_keys.get(table, [])
            parsed = view.parsed.get(table)
            seen: set[str] = set()
            latest: dict[str, dict | None] = {}
            for i in range(len(raws) - 1, -1, -1):
                keys = known[i] if i < len(known) and len(known) == len(raws) else None
                if keys is not None and keys <= seen:
                    continue
                if i == len(raws) - 1 and table in current:
                    change = current[table]
                else:
                    change = parsed[i] if parsed is not None else json.loads(raws[i])
                for key in change.get("d", ()):  # (in a line, a delete comes after the upserts)
                    if key not in seen:
                        seen.add(key)
                        latest[key] = None
                for key, doc in change.get("u", {}).items():
                    if key not in seen:
                        seen.add(key)
                        latest[key] = doc
            for key, doc in latest.items():
                final.setdefault((table, shard_of(key)), {})[key] = doc
        if view.journal:
            # the log is the only durable copy of its journal lines until the journal is synced (which the
            # shards' writer does beside theirs)
            self._sync_journal()
        self._write_shards(sorted(final.items()), also_sync=self._logs.sync if view.journal else None,
                           encoded=encoded)
        self._write_meta(view.generation)
        # an empty log replaces the old one (a new inode: other processes see the change)
        held = [_hold(self.log_path)]
        try:
            fd, _st = _atomic_write(self.log_path, b"")
            os.close(fd)
        finally:
            _close_later(held)
        fsync_dir(self.db_dir)
        self._refresh()

    def _write_shards(self, work: list[tuple[tuple[str, int], dict[str, dict | None]]], also_sync=None,
                      encoded: Mapping[str, Mapping[str, str]] | None = None) -> None:
        """Apply ``[((table, shard), {key: document or None (deleted)})]`` to the shard files, each replaced
        atomically, as :meth:`_write_shard` does one, but all the fsyncs at once: each new shard is written to
        a temporary beside its file and fsync'd on a helper thread while the next one is built (an fsync
        releases the GIL, and fsyncs in flight together share the file system's journal commits); once every
        temporary is durable (and ``also_sync()`` has run, on a helper too), each is renamed over its shard and
        its index replaced. A crash before the renames leaves the old shards (and temporaries that the next
        writer sweeps); the log still holds the changes until the caller empties it, after this returns."""
        encoded = encoded or {}
        if len(work) < 2 and also_sync is None:
            for (table, shard), changes in work:
                self._write_shard(table, shard, changes)
            return
        from concurrent.futures import ThreadPoolExecutor

        staged: list[tuple[str | None, str, bytes | None]] = []  # (temporary or None: remove the shard, shard,
        # its new index)
        made: list[list] = []  # [shard, temporary, its descriptor]: -1 once handed to the thread that fsyncs
        # and closes it (or closed)
        syncer = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cmklab-fsync")
        pending = []
        path = self.db_dir
        try:
            try:
                # every temporary is created before the first fsync is in flight: while one runs, creating a
                # file waits for the journal commit it started (0.6 ms a file here: 40 ms for the 64 shards of
                # a table); writing into files that exist does not
                for (table, shard), _changes in work:
                    path = self.shard_path(table, shard)
                    base = os.path.basename(path)
                    tmp = os.path.join(self.db_dir, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
                    entry = [path, tmp, -1]
                    made.append(entry)
                    entry[2] = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _compat.O_CLOEXEC, 0o600)
                if also_sync is not None:
                    pending.append(syncer.submit(also_sync))
                for ((table, shard), changes), entry in zip(work, made):
                    path, tmp, fd = entry
                    known = self._read_index(table, shard)
                    texts = None
                    if known is not None and all(key in changes for key in known):
                        docs = {}  # every document of the shard is replaced or deleted: no need to parse it
                    else:
                        # the documents it keeps, as the bytes they are (its index says where), or parsed
                        texts = self._shard_texts(path, known) if known is not None else None
                        docs = dict.fromkeys(texts) if texts is not None else self._shard_docs_at(path, table)
                    for key, doc in changes.items():
                        if doc is None:
                            docs.pop(key, None)
                        else:
                            docs[key] = doc
                    if not docs:  # the shard goes: its temporary too
                        staged.append((None, path, None))
                        entry[2] = -1
                        os.close(fd)
                        os.unlink(tmp)
                        continue
                    fresh = encoded.get(table)
                    if texts is not None:  # kept: their bytes; changed: the record's encoding, or encoded now
                        for key in changes:
                            texts.pop(key, None)
                        if fresh:
                            texts.update((key, fresh[key]) for key in changes if key in fresh)
                        fresh = texts
                    payload, index = _shard_bytes(table, docs, fresh)
                    staged.append((tmp, path, index))
                    _write_all(fd, payload)
                    entry[2] = -1
                    pending.append(syncer.submit(_fsync_close, fd))
                    del docs, payload
                for done in pending:
                    done.result()  # every new shard is durable before the first rename
                held: list[int] = []
                try:
                    for tmp, path, index in staged:
                        idx_path = path[:-len(".json")] + ".idx"
                        if tmp is None:
                            for gone in (path, idx_path):
                                with contextlib.suppress(FileNotFoundError):
                                    os.unlink(gone)
                            continue
                        held.append(_hold(path))
                        os.replace(tmp, path)
                        # the index (derived, never synced) is rewritten in place, after its shard: no file to
                        # create. A reader sees a prefix of it until it is whole (not JSON: the shard is read
                        # whole), and an index whose tag is not its shard's is never used
                        _rewrite_derived(idx_path, index)
                finally:
                    _close_later(held)
            except OSError as exc:
                raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        except BaseException:
            syncer.shutdown(wait=True)
            for _path, tmp, fd in made:  # (a temporary renamed already is not found)
                if fd >= 0:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
        syncer.shutdown(wait=True)

    @staticmethod
    def _shard_texts(path: str, spans: Mapping[str, list]) -> dict[str, str] | None:
        """The encoded text of every document of the shard file ``path``, cut out where its index puts them
        (``spans``: key -> [offset, length]), when the file is exactly what its tag says (its hash) and every
        span holds the document its key names; None otherwise (the caller parses the file)."""
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError:
            return None
        head = raw[:len(_tag_prefix("0" * 16))]
        tag = head[-20:-4]
        if head != _tag_prefix(tag.decode("ascii", "replace")) or \
                hashlib.blake2b(memoryview(raw)[len(head):], digest_size=8).hexdigest().encode() != tag:
            return None
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            return None
        esc = json.encoder.encode_basestring_ascii
        out: dict[str, str] = {}
        for key, where in spans.items():
            if not (isinstance(where, list) and len(where) == 2):
                return None
            at, length = where
            name = esc(key) + ":"
            doc = text[at:at + length]
            if not (type(at) is int and type(length) is int and length > 1 and doc[:1] == "{"
                    and doc[-1:] == "}" and text[at - len(name):at] == name):
                return None
            out[key] = doc
        return out

    def _shard_docs_at(self, path: str, table: str) -> dict:
        """The documents of the shard file ``path`` of ``table`` as it is on disk ({} if there is none)."""
        data, _raw, fd, _sig = read_state_file(path)
        if fd is not None:
            os.close(fd)
        if data is None:
            return {}
        docs = data.get(table)
        if docs is None or set(data) - {table, SHARD_TAG_TABLE}:
            raise StoreError(f"state file {path} is damaged: expected only the table {table!r}")
        return docs

    def _write_shard(self, table: str, shard: int, changes: dict[str, dict | None]) -> None:
        path = self.shard_path(table, shard)
        db = _StoreDB(path, storage=_ShardStorage)
        try:
            def updater(docs: dict) -> None:
                for key, doc in changes.items():
                    if doc is None:
                        docs.pop(key, None)
                    else:
                        docs[key] = doc

            db.table(table)._update_table(updater)
            if not db.storage.read().get(table):
                db.storage.close()
                for gone in (path, path[:-len(".json")] + ".idx"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(gone)
                return
            db.storage.flush()
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
        finally:
            db.storage.close()

    def _write_meta(self, generation: int) -> None:
        payload = _dumps({META_TABLE: {META_KEY: {"schema_version": SCHEMA_VERSION, "generation": generation}}})
        fd, _st = _atomic_write(self.meta_path, payload)
        os.close(fd)
        fsync_dir(self.db_dir)

    def _migrate(self) -> None:
        """Convert a schema-1 ``state.json`` (under the lock; see the module docstring)."""
        if os.path.exists(self.meta_path):
            # converted already; a crash kept the old file, which still holds sealed material: remove it
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.legacy_path)
            fsync_dir(self.home)
            return
        data = self._read_legacy()
        if data is None:
            return
        _ensure_dir(self.db_dir)
        generation = data[META_TABLE][META_KEY]["generation"]
        for table, docs in sorted(data.items()):
            if table == META_TABLE:
                continue
            shards: dict[int, dict] = {}
            for key, doc in docs.items():
                key = key.lower()  # keys are lower-case since schema 2 (Azure names are case-insensitive)
                shards.setdefault(shard_of(key), {})[key] = doc
            for shard, part in shards.items():
                self._write_shard(table, shard, part)
        self._write_meta(generation)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.log_path)
        os.unlink(self.legacy_path)
        fsync_dir(self.home)

    def _normalise(self, upserts: Docs, deletes: Mapping[str, list[str]]) -> tuple[dict, dict]:
        for table in list(upserts) + list(deletes):
            if (not isinstance(table, str) or not table or table == META_TABLE or "\t" in table or "." in table
                    or "\n" in table or "/" in table or table.startswith("#")):
                raise ValueError(f"invalid table name {table!r}")
        plain = True
        for table, docs in upserts.items():
            if type(docs) is dict and all(type(key) is str and type(doc) is dict for key, doc in docs.items()):
                continue  # the common case: one cheap pass (an import commits 300,000 documents)
            plain = False
            for key, doc in docs.items():
                if type(key) is not str and not isinstance(key, str):
                    raise ValueError(f"document key {key!r} in table {table!r} is not a string")
                if type(doc) is not dict and not isinstance(doc, Mapping):  # (a dict first: no ABC check)
                    raise ValueError(f"document {key!r} in table {table!r} is not a mapping")
        for table, keys in deletes.items():
            if isinstance(keys, str) or any(not isinstance(k, str) for k in keys):
                raise ValueError(f"deletes for table {table!r} must be a list of string keys")
        # No copy: the commit keeps only the serialised record (what JSON cannot hold is refused when it is
        # serialised, before anything is written); readers parse their own copies from it.
        if not plain:
            check_tables(self.path, {table: dict(docs) for table, docs in upserts.items()})
        kept = {table: docs for table, docs in upserts.items() if docs}
        return kept, {table: list(keys) for table, keys in deletes.items() if keys}

    # -- the lock -----------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The inter-process lock for one read-modify-write (re-entrant within this object).

        Another TinyStore object on the same home, in this process or another, waits; after a moment it
        says so on stderr, and it gives up with a :class:`StoreError` after ``CMKLAB_LOCK_TIMEOUT``
        seconds (store.locking).

        Taking it, this object sweeps crash leftovers (:meth:`_sweep_leftovers`) and writes its mark in the
        lock file, unless the mark there is still its own and the directories are as its last whole hold
        left them: then nobody else has held the lock since, no write can have died in between, and a
        commit pays one small read and three stats. A hold that an exception cut short, a forked child, a
        new object (a new process: after a crash too) and the portable lock (no mark) always sweep."""
        self._check_open()
        with self._thread_lock:
            if self._lock_depth == 0:
                self._flock.acquire()
                try:
                    if not self._still_mine():
                        # someone else held the lock since (or this object never did): a write of theirs may
                        # have died half-way; sweep, then mark the lock file before writing anything
                        self._left = None
                        self._sweep_leftovers()
                        self._flock.mark(self._holder_mark())
                except BaseException:
                    self._flock.release()
                    raise
                self._sweep_next = False
            self._lock_depth += 1
            try:
                yield
            except BaseException:
                self._sweep_next = True  # a write of ours may have stopped half-way: sweep next time
                self._current_in_hold = False  # (and the view may not be what it left: ask the files again)
                raise
            finally:
                self._lock_depth -= 1
                if self._lock_depth == 0:
                    self._current_in_hold = False
                    try:
                        self._left = None if self._sweep_next else self._note_own_writes()
                    finally:
                        self._flock.release()

    def _holder_mark(self) -> bytes:
        """This object's mark in the lock file (new in a forked child: the parent's object is not the child's)."""
        pid = os.getpid()
        if self._mark is None or self._mark[0] != pid:
            self._mark = (pid, b"%d.%s" % (pid, os.urandom(8).hex().encode()))
        return self._mark[1]

    def _still_mine(self) -> bool:
        """Under the lock, just taken: nobody else has held it since this object last released it, cleanly (its
        mark is still in the lock file), and the directories are as it left them. Then no write can have died
        since this object's last sweep (temporaries are only created under the lock, and every holder marks it
        first): its own writes, compactions included, never make it list the directories again."""
        return (self._left is not None and self._mark is not None and self._mark[0] == os.getpid()
                and self._flock.marked(self._mark[1]) and self._dir_sigs() == self._left)

    def _dir_sigs(self) -> tuple:
        out = []
        for directory in self._swept_dirs():
            try:
                out.append(_dir_sig(directory))
            except OSError:
                out.append(None)
        return tuple(out)

    def _swept_dirs(self) -> tuple[str, str, str]:
        return self.home, self.db_dir, self.blobs.directory

    def _note_own_writes(self) -> tuple:
        """At the end of a whole hold of the lock: the directories hold only what this object wrote, so they
        are as clean as its last sweep left them; remember them so (a directory whose time is recent is
        listed by the next sweep all the same, see :meth:`_sweep_leftovers`)."""
        sigs = self._dir_sigs()
        now = time.time_ns()
        for directory, sig in zip(self._swept_dirs(), sigs):
            if sig is not None and now - sig[1] > _SETTLED_NS:
                self._swept[directory] = sig
            else:
                self._swept.pop(directory, None)
        return sigs

    def _sweep_leftovers(self, *, full: bool = False) -> None:
        """Remove the temporary files of writes that a crash interrupted (called under the lock).

        A killed write can leave a temporary copy of a shard or of a schema-1 ``state.json``, sealed key
        material included. Beside ``root.key`` it would still open key material that a later purge
        destroyed, defeating crypto-shredding; so every writer removes such leftovers before it writes.
        These temporaries are only ever created under this lock, so any that exist now belong to a dead
        write; and a writer that finds its own mark in the lock file (nobody held it since its last whole
        hold, see :meth:`lock`) does not call this at all: its own writes, compactions included, leave none.

        A directory is listed again only when it changed since this object last swept it (its inode and
        modification time: creating, renaming or removing a file changes them, appending does not), so a
        commit pays a ``stat`` per directory, not a listing of the thousands of shard files of a big store.
        ``full``: list every directory whatever its time (before a commit that destroys key material).
        """
        swept = self._swept
        for directory, prefix in zip(self._swept_dirs(), (HOME_TEMP_PREFIXES, ".", ".copy.")):
            try:
                before = _dir_sig(directory)
            except OSError:
                continue
            if not full and swept.get(directory) == before:
                continue
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            gone = False
            if directory == self.home and any(n.startswith((BULK_PREFIX, OLD_PREFIX)) for n in names):
                self._sweep_bulk_commits()
            for name in names:
                if (name.startswith(prefix) and name.endswith(".tmp")) or (directory == self.home
                                                                           and name in OLD_SIDE_TEMPS):
                    try:
                        os.unlink(os.path.join(directory, name))
                        gone = True
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        raise StoreError(f"cannot remove the leftover temporary file {name} in {directory} "
                                         f"({exc.strerror or exc}); remove it by hand") from exc
            if gone:
                fsync_dir(directory)
            try:
                after = _dir_sig(directory)
            except OSError:
                continue
            # Trusted next time only if the directory's time is well in the past: file systems stamp times
            # with a coarse clock (a tick, up to seconds), so a temporary created right after this listing
            # by the next holder of the lock could leave the time unchanged.
            settled = time.time_ns() - after[1] > _SETTLED_NS
            swept[directory] = after if settled and after == before else None

    def _sweep_bulk_commits(self) -> None:
        """What a bulk commit a crash interrupted left (under the lock): a cut swap is undone (the old ``db``
        back), then staging and replaced directories, which hold sealed key material, are removed."""
        import shutil

        self._restore_old_db()
        for name in _leftovers(self.home, BULK_PREFIX) + _leftovers(self.home, OLD_PREFIX):
            try:
                shutil.rmtree(os.path.join(self.home, name))
            except OSError as exc:
                raise StoreError(f"cannot remove the leftover directory {name} in {self.home} "
                                 f"({exc.strerror or exc}); remove it by hand") from exc
        fsync_dir(self.home)

    # -- change detection and the journal ------------------------------------------------------
    def changed(self) -> bool:
        """True if the state or the journal is not the version this object last read or wrote (two stats)."""
        if self._closed:
            return False
        if not self._view_is_current():
            return True
        return self._logs.signature() != self._log_sig

    def _note_logs(self) -> None:
        """Remember the logs as they are now: the caller has (or will lazily read) this version."""
        self._log_sig = self._logs.signature()

    def append_log(self, entries: list[tuple[str, dict]], gen: int | None = None) -> list[str]:
        """Append ``(log, document)`` pairs to the journal (logs ``audit``, ``events``) with one write.

        ``gen``: the state generation they belong to (default: the current one; the engine passes the next
        one when the state write follows). Lines beyond the committed generation are orphans: hidden from
        readers, truncated by the next append (see store/logs.py)."""
        self._check_open()
        refuse_if_read_only(self)
        with self.lock():
            committed = self.generation
            others = self._sync_journal() or self._logs.signature() != self._log_sig
            ids = self._logs.append(entries, committed if gen is None else gen, committed)
            if not others:
                self._log_sig = self._logs.signature()
            return ids

    def read_log(self, name: str) -> list[dict]:
        """The documents of one log, of generations the state has reached (orphans excluded)."""
        return self.read_log_since(name, 0)[0]

    def read_log_since(self, name: str | tuple[str, ...], start: int) -> tuple[list[dict], int]:
        """Like :meth:`read_log`, from byte ``start`` of the journal (the offset an earlier call returned).
        ``name`` a tuple of logs: their documents in journal order, each keeping its ``log``.

        Lines that the journal lacks but a committed record holds (a writer died between its commit point
        and its journal write, or is between them now) are read from the commit log, after the journal's;
        they are given again by each call until the journal has them (the same ids: a follower keeps the
        last copy)."""
        self._check_open()
        docs, end, last = self._logs.read_from(name, self.generation, start)
        several = isinstance(name, tuple)
        for raw in self._missing_journal(last):
            doc = json.loads(raw)
            doc.pop("gen", None)
            if several:
                if doc.get("log") in name:
                    docs.append(doc)
            elif doc.pop("log", None) == name:
                docs.append(doc)
        return docs, end

    # -- side documents --------------------------------------------------------------------------
    def side_path(self, name: str) -> str:
        """The file of the side document ``name``: ``HOME/NAME.json`` (``scenario.json``, where cmklab has
        always kept the lab's progress)."""
        return os.path.join(self.home, f"{check_side(name)}.json")

    def read_side(self, name: str):
        """The side document's JSON value, or None when there is none; a file that cannot be read or parsed is
        a :class:`StoreError` naming it (the file is left as it is)."""
        path = self.side_path(name)
        self._check_open()
        try:
            raw = _read_bytes(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"{path} cannot be read: {exc.strerror or exc}") from exc
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise StoreError(f"{path} cannot be read: it is not JSON ({exc})") from None

    def write_side(self, name: str, value) -> None:
        """Replace the side document with ``value`` as JSON: under the lock, atomically (a temporary beside it,
        fsync'd, renamed over it, the directory fsync'd), mode 0600; a read-only store refuses
        (:class:`engine.errors.ReadOnly`) and writes nothing. A write a crash cut short leaves a temporary that
        the next writer sweeps (:meth:`_sweep_leftovers`) and the old document in place."""
        path = self.side_path(name)
        self._check_open()
        refuse_if_read_only(self, f"saving {os.path.basename(path)}")
        payload = (json.dumps(value, indent=2) + "\n").encode()
        with self.lock():
            fd, _st = _atomic_write(path, payload)
            os.close(fd)
            fsync_dir(self.home)

    def side_signature(self, name: str):
        """(device, inode, size, mtime, ctime) of the side document's file, or None when there is none: one
        ``stat``, and every write (a new file renamed in place) changes it."""
        path = self.side_path(name)
        try:
            return signature_of(os.stat(path))
        except OSError:
            return None

    # -- the journal's copy of the commit records' lines -------------------------------------------
    def _writable(self) -> bool:
        return os.access(self.home, os.W_OK) and (not os.path.exists(self.meta_path)
                                                  or os.access(self.meta_path, os.W_OK))

    def _journal_behind(self) -> bool:
        """Whether the log's records hold journal lines that the journal does not (cheap when it is not:
        one parse of the log's last journal line and the journal's tail)."""
        view = self._view
        return bool(view.journal) and view.last_journal_id() > self._logs.last_id(view.generation)

    def _missing_journal(self, have: int | None = None, sig: tuple | None | bool = False) -> list[bytes]:
        """The journal lines of the log's records that the journal lacks, oldest first (``have``: the id of
        the journal's last line, when the caller has just read it)."""
        view = self._view
        if not view.journal:
            return []
        if have is None:
            have = self._logs.last_id(view.generation, sig)
        if view.last_journal_id() <= have:
            return []
        out = []
        for raw in reversed(view.journal):
            if int(json.loads(raw)["id"]) <= have:
                break
            out.append(raw)
        out.reverse()
        return out

    def _sync_journal(self, sig: tuple | None | bool = False) -> bool:
        """Copy into the journal the lines of committed records that it lacks (under the lock); True if any
        were written. ``sig``: the journal's signature, just taken."""
        missing = self._missing_journal(sig=sig)
        if missing:
            view = self._view
            self._logs.write(missing, view.generation, view.generation, sync=False)
        return bool(missing)

    def log_end(self, name: str | tuple[str, ...]) -> int:
        """The position after the last committed document of the journal (for :meth:`read_log_since`),
        found from its end without reading its history."""
        self._check_open()
        self._logs.path(name)
        return self._logs.end(self.generation)

    def root_key(self) -> bytes:
        return self._root_key

    def close(self) -> None:
        with self._thread_lock:
            if self._closed:
                return
            self._closed = True
            if self._flock is not None:
                self._flock.close()
                self._flock = None

    def __enter__(self) -> "TinyStore":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TinyStore({self.home!r})"


_SETTLED_NS = 2_000_000_000
"""How old a directory's modification time must be for an unchanged time to prove an unchanged directory."""


def _dir_sig(directory: str) -> tuple[int, int, int]:
    st = os.stat(directory)
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)


def _copy_doc(doc: dict) -> dict:
    """A deep copy of a JSON object (dicts, lists, scalars), ~4x faster than ``copy.deepcopy``."""
    out = {}
    for key, value in doc.items():
        kind = type(value)
        if kind is dict:
            value = _copy_doc(value)
        elif kind is list:
            value = _copy_list(value)
        out[key] = value
    return out


def _copy_list(items: list) -> list:
    return [_copy_doc(v) if type(v) is dict else _copy_list(v) if type(v) is list else v for v in items]


def _leftovers(home: str, prefix: str) -> list[str]:
    """The directories of bulk commits in ``home`` whose names begin with ``prefix`` (sorted)."""
    try:
        return sorted(n for n in os.listdir(home) if n.startswith(prefix) and n.endswith(".tmp"))
    except OSError:
        return []


def _write_late_shard(dst: str, raw: bytes | bytearray, index: str, moves: list[tuple[int, int]] = ()
                      ) -> list[str]:
    """Write a shard whose late values were filled in (``raw``: its body's ASCII bytes, :func:`_shard_text`'s
    ``index`` of the body before, ``moves``: where the filling grew it, :func:`_index_moved`), tagged as
    :func:`_shard_sealed` tags it, not synced: what the process that holds the late values runs for each shard
    handed to it (``late.hand_over``, see :meth:`TinyStore.bulk_commit`). Returns the paths written that the
    commit syncs."""
    out: list[str] = []
    prefix, raw, index_bytes = _shard_parts(raw, _index_moved(index, moves))
    TinyStore._write_shard_files(dst, (prefix, raw), index_bytes, out)
    return out


FORK_MIN_DOCS = 20_000
"""Documents from which a bulk commit writes shards in two processes (below, a fork costs more than it saves)."""


class _ShardWriter:
    """A forked process that writes shard files (encoded, tagged and written as :func:`_shard_bytes` and
    :meth:`TinyStore._write_shard_files` make them, not synced) beside this one, which goes on with the rest of
    the commit. :meth:`join` waits for it and gives the paths it wrote, or raises what it raised (the commit is
    then abandoned, as for an error in this process); :meth:`kill` ends it if it still runs.

    The child inherits the documents (a fork shares the memory, copied page by page as either side writes),
    touches nothing but them and the files it creates, and ends with ``os._exit`` (no cleanup of what it shares
    with this process: buffers, the lock's descriptor, atexit handlers)."""

    def __init__(self, jobs: list[tuple[str, str, dict]]) -> None:
        import pickle

        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            code = 1
            try:
                os.close(r)
                try:
                    out: list[str] = []
                    for dst, table, docs in jobs:
                        TinyStore._write_shard_files(dst, *_shard_bytes(table, docs, bulk=True), out)
                    payload, code = pickle.dumps(("ok", out)), 0
                except BaseException as exc:
                    try:
                        payload = pickle.dumps(("error", exc))
                    except BaseException:
                        payload = pickle.dumps(("error", StoreError(f"{type(exc).__name__}: {exc}")))
                _write_all(w, payload)
            finally:
                os._exit(code)
        os.close(w)
        self._pid: int | None = pid
        self._fd = r

    def join(self) -> list[str]:
        import pickle

        chunks = []
        try:
            while chunk := os.read(self._fd, 1 << 16):
                chunks.append(chunk)
        finally:
            os.close(self._fd)
            _pid, status = os.waitpid(self._pid, 0)
            self._pid = None
        try:
            kind, value = pickle.loads(b"".join(chunks))
        except Exception:
            raise StoreError(f"the process writing the commit's shards ended without an answer (wait status "
                             f"{status}); nothing was committed") from None
        if kind != "ok":
            raise value
        return value

    def kill(self) -> None:
        if self._pid is None:
            return
        import signal

        with contextlib.suppress(OSError):
            os.kill(self._pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.waitpid(self._pid, 0)
        self._pid = None
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _write_new(path: str, payload: bytes | tuple, *, sync: bool = True) -> None:
    """Write a new file (0600), fsync'd unless ``sync`` is False. ``payload``: its bytes, or a tuple of parts
    written one after the other."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _compat.O_CLOEXEC, 0o600)
    try:
        for part in payload if type(payload) is tuple else (payload,):
            _write_all(fd, part)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


SYNC_THREADS = 4
"""Threads that fsync a bulk commit's files (an fsync releases the GIL; the disk takes them together)."""


def _sync_files(paths: list[str]) -> None:
    """fsync every file of ``paths`` (written, not synced: their data is being written back already), on
    :data:`SYNC_THREADS` threads while this one waits; the first error is raised once all are done."""
    def sync(path: str) -> None:
        fd = os.open(path, os.O_RDWR | _compat.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    if len(paths) < 2:
        for path in paths:
            sync(path)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=SYNC_THREADS, thread_name_prefix="cmklab-fsync") as pool:
        for _ in pool.map(sync, paths):
            pass


def _read_bytes(path: str, limit: int | None = None) -> bytes:
    """The bytes of ``path`` (its first ``limit``), through bare descriptors (no buffered file object)."""
    fd = os.open(path, os.O_RDONLY | _compat.O_CLOEXEC)
    try:
        if limit is None:
            limit = os.fstat(fd).st_size
        chunks = []
        while limit > 0:
            chunk = os.read(fd, limit)
            if not chunk:
                break
            chunks.append(chunk)
            limit -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _hold(path: str) -> int:
    """A descriptor of the file at ``path`` before it is replaced (-1 where there is none, or where an open file
    cannot be replaced: ``_compat.REPLACE_WHILE_OPEN``), for :func:`_close_later`."""
    if not _compat.REPLACE_WHILE_OPEN:
        return -1
    try:
        return os.open(path, os.O_RDONLY | _compat.O_CLOEXEC)
    except OSError:
        return -1


_CLOSER: tuple | None = None
"""(pid, the helper thread's executor) of :func:`_close_later` (a forked child makes its own)."""


def _close_later(fds: list[int]) -> None:
    """Close the descriptors of replaced files on a helper thread. A replaced file's blocks are freed when its
    last name and descriptor go; held open across the rename, that journaled work (milliseconds a file on a
    busy disk, for the 128 files of a compaction that touches every shard of a table) happens here, beside
    the commit, instead of inside each rename. Nothing reaches the files any more: they have no name in the
    home (and a crash closes the descriptors all the same)."""
    global _CLOSER
    fds = [fd for fd in fds if fd >= 0]
    if not fds:
        return
    if _CLOSER is None or _CLOSER[0] != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        _CLOSER = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="cmklab-close"))

    def close_all() -> None:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)

    try:
        _CLOSER[1].submit(close_all)
    except RuntimeError:  # the interpreter is shutting down: close them here
        close_all()


def _fsync_close(fd: int) -> None:
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, payload: bytes) -> None:
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]


def _link_or_copy(src: str, dst: str) -> None:
    """``dst`` as a new name of ``src`` (a hard link), or a fsync'd copy where the file system has no links."""
    try:
        os.link(src, dst)
    except FileNotFoundError:
        raise
    except OSError:
        with open(src, "rb") as f:
            _write_new(dst, f.read())


def _rewrite_derived(path: str, payload: bytes) -> None:
    """Rewrite a derived file (a shard's index) in place, without waiting for the disk: truncated first, so a
    reader sees a prefix of the new bytes until they are whole, never old bytes beside new ones. After a crash
    it may be empty or cut short, and readers then find that it does not match its shard and read the shard
    whole. A file that is not there yet is made 0600 whatever the umask."""
    try:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | _compat.O_CLOEXEC)
        except FileNotFoundError:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _compat.O_CLOEXEC, 0o600)
            _compat.chmod(path, 0o600)
        try:
            _write_all(fd, payload)
        finally:
            os.close(fd)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _atomic_write(path: str, payload: bytes):
    from .storage import atomic_write

    try:
        return atomic_write(path, payload)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc


def has_state(home: str | os.PathLike) -> bool:
    """Whether ``home`` holds a state (of this schema or of schema 1), without opening or creating anything."""
    home = os.fspath(home)
    return (os.path.exists(os.path.join(home, "db", META_FILE))
            or os.path.exists(os.path.join(home, "db", LOG_FILE))
            or (os.path.isfile(os.path.join(home, "state.json"))
                and os.path.getsize(os.path.join(home, "state.json")) > 0))


def state_files(home: str | os.PathLike) -> dict[str, bytes]:
    """Every file of the persisted state (not the journal, root key or blobs), by name: two homes that went
    through the same commits hold the same bytes (tests of reproducible sessions compare these). The commit
    log is given without the journal lines its records carry and the CRCs that cover them: journal ids count
    audited reads too (a ``KeyGet``), which change no state."""
    home = os.fspath(home)
    out = {}
    db = os.path.join(home, "db")
    if os.path.isdir(db):
        for name in sorted(os.listdir(db)):
            if not name.startswith(".") and not name.endswith(".idx"):  # indexes: derived, name inodes
                with open(os.path.join(db, name), "rb") as f:
                    out[f"db/{name}"] = f.read()
        if f"db/{LOG_FILE}" in out:
            out[f"db/{LOG_FILE}"] = _without_journal(out[f"db/{LOG_FILE}"])
    legacy = os.path.join(home, "state.json")
    if os.path.isfile(legacy):
        with open(legacy, "rb") as f:
            out["state.json"] = f.read()
    return out


def _without_journal(log: bytes) -> bytes:
    out = []
    for line in log.splitlines(keepends=True):
        parts = line.split(b"\t", 2)
        if len(parts) == 3 and parts[1] == JOURNAL:
            continue
        out.append(parts[0] + b"\t" + MARK + b"\n" if len(parts) == 3 and parts[1] == MARK else line)
    return b"".join(out)


def remove_state(home: str | os.PathLike) -> None:
    """Remove the state of ``home`` (documents, journal and side documents: a lab's progress goes with the state
    it was played on; the root key and blobs stay)."""
    import shutil

    home = os.fspath(home)
    shutil.rmtree(os.path.join(home, "db"), ignore_errors=True)
    for name in ("state.json", "journal.jsonl", *(f"{side}.json" for side in SIDE_DOCUMENTS)):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(home, name))


def move_state(src: str | os.PathLike, home: str | os.PathLike) -> None:
    """Put the state built in ``src`` in place of ``home``'s: blobs, journal, then the documents (the
    ``db`` directory: the commit point, last). What ``home`` held goes into ``src`` (the caller removes it)."""
    src, home = os.fspath(src), os.fspath(home)
    for name in ("blobs", "journal.jsonl", "db"):
        mine, theirs = os.path.join(home, name), os.path.join(src, name)
        if os.path.lexists(mine):
            os.replace(mine, os.path.join(src, f"old-{name}"))
        if os.path.lexists(theirs):
            os.replace(theirs, mine)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(home, "state.json"))  # a schema-1 state would be migrated over the new one
    fsync_dir(home)


def open_store(home: str | os.PathLike) -> TinyStore:
    """Open (creating if needed) the store in ``home``; :class:`StoreError` if its files are unusable."""
    return TinyStore(home)

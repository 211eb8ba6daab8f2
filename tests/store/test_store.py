"""Tests of store/: atomic state file, refusals, change detection, locking, root key and blobs."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import StoreError
from engine.repository import MemoryStore
from store import SCHEMA_VERSION, FileBlobStore, TinyStore, open_store, state_files
from store import _compat, locking
from store import tinystore as tinystore_mod
from store.tinystore import shard_of

REPO = Path(__file__).resolve().parents[2]
DISK = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
DISK2 = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/disks/d2"
VAULT = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v1"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


POSIX_MODES = pytest.mark.skipif(os.name != "posix", reason="file modes (0600, 0700) are POSIX")


def allocated(path) -> int | None:
    """Bytes the file system allocated for ``path``; None where ``stat`` does not tell (Windows)."""
    blocks = getattr(os.stat(path), "st_blocks", None)
    return None if blocks is None else blocks * 512


def valid_file(path) -> dict:
    return json.loads(Path(path).read_bytes())


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def store(home):
    s = TinyStore(home)
    yield s
    s.close()


# -- round trip ---------------------------------------------------------------------------------


def db_file(home, name) -> Path:
    return home / "db" / name


def test_new_store_is_empty_and_writes_nothing(home):
    with open_store(home) as s:
        assert s.load() == {}
        assert s.generation == 0
        assert not s.changed()
        assert s.path == str(home / "db")
        assert not os.path.exists(home / "db")


def test_round_trip(home, store):
    store.commit({"disks": {DISK: {"name": "d1", "sizeGB": 32, "tags": {"a": "b"}, "zones": ("1",)}},
                  "vaults": {VAULT: {"name": "v1"}}}, {})
    expected = {"disks": {DISK: {"name": "d1", "sizeGB": 32, "tags": {"a": "b"}, "zones": ["1"]}},
                "vaults": {VAULT: {"name": "v1"}}}
    assert store.load() == expected
    with TinyStore(home) as other:
        assert other.load() == expected
        assert other.generation == 1
        assert other.load_shard("disks", other.shard_of(DISK)) == expected["disks"]
        assert other.load_shard("disks", (other.shard_of(DISK) + 1) % 64) == {}
    assert valid_file(db_file(home, "meta.json")) == {"_meta": {"meta": {"schema_version": SCHEMA_VERSION,
                                                                          "generation": 0}}}
    log = db_file(home, "changes.log").read_bytes().decode()
    assert log.startswith("1\tdisks\t") and log.splitlines()[-1].startswith("1\t#\t")


def test_upsert_replaces_documents_and_deletes_apply_after_upserts(home, store):
    store.commit({"disks": {DISK: {"a": 1, "b": 2}, DISK2: {"x": 1}}}, {})
    store.commit({"disks": {DISK: {"a": 3}, DISK2: {"x": 2}}}, {"disks": [DISK2, "/missing"], "nope": ["/x"]})
    assert store.load() == {"disks": {DISK: {"a": 3}}}
    store.commit({}, {"disks": [DISK]})
    assert store.load() == {}
    assert store.generation == 3
    store._compact()
    assert sorted(p.name for p in (home / "db").iterdir()) == ["changes.log", "meta.json"]  # no empty shard files
    assert store.load() == {} and store.generation == 3


def test_loaded_documents_belong_to_the_caller(home, store):
    store.commit({"disks": {DISK: {"tags": {"a": "b"}, "zones": ["1"]}}}, {})
    docs = store.load()
    docs["disks"][DISK]["tags"]["a"] = "changed by the caller"
    store.commit({"disks": {DISK2: {}}}, {})
    assert store.load()["disks"][DISK] == {"tags": {"a": "b"}, "zones": ["1"]}
    shard = store.load_shard("disks", store.shard_of(DISK))
    shard[DISK]["zones"].append("2")
    assert store.load_shard("disks", store.shard_of(DISK))[DISK]["zones"] == ["1"]


def test_bad_commit_input_is_rejected_before_anything_changes(home, store):
    store.commit({"disks": {DISK: {"a": 1}}}, {})
    before = state_files(home)
    for upserts, deletes in [({"_meta": {"meta": {}}}, {}), ({"disks": {DISK: {"x": object()}}}, {}),
                             ({"disks": {DISK: {"x": float("nan")}}}, {}), ({"disks": {1: {}}}, {}),
                             ({"disks": {DISK: [1]}}, {}), ({}, {"disks": DISK}), ({"a\tb": {DISK: {}}}, {}),
                             ({"a.b": {DISK: {}}}, {})]:
        with pytest.raises(ValueError):
            store.commit(upserts, deletes)
    assert state_files(home) == before
    assert store.load() == {"disks": {DISK: {"a": 1}}}
    assert store.generation == 1


def test_identical_state_gives_identical_bytes(tmp_path):
    docs = {f"/r/{i}": {"n": i, "b": {"z": 1, "a": 2}, "a": [i]} for i in range(50)}
    with TinyStore(tmp_path / "a") as a, TinyStore(tmp_path / "b") as b:
        a.commit({"t1": docs, "t2": {"/x": {"k": 1}}}, {})
        a.commit({"t1": {"/r/7": {"n": 70}}}, {"t1": ["/r/8"]})
        reordered = {k: dict(reversed(list(v.items()))) for k, v in reversed(list(docs.items()))}
        b.commit({"t2": {"/x": {"k": 1}}, "t1": reordered}, {})
        b.commit({"t1": {"/r/7": {"n": 70}}}, {"t1": ["/r/8"]})
        assert state_files(tmp_path / "a") == state_files(tmp_path / "b")
        a._compact()
        b._compact()
    assert state_files(tmp_path / "a") == state_files(tmp_path / "b")


# -- a commit costs what it changes ----------------------------------------------------------------------


def test_a_commit_is_one_fsynced_append(home, store, monkeypatch):
    store.commit({"disks": {f"/disks/{i}": {"i": i} for i in range(2000)}}, {})  # creates the files
    log = db_file(home, "changes.log")
    size = log.stat().st_size
    replaces, fsyncs = [], []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(os, "replace", lambda a, b: (replaces.append(b), real_replace(a, b)))
    monkeypatch.setattr(os, "fsync", lambda fd: (fsyncs.append(fd), real_fsync(fd)))
    store.commit({"disks": {"/disks/7": {"i": -7}}}, {"disks": ["/disks/8"]})
    assert replaces == [] and len(fsyncs) == 1
    grown = log.read_bytes()[size:]
    assert grown.count(b"\n") == 2 and len(grown) < 200  # the change and its commit marker, nothing else
    assert store.generation == 2


def test_reads_open_only_the_shards_they_need(home, store, monkeypatch):
    store.commit({"disks": {f"/disks/{i}": {"i": i} for i in range(3000)}, "keys": {"/k": {"n": 1}}}, {})
    store._compact()
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: (opened.append(os.fspath(path)), real_open(path, *a, **k))[1])
    with TinyStore(home) as reader:
        assert reader.load_shard("keys", reader.shard_of("/k")) == {"/k": {"n": 1}}
        assert reader.load_shard("disks", reader.shard_of("/disks/5"))["/disks/5"] == {"i": 5}
    shards = sorted(os.path.basename(p) for p in opened if p.endswith(".json") and "meta" not in p)
    assert shards == [f"disks.{shard_of('/disks/5'):02d}.json", f"keys.{shard_of('/k'):02d}.json"]


def test_compaction_rewrites_only_the_shards_the_log_touched(home, store):
    store.commit({"disks": {f"/disks/{i}": {"i": i} for i in range(3000)}}, {})
    store._compact()
    before = {p.name: p.stat().st_ino for p in (home / "db").glob("disks.*.json")}
    assert len(before) == 64
    store.commit({"disks": {"/disks/9": {"i": 9, "changed": True}}}, {})
    store._compact()
    after = {p.name: p.stat().st_ino for p in (home / "db").glob("disks.*.json")}
    assert [n for n in after if after[n] != before[n]] == [f"disks.{shard_of('/disks/9'):02d}.json"]
    assert db_file(home, "changes.log").stat().st_size == 0
    with TinyStore(home) as other:
        assert other.load()["disks"]["/disks/9"] == {"i": 9, "changed": True} and other.generation == 2


def test_a_compaction_carries_the_documents_it_keeps_as_their_bytes(home, store, monkeypatch):
    """The shard a compaction rewrites keeps its other documents as the bytes its index points at: the shard is
    not parsed, and the file is what encoding its documents gives."""
    store.commit({"disks": {f"/disks/{i}": {"i": i, "name": f"d\u00e9{i}"} for i in range(3000)}}, {})
    store._compact()
    store.commit({"disks": {"/disks/9": {"i": 9, "changed": True}}}, {"disks": ["/disks/10"]})

    def parse(*_a):
        raise AssertionError("the shard was parsed")

    monkeypatch.setattr(TinyStore, "_shard_docs_at", parse)
    store._compact()
    monkeypatch.undo()
    with TinyStore(home) as other:
        docs = other.load()["disks"]
        assert docs["/disks/9"] == {"i": 9, "changed": True} and "/disks/10" not in docs and len(docs) == 2999
        for path in (home / "db").glob("disks.*.json"):
            shard = int(path.name.split(".")[1])
            assert path.read_bytes() == tinystore_mod._shard_bytes("disks", other.load_shard("disks", shard))[0]


def test_an_index_cut_short_or_left_behind_its_shard_is_never_used(home, store):
    """A compaction rewrites each shard's index in place after the shard: a reader that meets it half written,
    or still the old one, reads the shard whole and gets the documents as they are."""
    store.commit({"disks": {f"/disks/{i}": {"i": i} for i in range(300)}}, {})
    store._compact()
    shard = shard_of("/disks/1")
    idx = home / "db" / f"disks.{shard:02d}.idx"
    old = idx.read_bytes()
    store.commit({"disks": {f"/disks/{i}": {"i": i, "v": 2} for i in range(300) if shard_of(f"/disks/{i}") == shard}},
                 {})
    store._compact()
    new = idx.read_bytes()
    assert new != old
    keys = [f"/disks/{i}" for i in range(300) if shard_of(f"/disks/{i}") == shard]
    for seen in (new[:len(new) // 2], b"", old):  # a reader's view while it is rewritten; after a crash
        idx.write_bytes(seen)
        with TinyStore(home) as reader:
            assert reader._read_index("disks", shard) is None
            assert reader.load_shard("disks", shard) == {k: {"i": int(k.rsplit("/", 1)[1]), "v": 2} for k in keys}
    idx.write_bytes(new)
    with TinyStore(home) as reader:
        assert set(reader._read_index("disks", shard)) == set(keys)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_indexes_are_0600_and_rewritable_under_a_hostile_umask(home):
    """An index written for the first time is 0600 whatever the umask (0277 would make it read-only), and the
    compactions after rewrite it in place."""
    old = os.umask(0o277)
    try:
        with TinyStore(home) as s:
            s.commit({"disks": {f"/disks/{i}": {"i": i} for i in range(300)}}, {})
            s._compact()
            s.commit({"disks": {f"/disks/{i}": {"i": -i} for i in range(300)}}, {})
            s._compact()
    finally:
        os.umask(old)
    indexes = list((home / "db").glob("disks.*.idx"))
    assert len(indexes) == 64 and {stat.S_IMODE(p.stat().st_mode) for p in indexes} == {0o600}
    with TinyStore(home) as s:
        assert s.load()["disks"]["/disks/7"] == {"i": -7}
        assert s._read_index("disks", shard_of("/disks/7")) is not None


@pytest.mark.parametrize("damage", ["content", "spans"])
def test_a_compaction_parses_a_shard_its_index_does_not_describe(home, store, damage):
    """A shard whose bytes are not what its tag says (a hand edit that kept its first line), or whose index
    points elsewhere, is parsed: the compaction never cuts documents out of bytes it cannot vouch for."""
    store.commit({"disks": {f"/disks/{i}": {"i": i, "v": "aaaa"} for i in range(300)}}, {})
    store._compact()
    shard = shard_of("/disks/1")
    path = home / "db" / f"disks.{shard:02d}.json"
    raw = path.read_bytes()
    if damage == "content":  # the same length: every span still falls on a document
        path.write_bytes(raw.replace(b'"v":"aaaa"', b'"v":"bbbb"', 1))
    else:
        idx = home / "db" / f"disks.{shard:02d}.idx"
        index = json.loads(idx.read_bytes())
        first = sorted(index["docs"])[0]
        index["docs"][first][0] += 1
        idx.write_bytes(json.dumps(index, separators=(",", ":")).encode())
    other_key = next(f"/disks/{i}" for i in range(300) if shard_of(f"/disks/{i}") == shard and i != 1)
    store.commit({"disks": {other_key: {"i": -1}}}, {})
    store._compact()
    with TinyStore(home) as fresh:
        docs = fresh.load_shard("disks", shard)
        assert docs[other_key] == {"i": -1}
        values = {d.get("v") for k, d in docs.items() if k != other_key}
        assert values == ({"aaaa", "bbbb"} if damage == "content" else {"aaaa"})
        assert path.read_bytes() == tinystore_mod._shard_bytes("disks", docs)[0]


def test_a_compaction_creates_all_its_files_before_its_first_fsync(home, store, monkeypatch):
    """Creating a file waits for a journal commit that an fsync in flight runs: every temporary of a compaction
    is created first, then the shards are written and synced."""
    store.commit({"disks": {f"/disks/{i}": {"i": i} for i in range(3000)}}, {})
    store._compact()
    store.commit({"disks": {f"/disks/{i}": {"i": -i} for i in range(0, 3000, 7)}}, {})
    order: list[str] = []
    real_open, real_sync = os.open, os.fsync

    def opened(path, flags, *a, **k):
        name = os.path.basename(str(path))
        if flags & os.O_CREAT and name.startswith(".disks.") and name.endswith(".tmp"):  # a shard's, an index's
            order.append("create")
        return real_open(path, flags, *a, **k)

    def synced(fd):
        order.append("fsync")
        return real_sync(fd)

    monkeypatch.setattr(os, "open", opened)
    monkeypatch.setattr(os, "fsync", synced)
    store._compact()
    monkeypatch.undo()
    assert order.count("create") == 64  # each shard's temporary; its index is rewritten in place
    first = order.index("fsync")
    assert "create" not in order[first:]
    with TinyStore(home) as other:
        docs = other.load()["disks"]
        assert docs["/disks/7"] == {"i": -7} and docs["/disks/8"] == {"i": 8}


def test_the_log_is_compacted_once_it_passes_its_bound(home, store, monkeypatch):
    monkeypatch.setattr(tinystore_mod, "COMPACT_BYTES", 4096)
    for i in range(40):
        store.commit({"disks": {f"/disks/{i}": {"pad": "x" * 200}}}, {})
    assert db_file(home, "changes.log").stat().st_size <= 4096 + 400
    assert len(store.load()["disks"]) == 40 and store.generation == 40


def test_a_change_of_every_document_waits_for_a_share_of_the_shards_it_touches(home, store, monkeypatch):
    """Past COMPACT_BYTES the log is compacted only once its documents pass COMPACT_SHARE of the shard files
    they touch: rewriting every document of a table (a re-key) does not rewrite every shard each time."""
    monkeypatch.setattr(tinystore_mod, "COMPACT_BYTES", 4096)
    docs = {f"/disks/{i}": {"v": 0, "pad": "x" * 100} for i in range(200)}
    store.commit({"disks": docs}, {})  # (no shard file yet: compacted at once)
    assert db_file(home, "changes.log").stat().st_size == 0
    shards = {n: db_file(home, n).stat().st_mtime_ns for n in os.listdir(home / "db") if n.startswith("disks.")}
    store.commit({"disks": {k: dict(d, v=1) for k, d in docs.items()}}, {})
    assert db_file(home, "changes.log").stat().st_size > 4096  # one share: kept in the log
    assert {n: db_file(home, n).stat().st_mtime_ns for n in shards} == shards
    with TinyStore(home) as other:
        assert {d["v"] for d in other.load()["disks"].values()} == {1}
    store.commit({"disks": {k: dict(d, v=2) for k, d in docs.items()}}, {})
    assert db_file(home, "changes.log").stat().st_size == 0  # twice the shards' bytes: compacted
    with TinyStore(home) as other:
        assert {d["v"] for d in other.load()["disks"].values()} == {2} and other.generation == 3
    monkeypatch.setattr(tinystore_mod, "TABLE_CAP", 1)  # whatever the shards hold, past the cap: compacted
    store.commit({"disks": {k: dict(d, v=3) for k, d in docs.items()}}, {})
    assert db_file(home, "changes.log").stat().st_size == 0


def test_shred_compacts_at_once(home, store):
    store.commit({"keys": {"/k": {"sealed": "MATERIAL-1234"}}}, {})
    assert b"MATERIAL-1234" in db_file(home, "changes.log").read_bytes()
    store.commit({}, {"keys": ["/k"]}, shred=True)
    assert not any(b"MATERIAL-1234" in data for data in state_files(home).values())
    assert store.generation == 2 and store.load() == {}


# -- atomicity -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["fsync", "pwrite"])
def test_a_failed_append_commits_nothing(home, store, monkeypatch, failing):
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    before = state_files(home)

    def boom(*args, **kwargs):
        raise OSError(5, "Input/output error")

    # positional writes go through store._compat (native os.pwrite or its portable fallback)
    monkeypatch.setattr(_compat if failing == "pwrite" else os, failing, boom)
    with pytest.raises(StoreError) as info:
        store.commit({"disks": {DISK: {"v": 2}, DISK2: {"v": 2}}}, {})
    monkeypatch.undo()
    assert "nothing was committed" in str(info.value)
    assert state_files(home) == before
    assert store.load() == {"disks": {DISK: {"v": 1}}}
    assert store.generation == 1 and not store.changed()
    store.commit({"disks": {DISK: {"v": 3}}}, {})
    with TinyStore(home) as other:
        assert other.load() == {"disks": {DISK: {"v": 3}}} and other.generation == 2


def test_a_torn_record_is_ignored_and_cut_off_by_the_next_writer(home, store):
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    log = db_file(home, "changes.log")
    whole = log.read_bytes()
    with open(log, "ab") as f:  # a crash in the middle of the next append
        f.write(b'2\tdisks\t{"u":{"' + DISK.encode() + b'":{"v":2}}}\n2\t#\t0000')
    with TinyStore(home) as other:
        assert other.load() == {"disks": {DISK: {"v": 1}}} and other.generation == 1
        other.commit({"disks": {DISK2: {"v": 1}}}, {})
        assert log.read_bytes().startswith(whole) and b"#\t0000" not in log.read_bytes()
    with TinyStore(home) as third:
        assert third.load() == {"disks": {DISK: {"v": 1}, DISK2: {"v": 1}}} and third.generation == 2


def test_a_failed_compaction_does_not_undo_the_commit(home, store, monkeypatch, capsys):
    store.commit({"disks": {DISK: {"v": 1}}}, {})

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", boom)
    store.commit({"disks": {DISK: {"v": 2}}}, {}, shred=True)  # durable: the compaction is retried later
    monkeypatch.undo()
    assert "compaction" in capsys.readouterr().err
    with TinyStore(home) as other:
        assert other.load() == {"disks": {DISK: {"v": 2}}} and other.generation == 2
    store.commit({"disks": {DISK: {"v": 3}}}, {}, shred=True)
    assert db_file(home, "changes.log").stat().st_size == 0


def _keys_in_shards(count: int) -> list[str]:
    """Disk ids that fall in ``count`` different shards."""
    out, seen = [], set()
    for i in range(10_000):
        key = f"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Compute/disks/m{i}"
        if shard_of(key) not in seen:
            seen.add(shard_of(key))
            out.append(key)
            if len(out) == count:
                return out
    raise AssertionError("not enough shards")


def test_a_compaction_of_many_shards_cut_short_loses_nothing_and_leaves_no_temporary(home, store, monkeypatch,
                                                                                   capsys):
    """The shards of one compaction are written and fsync'd together, then renamed one by one: a failure
    among the renames keeps the commit (the log still holds it), leaves each shard whole (old or new) and
    no temporary; the next commit sweeps first, and a later compaction succeeds."""
    keys = _keys_in_shards(8)
    store.commit({"disks": {k: {"v": 1} for k in keys}}, {}, log=[("audit", {"operation": "KeyCreate"})])
    real_replace, calls = os.replace, []

    def fail_third(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", fail_third)
    store.commit({"disks": {k: {"v": 2} for k in keys}}, {}, shred=True, log=[("audit", {"operation": "KeyPurge"})])
    monkeypatch.undo()
    assert "compaction" in capsys.readouterr().err
    assert not [p.name for p in (home / "db").iterdir() if p.name.endswith(".tmp")]
    for shard in (home / "db").glob("disks.*.json"):
        valid_file(shard)
    with TinyStore(home) as other:
        assert other.load() == {"disks": {k: {"v": 2} for k in keys}} and other.generation == 2
        assert [d["operation"] for d in other.read_log("audit")] == ["KeyCreate", "KeyPurge"]
    swept = []
    real_sweep = store._sweep_leftovers
    monkeypatch.setattr(store, "_sweep_leftovers", lambda **kw: (swept.append(kw), real_sweep(**kw))[1])
    store.commit({"disks": {keys[0]: {"v": 3}}}, {})
    assert swept == [{}]  # the failed compaction may have left a temporary: this writer sweeps before writing
    store.commit({"disks": {keys[1]: {"v": 3}}}, {}, shred=True)
    assert db_file(home, "changes.log").stat().st_size == 0
    assert store.load()["disks"] == {k: {"v": 3 if k in keys[:2] else 2} for k in keys}


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts this process's descriptors in /proc")
def test_compactions_keep_no_descriptor_of_the_files_they_replaced(home, store, monkeypatch):
    """A compaction holds the files it replaces open across the renames and closes them on a helper thread:
    once that has run, no descriptor is left behind."""
    monkeypatch.setattr(tinystore_mod, "COMPACT_BYTES", 1)  # every commit compacts
    keys = _keys_in_shards(6)
    store.commit({"disks": {k: {"v": 0} for k in keys}}, {})
    before = len(os.listdir("/proc/self/fd"))
    for v in range(1, 6):
        store.commit({"disks": {k: {"v": v} for k in keys}}, {})
    if tinystore_mod._CLOSER is not None:  # (the portable path holds nothing: it never starts the helper)
        tinystore_mod._CLOSER[1].submit(lambda: None).result()  # the closes queued before it have run
    assert len(os.listdir("/proc/self/fd")) <= before
    assert store.load()["disks"] == {k: {"v": 5} for k in keys}


def test_temp_file_cannot_be_created(home, store, monkeypatch):
    """A directory where nothing can be created (simulated: we run as root, where modes do not bite)."""
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    before = state_files(home)
    real_open = os.open

    def deny(path, flags, *args, **kwargs):
        if flags & os.O_CREAT:
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(StoreError, match="Permission denied.*nothing was committed"):
        store.commit({"disks": {DISK: {"v": 2}}}, {})
    monkeypatch.undo()
    assert state_files(home) == before
    assert store.load() == {"disks": {DISK: {"v": 1}}}






def test_committed_documents_are_copied(store):
    doc = {"tags": {"a": "b"}}
    store.commit({"disks": {DISK: doc}}, {})
    doc["tags"]["a"] = "mutated after commit"
    assert store.load()["disks"][DISK] == {"tags": {"a": "b"}}




# -- one atomic write per commit -------------------------------------------------------------------





# -- atomicity -----------------------------------------------------------------------------------------





# -- refusals ---------------------------------------------------------------------------------------------

GOOD_META = {"_meta": {"meta": {"schema_version": 1, "generation": 4}}}
BAD_FILES = {
    "not json": (b"this is not json", "not valid JSON"),
    "binary": (b"\xff\xfe\x00garbage", "not valid JSON"),
    "truncated": (json.dumps({**GOOD_META, "disks": {DISK: {"a": 1}}}).encode()[:-7], "not valid JSON"),
    "empty": (b"", "empty"),
    "list": (b"[1, 2]", "expected a JSON object of tables, found an array"),
    "table not dict": (json.dumps({**GOOD_META, "disks": [1]}).encode(), "table 'disks' is an array"),
    "doc not dict": (json.dumps({**GOOD_META, "disks": {DISK: 3}}).encode(), "is a number, expected an object"),
    "no meta": (json.dumps({"disks": {DISK: {}}}).encode(), "not a cmklab state file"),
    "bad version": (json.dumps({"_meta": {"meta": {"schema_version": "1", "generation": 0}}}).encode(),
                    "invalid schema_version"),
    "bad generation": (json.dumps({"_meta": {"meta": {"schema_version": 1}}}).encode(), "invalid generation"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_unusable_state_file_is_refused_and_untouched(home, case):
    content, why = BAD_FILES[case]
    home.mkdir()
    state = home / "state.json"
    state.write_bytes(content)
    os.chmod(state, 0o640)
    before = os.stat(state)
    with pytest.raises(StoreError) as info:
        TinyStore(home)
    assert isinstance(info.value, StoreError) and info.value.code == "StoreError"
    assert str(state) in str(info.value) and why in str(info.value)
    assert state.read_bytes() == content
    after = os.stat(state)
    assert (after.st_ino, after.st_mtime_ns, after.st_mode) == (before.st_ino, before.st_mtime_ns, before.st_mode)
    assert not (home / "root.key").exists()  # refused before anything else was created


def test_newer_schema_is_refused_with_a_clear_message(home):
    home.mkdir()
    content = json.dumps({"_meta": {"meta": {"schema_version": SCHEMA_VERSION + 1, "generation": 9}}}).encode()
    (home / "state.json").write_bytes(content)
    with pytest.raises(StoreError) as info:
        TinyStore(home)
    assert str(info.value) == (f"state file {home / 'state.json'} was written by a newer cmklab "
                               f"(schema {SCHEMA_VERSION + 1}; this version reads {SCHEMA_VERSION})")
    assert (home / "state.json").read_bytes() == content


def test_state_file_that_is_a_directory_is_refused(home):
    (home / "state.json").mkdir(parents=True)
    with pytest.raises(StoreError, match=f"state file {home / 'state.json'} is not a regular file"):
        TinyStore(home)



def test_root_key_of_wrong_size_is_refused(home):
    home.mkdir()
    (home / "root.key").write_bytes(b"short")
    with pytest.raises(StoreError) as info:
        TinyStore(home)
    assert str(home / "root.key") in str(info.value) and "has 5 bytes, expected 32" in str(info.value)
    assert (home / "root.key").read_bytes() == b"short"


# -- files and modes --------------------------------------------------------------------------------------


@POSIX_MODES
def test_file_modes(home):
    old = os.umask(0)  # the modes must not depend on a friendly umask
    try:
        with TinyStore(home) as s:
            s.commit({"disks": {DISK: {}}}, {})
            s.blobs.write("b1", 0, b"x")
    finally:
        os.umask(old)
    assert mode(home) == 0o700
    assert mode(home / "blobs") == 0o700
    assert mode(home / "db") == 0o700
    s2 = TinyStore(home)
    s2._compact()
    s2.close()
    for f in (home / "db").iterdir():
        assert mode(f) == 0o600, f.name
    assert mode(home / "root.key") == 0o600
    assert mode(home / "state.lock") == 0o600
    assert mode(home / "blobs" / "b1") == 0o600


def test_root_key_created_once(home):
    with TinyStore(home) as a:
        key = a.root_key()
    assert len(key) == 32 and (home / "root.key").read_bytes() == key
    with TinyStore(home) as b:
        assert b.root_key() == key
    with TinyStore(home.parent / "other") as c:
        assert c.root_key() != key


# -- other processes ----------------------------------------------------------------------------------------


def test_changes_by_another_store_are_detected(home):
    a, b = TinyStore(home), TinyStore(home)
    try:
        assert not a.changed() and not b.changed()
        b.commit({"disks": {DISK: {"by": "b"}}}, {})
        assert not b.changed()
        assert a.changed()
        with pytest.raises(StoreError, match=f"state in {a.path} was changed by another process"):
            a.commit({"disks": {DISK2: {"by": "a"}}}, {})  # would silently drop b's commit
        assert a.load() == {"disks": {DISK: {"by": "b"}}}
        assert not a.changed()
        assert a.generation == 1
        a.commit({"disks": {DISK2: {"by": "a"}}}, {})
        assert b.changed() and b.load() == {"disks": {DISK: {"by": "b"}, DISK2: {"by": "a"}}}
        assert a.generation == b.generation == 2
    finally:
        a.close()
        b.close()


def test_first_commit_by_another_store_is_detected(home):
    with TinyStore(home) as a, TinyStore(home) as b:
        b.commit({"disks": {DISK: {}}}, {})
        assert a.changed()
        assert a.load() == {"disks": {DISK: {}}}


LOCK_PROBE = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


def probe_lock(path) -> str:
    return subprocess.run([sys.executable, "-c", LOCK_PROBE, str(path)], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


@pytest.mark.skipif(os.name != "posix", reason="the probe uses fcntl.flock")
def test_lock_excludes_another_process(store):
    with store.lock():
        assert probe_lock(store.lock_path) == "busy"
        with store.lock():  # re-entrant within the store (commit takes it too)
            store.commit({"disks": {DISK: {}}}, {})
        assert probe_lock(store.lock_path) == "busy"
    assert probe_lock(store.lock_path) == "free"


def test_lock_excludes_another_store_and_threads(home):
    a, b = TinyStore(home), TinyStore(home)
    order = []
    try:
        with a.lock():
            def other():
                with b.lock():
                    order.append("b")

            t = threading.Thread(target=other)
            t.start()
            time.sleep(0.2)
            order.append("a done")
        t.join(10)
        assert order == ["a done", "b"]
    finally:
        a.close()
        b.close()


def unprivileged_python(kwargs) -> tuple[str | None, dict]:
    """An interpreter that an unprivileged user can run and that imports the project (and tinydb).

    The virtualenv's interpreter may live under /root; a system Python of the same version can use the
    virtualenv's pure-Python tinydb through PYTHONPATH.
    """
    import tinydb

    site = os.path.dirname(os.path.dirname(tinydb.__file__))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable, shutil.which(version), f"/usr/local/bin/{version}", f"/usr/bin/{version}"]
    for python in candidates:
        if not python:
            continue
        for extra in ["", site]:
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in [str(REPO), extra] if p)}
            try:
                probe = subprocess.run([python, "-c", "import store"], cwd=REPO, capture_output=True, env=env,
                                       timeout=60, **kwargs)
            except OSError:
                break
            if probe.returncode == 0:
                return python, env
    return None, {}


@POSIX_MODES
def test_read_only_files_as_an_unprivileged_user(tmp_path):
    """Real permissions: a read-only state file, a read-only home and an unreadable file.

    Root ignores file modes, so when the tests run as root the checks run in a child process
    that drops to the ``nobody`` uid.
    """
    base = Path(tempfile.mkdtemp(prefix="cmklab-ro-"))
    try:
        os.chmod(base, 0o755)
        home = base / "home"
        with TinyStore(home) as s:
            s.commit({"disks": {DISK: {"v": 1}}}, {})
        child = """
import json, os, sys
from engine.errors import StoreError
from store import TinyStore
home, case = sys.argv[1], sys.argv[2]
try:
    s = TinyStore(home)
except StoreError as e:
    print(json.dumps(["open", str(e)])); sys.exit(0)
before, gen = s.load(), s.generation
try:
    s.commit({"disks": {"/new": {"v": 2}}}, {})
except StoreError as e:
    print(json.dumps(["commit", str(e), s.load() == before and s.generation == gen and not s.changed()]))
else:
    print(json.dumps(["committed"]))
"""
        kwargs = {}
        python = sys.executable
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        if os.geteuid() == 0:
            uid = 65534
            for root, dirs, files in os.walk(home):
                for name in [root, *(os.path.join(root, f) for f in dirs + files)]:
                    os.chown(name, uid, uid)
            kwargs = {"user": uid, "group": uid, "extra_groups": []}
            python, env = unprivileged_python(kwargs)
            if python is None:
                pytest.skip(f"no Python interpreter that uid {uid} can run with this project")

        def run(case):
            out = subprocess.run([python, "-c", child, str(home), case], cwd=REPO, capture_output=True,
                                 text=True, env=env, timeout=60, **kwargs)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)

        state = home / "db" / "meta.json"
        content = state_files(home)
        os.chmod(state, 0o444)
        assert run("file") == ["commit", f"state {state} is read-only; nothing was committed", True]
        os.chmod(state, 0o600)
        os.chmod(home, 0o555)
        where, message, kept = run("dir")
        assert where == "commit" and kept and message == f"state {home} is read-only; nothing was committed"
        os.chmod(home, 0o700)
        os.chmod(home / "db" / "changes.log", 0o000)
        where, message = run("unreadable")
        assert where == "open" and message == (f"cannot read the commit log {home / 'db' / 'changes.log'}: "
                                               f"Permission denied")
        os.chmod(home / "db" / "changes.log", 0o600)
        assert state_files(home) == content
    finally:
        for root, dirs, files in os.walk(base):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o700)
        shutil.rmtree(base, ignore_errors=True)


# -- blobs --------------------------------------------------------------------------------------------------


def test_blob_sparse_reads_return_zeros(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    assert blobs.read("missing", 100, 8) == bytes(8)
    blobs.write("b", 1 << 20, b"abc")
    assert blobs.read("b", 0, 4) == bytes(4)
    assert blobs.read("b", (1 << 20) - 1, 5) == b"\0abc\0"
    assert blobs.read("b", 1 << 30, 3) == bytes(3)
    path = blobs.filename("b")
    assert os.path.getsize(path) == (1 << 20) + 3
    assert (allocated(path) or 0) < 1 << 20  # a hole, not a megabyte of zeros (where stat tells)


def test_blob_map_gives_the_stored_bytes_of_the_range_inside_the_file(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    assert blobs.map("missing", 0, 8) is None
    data = os.urandom(200_000)
    blobs.write("b", 70_001, data)  # the file ends at 270_001
    if not _compat.maps():  # the portable path maps nothing: the caller reads
        assert blobs.map("b", 70_001, 10) is None
        return
    view = blobs.map("b", 70_003, 1000)  # a window that does not start on a page
    assert isinstance(view, memoryview) and view.readonly and bytes(view) == data[2:1002]
    tail = blobs.map("b", 270_000, 4096)  # only what lies inside the file: the rest reads as zeros
    assert bytes(tail) == data[-1:]
    assert bytes(blobs.map("b", 0, 70_005)) == bytes(70_001) + data[:4]  # a hole maps as zeros
    assert blobs.map("b", 270_001, 10) is None and blobs.map("b", 1 << 30, 10) is None
    assert blobs.map("b", 5, 0) is None
    blobs.write("b", 70_003, b"new")  # the map sees the page cache: what a write leaves there
    assert bytes(view[:3]) == b"new"
    blobs.copy("c", "b")  # replaced by an empty blob: the map keeps the old file's bytes, no fault
    assert bytes(view[3:6]) == data[5:8]
    with pytest.raises(ValueError):
        blobs.map("b", -1, 4)


def test_blob_write_is_durable_and_copy(tmp_path, monkeypatch):
    blobs = FileBlobStore(tmp_path / "blobs")
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    blobs.write("src", 0, b"hello")
    assert synced  # fsynced before returning
    blobs.write("src", 4 << 20, bytearray(b"world"))
    synced.clear()
    blobs.copy("src", "dst")
    assert synced
    assert blobs.raw("dst") == blobs.raw("src")
    assert (allocated(blobs.filename("dst")) or 0) < 1 << 20  # holes kept (where stat tells)
    blobs.write("src", 0, b"HELLO")
    assert blobs.read("dst", 0, 5) == b"hello"  # a copy, not a link
    blobs.copy("nothing", "dst")
    assert blobs.raw("dst") == b"" and blobs.read("dst", 0, 2) == bytes(2)
    blobs.delete("dst")
    blobs.delete("dst")
    assert not os.path.exists(blobs.filename("dst"))
    assert sorted(os.listdir(blobs.directory)) == ["src"]


def test_blob_writev_writes_each_part_before_drawing_the_next(tmp_path):
    """A producer may hand out one buffer again and again (the engine encrypts a big write into one chunk
    buffer): each part is on its way to the file before the next is drawn, and the whole is synced once."""
    blobs = FileBlobStore(tmp_path / "blobs")
    buf = bytearray(4)

    def parts():
        for word in (b"abcd", b"efgh", b"ijkl"):
            buf[:] = word
            yield memoryview(buf)

    blobs.writev("b", 10, parts())
    assert blobs.read("b", 10, 12) == b"abcdefghijkl"
    mem = MemoryStore().blobs
    mem.writev("b", 10, parts())
    assert mem.read("b", 10, 12) == b"abcdefghijkl"


def test_a_big_blob_write_starts_writing_back_as_it_goes_and_is_synced_once_at_the_end(tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(_compat, "start_writeback", lambda fd, offset, length: events.append((offset, length)))
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(_compat, "datasync", lambda fd: (events.append("sync"), real_fsync(fd))[1])
    blobs = FileBlobStore(tmp_path / "blobs")
    mib = 1 << 20
    blobs.writev("b", 100, (bytes([n]) * mib for n in range(20)))
    # every 8 MiB handed to the page cache is sent on its way; the last 4 MiB are left to the sync of the file
    # (fdatasync where there is one), which comes after them (then the directory's fsync, a new file, where
    # directories sync): it, not the hint, makes the write durable
    assert events[:3] == [(100, 8 * mib), (100 + 8 * mib, 8 * mib), "sync"] and set(events[3:]) <= {"fsync"}
    assert blobs.read("b", 100 + 19 * mib - 1, 2) == b"\x12\x13"
    events.clear()
    blobs.write("b", 0, b"small")
    assert events == ["sync"]  # a small write: nothing to overlap


def test_blob_extents_skip_holes(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    assert blobs.extents("missing") == []
    blobs.write("empty", 0, b"")
    assert blobs.extents("empty") == []
    blobs.write("b", 0, b"a" * 10)
    blobs.write("b", 8 << 20, b"b" * 10)
    extents = blobs.extents("b")
    assert extents[0][0] == 0 and extents[-1][0] + extents[-1][1] == (8 << 20) + 10
    covered = sum(length for _, length in extents)
    if _compat.SEEK_DATA is None:  # no SEEK_DATA (Windows, CMKLAB_PORTABLE=1): the whole file may hold data
        assert extents == [(0, (8 << 20) + 10)]
    else:
        assert covered < 1 << 20  # the 8 MiB hole is not listed (block granularity otherwise)
    for offset, length in extents:  # every written byte is inside an extent
        assert blobs.read("b", offset, length).strip(b"\0")
    blobs.copy("b", "c")
    assert blobs.extents("c") == extents


def test_blob_ids_cannot_escape_the_directory(tmp_path):
    blobs = FileBlobStore(tmp_path / "blobs")
    for bad in ["../escape", "a/b", "..", ".hidden", "", "x" * 300, "a..b", "~x"]:
        path = blobs.filename(bad)
        assert os.path.dirname(path) == blobs.directory and os.path.basename(path).startswith("~")
        blobs.write(bad, 0, b"data")
        assert blobs.read(bad, 0, 4) == b"data"
    assert not (tmp_path / "escape").exists()
    uuid_id = "0b5a2c9e-7f3d-4c1a-9e2b-1d2c3b4a5f6e"
    assert blobs.filename(uuid_id) == os.path.join(blobs.directory, uuid_id)


def test_store_blobs_live_in_home(home, store):
    store.blobs.write("disk-1", 0, b"\x01" * 16)
    assert (home / "blobs" / "disk-1").read_bytes() == b"\x01" * 16


# -- the store behaves like the engine's MemoryStore ---------------------------------------------------------

keys = st.sampled_from(["/a", "/b:1", "/c/d", "/e"])
tables = st.sampled_from(["disks", "vaults", "keys"])
docs = st.dictionaries(st.sampled_from(["x", "y"]), st.integers() | st.text(max_size=3) | st.lists(st.booleans()),
                       max_size=2)
commits = st.lists(st.tuples(st.dictionaries(tables, st.dictionaries(keys, docs, max_size=3), max_size=2),
                             st.dictionaries(tables, st.lists(keys, max_size=2), max_size=2)), max_size=6)


def _commit_both(store, model, sequence) -> None:
    """Make each commit of ``sequence`` on the store under test and on the in-memory model."""
    for upserts, deletes in sequence:
        store.commit(upserts, deletes)
        model.commit(upserts, deletes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commits)
def test_same_contract_as_memory_store(tmp_path, sequence):
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    model = MemoryStore()
    with TinyStore(home) as s:
        _commit_both(s, model, sequence)
        expected = {t: d for t, d in model.load().items() if d}  # TinyStore drops empty tables
        assert s.load() == expected
        assert s.generation == len(sequence)
    with TinyStore(home) as again:
        assert again.load() == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commits, commits, st.dictionaries(tables, st.lists(keys, max_size=2), max_size=2))
def test_a_compaction_folds_the_log_as_replaying_it_would(tmp_path, before, after, last):
    """A compaction folds the lines newest first and skips those whose every key a later line changes again;
    the lines of another process's records (keys not known without a parse) and this one's alike: the state is
    the one replaying every commit in order gives."""
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    model = MemoryStore()
    with TinyStore(home) as s:
        _commit_both(s, model, before)
    with TinyStore(home) as s:
        _commit_both(s, model, after)
        s.commit({}, last, shred=True)  # compacts at once
        model.commit({}, last)
        assert (home / "db" / "changes.log").stat().st_size == 0
        expected = {t: d for t, d in model.load().items() if d}
        assert s.load() == expected
    with TinyStore(home) as again:
        assert again.load() == expected


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                      max_size=3), max_leaves=8)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=4), st.dictionaries(st.text(max_size=3), json_values, max_size=3), max_size=4),
       st.lists(st.text(max_size=4), max_size=3))
def test_a_record_line_is_the_json_encoding_of_its_change(docs, deleted):
    """The record's change object is built document by document (a compaction reuses each document's
    encoding): its bytes are still exactly the compact, key-sorted JSON of the whole change."""
    change = {}
    if docs:
        change["u"] = docs
    if deleted:
        change["d"] = deleted
    raw, encoded = tinystore_mod._encode_change(docs, deleted)
    assert raw == tinystore_mod._dumps(change) and json.loads(raw) == change
    assert encoded == {k: tinystore_mod._dumps(d).decode() for k, d in docs.items()}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(commits)
def test_a_compaction_writes_each_shard_as_its_documents_encode(tmp_path, sequence):
    """Shards compacted with the encodings of the record that triggered the compaction hold the same bytes as
    shards encoded from their documents (homes that went through the same commits hold the same files)."""
    home = Path(tempfile.mkdtemp(dir=tmp_path))
    with pytest.MonkeyPatch.context() as mp, TinyStore(home) as s:
        mp.setattr(tinystore_mod, "COMPACT_BYTES", 1)  # every commit compacts
        for upserts, deletes in sequence:
            s.commit(upserts, deletes)
            for shard in (home / "db").glob("*.*.json"):
                table, number = shard.name.split(".")[:2]
                assert shard.read_bytes() == tinystore_mod._shard_bytes(table, s.load_shard(table, int(number)))[0]


# -- performance (opt-in: CMKLAB_BENCH=1 python -m pytest tests/store -k performance -s) -----------------


def _median_ms(fn, n=11):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[n // 2] * 1000


# -- the root key beside an existing state ----------------------------------------------------------------


def _committed_home(home) -> bytes:
    with TinyStore(home) as s:
        s.commit({"disks": {DISK: {"v": 1}}}, {})
        return s.root_key()


def test_missing_root_key_beside_a_state_is_refused_not_replaced(home):
    _committed_home(home)
    (home / "root.key").unlink()
    before = state_files(home)
    with pytest.raises(StoreError) as info:
        TinyStore(home)
    assert str(home / "root.key") in str(info.value) and "missing" in str(info.value)
    assert not (home / "root.key").exists()  # no new key was made
    assert state_files(home) == before


def test_missing_root_key_is_refused_by_the_cli_read_only_too(home):
    _committed_home(home)
    (home / "root.key").unlink()
    for argv in (["--read-only", "az", "keyvault", "list"], ["az", "keyvault", "list"]):
        proc = subprocess.run([sys.executable, "-m", "console", "--home", str(home), *argv],
                              capture_output=True, text=True, cwd=REPO, timeout=60)
        assert proc.returncode != 0
        assert str(home / "root.key") in proc.stderr and "Traceback" not in proc.stderr
        assert not (home / "root.key").exists()


def test_wrong_root_key_is_named_as_such(home):
    from console.session import open_engine
    open_engine(home).store.close()  # an unseeded engine records its root key's fingerprint
    key = (home / "root.key").read_bytes()
    (home / "root.key").write_bytes(bytes(b ^ 0xFF for b in key))
    with pytest.raises(StoreError, match="is not the key this state was sealed with") as info:
        open_engine(home)
    assert str(home / "root.key") in str(info.value)
    (home / "root.key").write_bytes(key)
    open_engine(home).store.close()  # the right key opens it again


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_root_key_readable_by_others_is_refused(home):
    _committed_home(home)
    os.chmod(home / "root.key", 0o644)
    with pytest.raises(StoreError) as info:
        TinyStore(home)
    assert "can be read by other users" in str(info.value) and "chmod 600" in str(info.value)
    os.chmod(home / "root.key", 0o600)
    TinyStore(home).close()


# -- the journal travels in the commit record -------------------------------------------------------------


def test_a_commit_carries_its_journal_lines_and_pays_one_fsync(home, store, monkeypatch):
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    audit, event = {"operation": "KeyCreate"}, {"summary": "disk d1 updated"}
    ids = store.commit({"disks": {DISK: {"v": 2}}}, {}, log=[("audit", audit), ("events", event)])
    assert len(synced) == 1  # the record, documents and journal lines together: the commit point
    assert ids == ["000000001", "000000002"] and audit["id"] == "000000001" and event["id"] == "000000002"
    record = db_file(home, "changes.log").read_bytes().splitlines()[-4:]
    assert record[0].startswith(b"2\tdisks\t") and record[1].startswith(b"2\t!\t") and b"KeyCreate" in record[1]
    assert record[2].startswith(b"2\t!\t") and record[3].startswith(b"2\t#\t")
    assert (home / "journal.jsonl").read_bytes().splitlines() == [r.split(b"\t", 2)[2] for r in record[1:3]]
    with TinyStore(home) as other:
        assert [d["operation"] for d in other.read_log("audit")] == ["KeyCreate"]
        assert other.read_log("events") == [{"id": "000000002", "summary": "disk d1 updated"}]
    with pytest.raises(ValueError, match="unknown log"):
        store.commit({"disks": {DISK: {"v": 3}}}, {}, log=[("journal", {})])
    assert store.load() == {"disks": {DISK: {"v": 2}}} and store.generation == 2  # nothing of it was written


def test_journal_lines_that_differ_only_in_their_ids_are_encoded_as_json_dumps_would(home):
    """A run of equal entries (a re-key's audit lines) reuses the first one's text: the same bytes as
    json.dumps gives for each of them, whatever comes between (other logs, other values, nested data)."""
    from store.logs import LogFiles

    audit = {"operation": "KeyUnwrap", "kid": "https://v/keys/k/1", "result": "OK", "code": None, "time": "t"}
    entries = ([("audit", dict(audit)) for _ in range(3)] + [("events", {"type": "x", "data": {"a": [1]}})]
               + [("audit", dict(audit, result="Forbidden")), ("audit", dict(audit, result="Forbidden")),
                  ("audit", dict(audit, code=1)), ("audit", dict(audit, code=True)),
                  ("audit", dict(audit, message="000000009")), ("audit", dict(audit, message="000000009"))])
    ids, lines = LogFiles(str(home)).encode(entries, 7, 0)
    assert ids == [f"{i:09d}" for i in range(1, 11)]
    assert lines == [json.dumps(dict(doc, log=name, gen=7), separators=(",", ":"), sort_keys=True).encode()
                     for name, doc in entries]


def test_a_compaction_syncs_the_journal_before_it_empties_the_log(home, store, monkeypatch):
    """The commit log holds the only durable copy of its journal lines (they are copied into journal.jsonl
    without an fsync): the journal is synced before a compaction empties the log."""
    import store.tinystore as ts

    store.commit({"disks": {DISK: {"v": 1}}}, {}, log=[("audit", {"operation": "KeyCreate"})])
    order = []
    real_sync, real_write = store._logs.sync, ts._atomic_write
    monkeypatch.setattr(store._logs, "sync", lambda: (order.append("journal synced"), real_sync())[1])
    monkeypatch.setattr(ts, "_atomic_write", lambda path, payload: (
        order.append(os.path.basename(path)), real_write(path, payload))[1])
    store.commit({"disks": {DISK: {"v": 2}}}, {}, shred=True, log=[("audit", {"operation": "KeyPurge"})])
    assert db_file(home, "changes.log").read_bytes() == b""
    assert order.index("journal synced") < order.index("changes.log")
    assert [d["operation"] for d in store.read_log("audit")] == ["KeyCreate", "KeyPurge"]


def test_a_writer_lists_a_directory_for_leftovers_only_when_it_changed(home, store, monkeypatch):
    """Sweeping crash leftovers must not list the thousands of shard files of a big store on every commit: a
    directory is listed again when its time says it changed (a temporary created by a writer that died
    changes it), and always before a commit that destroys key material."""
    import store.tinystore as ts

    monkeypatch.setattr(ts, "_SETTLED_NS", -1)  # every directory time counts as settled (no clock to wait for)
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    store.commit({"disks": {DISK: {"v": 2}}}, {})
    listed = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": (listed.append(os.path.basename(path)), real_listdir(path))[1])
    store.commit({"disks": {DISK: {"v": 3}}}, {})
    assert listed == []  # nothing changed: three stats, no listing
    stale = db_file(home, ".disks.07.json.999.deadbeef.tmp")
    stale.write_bytes(b"{}")  # what a writer killed before its rename leaves
    store.commit({"disks": {DISK: {"v": 4}}}, {})
    assert listed == ["db"] and not stale.exists()
    listed.clear()
    store.commit({"disks": {DISK: {"v": 5}}}, {}, shred=True)
    assert {"home", "db", "blobs"} <= set(listed)  # before destroying key material: every directory


def _count_listings(monkeypatch) -> list[str]:
    listed: list[str] = []
    real_listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda path=".": (listed.append(os.path.basename(path)), real_listdir(path))[1])
    return listed


@pytest.mark.skipif(not locking.NATIVE, reason="the portable lock has no holder's mark: its writers sweep each time")
def test_a_writer_does_not_list_directories_after_its_own_compaction(home, store, monkeypatch):
    """A compaction renames shard files, so the directory's time is new (too new to prove, by itself, that
    nobody created a file since): the writer knows those writes are its own, and its next commits list
    nothing while nobody else takes the lock."""
    monkeypatch.setattr(tinystore_mod, "COMPACT_BYTES", 1)  # every commit compacts
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    store.commit({"disks": {DISK: {"v": 2}}}, {})
    assert time.time_ns() - os.stat(home / "db").st_mtime_ns < tinystore_mod._SETTLED_NS  # not settled
    swept = []
    real_sweep = store._sweep_leftovers
    monkeypatch.setattr(store, "_sweep_leftovers", lambda **kw: (swept.append(kw), real_sweep(**kw))[1])
    store.commit({"disks": {DISK: {"v": 3}}}, {})
    store.commit({"disks": {DISK: {"v": 4}}}, {})
    assert swept == []  # (the compaction's own re-read lists db/ for its shard files: that is not a sweep)
    assert store.load()["disks"][DISK] == {"v": 4}


def test_a_writer_sweeps_after_another_holder_even_when_directory_times_look_unchanged(home, store, monkeypatch):
    """A file system's coarse clock can leave a directory's time unchanged by a temporary that another
    writer created and then died with: what tells the writer to sweep is that someone else held the lock
    since it last did (or, on the portable lock, every time)."""
    frozen = (1, time.time_ns(), 1)  # a recent time that never moves: what the writer left looks unchanged
    monkeypatch.setattr(tinystore_mod, "_dir_sig", lambda directory: frozen)
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    store.commit({"disks": {DISK: {"v": 2}}}, {})
    other = TinyStore(home)
    other.commit({"disks": {DISK2: {"v": 1}}}, {})  # another writer held the lock...
    stale = db_file(home, ".disks.07.json.999.deadbeef.tmp")
    stale.write_bytes(b"{}")  # ...and a write of its kind died before its rename
    other.close()
    store.refresh()
    store.commit({"disks": {DISK: {"v": 3}}}, {})
    assert not stale.exists()


def test_a_hold_cut_short_by_an_error_makes_the_next_writer_sweep(home, store, monkeypatch):
    """A write of this object that an exception stopped half-way may have left its temporary: the next time
    it takes the lock it sweeps, as after a stranger."""
    frozen = (1, time.time_ns(), 1)
    monkeypatch.setattr(tinystore_mod, "_dir_sig", lambda directory: frozen)
    store.commit({"disks": {DISK: {"v": 1}}}, {})
    stale = db_file(home, ".disks.07.json.999.deadbeef.tmp")
    with pytest.raises(RuntimeError):
        with store.lock():
            stale.write_bytes(b"{}")  # as a shard write that stopped before its rename
            raise RuntimeError("cut short")
    listed = _count_listings(monkeypatch)
    store.commit({"disks": {DISK: {"v": 2}}}, {})
    assert "db" in listed and not stale.exists()


# -- a damaged journal ------------------------------------------------------------------------------------


def test_a_damaged_journal_tail_is_set_aside_and_nothing_committed_is_lost(tmp_path, capsys):
    from console.session import open_engine

    home = tmp_path / "home"
    e = open_engine(home)
    e.create_group("rg", "eastus")
    e.create_vault("kv1", "rg")
    e.create_key("kv1", "k1", size=2048)
    before = [a.operation for a in e.t["audit"].values()]
    e.store.close()
    with open(home / "journal.jsonl", "ab") as f:
        f.write(b"garbage\x00\xff\n")
    e = open_engine(home)  # the damaged line does not brick the store
    assert [a.operation for a in e.t["audit"].values()] == before
    e.get_key("kv1", "k1")  # appends a KeyGet audit line after the damaged tail
    e.store.close()
    assert "set aside" in capsys.readouterr().err
    assert (home / "journal.jsonl.damaged").read_bytes() == b"garbage\x00\xff\n"
    e = open_engine(home)
    assert [a.operation for a in e.t["audit"].values()] == before + ["KeyGet"]
    e.store.close()


# -- waiting for the lock ---------------------------------------------------------------------------------


def test_a_writer_waiting_for_the_lock_says_so_and_gives_up_with_a_clear_error(home, monkeypatch, capsys):
    import store.locking as locking

    monkeypatch.setattr(locking, "NOTICE_AFTER", 0.05)
    monkeypatch.setenv("CMKLAB_LOCK_TIMEOUT", "0.3")
    a, b = TinyStore(home), TinyStore(home)
    try:
        with a.lock():
            with pytest.raises(StoreError) as info:
                b.commit({"disks": {DISK: {}}}, {})
        assert info.value.code == "StoreLocked" and b.lock_path in info.value.message
        assert "gave up after 0.3 s" in info.value.message and "nothing was changed" in info.value.message
        assert "waiting for another cmklab process" in capsys.readouterr().err
        b.commit({"disks": {DISK: {}}}, {})  # once the lock is free, the same commit goes through
        assert b.load() == {"disks": {DISK: {}}}
    finally:
        a.close()
        b.close()


def test_a_bad_lock_timeout_is_named(home, monkeypatch):
    monkeypatch.setenv("CMKLAB_LOCK_TIMEOUT", "soon")
    with TinyStore(home) as s, pytest.raises(StoreError, match="CMKLAB_LOCK_TIMEOUT='soon'"):
        s.commit({"disks": {DISK: {}}}, {})


# -- reading one document -----------------------------------------------------------------------------------


def test_a_document_is_read_alone_through_its_shard_index(home, store, monkeypatch):
    store.commit({"disks": {f"/disks/{i}": {"i": i, "pad": "x" * 100} for i in range(3000)}}, {})
    store._compact()
    store.commit({"disks": {"/disks/5": {"i": -5}}}, {"disks": ["/disks/6"]})  # still in the log
    with TinyStore(home) as reader:
        monkeypatch.setattr(TinyStore, "_read_shard_file", lambda *a: pytest.fail("parsed a whole shard"))
        assert reader.load_doc("disks", "/disks/7") == {"i": 7, "pad": "x" * 100}
        assert reader.load_doc("disks", "/disks/5") == {"i": -5}  # the log's version wins
        assert reader.load_doc("disks", "/disks/6") is None and reader.load_doc("disks", "/nope") is None
        assert reader.load_doc("vaults", "/v") is None


def test_an_index_that_does_not_match_its_shard_is_not_used(home, store):
    store.commit({"disks": {f"/disks/{i}": {"i": i} for i in range(300)}}, {})
    store._compact()
    shard = home / "db" / f"disks.{shard_of('/disks/7'):02d}.json"
    data = json.loads(shard.read_bytes())
    data["disks"]["/disks/7"] = {"i": 7, "longer": "value shifts every offset after it"}
    shard.write_bytes(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())  # as a crash would leave
    with TinyStore(home) as reader:
        assert reader.load_doc("disks", "/disks/7") == {"i": 7, "longer": "value shifts every offset after it"}
        assert all(reader.load_doc("disks", f"/disks/{i}") == {"i": i} for i in range(300) if i != 7)
    with TinyStore(home) as reader:  # read together, the same: the shard is parsed whole
        keys = [f"/disks/{i}" for i in range(300)]
        assert reader.load_docs("disks", keys) == {k: {"i": i} if i != 7 else {
            "i": 7, "longer": "value shifts every offset after it"} for i, k in enumerate(keys)}


def test_documents_are_read_together_one_pass_per_shard(home, store, monkeypatch):
    store.commit({"disks": {f"/disks/{i}": {"i": i, "pad": "x" * 100} for i in range(3000)}}, {})
    store._compact()
    store.commit({"disks": {"/disks/5": {"i": -5}}}, {"disks": ["/disks/6"]})  # still in the log
    keys = [f"/disks/{i}" for i in range(0, 3000, 7)] + ["/disks/5", "/disks/6", "/nope", "/disks/14"]
    with TinyStore(home) as reader:
        expected = {k: reader.load_doc("disks", k) for k in keys}
    assert expected["/disks/5"] == {"i": -5} and expected["/disks/6"] is None and expected["/nope"] is None
    with TinyStore(home) as reader:
        monkeypatch.setattr(TinyStore, "_read_shard_file", lambda *a: pytest.fail("parsed a whole shard"))
        passes = []
        real_spans = TinyStore._read_spans
        monkeypatch.setattr(TinyStore, "_read_spans", lambda self, table, shard, spans: (
            passes.append(shard), real_spans(self, table, shard, spans))[1])
        got = reader.load_docs("disks", keys)
        assert got == expected
        # one pass over each shard file that holds wanted documents (the log's are not read from files)
        assert sorted(passes) == sorted({shard_of(k) for k in keys if k not in ("/disks/5", "/disks/6", "/nope")})
        assert reader.load_docs("vaults", ["/v"]) == {"/v": None}
        got["/disks/7"]["i"] = 99  # copies the caller owns
        assert reader.load_docs("disks", ["/disks/7"]) == {"/disks/7": {"i": 7, "pad": "x" * 100}}


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_note_is_private_and_replaced_atomically(home):
    from store.notes import note_path, read_note, write_note

    old = os.umask(0)
    try:
        write_note(home, "console-log", {"lines": ["az group list"]})
        write_note(home, "console-log", {"lines": ["az group list", "az disk list"]})
    finally:
        os.umask(old)
    assert read_note(home, "console-log") == {"lines": ["az group list", "az disk list"]}
    assert mode(note_path(home, "console-log")) == 0o600 and mode(home / "db") == 0o700
    assert [p.name for p in (home / "db").iterdir()] == [".console-log.json"]  # no temporary left

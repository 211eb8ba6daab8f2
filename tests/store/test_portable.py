"""store._compat: ``CMKLAB_PORTABLE=1`` really takes the portable paths, and they behave like the native ones.

CI runs tests/store and tests/engine a second time with ``CMKLAB_PORTABLE=1`` (``.ci/run``); the tests
here check, in child processes, that the switch is what decides which path the store takes, and the
fallbacks one by one in this process (whatever the mode of the run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from store import AtomicJSONStorage, FileBlobStore, _compat
from store import storage as storage_mod

REPO = Path(__file__).resolve().parents[2]

# Counts the POSIX-only calls the store makes (native facilities), then runs a store through commits, a
# compaction, the journal and blobs (sparse writes, a mapped read, a copy), and reports what it saw.
PROBE = r"""
import json, mmap, os, sys

calls = {"os.pread": 0, "os.pwrite": 0, "os.pwritev": 0, "mmap.mmap": 0, "O_DIRECTORY": 0, "O_CLOEXEC": 0,
         "SEEK_DATA": 0, "sync_file_range": 0, "O_DIRECT": 0}

def counting(name, real):
    def call(*args, **kwargs):
        calls[name] += 1
        return real(*args, **kwargs)
    return call

for name in ("pread", "pwrite", "pwritev"):
    if hasattr(os, name):
        setattr(os, name, counting("os." + name, getattr(os, name)))
mmap.mmap = counting("mmap.mmap", mmap.mmap)
real_open, real_lseek = os.open, os.lseek

def store_open(path, flags, *args, **kwargs):
    if sys._getframe(1).f_globals.get("__name__", "").startswith("store."):
        calls["O_DIRECTORY"] += bool(flags & getattr(os, "O_DIRECTORY", 0))
        calls["O_CLOEXEC"] += bool(flags & getattr(os, "O_CLOEXEC", 0))
        calls["O_DIRECT"] += bool(flags & getattr(os, "O_DIRECT", 0))
    return real_open(path, flags, *args, **kwargs)

def store_lseek(fd, pos, how):
    calls["SEEK_DATA"] += how in (getattr(os, "SEEK_DATA", None), getattr(os, "SEEK_HOLE", None))
    return real_lseek(fd, pos, how)

os.open, os.lseek = store_open, store_lseek

from store import TinyStore, _compat

real_loader = _compat._libc_sync_file_range
_compat._libc_sync_file_range = lambda: counting("sync_file_range", real_loader())
home = sys.argv[1]
with TinyStore(home) as s:
    s.append_log([("audit", {"op": "KeyCreate"})], gen=1)
    s.commit({"disks": {"/d1": {"v": 1}}}, {})
    s.append_log([("events", {"kind": "DiskCreated"})], gen=2)
    s.commit({"disks": {"/d1": {"v": 2}, "/d2": {"v": 1}}}, {})
    s._compact()
    s.commit({}, {"disks": ["/d2"]})
    s.blobs.write("b", 0, b"head")
    s.blobs.writev("b", 3 << 20, [b"tail", bytearray(b"-"), memoryview(b"end")])
    view = s.blobs.read_view("b", 0, 2 << 20)
    mapped = s.blobs.map("b", (3 << 20) - 2, 100)
    s.blobs.writev("big", 0, [bytes(1 << 20)] * 9)  # past the writeback step: a writeback is started
    s.blobs.copy("b", "c")
with TinyStore(home + "-bulk") as b:  # a bulk commit (an import's): its shards written straight to the device
    b.bulk_commit({"vms": {f"/v{i}": {"n": i, "pad": "x" * (i * 97)} for i in range(300)}}, {})
with TinyStore(home + "-bulk") as b:
    bulk = b.load_doc("vms", "/v299") == {"n": 299, "pad": "x" * (299 * 97)} and len(b.load()["vms"]) == 300
with TinyStore(home) as t:
    c = t.blobs.read("c", (3 << 20) - 1, 10)
    report = {
        "portable": _compat.PORTABLE,
        "fallbacks": sorted(_compat.FALLBACKS),
        "calls": calls,
        "state": t.load(),
        "generation": t.generation,
        "audit": [d["op"] for d in t.read_log("audit")],
        "events": [d["kind"] for d in t.read_log("events")],
        "view": [bytes(view[:5]).hex(), len(view), bytes(view[4:]).count(0) == len(view) - 4],
        "copy": c.hex(),
        "mapped": None if mapped is None else bytes(mapped).hex(),
        "big": os.path.getsize(t.blobs.filename("big")),
        "size": os.path.getsize(t.blobs.filename("c")),
        "extents_end": sum(t.blobs.extents("c")[-1]),
        "bulk": bulk,
    }
print(json.dumps(report))
"""

ALL_FALLBACKS = ["O_CLOEXEC", "REPLACE_WHILE_OPEN", "SEEK_DATA", "datasync", "fork", "fsync_dir", "map_readonly", "pread",
                 "pwrite", "pwritev", "start_writeback", "write_direct"]


def run_probe(tmp_path, portable: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CMKLAB_PORTABLE"}
    env["PYTHONPATH"] = str(REPO)
    if portable:
        env["CMKLAB_PORTABLE"] = "1"
    out = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "home")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def check_round_trip(report: dict) -> None:
    assert report["state"] == {"disks": {"/d1": {"v": 2}}} and report["generation"] == 3
    assert report["audit"] == ["KeyCreate"] and report["events"] == ["DiskCreated"]
    assert report["view"] == [b"head\0".hex(), 2 << 20, True]
    assert report["copy"] == (b"\0tail-end\0").hex()
    assert report["size"] == (3 << 20) + 8 and report["extents_end"] == (3 << 20) + 8
    assert report["big"] == 9 << 20
    assert report["bulk"] is True


def test_cmklab_portable_takes_every_fallback(tmp_path):
    report = run_probe(tmp_path, portable=True)
    assert report["portable"] is True
    assert report["fallbacks"] == ALL_FALLBACKS
    # not one POSIX-only call was made by the store, and everything still works
    assert report["calls"] == {name: 0 for name in report["calls"]}, report["calls"]
    assert report["mapped"] is None  # no map: the engine reads a chunk at a time
    check_round_trip(report)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux has every native facility")
def test_without_the_switch_linux_takes_the_native_paths(tmp_path):
    report = run_probe(tmp_path, portable=False)
    assert report["portable"] is False and report["fallbacks"] == []
    assert all(count > 0 for count in report["calls"].values()), report["calls"]
    assert report["mapped"] == (b"\0\0tail-end").hex()  # the window inside the file, not past its end
    check_round_trip(report)


@pytest.mark.parametrize("value, portable", [("", False), ("0", False), ("1", True), ("yes", True)])
def test_the_switch_is_read_from_the_environment(value, portable):
    env = {k: v for k, v in os.environ.items() if k != "CMKLAB_PORTABLE"}
    env.update(PYTHONPATH=str(REPO), CMKLAB_PORTABLE=value)
    out = subprocess.run([sys.executable, "-c", "from store import _compat; print(_compat.PORTABLE)"], cwd=REPO,
                         env=env, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == str(portable)


# -- the fallbacks, one by one (in this process, whatever the mode of the run) ----------------------------------


@pytest.fixture
def fd(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT | _compat.O_CLOEXEC, 0o600)
    os.write(fd, b"0123456789")
    yield fd
    os.close(fd)


@pytest.fixture
def fallbacks(monkeypatch):
    for flag in ("_NATIVE_PREAD", "_NATIVE_PWRITE", "_NATIVE_PWRITEV", "_NATIVE_MMAP", "_NATIVE_FSYNC_DIR",
                 "_NATIVE_WRITEBACK", "_NATIVE_DATASYNC"):
        monkeypatch.setattr(_compat, flag, False)


def test_positional_fallbacks_read_and_write_in_place_and_keep_the_file_offset(fd, fallbacks):
    os.lseek(fd, 3, os.SEEK_SET)
    assert _compat.pread(fd, 4, 5) == b"5678"
    assert _compat.pread(fd, 100, 8) == b"89" and _compat.pread(fd, 4, 50) == b""
    assert _compat.pwrite(fd, b"AB", 12) == 2  # past the end: the gap reads as zeros
    assert _compat.pwritev(fd, [b"x", bytearray(b"yz"), memoryview(b"w")], 1) == 4
    assert os.lseek(fd, 0, os.SEEK_CUR) == 3  # as pread/pwrite: the offset never moved
    assert _compat.pread(fd, 20, 0) == b"0xyzw56789\0\0AB"
    assert os.read(fd, 2) == b"zw"  # reading on from the offset the caller had


def test_the_pwritev_fallback_reports_a_short_write_and_the_blob_store_finishes_it(tmp_path, fallbacks,
                                                                                    monkeypatch):
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(memoryview(data)[:3])))
    blobs = FileBlobStore(tmp_path / "blobs")
    blobs.writev("b", 5, [b"hello", b"", bytearray(b"world")])
    monkeypatch.undo()
    assert blobs.raw("b") == bytes(5) + b"helloworld"


def test_the_positional_fallbacks_are_safe_on_a_descriptor_shared_by_threads(fd, fallbacks):
    _compat.pwrite(fd, bytes(range(256)) * 16, 0)
    errors = []

    def reader(start: int) -> None:
        for i in range(2000):
            offset = (start * 37 + i * 11) % 4000
            got = _compat.pread(fd, 8, offset)
            if got != bytes((offset + k) % 256 for k in range(8)):
                errors.append((offset, got))

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(6)]
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns between almost any two steps (without the lock: errors)
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(switch)
    assert errors == []


def test_the_read_only_map_fallback_reads_the_bytes(fd, fallbacks, tmp_path):
    view = _compat.map_readonly(fd, 2, 5)
    assert isinstance(view, bytes) and view == b"23456"
    assert not _compat.maps()
    blobs = FileBlobStore(tmp_path / "blobs")
    blobs.write("b", 0, b"stored")
    assert blobs.map("b", 0, 6) is None and blobs.read("b", 0, 6) == b"stored"  # the caller reads instead


@pytest.mark.skipif(os.name != "posix" or _compat.PORTABLE, reason="memory maps are used natively on POSIX")
def test_the_read_only_map_is_a_read_only_memory_view(fd):
    view = _compat.map_readonly(fd, 2, 5)
    assert isinstance(view, memoryview) and view.readonly and bytes(view) == b"23456"


def test_the_writeback_fallback_leaves_all_the_writing_to_the_fsync(tmp_path, fallbacks, monkeypatch):
    loaded = []
    monkeypatch.setattr(_compat, "_libc_sync_file_range", lambda: loaded.append(1))
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    blobs = FileBlobStore(tmp_path / "blobs")
    blobs.writev("b", 0, [bytes([n]) * (1 << 20) for n in range(9)])
    assert loaded == [] and len(synced) == 1  # no sync_file_range looked up; the write is synced (fsync: no
    # fdatasync on the portable path)
    assert blobs.read("b", 8 << 20, 2) == b"\x08\x08" and os.path.getsize(blobs.filename("b")) == 9 << 20


@pytest.mark.skipif(not sys.platform.startswith("linux") or _compat.PORTABLE, reason="sync_file_range is Linux's")
def test_start_writeback_calls_sync_file_range_and_ignores_its_refusal(tmp_path):
    fn = _compat._libc_sync_file_range()
    assert fn is not None
    with open(tmp_path / "f", "wb") as f:
        f.write(b"x" * 8192)
        f.flush()
        _compat.start_writeback(f.fileno(), 0, 8192)
        assert fn(f.fileno(), 0, 8192, _compat.SYNC_FILE_RANGE_WRITE) == 0
    r, w = os.pipe()
    try:
        assert fn(r, 0, 1, _compat.SYNC_FILE_RANGE_WRITE) == -1  # not a file: the call says no ...
        _compat.start_writeback(r, 0, 1)  # ... and the hint passes over it
    finally:
        os.close(r)
        os.close(w)


def test_fsync_dir_is_a_no_op_where_directories_cannot_be_synced(tmp_path, fallbacks, monkeypatch):
    opened = []
    monkeypatch.setattr(os, "open", lambda *args, **kwargs: opened.append(args))
    _compat.fsync_dir(str(tmp_path))
    assert opened == []


@pytest.mark.skipif("fsync_dir" in _compat.FALLBACKS, reason="directories are synced natively")
def test_fsync_dir_syncs_the_directory_natively(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.fstat(fd).st_ino), real_fsync(fd))[1])
    _compat.fsync_dir(str(tmp_path))
    assert synced == [os.stat(tmp_path).st_ino]
    with pytest.raises(FileNotFoundError):
        _compat.fsync_dir(str(tmp_path / "missing"))


def windows_replace(monkeypatch) -> None:
    """``os.replace`` as on Windows: refused while this process holds the destination open (Linux's /proc)."""
    real_replace = os.replace

    def replace(src, dst):
        target = os.path.realpath(dst)
        for fd in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{fd}") == target:
                    raise PermissionError(13, "The process cannot access the file because it is being used "
                                              "by another process", dst)
            except FileNotFoundError:
                pass
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd to see open files")
def test_where_open_files_cannot_be_replaced_the_storage_holds_none(tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    path.write_bytes(b'{"t": {"1": {"v": 1}}}')
    monkeypatch.setattr(storage_mod, "REPLACE_WHILE_OPEN", False)
    windows_replace(monkeypatch)
    storage = AtomicJSONStorage(path)
    storage.write({"t": {"1": {"v": 2}}})
    storage.flush()  # read, then replaced: nothing of the file was kept open
    storage.write({"t": {"1": {"v": 3}}})
    storage.flush()
    assert not storage.changed_on_disk() and json.loads(path.read_bytes()) == {"t": {"1": {"v": 3}}}
    path.write_bytes(b'{"t": {}}')  # another writer: still seen
    assert storage.changed_on_disk()
    storage.close()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd") or not _compat.REPLACE_WHILE_OPEN,
                    reason="POSIX keeps the version it read open")
def test_where_open_files_can_be_replaced_the_storage_holds_what_it_read(tmp_path, monkeypatch):
    path = tmp_path / "t.json"
    path.write_bytes(b'{"t": {}}')
    windows_replace(monkeypatch)
    storage = AtomicJSONStorage(path)
    storage.write({"t": {"1": {}}})
    with pytest.raises(PermissionError):  # (so the test above can tell the difference)
        storage.flush()
    storage.close()


def test_new_blob_files_are_made_sparse_once(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(_compat, "make_sparse", lambda fd: asked.append(os.fstat(fd).st_ino) or True)
    blobs = FileBlobStore(tmp_path / "blobs")
    blobs.write("b", 1 << 20, b"x")
    blobs.write("b", 0, b"y")  # an existing file: asked once, when it was created
    assert asked == [os.stat(blobs.filename("b")).st_ino]
    blobs.copy("b", "c")  # the copy's new file too
    assert asked[1:] == [os.stat(blobs.filename("c")).st_ino]
    monkeypatch.undo()
    fd = os.open(blobs.filename("c"), os.O_RDONLY | _compat.O_CLOEXEC)
    try:
        assert _compat.make_sparse(fd) is True or os.name == "nt"  # off Windows: nothing to ask
    finally:
        os.close(fd)


@pytest.mark.skipif(not hasattr(os, "fdatasync") or _compat.PORTABLE, reason="fdatasync is native here only")
def test_a_blob_write_is_made_durable_by_one_fdatasync_where_there_is_one(tmp_path, monkeypatch):
    synced = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync", lambda fd: (synced.append(fd), real(fd))[1])
    blobs = FileBlobStore(tmp_path / "blobs")
    blobs.writev("b", 0, [b"x" * 4096, b"y" * 4096])
    blobs.write("b", 4096, b"z" * 10)  # an overwrite inside the file: the same one call
    assert len(synced) == 2 and blobs.read("b", 4090, 12) == b"xxxxxxzzzzzz"


@pytest.mark.skipif(not sys.platform.startswith("linux") or _compat.PORTABLE, reason="direct writes: Linux")
def test_a_direct_write_holds_exactly_its_parts(tmp_path):
    """A bulk commit's shard goes straight to the device (O_DIRECT) from a reused aligned buffer, the tail past
    the last whole block through the cache: whatever the length, the file holds exactly its parts."""
    for n in (0, 1, 4095, 4096, 4097, 3 * 4096 + 17, (5 << 20) + 3):
        path = tmp_path / f"f{n}"
        head = bytes(range(256)) * (n // 256 + 1)
        parts = (b"{", head[:n], b"}")
        if not _compat.write_direct(str(path), parts):
            pytest.skip("this file system refuses direct writes")
        assert path.read_bytes() == b"".join(parts) and path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):  # a new file only, as the staging directory's files are
        _compat.write_direct(str(tmp_path / "f1"), (b"x",))


@pytest.mark.skipif(not os.path.isdir("/dev/shm") or _compat.PORTABLE, reason="a tmpfs to refuse direct writes")
def test_a_file_system_without_direct_writes_leaves_the_write_to_the_caller():
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
        path = os.path.join(d, "f")
        if _compat.write_direct(path, (b"abc",)):  # (a tmpfs that takes them: nothing to check)
            assert open(path, "rb").read() == b"abc"
        else:
            assert not os.path.exists(path)

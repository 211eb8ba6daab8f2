"""The store's bulk commit (``TinyStore.bulk_commit``, what ``cmklab import`` lands with): the new state's files
written once beside the home and swapped in by two renames. It lands whole or not at all, survives a kill at
any point of the swap, and leaves no copy of the old state (sealed key material included) behind."""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.errors import ReadOnly, StoreError
from store import TinyStore, state_files
from store import tinystore as tinystore_mod
from store.tinystore import BULK_PREFIX, OLD_PREFIX, SHARDS

REPO = Path(__file__).resolve().parents[2]


def disk(i: int) -> tuple[str, dict]:
    key = f"/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/disks/d{i:05d}"
    return key, {"id": key, "name": f"d{i:05d}", "sealed": f"secret-{i}", "layers": [{"kid": "k", "n": i}]}


def leftovers(home: Path) -> list[str]:
    return sorted(n for n in os.listdir(home) if n.startswith((BULK_PREFIX, OLD_PREFIX)))


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


def seeded(home: Path, n: int = 200) -> TinyStore:
    """A store with documents in shard files and in the change log (not compacted yet)."""
    s = TinyStore(home)
    s.commit({"disks": dict(disk(i) for i in range(n))}, {})
    s._compact()
    s.commit({"disks": dict([disk(n)]), "vaults": {"v1": {"id": "v1", "name": "v1"}}}, {})
    assert os.path.getsize(home / "db" / "changes.log") > 0
    return s


def test_bulk_commit_into_a_new_home_equals_the_same_documents_committed_one_by_one(tmp_path):
    docs = dict(disk(i) for i in range(500))
    bulk = TinyStore(tmp_path / "bulk")
    bulk.bulk_commit({"disks": docs, "vaults": {"v1": {"id": "v1"}}}, {})
    plain = TinyStore(tmp_path / "plain")
    plain.commit({"disks": docs, "vaults": {"v1": {"id": "v1"}}}, {})
    plain._compact()
    assert bulk.generation == plain.generation == 1
    assert bulk.load() == plain.load()
    # the same bytes as a compaction writes: shards, their order, meta.json and an empty log
    assert state_files(tmp_path / "bulk") == state_files(tmp_path / "plain")
    assert leftovers(tmp_path / "bulk") == []
    again = TinyStore(tmp_path / "bulk")  # another process sees it, reading one document through the index
    assert again.load_doc("disks", disk(7)[0]) == disk(7)[1]
    for s in (bulk, plain, again):
        s.close()


def test_bulk_commit_merges_with_shards_and_log_and_links_what_it_leaves_alone(home):
    s = seeded(home)
    untouched = {n for n in os.listdir(home / "db") if n.startswith("vaults.")}
    inode = {n: os.stat(home / "db" / n).st_ino for n in untouched}
    gone, kept = disk(3)[0], disk(4)[0]
    new = dict(disk(i) for i in range(1000, 1100))
    s.bulk_commit({"disks": dict(new, **{kept: dict(disk(4)[1], name="renamed")})}, {"disks": [gone]})
    assert s.generation == 3
    docs = s.load()["disks"]
    assert gone not in docs and docs[kept]["name"] == "renamed" and disk(200)[0] in docs  # the log folded in
    assert set(new) <= set(docs) and len(docs) == 201 - 1 + 100
    assert os.path.getsize(home / "db" / "changes.log") == 0
    assert {n: os.stat(home / "db" / n).st_ino for n in untouched} == inode  # hard links: not rewritten
    other = TinyStore(home)
    assert other.load() == s.load()
    other.close()
    s.close()


def test_a_bulk_commit_on_a_stale_view_or_a_read_only_home_is_refused_and_changes_nothing(home):
    s = seeded(home)
    other = TinyStore(home)
    other.commit({"vaults": {"v2": {"id": "v2"}}}, {})
    before = state_files(home)
    with pytest.raises(StoreError, match="changed by another process"):
        s.bulk_commit({"disks": dict([disk(9999)])}, {})
    assert state_files(home) == before and leftovers(home) == []
    other.close()
    s.close()
    reader = TinyStore(home, read_only=True)  # a store opened read-only refuses an import like any commit
    with pytest.raises(ReadOnly, match="an import was refused"):
        reader.bulk_commit({"disks": dict([disk(9999)])}, {})
    assert state_files(home) == before and leftovers(home) == []
    reader.close()


def test_a_failed_bulk_write_leaves_the_old_state_and_no_staging_directory(home, monkeypatch):
    s = seeded(home)
    before = state_files(home)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tinystore_mod, "_write_new", full_disk)  # (the shards' writes are on a second thread)
    with pytest.raises(StoreError, match="No space left on device.*nothing was committed"):
        s.bulk_commit({"disks": dict(disk(i) for i in range(5000, 5010))}, {})
    assert state_files(home) == before and leftovers(home) == []
    monkeypatch.undo()
    s.refresh()
    s.bulk_commit({"disks": dict([disk(5000)])}, {})  # and the store goes on
    assert disk(5000)[0] in s.load()["disks"]
    s.close()


class Late:
    """Values still being computed when the commit serialises (``bulk_commit(late=...)``): the documents hold
    ``<<i>>`` placeholders, shorter than their values (``padded``: as long)."""

    def __init__(self, values: list[str], fail: BaseException | None = None, padded: bool = False) -> None:
        self.tables = {"disks"}
        self.values, self.fail, self.waited, self.padded = values, fail, 0, padded

    def holder(self, i: int) -> str:
        text = f"<<{i:04d}>>"
        return text + "~" * (len(self.values[i]) - len(text)) if self.padded else text

    def wait(self) -> None:
        self.waited += 1
        if self.fail is not None:
            raise self.fail

    def fill(self, buf: bytearray) -> tuple[bytes, list[tuple[int, int]]]:
        assert self.waited, "filled before waiting"
        parts, moves, pos = [], [], 0
        at = buf.find(b"<<")
        while at >= 0:
            i = int(buf[at + 2:at + 6])
            value = self.values[i].encode()
            n = len(self.holder(i))
            parts += (bytes(buf[pos:at]), value)
            moves.append((at, len(value) - n))
            pos = at + n
            at = buf.find(b"<<", pos)
        parts.append(bytes(buf[pos:]))
        return b"".join(parts), moves


@pytest.mark.parametrize("padded", [False, True], ids=["short placeholders", "placeholders as long"])
def test_late_values_are_filled_in_and_the_files_are_those_of_the_final_documents(tmp_path, padded):
    """The shards of documents holding placeholders, filled in once the values are known, are the files of the
    final documents: the same bytes, tags and indexes (moved by the values' growth), read back through them."""
    values = [f"wrapped-{i}-" + "x" * (20 + i % 7) for i in range(300)]
    late = Late(values, padded=padded)
    held = {k: dict(d, layers=[{"kid": "k", "wrapped": late.holder(i)}]) for i, (k, d) in
            enumerate(disk(i) for i in range(300))}
    final = {k: dict(d, layers=[{"kid": "k", "wrapped": values[i]}]) for i, (k, d) in
             enumerate(disk(i) for i in range(300))}
    a, b = TinyStore(tmp_path / "late"), TinyStore(tmp_path / "final")
    a.bulk_commit({"disks": held, "vaults": {"v1": {"id": "v1"}}}, {}, late=late)
    b.bulk_commit({"disks": final, "vaults": {"v1": {"id": "v1"}}}, {})
    assert late.waited == 1
    assert state_files(tmp_path / "late") == state_files(tmp_path / "final")  # shards, tags and indexes
    again = TinyStore(tmp_path / "late")
    for key in (disk(0)[0], disk(7)[0], disk(299)[0]):
        assert again.load_doc("disks", key) == final[key]  # read through the index: the offsets hold
    for s in (a, b, again):
        s.close()


def test_late_values_that_fail_abort_the_bulk_commit_and_nothing_is_written(home):
    s = seeded(home)
    before = state_files(home)
    late = Late(["v" * 20], fail=RuntimeError("the worker died"))
    with pytest.raises(RuntimeError, match="the worker died"):
        s.bulk_commit({"disks": {"/d/new": {"id": "/d/new", "w": late.holder(0)}}, "vaults": {"v9": {"id": "v9"}}},
                      {}, late=late)
    assert state_files(home) == before and leftovers(home) == []
    late = Late([], fail=RuntimeError("waited for even when its tables have nothing to write"))
    with pytest.raises(RuntimeError, match="waited for even"):
        s.bulk_commit({"vaults": {"v9": {"id": "v9"}}}, {}, late=late)
    assert state_files(home) == before and leftovers(home) == []
    s.close()


KILL = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from store import tinystore
from store.tinystore import TinyStore
home, where = sys.argv[2], sys.argv[3]
real = os.replace
calls = []

def replace(a, b):
    calls.append((a, b))
    if where == "staged" and len(calls) == 1:
        os._exit(9)  # killed before the first rename: the new state is written, nothing swapped
    real(a, b)
    if where == "between" and len(calls) == 1:
        os._exit(9)  # killed between the renames: no db, the old one set aside
    if where == "after" and len(calls) == 2:
        os._exit(9)  # killed after the commit point, before the old directory is removed

tinystore.os.replace = replace
s = TinyStore(home)
s.bulk_commit({"disks": {f"/d/new{i}": {"id": f"/d/new{i}", "sealed": "new-secret"} for i in range(300)}}, {})
os._exit(0)
"""


@pytest.mark.parametrize("where,landed", [("staged", False), ("between", False), ("after", True)])
def test_a_bulk_commit_killed_anywhere_in_the_swap_lands_whole_or_not_at_all(home, where, landed):
    s = seeded(home)
    old = s.load()
    s.close()
    proc = subprocess.run([sys.executable, "-c", KILL, str(REPO), str(home), where], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert leftovers(home), "the kill left the bulk commit's directories"
    if where == "between":
        assert not (home / "db").exists()
    reopened = TinyStore(home)  # an open puts a cut swap back before anything is read
    docs = reopened.load()
    if landed:
        assert set(docs["disks"]) == set(old["disks"]) | {f"/d/new{i}" for i in range(300)}
        assert reopened.generation == 3
    else:
        assert docs == old and reopened.generation == 2
    # the next writer sweeps what is left: no staging or replaced directory (they hold sealed material)
    reopened.commit({"vaults": {"v9": {"id": "v9"}}}, {})
    assert leftovers(home) == []
    for root, _dirs, files in os.walk(home):
        for name in files:
            data = Path(root, name).read_bytes()
            if not landed:
                assert b"new-secret" not in data, os.path.join(root, name)
    assert len([n for n in os.listdir(home / "db") if n.startswith("disks.")]) <= 2 * SHARDS
    reopened.close()


forks = pytest.mark.skipif(not tinystore_mod._compat.can_fork(), reason="the system does not fork (or portable paths)")


def counted_writers(monkeypatch) -> list[int]:
    """Lower the threshold of the two-process write and count the forked writers (their shards' documents)."""
    started: list[int] = []
    real = tinystore_mod._ShardWriter

    class Counted(real):
        def __init__(self, jobs):
            started.append(sum(len(docs) for _dst, _table, docs in jobs))
            super().__init__(jobs)

    monkeypatch.setattr(tinystore_mod, "FORK_MIN_DOCS", 100)
    monkeypatch.setattr(tinystore_mod, "_ShardWriter", Counted)
    return started


@forks
def test_a_large_bulk_commit_written_by_two_processes_gives_the_same_files_as_one(tmp_path, monkeypatch):
    docs = dict(disk(i) for i in range(600))
    one = TinyStore(tmp_path / "one")
    one.bulk_commit({"disks": docs, "vaults": {"v1": {"id": "v1"}}}, {})  # under the threshold: one process
    started = counted_writers(monkeypatch)
    two = TinyStore(tmp_path / "two")
    two.bulk_commit({"disks": docs, "vaults": {"v1": {"id": "v1"}}}, {})
    assert len(started) == 1 and 0 < started[0] < 601  # about half of the documents went to the other process
    assert state_files(tmp_path / "two") == state_files(tmp_path / "one")
    # with late values (an import's wraps, computed in another process meanwhile): one process writes them all
    values = [f"wrapped-{i}-" + "x" * (20 + i % 7) for i in range(300)]
    late = Late(values)
    held = {k: dict(d, layers=[{"kid": "k", "wrapped": late.holder(i)}]) for i, (k, d) in
            enumerate(disk(i) for i in range(300))}
    final = {k: dict(d, layers=[{"kid": "k", "wrapped": values[i]}]) for i, (k, d) in
             enumerate(disk(i) for i in range(300))}
    index = {f"/x/{i}": {"id": f"/x/{i}", "vm": f"/vm/{i % 7}"} for i in range(200)}
    a, b = TinyStore(tmp_path / "late"), TinyStore(tmp_path / "final")
    a.bulk_commit({"disks": held, "vm_of_disk": index}, {}, late=late)
    assert len(started) == 1
    b.bulk_commit({"disks": final, "vm_of_disk": index}, {})
    assert len(started) == 2
    assert state_files(tmp_path / "late") == state_files(tmp_path / "final")
    again = TinyStore(tmp_path / "late")
    assert again.load_doc("vm_of_disk", "/x/9") == index["/x/9"]
    assert again.load_doc("disks", disk(7)[0]) == final[disk(7)[0]]
    for s in (one, two, a, b, again):
        s.close()


@forks
def test_what_the_forked_writer_raises_aborts_the_bulk_commit_and_nothing_is_written(home, monkeypatch):
    s = seeded(home)
    before = state_files(home)
    started = counted_writers(monkeypatch)
    docs = dict(disk(i) for i in range(1000, 1600))
    bad = {f"/x/{i}": {"id": f"/x/{i}", "n": object() if i == 150 else i} for i in range(300)}
    with pytest.raises(TypeError, match="not JSON-serialisable"):  # what the encoder says, raised in the child
        s.bulk_commit({"acl": bad, "disks": docs}, {})  # (the first table's shards go to the other process)
    assert len(started) == 1 and started[0] >= 300
    assert state_files(home) == before and leftovers(home) == []

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tinystore_mod, "_write_new", full_disk)  # (the child's too: it forks with this module)
    with pytest.raises(StoreError, match="No space left on device.*nothing was committed"):
        s.bulk_commit({"disks": docs}, {})
    assert len(started) == 2
    assert state_files(home) == before and leftovers(home) == []
    monkeypatch.undo()
    s.refresh()
    s.bulk_commit({"disks": docs}, {})  # and the store goes on
    assert set(docs) <= set(s.load()["disks"])
    s.close()


def test_a_bulk_commit_encodes_each_document_as_a_commit_does(tmp_path):
    """A bulk commit encodes its documents with orjson (five times faster; a shard in one call) where that gives
    the standard encoder's bytes, and with the standard encoder elsewhere: text outside ASCII, escapes, large integers and
    nesting come out as a commit writes them; a float holds the same value."""
    docs = {f"/d/{i}": {"name": name, "n": n, "tags": {"b": "x", "a": name}, "on": i % 2 == 0, "none": None,
                        "list": [n, [name], {}], "z": {"y": {"x": [1, 2]}}}
            for i, (name, n) in enumerate([("plain", 1), ("caf\u00e9 \u2028 \U0001f511", -2), ('quote " back \\ nl \n', 0),
                                           ("big", 2 ** 70), ("neg big", -(2 ** 63) - 1), ("ctrl \x01\x1f", 2 ** 63)])}
    body, index = tinystore_mod._shard_text("t", docs)
    assert tinystore_mod._shard_text("t", docs, bulk=True) == (body.encode("ascii"), index)
    # a shard encoded whole (ASCII, nothing orjson refuses): the same bytes and index, keys escaped or not
    for keys in (["/d/b", "/d/a", "/d/c"], ['/d/"q"', "/d/back\\slash", "/d/tab\t", "/d/plain"]):
        plain = {key: {"name": key, "n": i, "tags": {"b": "x", "a": "y"}, "list": [i, {}]} for i, key in enumerate(keys)}
        body, index = tinystore_mod._shard_text("t", plain)
        whole = tinystore_mod._shard_text("t", plain, bulk=True)
        assert (bytes(whole[0]), whole[1]) == (body.encode("ascii"), index)
    # a member named like a later key (after a comma), and keys with no common prefix: still the same index
    for odd in ({"/d/a": {"!": 1, "/d/b": {"!": 0, "/d/c": 2}}, "/d/b": {"a": ',"/d/c":'}, "/d/c": {}},
                {"a": {"n": 1}, "b": {"n": 2}}, {"/d/only": {"n": 1}}):
        body, index = tinystore_mod._shard_text("t", odd)
        whole = tinystore_mod._shard_text("t", odd, bulk=True)
        assert (bytes(whole[0]), whole[1]) == (body.encode("ascii"), index)
    assert tinystore_mod._shard_text("t", {}, bulk=True)[0] == b'"t":{}}'
    floats = {"/f/1": {"x": 1e16, "y": 0.1, "z": [-2.5e-7]}}
    body, _index = tinystore_mod._shard_text("t", floats, bulk=True)
    assert json.loads(b'{' + body)["t"] == floats
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        tinystore_mod._shard_text("t", {"/x": {"when": datetime.date(2026, 1, 1)}}, bulk=True)
    a, b = TinyStore(tmp_path / "bulk"), TinyStore(tmp_path / "commit")
    a.bulk_commit({"t": docs}, {})
    b.commit({"t": docs}, {})
    b._compact()
    assert state_files(tmp_path / "bulk") == state_files(tmp_path / "commit")
    assert TinyStore(tmp_path / "bulk").load() == {"t": docs}
    a.close()
    b.close()


def test_keys_are_plain_exactly_where_the_standard_encoder_writes_them_as_they_are():
    """A bulk shard reads its documents' lengths off its text only where no key needs escaping
    (tinystore._plain_keys): every character up to U+02FF, alone and among plain keys, as the encoder says."""
    for code in range(0x300):
        key = f"/subscriptions/x/{chr(code)}"
        as_is = json.encoder.encode_basestring_ascii(key) == f'"{key}"'
        assert tinystore_mod._plain_keys(["/a", key, "/z"]) is as_is, hex(code)
    assert tinystore_mod._plain_keys([]) is True


def test_an_index_is_moved_by_the_filled_values_growth_whatever_its_keys_hold():
    """Keys that hold what an index entry looks like, a backslash or text outside ASCII: the index of a shard
    whose placeholders were filled in, moved by their growth, is the index of the final documents."""
    import re

    docs = {'/d/a":[1,2]': {"id": "x", "w": "<<0>>"}, "/d/b\\": {"id": "y", "w": "<<1>>"}, "/d/\u00e9": {"w": "<<2>>"},
            "/d/c": {"w": "z"}}
    values = {"<<0>>": "A" * 10, "<<1>>": "B", "<<2>>": "C" * 21}
    body, index = tinystore_mod._shard_text("disks", docs, bulk=True)
    moves = [(m.start(), len(values[m.group().decode()]) - len(m.group())) for m in re.finditer(rb"<<\d>>", bytes(body))]
    final = {k: dict(d, w=values.get(d["w"], d["w"])) for k, d in docs.items()}
    assert tinystore_mod._index_moved(index, moves) == tinystore_mod._shard_text("disks", final, bulk=True)[1]
    assert tinystore_mod._index_moved(index, []) is index

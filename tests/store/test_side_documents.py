"""Side documents: small JSON values a store keeps beside its state (the workshop lab's progress), on both stores:
an allowlist of names, atomic and private writes under the store's lock, the read-only refusal, a signature that
moves with every save, and the temporaries of killed writes swept with the store's other leftovers."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from engine.errors import ReadOnly, StoreError
from engine.repository import SIDE_DOCUMENTS, MemoryStore
from store import TinyStore, remove_state
from store import tinystore as tinystore_mod

LAB = {"scenario": "disable-key", "step": 2, "completed": [1]}


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def home(tmp_path) -> Path:
    return tmp_path / "home"


@pytest.fixture(params=["memory", "tiny"])
def store(request, home):
    s = MemoryStore() if request.param == "memory" else TinyStore(home)
    yield s
    s.close()


def read_only_twin(store, home):
    """A read-only store on what ``store`` holds (for memory: the same object, switched)."""
    if isinstance(store, MemoryStore):
        store.read_only = True
        return store
    return TinyStore(home, read_only=True)


def test_the_lab_is_the_one_side_document():
    assert SIDE_DOCUMENTS == ("scenario",)


def test_a_side_document_round_trips_and_its_signature_moves_with_each_save(store):
    assert store.read_side("scenario") is None and store.side_signature("scenario") is None
    store.write_side("scenario", LAB)
    first = store.side_signature("scenario")
    assert first is not None and store.read_side("scenario") == LAB
    got = store.read_side("scenario")
    got["step"] = 99  # the caller's copy
    assert store.read_side("scenario") == LAB
    store.write_side("scenario", dict(LAB, step=3))
    assert store.side_signature("scenario") not in (None, first)
    assert store.read_side("scenario")["step"] == 3


def test_a_side_document_is_no_part_of_the_state(store):
    generation = store.generation
    store.write_side("scenario", LAB)
    assert store.generation == generation and store.load() == {}
    assert store.read_log("audit") == [] and store.read_log("events") == []


@pytest.mark.parametrize("name", ["state", "meta", "../scenario", "Scenario", ""])
def test_an_unknown_name_is_refused_and_nothing_is_written(store, home, name):
    before = sorted(p.name for p in home.iterdir()) if isinstance(store, TinyStore) else None
    for call in (lambda: store.read_side(name), lambda: store.write_side(name, LAB),
                 lambda: store.side_signature(name)):
        with pytest.raises(ValueError, match="unknown side document"):
            call()
    if isinstance(store, TinyStore):  # "state" would have been the schema-1 state file
        assert sorted(p.name for p in home.iterdir()) == before and "state.json" not in before


def test_a_read_only_store_refuses_the_write_and_changes_nothing(store, home):
    store.write_side("scenario", LAB)
    before = store.side_signature("scenario"), store.read_side("scenario")
    ro = read_only_twin(store, home)
    try:
        with pytest.raises(ReadOnly, match="opened read-only"):
            ro.write_side("scenario", dict(LAB, step=3))
        assert (ro.side_signature("scenario"), ro.read_side("scenario")) == before  # (still readable)
    finally:
        if ro is not store:
            ro.close()
    assert (store.side_signature("scenario"), store.read_side("scenario")) == before
    if isinstance(store, TinyStore):
        assert not [p.name for p in home.iterdir() if p.name.endswith(".tmp")]


def test_a_value_json_cannot_hold_is_refused_before_anything_is_written(store):
    with pytest.raises(TypeError):
        store.write_side("scenario", {"when": object()})
    assert store.read_side("scenario") is None


# -- on TinyStore: the file ----------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_lab_stays_home_scenario_json_and_is_written_private(home):
    """A home written before the store kept the lab (scenario.json, 0644 under a usual umask) keeps working:
    the store reads it, and its next save replaces it with a private file."""
    TinyStore(home).close()
    old = home / "scenario.json"
    old.write_text(json.dumps(LAB, indent=2) + "\n")
    os.chmod(old, 0o644)
    s = TinyStore(home)
    try:
        assert s.read_side("scenario") == LAB
        umask = os.umask(0)
        try:
            s.write_side("scenario", dict(LAB, step=3))
        finally:
            os.umask(umask)
    finally:
        s.close()
    assert json.loads(old.read_text())["step"] == 3 and mode(old) == 0o600
    assert not [p.name for p in home.iterdir() if p.name.endswith(".tmp")]


def test_the_write_is_atomic_under_the_lock_and_synced(home, monkeypatch):
    s = TinyStore(home)
    s.write_side("scenario", LAB)
    seen = []
    real = tinystore_mod._atomic_write
    synced = []
    real_fsync_dir = tinystore_mod.fsync_dir

    def atomic_write(path, payload):
        seen.append((os.path.basename(path), s._lock_depth))
        return real(path, payload)

    monkeypatch.setattr(tinystore_mod, "_atomic_write", atomic_write)
    monkeypatch.setattr(tinystore_mod, "fsync_dir", lambda d: (synced.append(d), real_fsync_dir(d))[1])
    s.write_side("scenario", dict(LAB, step=3))
    assert seen == [("scenario.json", 1)]  # the store's own atomic write (temp, fsync, rename), under its lock
    assert s.home in synced  # the rename made durable
    s.close()


def test_a_failed_write_leaves_the_old_document_and_no_temporary(home, monkeypatch):
    s = TinyStore(home)
    s.write_side("scenario", LAB)

    def no_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_fsync)
    with pytest.raises(StoreError, match="scenario.json"):
        s.write_side("scenario", dict(LAB, step=3))
    monkeypatch.undo()
    assert s.read_side("scenario") == LAB
    assert not [p.name for p in home.iterdir() if p.name.endswith(".tmp")]
    s.close()


def test_a_document_that_is_not_json_is_a_store_error_naming_it(home):
    s = TinyStore(home)
    (home / "scenario.json").write_text("{not json")
    with pytest.raises(StoreError, match="scenario.json cannot be read"):
        s.read_side("scenario")
    assert (home / "scenario.json").read_text() == "{not json"  # left as it is
    s.close()


def test_another_stores_save_is_noticed_by_the_signature(home):
    reader, writer = TinyStore(home), TinyStore(home)
    writer.write_side("scenario", LAB)
    seen = reader.side_signature("scenario")
    assert reader.side_signature("scenario") == seen  # nothing new
    writer.write_side("scenario", dict(LAB, step=3))
    assert reader.side_signature("scenario") != seen and reader.read_side("scenario")["step"] == 3
    reader.close()
    writer.close()


def test_the_temporaries_of_killed_writes_are_swept(home):
    """What a write killed before its rename leaves (the store's temporary, or the old workshop's own
    ``scenario.json.tmp``) is removed by the next writer, as the store's other leftovers; nothing else is."""
    s = TinyStore(home)
    s.write_side("scenario", LAB)
    s.close()
    dead = [home / ".scenario.json.999.deadbeef.tmp", home / "scenario.json.tmp"]
    kept = [home / "scenario.json.bak", home / ".scenario.json.999.deadbeef.new"]
    for p in dead + kept:
        p.write_text('{"scenario": "stale"}')
    s = TinyStore(home)  # a new object (another process, after a crash) sweeps when it first takes the lock
    s.write_side("scenario", dict(LAB, step=3))
    assert [p.name for p in dead if p.exists()] == []
    assert all(p.exists() for p in kept)
    assert s.read_side("scenario")["step"] == 3
    s.close()


def test_removing_a_homes_state_removes_its_lab(home):
    s = TinyStore(home)
    s.commit({"vaults": {"kv": {"name": "kv"}}}, {})
    s.write_side("scenario", LAB)
    s.close()
    remove_state(home)
    s = TinyStore(home)
    assert s.read_side("scenario") is None and s.load() == {}
    s.close()

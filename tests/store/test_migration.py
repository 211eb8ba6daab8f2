"""A home written by schema 1 (one ``state.json``, as cmklab 0.1 wrote it) opens and is migrated once, with
nothing lost: documents, generation, journal, and data that still reads back through the vault keys.

The fixture ``fixtures/v1-home`` was built by that version: the demo landscape (unseeded: keys sealed under
its ``root.key``) and one ``key set-attributes --tags fixture=v1``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from console.session import open_engine
from engine.errors import StoreError
from store import TinyStore, state_files

FIXTURE = Path(__file__).parent / "fixtures" / "v1-home"


def lowered(legacy: dict) -> dict:
    """Schema 2 keys documents by their lower-cased ids (Azure ids are case-insensitive)."""
    return {t: {k.lower(): d for k, d in rows.items()} for t, rows in legacy.items() if t != "_meta"}


@pytest.fixture
def v1_home(tmp_path) -> Path:
    home = tmp_path / "home"
    shutil.copytree(FIXTURE, home)
    os.chmod(home, 0o700)
    for path in home.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)  # git does not keep 0600
    return home


def test_a_schema_1_home_is_migrated_once_with_nothing_lost(v1_home):
    legacy = json.loads((v1_home / "state.json").read_bytes())
    audit_lines = (v1_home / "journal.jsonl").read_bytes().count(b'"log":"audit"')
    e = open_engine(v1_home)
    try:
        assert not (v1_home / "state.json").exists()  # no second copy of the sealed keys stays behind
        assert e.store.generation == legacy["_meta"]["meta"]["generation"]
        docs = e.store.load()
        assert docs == lowered(legacy)
        assert len(e.t["audit"]) == audit_lines
        k, _ = e.get_key("kv-demo", "key-2048", audit=False)
        assert k.tags == {"fixture": "v1"}
        # the sealed keys open with the old root key: data reads back through the vault
        assert e.vm_read("vm-web", 0, 0, 33) == b"demo: customer orders 2026-05-01\n"
        e.set_key_attributes("kv-demo", "key-2048", tags={"after": "migration"})
    finally:
        e.store.close()
    files = state_files(v1_home)
    e = open_engine(v1_home)  # opens as schema 2: nothing is migrated again
    try:
        assert state_files(v1_home) == files
        assert e.get_key("kv-demo", "key-2048", audit=False)[0].tags == {"after": "migration"}
    finally:
        e.store.close()


def test_a_migration_cut_short_is_redone_and_a_leftover_old_file_removed(v1_home, monkeypatch):
    legacy = json.loads((v1_home / "state.json").read_bytes())
    import store.tinystore as ts

    real = ts.TinyStore._write_meta

    def crash(self, generation):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ts.TinyStore, "_write_meta", crash)
    with pytest.raises(OSError):
        TinyStore(v1_home)
    monkeypatch.setattr(ts.TinyStore, "_write_meta", real)
    assert (v1_home / "state.json").exists() and not (v1_home / "db" / "meta.json").exists()
    with TinyStore(v1_home) as s:  # redone from the old file, which is still whole
        assert s.load() == lowered(legacy)
    # converted, but a crash kept the old file: it holds sealed key material and goes at the next open
    (v1_home / "state.json").write_bytes(json.dumps(legacy).encode())
    with TinyStore(v1_home) as s:
        assert not (v1_home / "state.json").exists()
        assert s.load() == lowered(legacy)


def test_a_schema_1_home_missing_its_root_key_is_refused_untouched(v1_home):
    (v1_home / "root.key").unlink()
    before = (v1_home / "state.json").read_bytes()
    with pytest.raises(StoreError, match="root.key is missing"):
        open_engine(v1_home)
    assert (v1_home / "state.json").read_bytes() == before and not (v1_home / "db").exists()


# -- schema 2 -> 3 -------------------------------------------------------------------------------------------

FIXTURE_V2 = Path(__file__).parent / "fixtures" / "v2-home"
"""Built by cmklab at schema 2 (main at 832ac5d): the demo landscape (unseeded), a compaction, then
``key set-attributes --tags fixture=v2``, a guest write on vm-web, ``disk create disk-v2`` and a ``key show``,
which stayed in ``db/changes.log`` and ``journal.jsonl`` (the journal written before each record)."""


@pytest.fixture
def v2_home(tmp_path) -> Path:
    home = tmp_path / "home2"
    shutil.copytree(FIXTURE_V2, home)
    os.chmod(home, 0o700)
    for path in home.rglob("*"):
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    return home


def _meta(home: Path) -> dict:
    return json.loads((home / "db" / "meta.json").read_bytes())["_meta"]["meta"]


def test_a_schema_2_home_opens_and_is_migrated_once_with_nothing_lost(v2_home):
    from store import SCHEMA_VERSION

    assert _meta(v2_home)["schema_version"] == 2
    log = (v2_home / "db" / "changes.log").read_bytes()
    journal = (v2_home / "journal.jsonl").read_bytes()
    with TinyStore(v2_home) as s:
        docs, generation = s.load(), s.generation
        audit = s.read_log("audit")
    assert _meta(v2_home) == {"schema_version": SCHEMA_VERSION, "generation": 3}  # the base stays as it was
    assert (v2_home / "db" / "changes.log").read_bytes() == log  # its records read as they are
    assert (v2_home / "journal.jsonl").read_bytes() == journal
    assert generation == 5 and len(audit) == journal.count(b'"log":"audit"')
    e = open_engine(v2_home)
    try:
        assert e.store.load() == docs
        assert e.get_key("kv-demo", "key-2048", audit=False)[0].tags == {"fixture": "v2"}
        assert e.get_disk("disk-v2").size_gb == 4
        assert e.vm_read("vm-web", 0, 0, 33) == b"schema 2: written before the jour"
        assert [a.operation for a in e.t["audit"].values()][-1] == "KeyGet"
        e.set_key_attributes("kv-demo", "key-2048", tags={"after": "migration"})
        ids = [a.id for a in e.t["audit"].values()] + [x.id for x in e.t["events"].values()]
    finally:
        e.store.close()
    files = state_files(v2_home)
    e = open_engine(v2_home)  # opens as schema 3: nothing is migrated again
    try:
        assert state_files(v2_home) == files
        assert e.get_key("kv-demo", "key-2048", audit=False)[0].tags == {"after": "migration"}
        assert sorted(int(i) for i in ids) == list(range(1, len(ids) + 1))  # one sequence across the schemas
        assert [a.operation for a in e.t["audit"].values()][-1] == "KeyUpdate"
    finally:
        e.store.close()


def test_a_schema_2_home_drops_lines_of_an_action_that_never_committed_when_it_is_migrated(v2_home):
    """Schema 2 wrote the journal first: a crash before the record left lines tagged with the next generation.
    The migration drops them before that generation is given to a commit whose lines the log holds."""
    line = b'{"caller":"never-committed","gen":6,"id":"000000057","kid":null,"log":"audit","operation":"KeyCreate","result":"OK"}\n'
    with open(v2_home / "journal.jsonl", "ab") as f:
        f.write(line)
    e = open_engine(v2_home)
    try:
        assert line not in (v2_home / "journal.jsonl").read_bytes()
        e.set_key_attributes("kv-demo", "key-2048", tags={"after": "migration"})
        assert "never-committed" not in [a.caller for a in e.t["audit"].values()]
    finally:
        e.store.close()
    e = open_engine(v2_home)
    try:
        assert "never-committed" not in [a.caller for a in e.t["audit"].values()]
        assert [a.operation for a in e.t["audit"].values()][-1] == "KeyUpdate"
    finally:
        e.store.close()


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

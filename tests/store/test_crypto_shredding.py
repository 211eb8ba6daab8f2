"""Crypto-shredding holds on disk: after a purge no file in the home still holds the purged key material,
even when an earlier write was killed at the rename and left its temporary copy of the state behind."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

from console.session import open_engine

REPO = Path(__file__).resolve().parents[2]

KILLED_AT_RENAME = r"""
import os, sys
from console.session import open_engine
import store.tinystore
home = sys.argv[1]
e = open_engine(home)
store.tinystore.COMPACT_BYTES = 0  # this commit compacts: the keys' shard file is rewritten
real_replace = os.replace
def dying_replace(src, dst, *args, **kwargs):
    if os.path.basename(dst).startswith("keys."):
        os._exit(9)  # killed after the temporary copy is written and synced, before the rename
    return real_replace(src, dst, *args, **kwargs)
os.replace = dying_replace
e.set_key_attributes("kv-shred", "k1", tags={"touched": "yes"})
"""


def _sealed_material(home: Path) -> list[str]:
    from store import TinyStore

    with TinyStore(home) as s:
        keys = s.load()["keys"]
    return [v["sealed"] for k in keys.values() for v in k["versions"] if v.get("sealed")]


def _files(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if p.is_file()]


def test_a_purge_leaves_no_copy_of_the_key_even_after_a_write_killed_at_the_rename(tmp_path):
    home = tmp_path / "home"
    e = open_engine(home)  # unseeded: sealed under root.key
    e.create_group("rg", "eastus")
    e.create_vault("kv-shred", "rg")
    e.create_key("kv-shred", "k1", size=2048)
    e.store.close()
    sealed = _sealed_material(home)
    assert sealed

    proc = subprocess.run([sys.executable, "-c", KILLED_AT_RENAME, str(home)], cwd=REPO, capture_output=True,
                          timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()
    leftovers = [p for p in _files(home) if p.name.endswith(".tmp")]
    assert leftovers and any(sealed[0].encode() in p.read_bytes() for p in leftovers)  # the hazard is real

    e = open_engine(home)
    e.delete_key("kv-shred", "k1")
    e.purge_key("kv-shred", "k1")
    e.store.close()

    raw = [base64.b64decode(s) for s in sealed]
    for path in _files(home):
        data = path.read_bytes()
        for text, blob in zip(sealed, raw):
            assert text.encode() not in data and blob not in data, f"{path} still holds purged key material"
    assert not [p for p in _files(home) if p.name.endswith(".tmp")]


def test_leftovers_are_swept_by_the_next_writer_not_by_readers(tmp_path):
    home = tmp_path / "home"
    e = open_engine(home)
    e.create_group("rg", "eastus")
    e.store.close()
    stale = [home / ".state.json.999.deadbeef.tmp", home / "db" / ".keys.07.json.999.deadbeef.tmp"]
    for path in stale:  # a schema-1 state write and a shard write, both killed
        path.write_bytes(b"{}")
    e = open_engine(home)
    e.list_groups()
    assert all(p.exists() for p in stale)  # a read takes no lock and changes nothing
    e.create_group("rg2", "eastus")
    assert not any(p.exists() for p in stale)
    e.store.close()

"""``Engine.read_at_rest``: the public query a check (a workshop objective) reads data through. It opens
the data keys with the key material the store seals: no access check, no audit, no VM, and nothing is
left to open once the key is purged (K2, KV6)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import Engine
from engine.clock import SimulatedClock
from engine.errors import EngineError
from engine.repository import MemoryStore

TEXT = b"orders 2026"


def _disk_of(e, vm: str):
    return e.get_disk(e.get_vm(vm).data_disks[0]["diskId"].rsplit("/", 1)[1])


def test_K2_read_at_rest_reads_what_the_guest_wrote_without_auditing(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 4090, TEXT)
    before = len(kit.audit(e))
    d = _disk_of(e, "vm1")
    assert e.read_at_rest(d, 4090, len(TEXT)) == TEXT
    assert e.read_at_rest(d, 0, 4) == b"\0" * 4
    assert len(kit.audit(e)) == before  # a check leaves no trace in Key Vault's audit


def test_K2_read_at_rest_opens_platform_key_disks_too(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1", des=None, os_des=None)
    e.vm_write("vm1", 0, 0, TEXT)
    d = _disk_of(e, "vm1")
    assert d.layers[0]["kid"].startswith("platform:")
    assert e.read_at_rest(d, 0, len(TEXT)) == TEXT


def test_KV6_read_at_rest_finds_nothing_to_open_once_the_key_is_purged(kit):
    clock = SimulatedClock()
    e = Engine(MemoryStore(), seed=5, clock=clock)
    kit.vault(e, retention=7)
    kit.des(e, "des1", kit.key(e))
    kit.vm(e, "vm1")
    e.vm_write("vm1", 0, 0, TEXT)
    d = _disk_of(e, "vm1")
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.read_at_rest(d, 0, len(TEXT)) == TEXT  # disabled: the material is still there
    e.delete_key("kv1", "k1")
    clock.advance(timedelta(days=8))
    e.purge_key("kv1", "k1")
    with pytest.raises(EngineError) as info:
        e.read_at_rest(_disk_of(e, "vm1"), 0, len(TEXT))
    assert info.value.inner_code == "KeyPurged"

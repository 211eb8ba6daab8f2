"""The engine's typed read queries, which the console and the workshop use instead of its tables: they are
case-insensitive as Azure is, never audit, never raise for a missing resource, and read no more of the
store than they answer."""

from __future__ import annotations

import pytest

from engine import Engine
from engine.demo import build_demo


@pytest.fixture
def demo() -> Engine:
    e = Engine.in_memory(seed=1)
    build_demo(e)
    return e


def test_find_by_id_and_name_is_case_insensitive_and_none_when_missing(demo):
    disk = demo.list_disks()[0]
    assert demo.find("disks", disk.id.upper()) is disk
    assert demo.find_disk(disk.id) is disk
    assert demo.find_disk(disk.name.upper(), disk.resource_group) is disk
    assert demo.find_disk("no-such-disk", "rg-demo") is None
    assert demo.find("disks", None) is None
    assert demo.find_vault("KV-DEMO").name == "kv-demo"
    assert demo.find_vault("nope") is None
    assert demo.find_key("KV-demo", "KEY-3072").name == "key-3072"
    assert demo.find_key("kv-demo", "nope") is None
    assert demo.find_key_by_url("not a url") is None
    vm = demo.find_named("vms", "VM-DB")
    assert vm is not None and demo.find_vm(vm.id) is vm
    assert demo.find_des(demo.list_des()[0].id).name == demo.list_des()[0].name
    with pytest.raises(ValueError, match="unknown kind 'disk'; kinds: "):
        demo.find("disk", disk.id)


def test_a_lookup_of_a_key_writes_no_audit_entry(demo):
    before = len(demo.list_audit())
    demo.find_key("kv-demo", "key-3072")
    demo.list_all_keys()
    assert len(demo.list_audit()) == before


def test_lists_take_a_where_and_iterations_counts_and_emptiness_agree(demo):
    cmk = demo.list_disks(where=lambda d: bool(d.des_id))
    assert cmk and all(d.des_id for d in cmk)
    assert [d.name for d in cmk] == sorted((d.name for d in cmk), key=str.lower)
    assert len(cmk) < demo.count("disks") == len(demo.list_disks())
    assert demo.count("disks", where=lambda d: bool(d.des_id)) == len(cmk)
    kinds = ("disks", "snapshots", "images")
    assert sum(1 for _ in demo.iter_resources(kinds)) == sum(demo.count(k) for k in kinds)
    assert demo.has_resources(("vms",)) and not Engine.in_memory(seed=1).has_resources()
    assert {k.vault for k in demo.list_all_keys(vault="kv-demo")} == {"kv-demo"}
    assert demo.list_vaults(include_deleted=True)[0].name == "kv-demo"
    stops = demo.list_events(where=lambda e: e.type == "VmStarted")
    assert stops == sorted(stops, key=lambda e: e.id)


def test_events_since_reads_only_what_follows_the_cursor(demo):
    cursor = demo.journal_cursor()
    assert demo.events_since(cursor) == ([], cursor)
    demo.stop_vm("vm-web", "rg-demo")
    events, after = demo.events_since(cursor)
    assert after > cursor and events and all("vm-web" in e.summary for e in events)
    assert demo.events_since(after) == ([], after)


def test_loaded_count_says_whether_answering_would_read_the_store(tmp_path):
    from console.session import open_engine

    home = tmp_path / "home"
    e = open_engine(home, seed=1, demo=True)
    e.close()
    e = open_engine(home)
    assert e.loaded_count(("disks",)) is None  # its shards are not read, and there are more than none
    assert e.loaded_count(("disks",), read_shards=64) == e.count("disks")
    assert e.loaded_count(("disks",)) == e.count("disks")  # now in memory
    assert e.loaded_count(("events",)) is None
    e.close()


@pytest.mark.parametrize("method", ["list_disks", "list_snapshots", "list_images", "list_des", "list_vms",
                                    "list_vaults", "list_scale_sets"])
def test_O3_a_list_by_a_resource_group_that_does_not_exist_is_resource_group_not_found(demo, method):
    """ARM's list by resource group answers 404 ``ResourceGroupNotFound`` for a group that is not there, not an empty
    list (a list in a group that exists but holds nothing is still empty)."""
    from engine.errors import NotFound

    with pytest.raises(NotFound) as err:
        getattr(demo, method)("nosuchrg")
    assert err.value.code == "ResourceGroupNotFound"
    assert err.value.message == "Resource group 'nosuchrg' could not be found."
    demo.create_group("rg-empty", "eastus")
    assert getattr(demo, method)("RG-EMPTY") == []
    assert getattr(demo, method)() == getattr(demo, method)(None)

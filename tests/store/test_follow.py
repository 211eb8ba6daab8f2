"""Following other processes at the cost of what they changed: the store reads only appended records, the
engine replaces only the documents they changed, the journal reads only its new lines."""

from __future__ import annotations

from console.session import open_engine
from store import TinyStore
from store.tinystore import RESET

DISK = "/subscriptions/0000/resourcegroups/rg/providers/microsoft.compute/disks/d"


def test_refresh_returns_only_what_other_processes_appended(tmp_path):
    home = tmp_path / "home"
    with TinyStore(home) as a, TinyStore(home) as b:
        b.commit({"disks": {f"{DISK}{i}": {"i": i} for i in range(100)}}, {})
        assert a.refresh() == RESET  # the first commit created the log: read the view again
        assert a.refresh() is None
        b.commit({"disks": {f"{DISK}1": {"i": -1}}}, {"disks": [f"{DISK}2"]})
        b.commit({"vaults": {"/v": {"n": 1}}}, {})
        assert a.refresh() == {"disks": {f"{DISK}1": {"i": -1}, f"{DISK}2": None}, "vaults": {"/v": {"n": 1}}}
        assert a.generation == b.generation == 3
        assert a.load() == b.load()
        b._compact()
        assert a.refresh() == RESET
        assert a.load() == b.load() and a.generation == 3


def test_an_engine_follows_another_process_without_reading_again(tmp_path):
    home = tmp_path / "home"
    a = open_engine(home)
    a.create_group("rg", "eastus")
    for i in range(20):
        a.create_disk(f"d{i}", "rg", size_gb=1)
    disks_before = {k: id(v) for k, v in a.t["disks"].items()}  # read every disk
    events_before = dict(a.t["events"])
    b = open_engine(home)
    b.delete_disk("d3", "rg")
    assert a.refresh_if_changed()
    after = {k: id(v) for k, v in dict.items(a.t["disks"])}
    changed = [k for k in disks_before if after.get(k) != disks_before[k]]
    assert len(changed) == 1 and changed[0].endswith("/d3")  # d3 went; the others are the same objects
    assert a.t["disks"]._full
    new_events = [e for k, e in a.t["events"].items() if k not in events_before]
    assert new_events and all(a.t["events"][k] is events_before[k] for k in events_before)
    assert {k: v.to_doc() for k, v in a.t["disks"].items()} == {k: v.to_doc() for k, v in b.t["disks"].items()}
    a.store.close()
    b.store.close()

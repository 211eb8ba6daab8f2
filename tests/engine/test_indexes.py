"""The engine's index tables agree with what they index, whatever the actions, and spare the scans."""

from __future__ import annotations

from console.session import open_engine

RG = "rg"


def _scan(e) -> dict[str, str]:
    return {d.lower(): vm.id for vm in e.t["vms"].values() for d in vm.disk_ids()}


def _indexed(e) -> dict[str, str]:
    every = [r.id for r in e.t["disks"].values()]
    return {d.lower(): vm.id for d in every if (vm := e.vm_of_disk(d)) is not None}


def test_vm_of_disk_follows_create_attach_detach_and_delete(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1", data=2)
    kit.vm(e, "vm2", data=1)
    assert _indexed(e) == _scan(e) and len(_scan(e)) == 5
    e.detach_disk("vm1", _name(e, "vm1"), RG)
    assert _indexed(e) == _scan(e)
    e.attach_disk("vm2", "extra", RG, new=True, size_gb=4)
    assert _indexed(e) == _scan(e)
    e.delete_vm("vm1", RG)
    assert _indexed(e) == _scan(e)
    assert e.vm_of_disk(e.get_disk("vm1-os", RG).id) is None
    assert e.vm_of_disk(e.get_disk("extra", RG).id).name == "vm2"
    assert e.vm_of_disk(e.get_disk("extra", RG).id.upper()).name == "vm2"  # ids are case-insensitive


def _any_data(e, vm_name) -> str:
    return e.get_vm(vm_name, RG).data_disks[0]["diskId"]


def _name(e, vm_name) -> str:
    return next(d.name for d in e.t["disks"].values() if d.id == _any_data(e, vm_name))


def test_a_state_from_before_the_index_gets_it_at_its_first_write(tmp_path, kit):
    home = tmp_path / "home"
    e = open_engine(home)
    kit.basic(e)
    kit.vm(e, "vm1", data=1)
    # as a state written before the index existed: no index documents, meta says version 0
    meta = dict(e.meta.to_doc(), indexes=0)
    with e.store.lock():
        e.store.commit({"engine": {"engine": meta}}, {"vm_of_disk": list(e.t["vm_of_disk"].keys())})
    e.store.close()
    e = open_engine(home)
    assert len(e.t["vm_of_disk"]) == 0 and _indexed(e) == _scan(e)  # reads fall back to a scan
    e.create_group("rg2", "eastus")  # any write builds the index
    e.store.close()
    e = open_engine(home)
    assert e.meta.indexes >= 1 and len(e.t["vm_of_disk"]) == 2 and _indexed(e) == _scan(e)
    e.store.close()

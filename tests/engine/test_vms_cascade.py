"""Virtual machines and the key cascades: V1-V8 of docs/behaviours.md, positive and negative, refusals by code."""

from __future__ import annotations

import pytest

from engine import Engine
from engine import events as ev
from engine.models import PowerState
from engine.rules import ENC_DOUBLE


def _data_disk(e, vm: str, lun: int = 0):
    vmo = e.get_vm(vm)
    did = next(x["diskId"] for x in vmo.data_disks if x["lun"] == lun)
    return e.t["disks"][did]


def _two_vms(e, kit):
    """des1 on k1: a premium VM (OS + data on the key) and an ultra VM (platform OS, ultra data disk on the key)."""
    kid, des = kit.basic(e)
    kit.vm(e, "prem")
    kit.vm(e, "ultra", ultra=True, os_des=None)
    e.vm_write("prem", 0, 0, b"premium bytes")
    e.vm_write("ultra", 0, 0, b"ultra bytes")
    return kid, des


# ============================================================================================ V1 disks and LUNs


def test_V1_vm_has_an_os_disk_and_data_disks_at_unique_luns(e, kit):
    kit.basic(e)
    vm = kit.vm(e, "vm1", data=3)
    assert vm.os_disk_id == e.get_disk("vm1-os").id
    assert [x["lun"] for x in vm.data_disks] == [0, 1, 2]
    assert len(set(vm.disk_ids())) == 4
    assert vm.id.endswith("/providers/Microsoft.Compute/virtualMachines/vm1")


def test_V1_attach_and_detach(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.create_disk("extra", kit.RG, size_gb=4, disk_encryption_set="des1")
    vm = e.attach_disk("vm1", "extra", lun=5)
    assert [x["lun"] for x in vm.data_disks] == [0, 5]
    e.vm_write("vm1", 5, 0, b"on lun five")
    vm = e.attach_disk("vm1", "new1", new=True, size_gb=4, disk_encryption_set="des1")
    assert [x["lun"] for x in vm.data_disks] == [0, 1, 5]  # the first free LUN
    e.detach_disk("vm1", "extra")
    assert [x["lun"] for x in e.get_vm("vm1").data_disks] == [0, 1]
    e.attach_disk("vm1", "extra", lun=2)
    assert e.vm_read("vm1", 2, 0, 11) == b"on lun five"


def test_V1_attach_refusals(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    kit.vm(e, "vm2", data=0)
    e.create_disk("extra", kit.RG, size_gb=4)
    assert kit.refused(e.attach_disk, "vm1", "extra", lun=0).code == "InvalidParameter"  # LUN taken
    assert kit.refused(e.attach_disk, "vm1", "extra", lun=64).code == "InvalidParameter"
    assert kit.refused(e.attach_disk, "vm1", "extra", lun=-1).code == "InvalidParameter"
    assert kit.refused(e.attach_disk, "vm2", "vm1-os").code == "OperationNotAllowed"  # already attached
    assert kit.refused(e.detach_disk, "vm1", "vm1-os").code == "OperationNotAllowed"  # the OS disk
    assert kit.refused(e.detach_disk, "vm1", "extra").code == "ResourceNotFound"
    e.create_disk("far", kit.RG, size_gb=4, location="westus2")
    assert kit.refused(e.attach_disk, "vm1", "far").code == "InvalidParameter"
    assert [x["lun"] for x in e.get_vm("vm1").data_disks] == [0]


def test_V1_a_lun_past_the_data_disk_limit_is_refused_in_azures_words(e, kit):
    """The LUN range is the engine's rule (engine.rules: MAX_DATA_DISKS, lun_problem), said as Azure says it; a VM
    with every LUN taken refuses the next attach the same way (az picks the first free LUN, here 64)."""
    from engine.rules import MAX_DATA_DISKS, MAX_LUN, lun_problem

    assert (MAX_DATA_DISKS, MAX_LUN) == (64, 63)
    kit.basic(e)
    kit.vm(e, "vm1", data=0)
    e.create_disk("extra", kit.RG, size_gb=4)
    err = kit.refused(e.attach_disk, "vm1", "extra", lun=64)
    assert (err.code, err.message) == ("InvalidParameter", "The value '64' of parameter 'dataDisk.lun' is out of "
                                                           "range. Value '64' must be between '0' and '63' inclusive.")
    assert err.message == lun_problem(64) and lun_problem(63) is None and lun_problem(0) is None
    e.attach_disk("vm1", "extra", lun=MAX_LUN)
    assert [x["lun"] for x in e.get_vm("vm1").data_disks] == [63]


def test_V1_a_vm_named_as_long_as_azure_allows_names_its_disks_within_the_disk_name_limit(e, kit):
    """A VM name may have 64 characters; the disks it creates without a name are named as Azure names them,
    ``{vm}_OsDisk_1_<32 hex>`` and ``{vm}_disk<n>_<32 hex>``, which passes a disk name's 80 characters: the VM was
    refused with a disk name error. The VM name's part is cut to fit, the same way each time."""
    import re

    from engine.ids import implicit_disk_name

    kit.basic(e)
    name = "v" + "m" * 62 + "1"
    assert len(name) == 64
    vm = e.create_vm(name, kit.RG, os_disk_encryption_set="des1", data_disk_sizes_gb=[4, 4],
                     data_disk_encryption_sets=["des1"])
    os_disk = e.t["disks"][vm.os_disk_id]
    assert re.fullmatch(name[:38] + "_OsDisk_1_[0-9a-f]{32}", os_disk.name) and len(os_disk.name) == 80
    data = [e.t["disks"][x["diskId"]].name for x in vm.data_disks]
    assert [n[:48] for n in data] == [name[:41] + "_disk2_", name[:41] + "_disk3_"]
    assert all(len(n) == 80 for n in data)
    short = e.create_vm("vm-short", kit.RG)  # a name that fits is kept whole, as Azure's
    assert e.t["disks"][short.os_disk_id].name.startswith("vm-short_OsDisk_1_")
    assert implicit_disk_name(name, "_OsDisk_1_", "0" * 32) == implicit_disk_name(name, "_OsDisk_1_", "0" * 32)


def test_V1_ultra_disks_need_an_ultra_enabled_vm(e, kit):
    kit.basic(e)
    e.create_disk("u1", kit.RG, size_gb=4, sku="UltraSSD_LRS", disk_encryption_set="des1")
    kit.vm(e, "plain", data=0)
    err = kit.refused(e.attach_disk, "plain", "u1")
    assert err.code == "InvalidParameter" and "ultraSSDEnabled" in err.message
    err = kit.refused(e.create_vm, "vm2", kit.RG, data_disk_sizes_gb=[4], storage_sku=["0=UltraSSD_LRS"])
    assert err.code == "InvalidParameter" and "ultra-ssd-enabled" in err.message
    err = kit.refused(e.create_vm, "vm3", kit.RG, storage_sku=["os=UltraSSD_LRS"], ultra_ssd_enabled=True)
    assert err.code == "InvalidParameter" and "OS disk" in err.message
    vm = kit.vm(e, "ultra", data=0, ultra=True)
    e.deallocate_vm("ultra")
    e.attach_disk("ultra", "u1")
    assert vm.ultra_ssd_enabled and e.get_disk("u1").is_ultra


def test_V1_create_vm_refusals(e, kit):
    kit.basic(e)
    assert kit.refused(e.create_vm, "vm1", kit.RG, size="Huge").code == "InvalidParameter"
    assert kit.refused(e.create_vm, "vm1", kit.RG, image="Plan9").code == "InvalidParameter"
    assert kit.refused(e.create_vm, "-vm", kit.RG).code == "InvalidParameter"
    assert kit.refused(e.create_vm, "vm1", kit.RG, data_disk_sizes_gb=[4, 4, 4],
                       data_disk_encryption_sets=["des1", "des1"]).code == "InvalidParameter"
    kit.vm(e, "vm1")
    assert kit.refused(kit.vm, e, "vm1").code == "Conflict"


# ============================================================================================ V2 power states


def test_V2_power_states_codes_and_display_strings(e, kit):
    assert [p.value for p in PowerState] == ["starting", "running", "stopping", "stopped", "deallocating",
                                             "deallocated"]
    assert PowerState.RUNNING.code == "PowerState/running" and PowerState.RUNNING.display == "VM running"
    assert PowerState.DEALLOCATED.display == "VM deallocated"
    kit.basic(e)
    vm = kit.vm(e, "vm1")
    assert vm.power == "running"
    assert e.stop_vm("vm1").power == "stopped"
    assert e.start_vm("vm1").power == "running"
    assert e.restart_vm("vm1").power == "running"
    assert e.deallocate_vm("vm1").power == "deallocated"
    assert e.start_vm("vm1").power == "running"
    assert e.stop_vm("vm1").power == "stopped"
    assert e.deallocate_vm("vm1").power == "deallocated"


def test_V2_refused_transitions(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    e.deallocate_vm("vm1")
    assert kit.refused(e.stop_vm, "vm1").code == "OperationNotAllowed"
    assert kit.refused(e.restart_vm, "vm1").code == "OperationNotAllowed"
    assert kit.refused(e.vm_read, "vm1", 0, 0, 1).code == "OperationNotAllowed"  # no I/O unless running
    assert kit.refused(e.start_vm, "nope").code == "ResourceNotFound"
    assert e.get_vm("vm1").power == "deallocated"


def test_V2_power_changes_are_published(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    seen = []
    e.subscribe(seen.append)
    e.stop_vm("vm1")
    e.deallocate_vm("vm1")
    e.start_vm("vm1")
    assert [(x.kind, x.power) for x in seen] == [("VmPowerChanged", "stopped"), ("VmPowerChanged", "deallocated"),
                                                ("VmPowerChanged", "running")]


# ============================================================================================ V3 the cascade


@pytest.mark.parametrize("how,code,words", [
    ("disable", "KeyVaultKeyNotEnabled", "disabled"),
    ("delete", "KeyVaultKeyNotFound", "deleted"),
    ("revoke", "KeyVaultAccessForbidden", "access revoked"),
    ("vault", "KeyVaultNotFound", "vault deleted"),
])
def test_V3_running_vms_with_non_ultra_disks_on_the_key_shut_down_at_once(e, kit, how, code, words):
    kid, des = _two_vms(e, kit)
    kit.vm(e, "other", des=None, os_des=None)  # platform keys only: untouched
    seen = []
    e.subscribe(seen.append)
    e.advance_clock("90m")
    {"disable": lambda: e.set_key_attributes("kv1", "k1", enabled=False),
     "delete": lambda: e.delete_key("kv1", "k1"),
     "revoke": lambda: e.delete_policy("kv1", des.principal_id),
     "vault": lambda: e.delete_vault("kv1")}[how]()
    vm = e.get_vm("prem")
    assert vm.power == "stopped"
    assert vm.status["kid"] == kid and vm.status["at"] == "2026-05-01T10:30:00+00:00"
    assert vm.status["message"].startswith(f"stopped: key {kid} {words} at 2026-05-01T10:30:00+00:00")
    assert e.get_vm("other").power == "running"
    shut = [x for x in seen if isinstance(x, ev.VmShutDownByKey)]
    assert [(x.vm, x.kid) for x in shut] == [(vm.id, kid)]
    err = kit.refused(e.start_vm, "prem")
    assert err.code == code
    assert any(words in line or "UNUSABLE" in line for line in e.why(vm.id))


def test_V3_the_vm_shows_why(e, kit):
    kid, _ = _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    why = e.why(e.get_vm("prem").id)
    assert why[0] == "VM prem: VM stopped"
    assert f"stopped: key {kid} disabled at" in why[1]
    assert any("UNUSABLE" in line and "disabled" in line for line in why)
    assert kit.refused(e.why, "/nope").code == "ResourceNotFound"


def test_V3_vms_on_another_key_or_already_deallocated_are_not_touched(e, kit):
    kid, _ = kit.basic(e)
    kit.des(e, "des2", kit.key(e, "kv1", "k2"))
    kit.vm(e, "on-k1")
    kit.vm(e, "on-k2", des="des2")
    kit.vm(e, "parked")
    e.deallocate_vm("parked")
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.get_vm("on-k1").power == "stopped"
    assert e.get_vm("on-k2").power == "running"
    assert e.get_vm("parked").power == "deallocated"  # not started, not "stopped"
    assert "cannot start" in e.get_vm("parked").status["message"]


def test_V3_the_what_if_names_vms_already_down_that_could_start_and_no_longer_can(e, kit):
    """A stopped or deallocated VM on the key does not stop (it is down): the what-if says it can no longer
    start, apart from the VMs that stop; one on another key, or already unable to start, is not named."""
    kit.basic(e)
    kit.des(e, "des2", kit.key(e, "kv1", "k2"))
    kit.vm(e, "on-k1")
    kit.vm(e, "parked")
    kit.vm(e, "halted")
    kit.vm(e, "parked-k2", des="des2")
    e.deallocate_vm("parked")
    e.stop_vm("halted")
    e.deallocate_vm("parked-k2")
    impact = e.what_if("set_key_attributes", "kv1", "k1", enabled=False)
    assert impact.vms_stopping == ["on-k1"]
    assert impact.vms_start_blocked == ["halted", "parked"]
    assert impact.destructive
    [line] = [ln for ln in impact.lines() if "can no longer start" in ln]
    assert line == "2 VM(s) already stopped or deallocated can no longer start: halted, parked"
    assert impact.to_dict()["vms_start_blocked"] == ["halted", "parked"]
    assert e.get_vm("halted").power == "stopped" and e.get_vm("halted").status is None  # a preview changes nothing
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert kit.refused(e.start_vm, "halted").code == "KeyVaultKeyNotEnabled"
    assert e.what_if("set_key_attributes", "kv1", "k1", enabled=False).vms_start_blocked == []  # down already


def test_V3_a_vm_with_one_disk_on_the_key_stops(e, kit):
    kit.basic(e)
    kit.des(e, "des2", kit.key(e, "kv1", "k2"))
    kit.vm(e, "mixed", des="des2", os_des="des1")
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.get_vm("mixed").power == "stopped"


def test_V3_giving_the_set_a_new_key_makes_the_vm_startable(e, kit):
    kid, des = _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.get_vm("prem").power == "stopped"
    k2 = kit.key(e, "kv1", "k2")
    e.update_des("des1", key_url=k2)  # the storage service re-wraps from the data keys it still holds
    assert e.get_vm("prem").power == "stopped"  # nothing starts by itself
    assert e.get_vm("prem").status["code"] == "KeyUsableAgain"
    e.start_vm("prem")
    assert e.vm_read("prem", 0, 0, 13) == b"premium bytes"


def test_V3_a_deleted_key_purged_by_the_clock_keeps_the_vm_down(e, kit):
    kid, _ = _two_vms(e, kit)
    e.delete_key("kv1", "k1")
    e.advance_clock("31d")
    assert e.get_vm("prem").power == "stopped"
    assert f"key {kid} deleted" in e.get_vm("prem").status["message"]
    assert kit.refused(e.start_vm, "prem").code == "KeyVaultKeyNotFound"


def test_V3_the_cascade_is_one_write(e, kit):
    _two_vms(e, kit)
    for i in range(5):
        kit.vm(e, f"more{i}")
    n = e.store.commits
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.store.commits == n + 1
    assert sum(vm.power == "stopped" for vm in e.list_vms()) == 6


# ============================================================================================ V4 ultra disks


def test_V4_ultra_vm_keeps_running_and_keeps_reading_and_writing(e, kit):
    kid, _ = _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    vm = e.get_vm("ultra")
    assert vm.power == "running"
    assert vm.status["code"] == "RunningOnHostKeys" and "will not start after deallocation" in vm.status["message"]
    assert e.vm_read("ultra", 0, 0, 11) == b"ultra bytes"
    e.vm_write("ultra", 0, 100, b"written on cached keys")
    assert e.vm_read("ultra", 0, 100, 22) == b"written on cached keys"
    # it never asked the vault: the host cache holds the data key
    assert not [a for a in kit.audit(e, "KeyUnwrap") if a.time > "2026-05-01T09:00:00+00:00"]


def test_V4_ultra_vm_cannot_start_after_deallocation_until_the_key_is_back(e, kit):
    _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    e.stop_vm("ultra")
    e.start_vm("ultra")  # still allocated: the host still holds the keys
    e.deallocate_vm("ultra")
    assert "cannot start" in e.get_vm("ultra").status["message"]
    err = kit.refused(e.start_vm, "ultra")
    assert err.code == "KeyVaultKeyNotEnabled"
    assert e.get_vm("ultra").power == "deallocated"
    e.set_key_attributes("kv1", "k1", enabled=True)
    e.start_vm("ultra")
    assert e.vm_read("ultra", 0, 0, 11) == b"ultra bytes"


def test_V4_the_deallocation_what_if_says_an_ultra_vm_on_cached_keys_will_not_start_again(e, kit):
    """Deallocating a VM that runs on host-cached keys drops them: its preview says the VM will not start again
    (and why), not only that it stops; a VM whose key is usable is only said to stop."""
    _two_vms(e, kit)
    assert e.what_if("deallocate_vm", "ultra").vms_not_restartable == []
    e.set_key_attributes("kv1", "k1", enabled=False)
    impact = e.what_if("deallocate_vm", "ultra")
    assert impact.vms_stopping == ["ultra"] and impact.vms_not_restartable == ["ultra"]
    [line] = [ln for ln in impact.lines() if "will not start again" in ln]
    assert line.startswith("1 VM(s) will not start again after deallocation") and line.endswith(": ultra")
    assert "k1" in line and "disabled" in line
    assert e.get_vm("ultra").power == "running"  # a preview changes nothing


def test_V4_ultra_vm_can_start_again_when_the_set_gets_a_new_key(e, kit):
    _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    e.deallocate_vm("ultra")
    e.update_des("des1", key_url=kit.key(e, "kv1", "k2"))
    e.start_vm("ultra")
    assert e.vm_read("ultra", 0, 0, 11) == b"ultra bytes"


def test_V4_a_vm_with_ultra_and_premium_disks_on_the_key_stops(e, kit):
    kit.basic(e)
    kit.vm(e, "both", ultra=True)  # OS disk on the key too
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.get_vm("both").power == "stopped"


def test_V4_azure_2025_profile_makes_no_ultra_exception(kit):
    e = Engine.in_memory(seed=3, profile="azure-2025")
    _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    assert e.get_vm("ultra").power == "stopped"
    assert e.get_vm("prem").power == "stopped"
    assert kit.refused(e.start_vm, "ultra").code == "KeyVaultKeyNotEnabled"


# ============================================================================================ V5 enabling starts nothing


def test_V5_enabling_the_key_again_starts_nothing_but_makes_vms_startable(e, kit):
    _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    e.deallocate_vm("ultra")
    impact = e.what_if("set_key_attributes", "kv1", "k1", enabled=True)
    assert impact.vms_starting == [] and sorted(impact.vms_startable_again) == ["prem", "ultra"]
    e.set_key_attributes("kv1", "k1", enabled=True)
    assert e.get_vm("prem").power == "stopped" and e.get_vm("ultra").power == "deallocated"
    assert e.get_vm("prem").status["code"] == "KeyUsableAgain"
    assert "startable again" in e.get_vm("prem").status["message"]
    e.start_vm("prem")
    e.start_vm("ultra")
    assert e.get_vm("prem").status is None
    assert e.vm_read("prem", 0, 0, 13) == b"premium bytes" and e.vm_read("ultra", 0, 0, 11) == b"ultra bytes"


def test_V5_running_ultra_vm_loses_its_warning_when_the_key_is_back(e, kit):
    _two_vms(e, kit)
    e.set_key_attributes("kv1", "k1", enabled=False)
    e.set_key_attributes("kv1", "k1", enabled=True)
    assert e.get_vm("ultra").power == "running" and e.get_vm("ultra").status is None


# ============================================================================================ V6 encryption at host


def test_V6_encryption_at_host_on_a_supported_size_and_region(e, kit):
    kit.basic(e)
    vm = kit.vm(e, "vm1", size="Standard_DS3_v2", encryption_at_host=True)
    assert vm.encryption_at_host and vm.power == "running"
    assert kit.vm(e, "vm2", size="Standard_D4s_v3", encryption_at_host=True).encryption_at_host


@pytest.mark.parametrize("size", ["Standard_D4_v3", "Standard_A2_v2", "Standard_F4"])
def test_V6_unsupported_sizes_are_refused(e, kit, size):
    kit.basic(e)
    err = kit.refused(kit.vm, e, "vm1", size=size, encryption_at_host=True)
    assert err.code == "InvalidParameter" and "does not support encryption at host" in err.message
    assert e.list_vms() == [] and e.list_disks() == []


def test_V6_not_with_ultra_disks(e, kit):
    kit.basic(e)
    err = kit.refused(kit.vm, e, "vm1", ultra=True, encryption_at_host=True)
    assert err.code == "InvalidParameter" and "ultra" in err.message
    kit.vm(e, "eah", data=0, encryption_at_host=True)
    e.create_disk("u1", kit.RG, size_gb=4, sku="UltraSSD_LRS")
    e.deallocate_vm("eah")
    e.update_vm("eah", encryption_at_host=False)
    e.update_vm("eah", ultra_ssd_enabled=True)
    e.attach_disk("eah", "u1")
    err = kit.refused(e.update_vm, "eah", encryption_at_host=True)
    assert err.code == "InvalidParameter"


def test_V6_azure_2025_allows_encryption_at_host_with_ultra(kit):
    e = Engine.in_memory(seed=4, profile="azure-2025")
    kit.basic(e)
    assert kit.vm(e, "vm1", ultra=True, encryption_at_host=True).encryption_at_host


def test_V6_not_with_azure_disk_encryption(e, kit):
    kit.basic(e)
    kit.vm(e, "eah", des=None, os_des=None, encryption_at_host=True)
    err = kit.refused(e.enable_disk_encryption_ade, "eah")
    assert err.code == "OperationNotAllowed" and "encryption at host" in err.message
    kit.vm(e, "ade", des=None, os_des=None)
    e.enable_disk_encryption_ade("ade")
    e.deallocate_vm("ade")
    err = kit.refused(e.update_vm, "ade", encryption_at_host=True)
    assert err.code == "InvalidParameter" and "Azure Disk Encryption" in err.message


def test_V6_an_existing_vm_must_be_deallocated_to_turn_it_on(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1")
    err = kit.refused(e.update_vm, "vm1", encryption_at_host=True)
    assert err.code == "OperationNotAllowed" and "deallocated" in err.message
    e.stop_vm("vm1")
    assert kit.refused(e.update_vm, "vm1", encryption_at_host=True).code == "OperationNotAllowed"
    e.deallocate_vm("vm1")
    assert e.update_vm("vm1", encryption_at_host=True).encryption_at_host
    e.start_vm("vm1")


# ============================================================================================ V7 regions


@pytest.mark.parametrize("region,ok", [("eastus", True), ("westus2", True), ("southcentralus", True),
                                       ("westus", False), ("northeurope", False)])
def test_V7_double_encryption_regions_of_seed_001(e, kit, region, ok):
    kit.vault(e, "kvr", location=region)
    kid = kit.key(e, "kvr", "k1")
    if ok:
        assert e.create_des("dbl", kit.RG, key_url=kid, location=region, encryption_type=ENC_DOUBLE)
    else:
        err = kit.refused(e.create_des, "dbl", kit.RG, key_url=kid, location=region, encryption_type=ENC_DOUBLE)
        assert err.code == "InvalidParameter" and "V7" in err.message


@pytest.mark.parametrize("region,ok", [("eastus", True), ("westus", True), ("usgovarizona", True),
                                       ("northeurope", False), ("japaneast", False)])
def test_V7_encryption_at_host_regions_of_seed_001(e, kit, region, ok):
    e.create_group(kit.RG, kit.REGION)
    if ok:
        assert e.create_vm("vm1", kit.RG, location=region, encryption_at_host=True).encryption_at_host
    else:
        err = kit.refused(e.create_vm, "vm1", kit.RG, location=region, encryption_at_host=True)
        assert err.code == "InvalidParameter" and "V7" in err.message


def test_V7_azure_2025_offers_both_everywhere(kit):
    e = Engine.in_memory(seed=6, profile="azure-2025")
    kit.vault(e, "kvr", location="northeurope")
    kid = kit.key(e, "kvr", "k1")
    assert e.create_des("dbl", kit.RG, key_url=kid, location="northeurope", encryption_type=ENC_DOUBLE)
    assert e.create_vm("vm1", kit.RG, location="northeurope", encryption_at_host=True).encryption_at_host


# ============================================================================================ V8


def test_V8_double_encryption_is_not_offered_for_ultra_disks(e, kit):
    kit.vault(e)
    kit.des(e, "dbl", kit.key(e), encryption_type=ENC_DOUBLE)
    err = kit.refused(e.create_disk, "u1", kit.RG, size_gb=4, sku="UltraSSD_LRS", disk_encryption_set="dbl")
    assert err.code == "InvalidParameter" and "ultra" in err.message
    assert e.create_disk("p1", kit.RG, size_gb=4, sku="Premium_LRS", disk_encryption_set="dbl")


def test_V8_a_disk_once_encrypted_with_ade_cannot_take_customer_keys(e, kit):
    kit.basic(e)
    kit.vm(e, "vm1", des=None, os_des=None)
    e.enable_disk_encryption_ade("vm1")
    e.delete_vm("vm1")  # even detached, the disk keeps its in-guest encryption
    err = kit.refused(e.update_disk, "vm1-os", disk_encryption_set="des1")
    assert err.code == "OperationNotAllowed"
    e.create_disk("fresh", kit.RG, size_gb=4)
    assert e.update_disk("fresh", disk_encryption_set="des1").des_id == e.get_des("des1").id

"""V6 (scale sets) and K9 (temporary disks)."""

from __future__ import annotations

import pytest

from engine.errors import EngineError


@pytest.fixture
def landscape(seeded):
    e = seeded
    e.create_group("rg", "eastus")
    return e


def test_V6_on_a_scale_set_only_instances_created_after_enabling_get_encryption_at_host(landscape):
    e = landscape
    e.create_scale_set("web", "rg", capacity=2, size="Standard_DS3_v2")
    before = sorted(v.name for v in e.list_vms() if v.scale_set == "web")
    assert before == ["web-0", "web-1"]
    e.update_scale_set("web", encryption_at_host=True)
    assert not any(e.get_vm(n).encryption_at_host for n in before)  # existing instances keep what they had
    e.scale_scale_set("web", 4)
    assert e.get_vm("web-2").encryption_at_host and e.get_vm("web-3").encryption_at_host
    assert not e.get_vm("web-0").encryption_at_host
    assert e.get_scale_set("web").encryption_at_host


def test_V6_scale_set_encryption_at_host_needs_a_supporting_size(landscape):
    e = landscape
    e.create_scale_set("old", "rg", capacity=1, size="Standard_D2_v3")
    with pytest.raises(EngineError) as err:
        e.update_scale_set("old", encryption_at_host=True)
    assert err.value.code == "InvalidParameter" and "does not support encryption at host" in err.value.message
    assert not e.get_scale_set("old").encryption_at_host


def test_V6_scale_set_capacity_rules(landscape):
    e = landscape
    with pytest.raises(EngineError) as err:
        e.create_scale_set("big", "rg", capacity=101)
    assert err.value.code == "InvalidParameter"
    e.create_scale_set("s", "rg", capacity=2)
    with pytest.raises(EngineError) as err:
        e.scale_scale_set("s", 1)
    assert err.value.code == "InvalidParameter" and "only scales out" in err.value.message


def test_K9_the_temp_disk_is_not_a_managed_disk_and_only_encryption_at_host_encrypts_it(landscape):
    e = landscape
    plain = e.create_vm("plain", "rg", size="Standard_DS3_v2")
    eah = e.create_vm("eah", "rg", size="Standard_DS3_v2", encryption_at_host=True)
    assert e.temp_disk(plain) == {"managed": False, "serverSideEncrypted": False, "encryptedAtHost": False,
                                  "keyType": None}
    assert e.temp_disk(eah)["encryptedAtHost"] and e.temp_disk(eah)["keyType"] == "platform"
    assert all(d.id in (plain.os_disk_id,) for d in e.vm_disks(plain))  # no managed disk stands for it


def test_V6_K5_update_instances_applies_the_model_only_to_deallocated_instances(landscape, kit):
    e = landscape
    e.create_vault("kv1", "rg", enable_purge_protection=True)
    _, ver = e.create_key("kv1", "k1")
    url = f"https://kv1.vault.azure.net/keys/k1/{ver['version']}"
    for name in ("des1", "des2"):
        des = e.create_des(name, "rg", url, source_vault="kv1")
        e.set_policy("kv1", des.principal_id, ["get", "wrapKey", "unwrapKey"])
    e.create_scale_set("web", "rg", capacity=2, os_disk_encryption_set="des1", data_disk_sizes_gb=[8],
                       data_disk_encryption_sets=["des1"])
    ss = e.get_scale_set("web")
    assert all(e.instance_on_latest_model(ss, vm) for vm in e.scale_set_instances(ss))
    e.update_scale_set("web", os_disk_encryption_set="des2", data_disk_encryption_sets=["des2"])
    assert not any(e.instance_on_latest_model(ss, vm) for vm in e.scale_set_instances(ss))
    with pytest.raises(EngineError) as err:
        e.upgrade_scale_set_instances("web", "rg", instance_ids=["*"])
    assert err.value.code == "OperationNotAllowed" and "(V6, K5)" in err.value.message
    assert e.get_disk("web-0-os", "rg").des_id.endswith("/des1")  # nothing changed
    e.scale_set_power("web", "deallocate", "rg", instance_ids=["1"])
    e.upgrade_scale_set_instances("web", "rg", instance_ids=["1"])
    vm1 = e.get_vm("web-1")
    assert e.instance_on_latest_model(ss, vm1) and not e.instance_on_latest_model(ss, e.get_vm("web-0"))
    assert {d.des_id.rsplit("/", 1)[1] for d in e.vm_disks(vm1)} == {"des2"}
    with pytest.raises(EngineError) as err:
        e.upgrade_scale_set_instances("web", "rg", instance_ids=["7"])
    assert err.value.code == "ResourceNotFound" and "instance ids: 0, 1" in err.value.message

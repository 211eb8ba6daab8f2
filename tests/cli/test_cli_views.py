"""engine.views: engine models in the Azure CLI's JSON shapes (pure, shared with the console)."""

from __future__ import annotations

import base64

import pytest

from engine import Engine, views

KEY_ATTRIBUTES = {"created", "enabled", "expires", "exportable", "hsmPlatform", "keySize", "notBefore", "recoverableDays",
                  "recoveryLevel", "updated"}
JWK_FIELDS = {"crv", "d", "dp", "dq", "e", "k", "keyOps", "kid", "kty", "n", "p", "q", "qi", "t", "x", "y"}


@pytest.fixture(scope="module")
def world():
    e = Engine.in_memory(seed=11)
    e.create_group("rg1", "eastus")
    e.create_vault("kv1", "rg1", enable_purge_protection=True, retention_days=30)
    k, ver = e.create_key("kv1", "key1", size=3072)
    des = e.create_des("des1", "rg1", f"{k.id}/{ver['version']}", source_vault="kv1")
    e.set_policy("kv1", des.principal_id, ["get", "wrapKey", "unwrapKey"])
    e.create_vm("vm1", "rg1", os_disk_name="os1", os_disk_encryption_set="des1", data_disk_sizes_gb=[8],
                data_disk_encryption_sets=["des1"], ultra_ssd_enabled=True)
    e.create_disk("loose", "rg1", size_gb=16)
    return e


def test_key_bundle_shape(world):
    k, ver = world.get_key("kv1", "key1", audit=False)
    b = views.key_bundle(world, k, ver)
    assert set(b) == {"attributes", "key", "managed", "releasePolicy", "tags"}
    assert set(b["attributes"]) == KEY_ATTRIBUTES and set(b["key"]) == JWK_FIELDS
    assert b["key"]["e"] == "AQAB" and len(base64.b64decode(b["key"]["n"], validate=True)) == 384
    assert b["key"]["kid"].endswith("/" + ver["version"])
    assert b["attributes"]["recoveryLevel"] == "CustomizedRecoverable"  # purge protection, 30 days
    assert b["attributes"]["recoverableDays"] == 30 and b["tags"] is None


def test_key_list_items_and_versions(world):
    k, _ = world.get_key("kv1", "key1", audit=False)
    item = views.key_list_item(world, k)
    assert set(item) == {"attributes", "keySize", "kid", "managed", "name", "releasePolicy", "tags"}
    assert item["kid"] == "https://kv1.vault.azure.net/keys/key1"
    versions = views.key_versions_view(world, k)
    assert [v["kid"].rsplit("/", 1)[1] for v in versions] == [v["version"] for v in k.versions]


def test_deleted_key_fields():
    e = Engine.in_memory(seed=2)
    e.create_group("g", "eastus")
    e.create_vault("kvd", "g")
    e.create_key("kvd", "k")
    k = e.delete_key("kvd", "k")
    d = views.deleted_key_view(e, k)
    assert d["recoveryId"] == "https://kvd.vault.azure.net/deletedkeys/k"
    assert d["deletedDate"] == "2026-05-01T09:00:00+00:00" and d["scheduledPurgeDate"].startswith("2026-07-30")
    assert d["attributes"]["recoveryLevel"] == "Recoverable+Purgeable"


def test_vault_shape(world):
    v = views.vault_view(world, world.get_vault("kv1"))
    assert v["resourceGroup"] == "rg1" and v["type"] == "Microsoft.KeyVault/vaults"
    p = v["properties"]
    assert p["vaultUri"] == "https://kv1.vault.azure.net/" and p["sku"] == {"family": "A", "name": "standard"}
    assert p["enablePurgeProtection"] is True and p["enableSoftDelete"] is True
    assert p["softDeleteRetentionInDays"] == 30
    assert set(views.vault_list_item(world.get_vault("kv1"))) == {"id", "location", "name", "tags", "type",
                                                                  "resourceGroup"}


def test_des_shape(world):
    d = views.des_view(world.get_des("des1", "rg1"))
    assert set(d) >= {"activeKey", "encryptionType", "id", "identity", "location", "name", "previousKeys",
                      "provisioningState", "resourceGroup", "rotationToLatestKeyVersionEnabled", "tags", "type"}
    assert "resourceGroup" not in d["activeKey"]["sourceVault"]  # az does not descend into sourceVault
    assert d["identity"]["type"] == "SystemAssigned"
    assert "lastKeyRotationTimestamp" not in d and "autoKeyRotationError" not in d


def test_disk_shapes(world):
    disk = world.get_disk("os1", "rg1")
    show = views.disk_view(world, disk)
    assert None not in show.values()  # AAZ: only returned fields
    assert show["diskSizeGB"] == 30 and show["diskState"] == "Attached" and show["osType"] == "Linux"
    assert show["encryption"] == {"diskEncryptionSetId": world.get_des("des1", "rg1").id,
                                  "type": "EncryptionAtRestWithCustomerKey"}
    assert show["managedBy"] == world.get_vm("vm1", "rg1").id and show["sku"] == {"name": "Premium_LRS",
                                                                                  "tier": "Premium"}
    loose = views.disk_view(world, world.get_disk("loose", "rg1"))  # az disk create prints the same AAZ shape
    assert loose["diskSizeGB"] == 16 and "diskSizeGb" not in loose and "zones" not in loose
    assert loose["encryption"] == {"type": "EncryptionAtRestWithPlatformKey"} and loose["diskState"] == "Unattached"


def test_vm_shapes(world):
    vm = world.get_vm("vm1", "rg1")
    show = views.vm_view(world, vm)
    assert "instanceView" not in show and "powerState" not in show  # AAZ: only the fields present
    assert show["additionalCapabilities"] == {"ultraSSDEnabled": True}  # the REST spelling az 2.91 prints
    assert "securityProfile" not in show and show["hardwareProfile"]["vmSize"] == vm.size
    des_id = world.get_des("des1", "rg1").id
    os_md = show["storageProfile"]["osDisk"]["managedDisk"]
    assert os_md["diskEncryptionSet"] == {"id": des_id, "resourceGroup": "rg1"} and os_md["resourceGroup"] == "rg1"
    assert show["storageProfile"]["dataDisks"][0]["lun"] == 0
    details = views.vm_view(world, vm, details=True)
    assert "instanceView" not in details and details["powerState"] == "VM running"
    iv = views.vm_view(world, vm, instance_view=True)["instanceView"]
    assert [s["code"] for s in iv["statuses"]] == ["ProvisioningState/succeeded", "PowerState/running"]


def test_rotation_policy_output_shape():
    out = views.rotation_policy_view({"id": "x/rotationpolicy", "lifetimeActions": [
        {"trigger": {"timeAfterCreate": "P90D"}, "action": {"type": "Rotate"}}],
        "attributes": {"expiryTime": "P1Y", "created": "c", "updated": "u"}})
    assert out == {"createdOn": "c", "expiresIn": "P1Y", "id": "x/rotationpolicy", "updatedOn": "u",
                   "lifetimeActions": [{"action": "Rotate", "timeAfterCreate": "P90D", "timeBeforeExpiry": None}]}


def test_add_resource_group_rule():
    obj = {"id": "/subscriptions/s/resourceGroups/RG-A/providers/X/y/z",
           "nested": [{"id": "/subscriptions/s/resourceGroups/B/providers/X/y/z"}],
           "sourceVault": {"id": "/subscriptions/s/resourceGroups/C/providers/X/y/z"},
           "group": {"id": "/subscriptions/s/resourceGroups/D"}}
    views.add_resource_group(obj)
    assert obj["resourceGroup"] == "RG-A" and obj["nested"][0]["resourceGroup"] == "B"
    assert "resourceGroup" not in obj["sourceVault"] and "resourceGroup" not in obj["group"]

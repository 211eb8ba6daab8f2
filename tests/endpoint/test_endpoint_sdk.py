"""Seed 003's walkthrough through the unmodified Azure SDK for Python against ``cmklab endpoint`` (O5, O6, O7):
vault, key, disk encryption set, access policy and role assignment, a disk with the set, a VM whose
existing disks are encrypted while deallocated, a new key version; then disabling the key (the VMs stop,
V2; the ultra VM keeps running and cannot start after deallocation, V4) and a purge (KV6). Each result is
read through the SDK's own models."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

RG, KV, KEY, DES = "my-resource-group", "my-disk-encryption-kv", "disk-encryption-key", "my-disk-encryption-set"


def _power(cm, name: str) -> str:
    view = cm.virtual_machines.instance_view(RG, name)
    return next(s.code for s in view.statuses if s.code.startswith("PowerState/"))


def test_O6_seed003_walkthrough_cascade_ultra_and_purge_through_the_sdk(endpoint, credential, sub):
    from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
    from azure.keyvault.keys import KeyClient
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import (AdditionalCapabilities, DataDisk, Disk, DiskEncryptionSet,
                                           DiskEncryptionSetUpdate, DiskUpdate, Encryption, EncryptionSetIdentity,
                                           HardwareProfile, ImageReference, KeyForDiskEncryptionSet,
                                           ManagedDiskParameters, OSDisk, SourceVault, StorageProfile,
                                           VirtualMachine, CreationData, DiskSku)
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import (AccessPolicyEntry, Permissions, Sku, VaultAccessPolicyParameters,
                                            VaultAccessPolicyProperties, VaultCreateOrUpdateParameters,
                                            VaultProperties)
    from azure.mgmt.resource.resources import ResourceManagementClient

    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    rm = ResourceManagementClient(credential, sub)
    kvm = KeyVaultManagementClient(credential, sub)
    cm = ComputeManagementClient(credential, sub)
    auth = AuthorizationManagementClient(credential, sub)

    group = rm.resource_groups.create_or_update(RG, {"location": "eastus"})
    assert (group.name, group.location, group.properties.provisioning_state) == (RG, "eastus", "Succeeded")
    # create_or_update again is a PUT: the tags become the ones sent (none sent: none kept)
    tagged = rm.resource_groups.create_or_update(RG, {"location": "eastus", "tags": {"owner": "ops"}})
    assert (tagged.tags, rm.resource_groups.get(RG).tags) == ({"owner": "ops"}, {"owner": "ops"})
    assert not rm.resource_groups.create_or_update(RG, {"location": "eastus"}).tags

    # block 0: the vault, soft delete and purge protection on
    vault = kvm.vaults.begin_create_or_update(RG, KV, VaultCreateOrUpdateParameters(
        location="eastus", properties=VaultProperties(tenant_id=tenant, sku=Sku(family="A", name="standard"),
                                                      enable_soft_delete=True, enable_purge_protection=True,
                                                      access_policies=[]))).result()
    assert vault.properties.enable_purge_protection is True
    assert vault.properties.vault_uri == f"https://{KV}.vault.azure.net/"

    # block 1: an RSA 3072 key, shown again
    keys = KeyClient(vault.properties.vault_uri, credential)
    key = keys.create_rsa_key(KEY, size=3072)
    shown = keys.get_key(KEY)
    assert shown.id == key.id and shown.key_type == "RSA" and len(shown.key.n) == 384

    # block 2: the disk encryption set on that key version, with its system-assigned identity
    des = cm.disk_encryption_sets.begin_create_or_update(RG, DES, DiskEncryptionSet(
        location="eastus", identity=EncryptionSetIdentity(type="SystemAssigned"),
        active_key=KeyForDiskEncryptionSet(key_url=key.id, source_vault=SourceVault(id=vault.id)),
        encryption_type="EncryptionAtRestWithCustomerKey")).result()
    principal = des.identity.principal_id
    assert des.active_key.key_url == key.id and len(principal) == 36

    # block 3: the access policy (get, wrapKey, unwrapKey), and the RBAC role the document also shows
    kvm.vaults.update_access_policy(RG, KV, "add", VaultAccessPolicyParameters(
        properties=VaultAccessPolicyProperties(access_policies=[AccessPolicyEntry(
            tenant_id=tenant, object_id=principal, permissions=Permissions(keys_property=["get", "wrapKey", "unwrapKey"]))])))
    policies = kvm.vaults.get(RG, KV).properties.access_policies
    granted = {p.object_id: sorted(p.permissions.keys_property) for p in policies}
    assert granted[principal] == ["get", "unwrapKey", "wrapKey"]
    role = next(auth.role_definitions.list(vault.id, filter="roleName eq 'Key Vault Crypto Service Encryption "
                                                              "User'"))
    ra = auth.role_assignments.create(vault.id, "2f6b5d8e-0000-4000-8000-000000000003",
                                      {"role_definition_id": role.id, "principal_id": principal,
                                       "principal_type": "ServicePrincipal"})
    assert ra.principal_id == principal and ra.role_definition_id == role.id and ra.scope == vault.id
    assert ra.name == "2f6b5d8e-0000-4000-8000-000000000003"  # a PUT creates at the name it names
    assert auth.role_assignments.get(vault.id, ra.name).principal_id == principal

    # block 4: a Premium disk encrypted with the set
    disk = cm.disks.begin_create_or_update(RG, "encrypted-data-disk", Disk(
        location="eastus", sku=DiskSku(name="Premium_LRS"), disk_size_gb=128,
        creation_data=CreationData(create_option="Empty"),
        encryption=Encryption(type="EncryptionAtRestWithCustomerKey", disk_encryption_set_id=des.id))).result()
    disk = cm.disks.get(RG, "encrypted-data-disk")
    assert disk.encryption.type == "EncryptionAtRestWithCustomerKey"
    assert disk.encryption.disk_encryption_set_id.lower() == des.id.lower() and disk.disk_size_gb == 128

    # what the document assumes: my-vm with my-vm-osdisk and a data disk, platform-encrypted
    cm.virtual_machines.begin_create_or_update(RG, "my-vm", VirtualMachine(
        location="eastus", hardware_profile=HardwareProfile(vm_size="Standard_DS3_v2"),
        storage_profile=StorageProfile(
            image_reference=ImageReference(publisher="Canonical", offer="0001-com-ubuntu-server-jammy",
                                           sku="22_04-lts-gen2", version="latest"),
            os_disk=OSDisk(name="my-vm-osdisk", create_option="FromImage"),
            data_disks=[DataDisk(lun=0, create_option="Empty", disk_size_gb=64)]))).result()
    vm = cm.virtual_machines.get(RG, "my-vm")
    data_disk = vm.storage_profile.data_disks[0].name
    assert vm.storage_profile.os_disk.name == "my-vm-osdisk" and _power(cm, "my-vm") == "PowerState/running"

    # block 5: deallocate, move both disks to the set, start again
    cm.virtual_machines.begin_deallocate(RG, "my-vm").result()
    assert _power(cm, "my-vm") == "PowerState/deallocated"
    for name in ("my-vm-osdisk", data_disk):
        cm.disks.begin_update(RG, name, DiskUpdate(encryption=Encryption(
            type="EncryptionAtRestWithCustomerKey", disk_encryption_set_id=des.id))).result()
        assert cm.disks.get(RG, name).encryption.disk_encryption_set_id.lower() == des.id.lower()
    cm.virtual_machines.begin_start(RG, "my-vm").result()
    assert _power(cm, "my-vm") == "PowerState/running"

    # block 6: a new key version, and the set moved to it
    new_key = keys.create_rsa_key(KEY, size=3072)
    assert new_key.id != key.id and new_key.properties.version != key.properties.version
    cm.disk_encryption_sets.begin_update(RG, DES, DiskEncryptionSetUpdate(
        active_key=KeyForDiskEncryptionSet(key_url=new_key.id, source_vault=SourceVault(id=vault.id)))).result()
    assert cm.disk_encryption_sets.get(RG, DES).active_key.key_url == new_key.id
    assert sorted(v.version for v in keys.list_properties_of_key_versions(KEY)) == sorted(
        [key.properties.version, new_key.properties.version])

    # an ultra-disk VM on the same set, for the deferral
    cm.virtual_machines.begin_create_or_update(RG, "vm-ultra", VirtualMachine(
        location="eastus", hardware_profile=HardwareProfile(vm_size="Standard_D4s_v3"),
        additional_capabilities=AdditionalCapabilities(ultra_ssd_enabled=True),
        storage_profile=StorageProfile(
            image_reference=ImageReference(publisher="Canonical", offer="0001-com-ubuntu-server-jammy",
                                           sku="22_04-lts-gen2", version="latest"),
            os_disk=OSDisk(create_option="FromImage"),  # platform-managed: only the ultra disk uses the set
            data_disks=[DataDisk(lun=0, create_option="Empty", disk_size_gb=64, managed_disk=ManagedDiskParameters(
                storage_account_type="UltraSSD_LRS", disk_encryption_set={"id": des.id}))]))).result()
    assert _power(cm, "vm-ultra") == "PowerState/running"

    # the disable cascade: the key disabled through Key Vault's data plane stops my-vm at once (V2);
    # the ultra VM keeps running on the host's copies of its data keys (V4)
    keys.update_key_properties(KEY, enabled=False)
    assert keys.get_key(KEY).properties.enabled is False
    assert _power(cm, "my-vm") == "PowerState/stopped"
    statuses = cm.virtual_machines.instance_view(RG, "my-vm").statuses
    assert any("disabled" in (s.message or "") for s in statuses if s.code.startswith("cmklab/"))
    assert _power(cm, "vm-ultra") == "PowerState/running"
    # ... and cannot start once deallocated
    cm.virtual_machines.begin_deallocate(RG, "vm-ultra").result()
    with pytest.raises(HttpResponseError) as refused:
        cm.virtual_machines.begin_start(RG, "vm-ultra").result()
    assert refused.value.error.code == "KeyVaultKeyNotEnabled" and "vm-ultra" in refused.value.error.message
    assert _power(cm, "vm-ultra") == "PowerState/deallocated"

    # enabled again: my-vm starts
    keys.update_key_properties(KEY, enabled=True)
    cm.virtual_machines.begin_start(RG, "my-vm").result()
    assert _power(cm, "my-vm") == "PowerState/running"

    # purge: refused under purge protection (KV6); in a vault without it, gone for good
    keys.create_rsa_key("spare", size=2048)
    keys.begin_delete_key("spare").result()
    with pytest.raises(HttpResponseError) as protected:
        keys.purge_deleted_key("spare")
    assert protected.value.status_code in (400, 403, 409)
    assert keys.get_deleted_key("spare").name == "spare"

    plain = kvm.vaults.begin_create_or_update(RG, "kv-plain", VaultCreateOrUpdateParameters(
        location="eastus", properties=VaultProperties(tenant_id=tenant, sku=Sku(family="A", name="standard"),
                                                      soft_delete_retention_in_days=7))).result()
    plain_keys = KeyClient(plain.properties.vault_uri, credential)
    plain_keys.create_rsa_key("shred-me", size=2048)
    deleted = plain_keys.begin_delete_key("shred-me").result()
    assert deleted.recovery_id.endswith("/deletedkeys/shred-me") and deleted.scheduled_purge_date is not None
    plain_keys.purge_deleted_key("shred-me")
    with pytest.raises(ResourceNotFoundError):
        plain_keys.get_deleted_key("shred-me")
    with pytest.raises(ResourceNotFoundError):
        plain_keys.get_key("shred-me")


def test_V6_scale_set_through_the_sdk(endpoint, credential, sub):
    """A scale set on a disk encryption set: its instances are VMs of the model; it scales out; encryption at
    host turned on reaches only the instances made afterwards (V6)."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import (DiskEncryptionSetParameters, ImageReference, Sku,
                                           VirtualMachineScaleSet, VirtualMachineScaleSetManagedDiskParameters,
                                           VirtualMachineScaleSetOSDisk, VirtualMachineScaleSetStorageProfile,
                                           VirtualMachineScaleSetUpdate, VirtualMachineScaleSetUpdateVMProfile,
                                           VirtualMachineScaleSetVMProfile, SecurityProfile)

    from azure.core.exceptions import ResourceNotFoundError

    cm = ComputeManagementClient(credential, sub)
    try:
        des = cm.disk_encryption_sets.get(RG, DES)
    except ResourceNotFoundError:
        pytest.skip("runs on the set the walkthrough test (above, same module) makes")
    ss = cm.virtual_machine_scale_sets.begin_create_or_update(RG, "web-ss", VirtualMachineScaleSet(
        location="eastus", sku=Sku(name="Standard_D4s_v3", capacity=2),
        virtual_machine_profile=VirtualMachineScaleSetVMProfile(storage_profile=VirtualMachineScaleSetStorageProfile(
            image_reference=ImageReference(publisher="Canonical", offer="0001-com-ubuntu-server-jammy",
                                           sku="22_04-lts-gen2", version="latest"),
            os_disk=VirtualMachineScaleSetOSDisk(
                create_option="FromImage", managed_disk=VirtualMachineScaleSetManagedDiskParameters(
                    disk_encryption_set=DiskEncryptionSetParameters(id=des.id))))))).result()
    assert ss.sku.capacity == 2
    assert ss.virtual_machine_profile.storage_profile.os_disk.managed_disk.disk_encryption_set.id == des.id
    instances = list(cm.virtual_machine_scale_set_vms.list(RG, "web-ss"))
    assert sorted(i.name for i in instances) == ["web-ss-0", "web-ss-1"]
    os_disk = cm.virtual_machines.get(RG, "web-ss-0").storage_profile.os_disk
    assert cm.disks.get(RG, os_disk.name).encryption.disk_encryption_set_id.lower() == des.id.lower()
    cm.virtual_machine_scale_sets.begin_update(RG, "web-ss", VirtualMachineScaleSetUpdate(
        virtual_machine_profile=VirtualMachineScaleSetUpdateVMProfile(
            security_profile=SecurityProfile(encryption_at_host=True)),
        sku=Sku(name="Standard_D4s_v3", capacity=3))).result()
    ss = cm.virtual_machine_scale_sets.get(RG, "web-ss")
    assert ss.sku.capacity == 3 and ss.virtual_machine_profile.security_profile.encryption_at_host is True
    at_host = {n: bool((cm.virtual_machines.get(RG, n).security_profile or {}) and
                       cm.virtual_machines.get(RG, n).security_profile.encryption_at_host)
               for n in ("web-ss-0", "web-ss-2")}
    assert at_host == {"web-ss-0": False, "web-ss-2": True}


def test_V1_attach_and_detach_through_a_vm_update(endpoint, credential, sub):
    """A data disk added to or removed from the VM model's dataDisks is attached or detached (V1)."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import (CreationData, DataDisk, Disk, DiskSku, HardwareProfile, ImageReference,
                                           ManagedDiskParameters, OSDisk, StorageProfile, VirtualMachine)
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.create_or_update("rg-attach", {"location": "eastus"})
    cm = ComputeManagementClient(credential, sub)
    disk = cm.disks.begin_create_or_update("rg-attach", "extra", Disk(
        location="eastus", sku=DiskSku(name="Premium_LRS"), disk_size_gb=32,
        creation_data=CreationData(create_option="Empty"))).result()
    vm = cm.virtual_machines.begin_create_or_update("rg-attach", "vm-a", VirtualMachine(
        location="eastus", hardware_profile=HardwareProfile(vm_size="Standard_DS3_v2"),
        storage_profile=StorageProfile(
            image_reference=ImageReference(publisher="Canonical", offer="0001-com-ubuntu-server-jammy",
                                           sku="22_04-lts-gen2", version="latest"),
            os_disk=OSDisk(create_option="FromImage")))).result()
    assert vm.storage_profile.data_disks == []
    vm.storage_profile.data_disks.append(DataDisk(lun=3, create_option="Attach",
                                                  managed_disk=ManagedDiskParameters(id=disk.id)))
    vm = cm.virtual_machines.begin_create_or_update("rg-attach", "vm-a", vm).result()
    assert [(d.lun, d.name) for d in vm.storage_profile.data_disks] == [(3, "extra")]
    assert cm.disks.get("rg-attach", "extra").managed_by.lower() == vm.id.lower()
    vm.storage_profile.data_disks = []
    vm = cm.virtual_machines.begin_create_or_update("rg-attach", "vm-a", vm).result()
    assert vm.storage_profile.data_disks == [] and cm.disks.get("rg-attach", "extra").managed_by is None


def test_V6_a_scale_sets_plain_properties_set_through_arm_are_stored_and_shown(endpoint, credential, sub):
    """What the engine does not model of a scale set (zones, a rolling upgrade policy, overprovisioning ...)
    is kept as it keeps ``az vmss create/update``'s (``ScaleSet.props``): the SDK reads it back, a PATCH
    merges into it, and a password in the model is never stored."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import (ImageReference, RollingUpgradePolicy, Sku, UpgradePolicy,
                                           VirtualMachineScaleSet, VirtualMachineScaleSetOSProfile,
                                           VirtualMachineScaleSetStorageProfile, VirtualMachineScaleSetUpdate,
                                           VirtualMachineScaleSetVMProfile)
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.create_or_update("rg-ss-props", {"location": "eastus"})
    cm = ComputeManagementClient(credential, sub)
    ss = cm.virtual_machine_scale_sets.begin_create_or_update("rg-ss-props", "ss-props", VirtualMachineScaleSet(
        location="eastus", sku=Sku(name="Standard_D2s_v3", capacity=1), zones=["1", "2"], tags={"team": "web"},
        overprovision=False, upgrade_policy=UpgradePolicy(mode="Rolling", rolling_upgrade_policy=RollingUpgradePolicy(
            max_batch_instance_percent=20)),
        virtual_machine_profile=VirtualMachineScaleSetVMProfile(
            os_profile=VirtualMachineScaleSetOSProfile(computer_name_prefix="web", admin_username="ops",
                                                       admin_password="Not-stored-1234!"),
            storage_profile=VirtualMachineScaleSetStorageProfile(image_reference=ImageReference(
                publisher="Canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts-gen2",
                version="latest"))))).result()
    got = cm.virtual_machine_scale_sets.get("rg-ss-props", "ss-props")
    for s in (ss, got):
        assert s.zones == ["1", "2"] and s.tags == {"team": "web"} and s.overprovision is False
        assert s.upgrade_policy.mode == "Rolling"
        assert s.upgrade_policy.rolling_upgrade_policy.max_batch_instance_percent == 20
        assert s.virtual_machine_profile.os_profile.admin_username == "ops"
    cm.virtual_machine_scale_sets.begin_update("rg-ss-props", "ss-props", VirtualMachineScaleSetUpdate(
        overprovision=True, upgrade_policy=UpgradePolicy(rolling_upgrade_policy=RollingUpgradePolicy(
            max_unhealthy_instance_percent=30)))).result()
    got = cm.virtual_machine_scale_sets.get("rg-ss-props", "ss-props")
    assert got.overprovision is True and got.zones == ["1", "2"] and got.upgrade_policy.mode == "Rolling"
    rolling = got.upgrade_policy.rolling_upgrade_policy
    assert (rolling.max_batch_instance_percent, rolling.max_unhealthy_instance_percent) == (20, 30)
    engine = endpoint.engine
    with engine._lock:
        stored = engine.get_scale_set("ss-props", "rg-ss-props")
        assert stored.props["zones"] == ["1", "2"] and stored.upgrade_mode == "Rolling"
        assert "Not-stored-1234!" not in repr(stored.to_doc())


def test_K8_a_disks_plain_properties_set_through_arm_are_stored_and_shown(endpoint, credential, sub):
    """What the engine does not model of a disk (maxShares, a network access policy, its CPU architecture,
    bursting ...) is kept as ``az disk create/update`` keep it (``Disk.props``): the SDK reads it back, a
    PATCH merges into it, and a whole disk sent back as it was read (GET, change, PUT) stores only what
    changed, never the state the engine computes (diskState, IOPS, sizes)."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import CreationData, Disk, DiskSku, DiskUpdate, SupportedCapabilities
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.create_or_update("rg-disk-props", {"location": "eastus"})
    cm = ComputeManagementClient(credential, sub)
    made = cm.disks.begin_create_or_update("rg-disk-props", "d-props", Disk(
        location="eastus", sku=DiskSku(name="Premium_LRS"), disk_size_gb=64, zones=["2"],
        creation_data=CreationData(create_option="Empty"), max_shares=2, network_access_policy="DenyAll",
        supported_capabilities=SupportedCapabilities(architecture="Arm64"))).result()
    got = cm.disks.get("rg-disk-props", "d-props")
    for d in (made, got):
        assert (d.max_shares, d.network_access_policy, d.supported_capabilities.architecture) == (2, "DenyAll",
                                                                                                   "Arm64")
        assert d.disk_size_gb == 64 and d.zones == ["2"] and d.disk_state == "Unattached"
    cm.disks.begin_update("rg-disk-props", "d-props", DiskUpdate(max_shares=3, bursting_enabled=True)).result()
    got = cm.disks.get("rg-disk-props", "d-props")
    assert (got.max_shares, got.bursting_enabled, got.network_access_policy) == (3, True, "DenyAll")
    got.tags = {"owner": "sdk"}
    back = cm.disks.begin_create_or_update("rg-disk-props", "d-props", got).result()
    assert back.tags == {"owner": "sdk"} and back.max_shares == 3
    engine = endpoint.engine
    with engine._lock:
        stored = engine.get_disk("d-props", "rg-disk-props")
        assert stored.props == {"maxShares": 3, "networkAccessPolicy": "DenyAll", "burstingEnabled": True,
                                "supportedCapabilities": {"architecture": "Arm64"}}
        assert stored.zone == "2"


def test_V1_a_vms_plain_properties_set_through_arm_are_stored_and_shown_never_its_secrets(endpoint, credential, sub):
    """What the engine does not model of a VM (its license type, boot diagnostics, a Spot price ...) is kept as
    ``az vm create/update`` keep it (``VirtualMachine.props``) and shown by GET; an update merges into it; the
    admin password and custom data are never stored, and an extension's protected settings neither."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import (BillingProfile, BootDiagnostics, DiagnosticsProfile, HardwareProfile,
                                           ImageReference, OSDisk, OSProfile, StorageProfile, VirtualMachine,
                                           VirtualMachineUpdate)
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.create_or_update("rg-vm-props", {"location": "eastus"})
    cm = ComputeManagementClient(credential, sub)
    vm = cm.virtual_machines.begin_create_or_update("rg-vm-props", "vm-props", VirtualMachine(
        location="eastus", hardware_profile=HardwareProfile(vm_size="Standard_DS3_v2"), license_type="RHEL_BYOS",
        priority="Spot", eviction_policy="Deallocate", billing_profile=BillingProfile(max_price=0.5),
        diagnostics_profile=DiagnosticsProfile(boot_diagnostics=BootDiagnostics(enabled=True)),
        os_profile=OSProfile(computer_name="props", admin_username="ops", admin_password="Not-stored-1234!",
                             custom_data="c2VjcmV0LWluaXQ="),
        storage_profile=StorageProfile(
            image_reference=ImageReference(publisher="Canonical", offer="0001-com-ubuntu-server-jammy",
                                           sku="22_04-lts-gen2", version="latest"),
            os_disk=OSDisk(create_option="FromImage")))).result()
    got = cm.virtual_machines.get("rg-vm-props", "vm-props")
    for v in (vm, got):
        assert (v.license_type, v.priority, v.eviction_policy, v.billing_profile.max_price) == (
            "RHEL_BYOS", "Spot", "Deallocate", 0.5)
        assert v.diagnostics_profile.boot_diagnostics.enabled is True and v.os_profile.admin_username == "ops"
        assert v.os_profile.admin_password is None and v.os_profile.custom_data is None
    cm.virtual_machines.begin_update("rg-vm-props", "vm-props", VirtualMachineUpdate(
        diagnostics_profile=DiagnosticsProfile(boot_diagnostics=BootDiagnostics(enabled=False)),
        billing_profile=BillingProfile(max_price=0.75))).result()
    got = cm.virtual_machines.get("rg-vm-props", "vm-props")
    assert got.diagnostics_profile.boot_diagnostics.enabled is False and got.billing_profile.max_price == 0.75
    assert got.license_type == "RHEL_BYOS"
    got.os_profile.admin_password = "Not-stored-either-1!"  # a whole VM sent back, as az vm update does
    cm.virtual_machines.begin_create_or_update("rg-vm-props", "vm-props", got).result()
    engine = endpoint.engine
    with engine._lock:
        stored = engine.get_vm("vm-props", "rg-vm-props")
        # the whole VM sent back stored nothing it did not change (no view field, no state, no secret)
        assert stored.props == {"licenseType": "RHEL_BYOS", "priority": "Spot", "evictionPolicy": "Deallocate",
                                "billingProfile": {"maxPrice": 0.75}, "osProfile": {"computerName": "props"},
                                "diagnosticsProfile": {"bootDiagnostics": {"enabled": False}}}
        doc = repr(stored.to_doc())
        assert "Not-stored" not in doc and "c2VjcmV0LWluaXQ=" not in doc


def test_a_group_made_and_deleted_through_the_sdk_reaches_the_command_log_and_its_replay(endpoint, credential, sub,
                                                                                          tmp_path):
    """Issue #17: a resource group's PUT and DELETE write journal lines (ResourceGroupCreated, ...Deleted) that name
    their engine call, so the console's command log says them as ``az group create`` / ``az group delete`` and its
    replay script makes the group before the steps that need it. A PUT of a group that exists changes nothing and
    writes nothing."""
    import contextlib
    import io
    import shlex

    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import CreationData, Disk, DiskSku
    from azure.mgmt.resource.resources import ResourceManagementClient

    from console.app import external_entry, external_requests
    from console.cli.runner import Context
    from console.cli.runner import main as az_main
    from console.session import open_engine

    engine = endpoint.engine

    def entries_since(cursor):
        with engine._lock:
            events, audit, cursor = engine.journal_since(cursor)
            return [external_entry(engine, r, i) for i, r in enumerate(external_requests(events, audit))], cursor

    def replay(entries, on):
        for line in (ln for e in entries for ln in e.script if not ln.startswith("#")):
            with contextlib.redirect_stdout(io.StringIO()):
                assert az_main(shlex.split(line)[1:], Context(engine=on)) == 0, line

    with engine._lock:
        cursor = engine.journal_cursor()
    rm = ResourceManagementClient(credential, sub)
    cm = ComputeManagementClient(credential, sub)
    rm.resource_groups.create_or_update("rg-logged", {"location": "eastus"})
    cm.disks.begin_create_or_update("rg-logged", "d-in-group", Disk(
        location="eastus", sku=DiskSku(name="Premium_LRS"), disk_size_gb=8,
        creation_data=CreationData(create_option="Empty"))).result()
    rm.resource_groups.create_or_update("rg-logged", {"location": "eastus"})  # exists: no change, no line
    made, cursor = entries_since(cursor)  # (the SDK's URL for a group says "resourcegroups")
    who = made[0].lines[0].split(":")[0]
    assert [e.lines for e in made] == [
        [f"{who}: az group create --name rg-logged --location eastus", "PUT …/resourcegroups/rg-logged"],
        [f"{who}: az disk create --resource-group rg-logged --name d-in-group --size-gb 8 --location eastus",
         "PUT …/resourceGroups/rg-logged/providers/Microsoft.Compute/disks/d-in-group"]]
    assert all(e.ok for e in made)
    assert "cmklab az group create --name rg-logged --location eastus" in made[0].script
    # the replay script makes the group, then the disk in it, on a home the group never existed in
    second = open_engine(tmp_path / "second", seed=3)
    try:
        replay(made, second)
        assert second.get_group("rg-logged").location == "eastus"
        assert second.get_disk("d-in-group", "rg-logged").size_gb == 8
        cm.disks.begin_delete("rg-logged", "d-in-group").result()
        rm.resource_groups.begin_delete("rg-logged").result()
        gone, _ = entries_since(cursor)
        assert [e.lines for e in gone] == [
            [f"{who}: az disk delete --resource-group rg-logged --name d-in-group --yes",
             "DELETE …/resourceGroups/rg-logged/providers/Microsoft.Compute/disks/d-in-group"],
            [f"{who}: az group delete --name rg-logged --yes", "DELETE …/resourcegroups/rg-logged"]]
        replay(gone, second)
        assert second.find_group("rg-logged") is None
    finally:
        second.store.close()


def test_V6_the_subscriptions_scale_sets_are_listed_as_arm_lists_them(endpoint, credential, sub):
    """``GET /subscriptions/{sub}/providers/Microsoft.Compute/virtualMachineScaleSets`` (the SDK's ``list_all``, az's
    ``vmss list`` without ``-g``): every group's scale sets, as for VMs and disks."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import ImageReference, Sku, VirtualMachineScaleSet, \
        VirtualMachineScaleSetStorageProfile, VirtualMachineScaleSetVMProfile
    from azure.mgmt.resource.resources import ResourceManagementClient

    rm, cm = ResourceManagementClient(credential, sub), ComputeManagementClient(credential, sub)
    for rg in ("rg-ss-all-1", "rg-ss-all-2"):
        rm.resource_groups.create_or_update(rg, {"location": "eastus"})
        cm.virtual_machine_scale_sets.begin_create_or_update(rg, f"ss-{rg[-1]}", VirtualMachineScaleSet(
            location="eastus", sku=Sku(name="Standard_D2s_v3", capacity=0),
            virtual_machine_profile=VirtualMachineScaleSetVMProfile(storage_profile=VirtualMachineScaleSetStorageProfile(
                image_reference=ImageReference(publisher="Canonical", offer="0001-com-ubuntu-server-jammy",
                                               sku="22_04-lts-gen2", version="latest"))))).result()
    listed = {s.id.lower(): s.name for s in cm.virtual_machine_scale_sets.list_all()}
    for rg in ("rg-ss-all-1", "rg-ss-all-2"):
        one = cm.virtual_machine_scale_sets.get(rg, f"ss-{rg[-1]}")
        assert listed.get(one.id.lower()) == one.name
    with endpoint.engine._lock:
        assert len(listed) == len(endpoint.engine.list_scale_sets())


def test_O8_a_vm_s_and_a_vault_s_tags_through_arm(endpoint, credential, sub):
    """A VM's and a vault's tags change through ARM as they do through ``cmklab az`` (O8): a PATCH's when it carries
    them, a PUT's (what az's generic update sends), none when a PUT carries none."""
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.compute.models import (HardwareProfile, ImageReference, OSDisk, StorageProfile, VirtualMachine,
                                           VirtualMachineUpdate)
    from azure.mgmt.keyvault import KeyVaultManagementClient
    from azure.mgmt.keyvault.models import Sku, VaultCreateOrUpdateParameters, VaultPatchParameters, VaultProperties
    from azure.mgmt.resource.resources import ResourceManagementClient

    ResourceManagementClient(credential, sub).resource_groups.create_or_update("rg-tags", {"location": "eastus"})
    cm = ComputeManagementClient(credential, sub)
    vm = cm.virtual_machines.begin_create_or_update("rg-tags", "vm-t", VirtualMachine(
        location="eastus", hardware_profile=HardwareProfile(vm_size="Standard_DS3_v2"), tags={"a": "b"},
        storage_profile=StorageProfile(
            image_reference=ImageReference(publisher="Canonical", offer="0001-com-ubuntu-server-jammy",
                                           sku="22_04-lts-gen2", version="latest"),
            os_disk=OSDisk(create_option="FromImage")))).result()
    vm.tags["env"] = "dev"
    assert cm.virtual_machines.begin_create_or_update("rg-tags", "vm-t", vm).result().tags == {"a": "b", "env": "dev"}
    assert cm.virtual_machines.begin_update("rg-tags", "vm-t", VirtualMachineUpdate(
        tags={"x": "y"})).result().tags == {"x": "y"}
    vm = cm.virtual_machines.get("rg-tags", "vm-t")
    vm.tags = None
    cm.virtual_machines.begin_create_or_update("rg-tags", "vm-t", vm).result()
    assert not cm.virtual_machines.get("rg-tags", "vm-t").tags

    kvm = KeyVaultManagementClient(credential, sub)
    tenant = endpoint.environment()["AZURE_TENANT_ID"]
    vault = kvm.vaults.begin_create_or_update("rg-tags", "kv-tags", VaultCreateOrUpdateParameters(
        location="eastus", tags={"a": "b"}, properties=VaultProperties(
            tenant_id=tenant, sku=Sku(family="A", name="standard")))).result()
    assert kvm.vaults.begin_create_or_update("rg-tags", "kv-tags", VaultCreateOrUpdateParameters(
        location="eastus", tags={"a": "c"}, properties=vault.properties)).result().tags == {"a": "c"}
    assert kvm.vaults.update("rg-tags", "kv-tags", VaultPatchParameters(tags={"z": "1"})).tags == {"z": "1"}
    assert kvm.vaults.get("rg-tags", "kv-tags").tags == {"z": "1"}

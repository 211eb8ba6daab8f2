"""Engine models as Azure shows them: pure functions from models to JSON-native dicts.

The CLI prints these (``cmklab az ... -o json``) and the console's detail panel shows them, so they
hold no output-format concern: no sorting, no colour, no table columns. Shapes follow what the
Azure CLI prints (ARM ids, camelCase, ``properties`` for vaults, the key bundle with ``key.kid``,
flattened compute resources with ``resourceGroup`` added to every dict whose id is a resource id).

Read-only: a view never changes the engine and never audits. :func:`inspect_resource` shows what is
at rest (ciphertext, wrapped data keys, the key versions wrapping them) and never a plaintext key.
"""

from __future__ import annotations

import base64
import copy
from typing import Any

from ._lazy import crypto
from .ids import deleted_key_id, key_id, parse_key_url, vault_uri
from .models import DATA_TABLES, PowerState
from .rules import IMAGE_ALIASES, ROLE_IDS, SKU_TIER, image_alias

STAND_IN_NOTE = "generated stand-in material of an imported twin: the real key never leaves Azure"

# ---- helpers ----------------------------------------------------------------------------------------


def add_resource_group(obj: Any) -> Any:
    """As az does: every dict with an id ``/subscriptions/x/resourceGroups/RG/providers/...`` gets
    ``resourceGroup``; recursion skips ``sourceVault`` (as az's ``_add_resource_group`` does)."""
    if isinstance(obj, list):
        for item in obj:
            add_resource_group(item)
    elif isinstance(obj, dict):
        rid = obj.get("id")
        if isinstance(rid, str) and rid and "resourceGroup" not in obj:
            parts = rid.split("/")
            if len(parts) >= 9 and parts[3].lower() == "resourcegroups":
                obj["resourceGroup"] = parts[4]
        for k, v in obj.items():
            if k != "sourceVault" and isinstance(v, (dict, list)):
                add_resource_group(v)
    return obj


def with_props(out: dict, props: dict | None) -> dict:
    """A resource's stored plain ARM properties (``Disk.props``, ``VirtualMachine.props``) over its JSON."""
    for key, value in (props or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            with_props(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _b64std(b64url: str) -> str:
    """Key Vault JSON (via az) shows key bytes in standard base64 with padding."""
    raw = base64.urlsafe_b64decode(b64url + "=" * (-len(b64url) % 4))
    return base64.b64encode(raw).decode("ascii")


def _tags(tags: dict | None) -> dict:
    return dict(tags or {})


# ---- account and groups -----------------------------------------------------------------------------


def account_view(engine) -> dict:
    meta = engine.meta
    return {
        "environmentName": "AzureCloud",
        "homeTenantId": meta.tenant_id,
        "id": meta.subscription_id,
        "isDefault": True,
        "managedByTenants": [],
        "name": meta.subscription_name,
        "state": "Enabled",
        "tenantDefaultDomain": "cmklab.onmicrosoft.com",
        "tenantDisplayName": "cmklab",
        "tenantId": meta.tenant_id,
        "user": {"name": meta.user_name, "type": "user"},
    }


def group_view(group) -> dict:
    return {
        "id": group.id,
        "location": group.location,
        "managedBy": None,
        "name": group.name,
        "properties": {"provisioningState": "Succeeded"},
        "tags": group.tags or None,
        "type": "Microsoft.Resources/resourceGroups",
    }


# ---- key vaults ---------------------------------------------------------------------------------------


def _policy_view(p: dict) -> dict:
    perms = p.get("permissions") or {}
    return {
        "applicationId": None,
        "objectId": p["objectId"],
        "permissions": {
            "certificates": list(perms.get("certificates") or []),
            "keys": list(perms.get("keys") or []),
            "secrets": list(perms.get("secrets") or []),
            "storage": list(perms.get("storage") or []),
        },
        "tenantId": p.get("tenantId"),
    }


def vault_view(engine, vault) -> dict:
    """``az keyvault create/show/update/set-policy`` (and ``list -g``)."""
    meta = engine.meta
    return add_resource_group(with_props({
        "id": vault.id,
        "location": vault.location,
        "name": vault.name,
        "properties": {
            "accessPolicies": [_policy_view(p) for p in vault.access_policies],
            "createMode": None,
            "enablePurgeProtection": True if vault.enable_purge_protection else None,
            "enableRbacAuthorization": bool(vault.enable_rbac_authorization),
            "enableSoftDelete": True,
            "enabledForDeployment": False,
            "enabledForDiskEncryption": None,
            "enabledForTemplateDeployment": None,
            "hsmPoolResourceId": None,
            "networkAcls": None,
            "privateEndpointConnections": None,
            "provisioningState": "Succeeded",
            "publicNetworkAccess": "Enabled",
            "sku": {"family": "A", "name": vault.sku},
            "softDeleteRetentionInDays": vault.soft_delete_retention_days,
            "tenantId": vault.tenant_id,
            "vaultUri": vault_uri(vault.name),
        },
        "systemData": {
            "createdAt": vault.created,
            "createdBy": meta.user_name,
            "createdByType": "User",
            "lastModifiedAt": vault.created,
            "lastModifiedBy": meta.user_name,
            "lastModifiedByType": "User",
        },
        "tags": _tags(vault.tags),
        "type": "Microsoft.KeyVault/vaults",
    }, vault.props))


def vault_list_item(vault) -> dict:
    """``az keyvault list`` without ``-g``: generic resources, no ``properties``."""
    return add_resource_group({"id": vault.id, "location": vault.location, "name": vault.name,
                               "tags": _tags(vault.tags), "type": "Microsoft.KeyVault/vaults"})


def deleted_vault_view(vault) -> dict:
    return {
        "id": f"/subscriptions/{vault.id.split('/')[2]}/providers/Microsoft.KeyVault/locations/{vault.location}"
              f"/deletedVaults/{vault.name}",
        "name": vault.name,
        "properties": {
            "deletionDate": vault.deleted_date,
            "location": vault.location,
            "purgeProtectionEnabled": bool(vault.enable_purge_protection),
            "scheduledPurgeDate": vault.scheduled_purge_date,
            "tags": _tags(vault.tags),
            "vaultId": vault.id,
        },
        "systemData": None,
        "type": "Microsoft.KeyVault/deletedVaults",
    }


# ---- keys -------------------------------------------------------------------------------------------


def recovery_level(vault) -> str:
    custom = "CustomizedRecoverable" if vault is not None and vault.soft_delete_retention_days < 90 else "Recoverable"
    if vault is not None and vault.enable_purge_protection:
        return custom
    return custom + "+Purgeable"


def _vault_of(engine, key):
    return engine.t["vaults"].get(key.vault.lower())


def key_attributes(engine, key, ver: dict) -> dict:
    vault = _vault_of(engine, key)
    return {
        "created": ver["created"],
        "enabled": bool(ver["enabled"]),
        "expires": ver.get("exp"),
        "exportable": False,
        "hsmPlatform": None,
        "keySize": None,  # az 2.91 prints the SDK's key_size: the service gives it for oct keys only (RSA and EC: null)
        "notBefore": ver.get("nbf"),
        "recoverableDays": vault.soft_delete_retention_days if vault is not None else 90,
        "recoveryLevel": recovery_level(vault),
        "updated": ver["updated"],
    }


def key_bundle(engine, key, ver: dict | None = None) -> dict:
    """``az keyvault key create/show/set-attributes/import/rotate/recover``: the key bundle."""
    ver = ver if ver is not None else key.current
    return {
        "attributes": key_attributes(engine, key, ver),
        "key": {
            "crv": ver.get("crv"), "d": None, "dp": None, "dq": None,
            "e": _b64std(ver["e"]) if ver["e"] else None,
            "k": None,
            "keyOps": list(key.key_ops),
            "kid": key_id(key.vault, key.name, ver["version"]),
            "kty": key.kty,
            "n": _b64std(ver["n"]) if ver["n"] else None,
            "p": None, "q": None, "qi": None, "t": None,
            "x": _b64std(ver["x"]) if ver.get("x") else None, "y": _b64std(ver["y"]) if ver.get("y") else None,
        },
        "managed": None,
        "releasePolicy": None,
        "tags": dict(key.tags) if key.tags else None,
    } | _stand_in(ver)


def _stand_in(ver: dict) -> dict:
    """A version imported into a twin (engine/twin.py) holds generated stand-in material: say so."""
    return {"standIn": STAND_IN_NOTE} if ver.get("standIn") else {}


def _deleted_fields(key) -> dict:
    return {
        "deletedDate": key.deleted_date,
        "recoveryId": deleted_key_id(key.vault, key.name),
        "scheduledPurgeDate": key.scheduled_purge_date,
    }


def deleted_key_view(engine, key) -> dict:
    """``az keyvault key delete`` / ``show-deleted``: the bundle plus the recovery fields."""
    return key_bundle(engine, key) | _deleted_fields(key)


def key_list_item(engine, key, ver: dict | None = None, *, versioned: bool = False) -> dict:
    ver = ver if ver is not None else key.current
    return {
        # az's transform_key_list_output prints the SDK's raw attributes: its preview fields too (az 2.91)
        "attributes": key_attributes(engine, key, ver) | {"attestation": None, "externalKey": None},
        "keySize": None,  # az's transform_key_list_output: the SDK's key_size, null for RSA and EC keys
        "kid": key_id(key.vault, key.name, ver["version"] if versioned else None),
        "managed": None,
        "name": key.name,
        "releasePolicy": None,
        "tags": dict(key.tags) if key.tags else None,
    } | _stand_in(ver)


def key_versions_view(engine, key) -> list[dict]:
    """``az keyvault key list-versions``: one item per version, oldest first."""
    return [key_list_item(engine, key, v, versioned=True) for v in key.versions]


def deleted_key_list_item(engine, key) -> dict:
    return key_list_item(engine, key) | _deleted_fields(key)


def rotation_policy_view(policy: dict) -> dict:
    """The policy as az prints it: flat ``action`` strings and ``expiresIn`` (not the input shape)."""
    attrs = policy.get("attributes") or {}
    actions = []
    for a in policy.get("lifetimeActions") or []:
        trig = a.get("trigger") or {}
        act = a.get("action")
        actions.append({
            "action": act.get("type") if isinstance(act, dict) else act,
            "timeAfterCreate": trig.get("timeAfterCreate"),
            "timeBeforeExpiry": trig.get("timeBeforeExpiry"),
        })
    return {
        "createdOn": attrs.get("created"),
        "expiresIn": attrs.get("expiryTime"),
        "id": policy.get("id"),
        "lifetimeActions": actions,
        "updatedOn": attrs.get("updated"),
    }


# ---- role assignments ---------------------------------------------------------------------------------


def role_assignment_view(engine, ra, *, with_names: bool = False) -> dict:
    sub = engine.meta.subscription_id
    role_guid = ROLE_IDS.get(ra.role, "")
    out = {
        "condition": None,
        "conditionVersion": None,
        "createdBy": engine.meta.user_object_id,
        "createdOn": ra.created,
        "delegatedManagedIdentityResourceId": None,
        "description": None,
        "id": ra.id,
        "name": ra.name,
        "principalId": ra.principal_id,
        "principalType": "ServicePrincipal" if ra.principal_id != engine.meta.user_object_id else "User",
        "roleDefinitionId": f"/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{role_guid}",
        "scope": ra.scope,
        "type": "Microsoft.Authorization/roleAssignments",
        "updatedBy": engine.meta.user_object_id,
        "updatedOn": ra.created,
    }
    if with_names:
        out["principalName"] = _principal_name(engine, ra.principal_id)
        out["roleDefinitionName"] = ra.role
    return add_resource_group(out)


def _principal_name(engine, oid: str) -> str:
    for des in engine.t["des"].values():
        if des.principal_id == oid:
            return des.name
    if oid == engine.meta.user_object_id:
        return engine.meta.user_name
    return ""


# ---- disk encryption sets -------------------------------------------------------------------------------


def des_view(des) -> dict:
    """``az disk-encryption-set create/show/update/list`` (AAZ shape: only present fields)."""
    out = {
        "activeKey": {"keyUrl": des.key_url, "sourceVault": {"id": des.source_vault_id}},
        "encryptionType": des.encryption_type,
        "id": des.id,
        "identity": {"principalId": des.principal_id, "tenantId": des.tenant_id, "type": "SystemAssigned"},
        "location": des.location,
        "name": des.name,
        "previousKeys": [{"keyUrl": p["keyUrl"], "sourceVault": dict(p.get("sourceVault") or {})}
                         for p in des.previous_keys],
        "provisioningState": des.provisioning_state,
        "rotationToLatestKeyVersionEnabled": bool(des.rotation_to_latest),
        "tags": _tags(des.tags),
        "type": "Microsoft.Compute/diskEncryptionSets",
    }
    if des.last_key_rotation:
        out["lastKeyRotationTimestamp"] = des.last_key_rotation
    if des.auto_key_rotation_error:
        err = des.auto_key_rotation_error
        out["autoKeyRotationError"] = {"code": err.get("code"), "details": [], "innererror": None,
                                       "message": err.get("message"), "target": None}
    return add_resource_group(out)


# ---- disks, snapshots, images ----------------------------------------------------------------------------

_PREMIUM_TIERS = ((4, "P1", 120, 25), (8, "P2", 120, 25), (16, "P3", 120, 25), (32, "P4", 120, 25),
                  (64, "P6", 240, 50), (128, "P10", 500, 100), (256, "P15", 1100, 125), (512, "P20", 2300, 150),
                  (1024, "P30", 5000, 200), (2048, "P40", 7500, 250), (4096, "P50", 7500, 250),
                  (8192, "P60", 16000, 500), (16384, "P70", 18000, 750), (32767, "P80", 20000, 900))


def _performance(sku: str, size_gb: int) -> tuple[str | None, int, int]:
    """(tier, IOPS, MBps) as Azure assigns them by default for a SKU and size."""
    if sku == "Premium_LRS":
        for limit, tier, iops, mbps in _PREMIUM_TIERS:
            if size_gb <= limit:
                return tier, iops, mbps
        return "P80", 20000, 900
    if sku == "PremiumV2_LRS":
        return None, 3000, 125  # the baseline every Premium SSD v2 disk gets
    if sku == "UltraSSD_LRS":
        iops = min(160000, max(100, 300 * size_gb)) if size_gb > 0 else 100
        return None, iops, min(4000, max(1, iops // 4 if iops < 4000 else 1000))
    return None, 500, 60


def _encryption(r) -> dict:
    out: dict = {"type": r.encryption_type}
    if r.des_id:
        out["diskEncryptionSetId"] = r.des_id
    return out


def _creation_data(engine, r) -> dict:
    out: dict = {"createOption": r.create_option}
    if r.source_resource_id:
        out["sourceResourceId"] = r.source_resource_id
        src = _find_any(engine, r.source_resource_id)
        if src is not None:
            out["sourceUniqueId"] = src.unique_id
    if r.image_reference:
        out["imageReference"] = {"id": image_reference_id(r.location, r.image_reference)}
    return out


def _find_any(engine, rid: str):
    for table in DATA_TABLES:
        obj = engine.t[table].get(rid)
        if obj is not None:
            return obj
    return None


def disk_view(engine, disk) -> dict:
    """``az disk create/show/list/update``: AAZ commands in az 2.91 (``create`` ends in the AAZ ``disk create``), so
    the service's fields under their REST names (``diskSizeGB``, ``diskIOPSReadWrite``), present ones only."""
    tier, iops, mbps = _performance(disk.sku, disk.size_gb)
    vm = engine.vm_of_disk(disk.id)
    out: dict = {
        "creationData": _creation_data(engine, disk),
        "diskIOPSReadWrite": iops,
        "diskMBpsReadWrite": mbps,
        "diskSizeBytes": disk.size_bytes,
        "diskSizeGB": disk.size_gb,
        "diskState": engine.disk_state(disk),
        "encryption": _encryption(disk),
        "hyperVGeneration": disk.hyper_v_generation or ("V1" if disk.os_type else None),
        "id": disk.id,
        "location": disk.location,
        "managedBy": vm.id if vm is not None else None,
        "name": disk.name,
        "networkAccessPolicy": "AllowAll",
        "osType": disk.os_type,
        "provisioningState": "Succeeded",
        "publicNetworkAccess": "Enabled",
        "sku": {"name": disk.sku, "tier": SKU_TIER.get(disk.sku, "Standard")},
        "tags": _tags(disk.tags),
        "tier": tier,
        "timeCreated": disk.created,
        "type": "Microsoft.Compute/disks",
        "uniqueId": disk.unique_id,
        "zones": [disk.zone] if disk.zone else None,
    }
    with_props(out, disk.props)
    return add_resource_group({k: v for k, v in out.items() if v is not None})


def snapshot_view(engine, snap) -> dict:
    """``az snapshot create/show/list`` (AAZ in az 2.91, as disks)."""
    out: dict = {
        "creationData": _creation_data(engine, snap),
        "diskSizeBytes": snap.size_bytes,
        "diskSizeGB": snap.size_gb,
        "encryption": _encryption(snap),
        "hyperVGeneration": snap.hyper_v_generation or ("V1" if snap.os_type else None),
        "id": snap.id,
        "incremental": False,
        "location": snap.location,
        "name": snap.name,
        "networkAccessPolicy": "AllowAll",
        "osType": snap.os_type,
        "provisioningState": "Succeeded",
        "publicNetworkAccess": "Enabled",
        "sku": {"name": snap.sku, "tier": SKU_TIER.get(snap.sku, "Standard")},
        "tags": _tags(snap.tags),
        "timeCreated": snap.created,
        "type": "Microsoft.Compute/snapshots",
        "uniqueId": snap.unique_id,
    }
    with_props(out, snap.props)
    return add_resource_group({k: v for k, v in out.items() if v is not None})


def image_view(engine, image) -> dict:
    """``az image create/show/list`` (AAZ in az 2.91: the service's fields, present ones only; the set is the OS
    disk's ``diskEncryptionSet``, an image has no top-level ``encryption``)."""
    src = _find_any(engine, image.source_resource_id) if image.source_resource_id else None
    vm = engine.vm_of_disk(src.id) if src is not None and src.kind == "disk" else None
    os_disk: dict = {
        "caching": "ReadWrite",
        "diskSizeGB": image.size_gb,
        "osState": "Generalized",
        "osType": image.os_type or "Linux",
        "storageAccountType": image.sku,
    }
    if image.des_id:
        os_disk["diskEncryptionSet"] = {"id": image.des_id}
    if src is not None and src.kind == "disk":
        os_disk["managedDisk"] = {"id": src.id}
    elif src is not None and src.kind == "snapshot":
        os_disk["snapshot"] = {"id": src.id}
    out: dict = {
        "hyperVGeneration": image.hyper_v_generation or "V1",
        "id": image.id,
        "location": image.location,
        "name": image.name,
        "provisioningState": "Succeeded",
        "storageProfile": {"dataDisks": [], "osDisk": os_disk, "zoneResilient": False},
        "tags": _tags(image.tags),
        "type": "Microsoft.Compute/images",
    }
    if vm is not None:
        out["sourceVirtualMachine"] = {"id": vm.id}
    return add_resource_group(out)


def resource_view(engine, r) -> dict:
    """Any disk, snapshot or image, by its kind."""
    if r.kind == "snapshot":
        return snapshot_view(engine, r)
    if r.kind == "image":
        return image_view(engine, r)
    return disk_view(engine, r)


# ---- virtual machines -------------------------------------------------------------------------------------

def _image_parts(image: str) -> tuple[str, str, str, str] | None:
    if not image or image.startswith("/"):
        return None
    if image.count(":") == 3:
        pub, offer, sku, version = image.split(":")
        return pub, offer, sku, version
    alias = image_alias(image)
    return (*IMAGE_ALIASES[alias][2:5], "latest") if alias else None


def image_reference(image: str) -> dict:
    parts = _image_parts(image)
    if parts is None:
        return {"communityGalleryImageId": None, "exactVersion": None, "id": image or None, "offer": None,
                "publisher": None, "sharedGalleryImageId": None, "sku": None, "version": None}
    pub, offer, sku, version = parts
    return {"communityGalleryImageId": None, "exactVersion": None, "id": None, "offer": offer, "publisher": pub,
            "sharedGalleryImageId": None, "sku": sku, "version": version}


def image_reference_id(location: str, image: str) -> str:
    parts = _image_parts(image)
    if parts is None:
        return image
    pub, offer, sku, version = parts
    return (f"/Subscriptions/00000000-0000-0000-0000-000000000000/Providers/Microsoft.Compute/Locations/{location}"
            f"/Publishers/{pub}/ArtifactTypes/VMImage/Offers/{offer}/Skus/{sku}/Versions/{version}")


def _managed_disk(d) -> dict:
    return {"diskEncryptionSet": {"id": d.des_id} if d.des_id else None, "id": d.id, "securityProfile": None,
            "storageAccountType": d.sku}


def power_status(vm) -> dict:
    state = PowerState(vm.power)
    return {"code": state.code, "displayStatus": state.display, "level": "Info", "message": None, "time": None}


def vm_status_reason(vm) -> dict | None:
    """cmklab's extension: why the VM is as it is (stopped by a key cascade, refused start ...)."""
    if not vm.status:
        return None
    s = vm.status
    return {"code": s.get("code"), "message": s.get("message"), "keyUrl": s.get("kid"), "disk": s.get("disk"),
            "time": s.get("at")}


def vm_view(engine, vm, *, details: bool = False, instance_view: bool = False, nulls: bool = False,
            user_data: bool = False) -> dict:
    """``az vm show`` (AAZ in az 2.91: the service's fields under their REST names, ``diskSizeGB``,
    ``provisionVMAgent``, and no null); ``details`` is ``vm show -d``; ``instance_view`` is ``vm get-instance-view``;
    ``nulls=True`` keeps every null (the shape a generic update walks, so ``--set`` can fill a null parent as az
    does). ``statusReason`` is cmklab's extension (present when set)."""
    disks = engine.t["disks"]
    osd = disks.get(vm.os_disk_id)
    data_disks = []
    for entry in vm.data_disks:
        d = disks.get(entry["diskId"])
        if d is None:
            continue
        created_here = d.name.startswith(f"{vm.name}_disk")
        data_disks.append({
            "caching": "None" if d.is_ultra or d.sku == "PremiumV2_LRS" else "ReadOnly" if not created_here else "None",
            "createOption": "Empty" if created_here else "Attach",
            "deleteOption": "Detach", "detachOption": None, "diskIOPSReadWrite": None, "diskMBpsReadWrite": None,
            "diskSizeGB": d.size_gb, "image": None, "lun": entry["lun"], "managedDisk": _managed_disk(d),
            "name": d.name, "sourceResource": None, "toBeDetached": False, "vhd": None,
            "writeAcceleratorEnabled": False,
        })
    os_disk = None
    if osd is not None:
        os_disk = {
            "caching": "ReadWrite", "createOption": "FromImage", "deleteOption": "Detach", "diffDiskSettings": None,
            "diskSizeGB": osd.size_gb, "encryptionSettings": None, "image": None, "managedDisk": _managed_disk(osd),
            "name": osd.name, "osType": vm.os_type, "vhd": None, "writeAcceleratorEnabled": False,
        }
    windows = vm.os_type == "Windows"
    sub, rg = vm.id.split("/")[2], vm.resource_group
    out: dict = {
        "additionalCapabilities": {"hibernationEnabled": None, "ultraSSDEnabled": True} if vm.ultra_ssd_enabled
        else None,
        "applicationProfile": None, "availabilitySet": None, "billingProfile": None, "capacityReservation": None,
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": False, "storageUri": None}},
        "evictionPolicy": None, "extendedLocation": None, "extensionsTimeBudget": "PT1H30M",
        "hardwareProfile": {"vmSize": vm.size, "vmSizeProperties": None},
        "host": None, "hostGroup": None,
        "id": vm.id,
        "identity": None, "instanceView": None, "licenseType": None,
        "location": vm.location, "managedBy": None, "name": vm.name,
        "networkProfile": {"networkApiVersion": None, "networkInterfaceConfigurations": None, "networkInterfaces": [
            {"deleteOption": None, "primary": True,
             "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/networkInterfaces/"
                   f"{vm.name}VMNic"}]},
        "osProfile": {
            "adminPassword": None, "adminUsername": vm.admin_username, "allowExtensionOperations": True,
            "computerName": vm.name, "customData": None,
            "linuxConfiguration": None if windows else {
                "disablePasswordAuthentication": True, "enableVMAgentPlatformUpdates": False,
                "patchSettings": {"assessmentMode": "ImageDefault", "automaticByPlatformSettings": None,
                                  "patchMode": "ImageDefault"},
                "provisionVMAgent": True, "ssh": None},
            "requireGuestProvisionSignal": True, "secrets": [],
            "windowsConfiguration": {"enableAutomaticUpdates": True, "provisionVMAgent": True, "timeZone": None}
            if windows else None,
        },
        "plan": None, "platformFaultDomain": None, "priority": "Regular", "provisioningState": "Succeeded",
        "proximityPlacementGroup": None, "resources": None,
        "securityProfile": {"encryptionAtHost": vm.encryption_at_host, "encryptionIdentity": None,
                            "proxyAgentSettings": None, "securityType": None, "uefiSettings": None}
        if vm.encryption_at_host or vm.encryption_at_host_set else None,
        "storageProfile": {
            "dataDisks": data_disks, "diskControllerType": None,
            "imageReference": image_reference(vm.image) if osd is None or osd.image_reference or
            not (osd.source_resource_id or "").lower().count("/images/") else {"id": osd.source_resource_id},
            "osDisk": os_disk,
        },
        "tags": _tags(vm.tags), "timeCreated": vm.created, "type": "Microsoft.Compute/virtualMachines",
        "userData": None, "virtualMachineScaleSet": None, "vmId": vm.vm_id, "zones": [vm.zone] if vm.zone else None,
    }
    with_props(out, vm.props)
    if not user_data:  # Azure returns userData only when asked for it (--include-user-data)
        out["userData"] = None
    reason = vm_status_reason(vm)
    if reason is not None:
        out["statusReason"] = reason
    if instance_view:
        out["instanceView"] = vm_instance_view(engine, vm)
    if details:
        del out["instanceView"]
        out.update({"fqdns": "", "macAddresses": "", "powerState": PowerState(vm.power).display, "privateIps": "",
                    "publicIps": ""})
    return add_resource_group(out if nulls else present(out))


def present(obj: Any) -> Any:
    """An AAZ command's output: the fields the service returned, so no key whose value is null."""
    if isinstance(obj, dict):
        return {k: present(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [present(v) for v in obj]
    return obj


def _vm_generation(engine, vm) -> str:
    """A VM's generation is its OS disk's (a VM from a Gen2 image is V2)."""
    osd = engine.t["disks"].get(vm.os_disk_id) if vm.os_disk_id else None
    return (osd.hyper_v_generation if osd is not None else None) or "V1"


def vm_instance_view(engine, vm) -> dict:
    """``instanceView`` of ``az vm get-instance-view``: statuses[1] is the power state."""
    statuses = [
        {"code": "ProvisioningState/succeeded", "displayStatus": "Provisioning succeeded", "level": "Info",
         "message": None, "time": vm.created},
        power_status(vm),
    ]
    if vm.status:
        statuses.append({"code": f"cmklab/{vm.status.get('code')}", "displayStatus": vm.status.get("code"),
                         "level": "Warning", "message": vm.status.get("message"), "time": vm.status.get("at")})
    disks = [{"encryptionSettings": None, "name": d.name,
              "statuses": [{"code": "ProvisioningState/succeeded", "displayStatus": "Provisioning succeeded",
                            "level": "Info", "message": None, "time": d.created}]} for d in engine.vm_disks(vm)]
    return {
        "assignedHost": None, "bootDiagnostics": None, "computerName": vm.name, "disks": disks, "extensions": None,
        "hyperVGeneration": _vm_generation(engine, vm), "maintenanceRedeployStatus": None,
        "osName": "Windows Server" if vm.os_type == "Windows" else "ubuntu", "osVersion": None, "patchStatus": None,
        "platformFaultDomain": None, "platformUpdateDomain": None, "rdpThumbPrint": None, "statuses": statuses,
        "vmAgent": None, "vmHealth": None,
    }


def vm_create_output(vm) -> dict:
    """``az vm create``'s summary (``transform_vm_create_output``), in its order (its table keeps it): ``zones``
    only for a zonal VM (the AAZ VM has the key only then), its one zone."""
    out = {"id": vm.id, "resourceGroup": vm.resource_group, "powerState": PowerState(vm.power).display,
           "publicIpAddress": "", "fqdns": "", "privateIpAddress": "", "macAddress": "", "location": vm.location}
    if vm.zone:
        out["zones"] = vm.zone
    return out


# ---- what is at rest (cmklab disk inspect) --------------------------------------------------------------

SAMPLE_BYTES = 64


def inspect_resource(engine, r) -> dict:
    """What is stored for a disk, snapshot or image: the layers of envelope encryption (each data key
    only as a fingerprint of its *wrapped* form, with the key version that wraps it) and a sample of
    the ciphertext. Never a plaintext key, never plaintext data."""
    des = engine.t["des"].get(r.des_id) if r.des_id else None
    layers = []
    n = len(r.layers)
    for i, layer in enumerate(r.layers):
        wrapped = base64.b64decode(layer["wrapped"])
        kid = layer["kid"]
        platform = kid.startswith("platform:")
        entry: dict = {
            "layer": "outer" if i == 0 else "inner",
            "mode": layer["mode"],
            "wrapAlgorithm": "RSA-OAEP-256",
            "wrappedKeyBytes": len(wrapped),
            "wrappedKeyFingerprint": crypto.fingerprint(wrapped, 16),
            "dataKeyBits": 512 if layer["mode"].endswith("XTS") else 256,
        }
        if platform:
            entry.update({"keyType": "platform-managed", "keyUrl": None, "keyVersion": None,
                          "wrappedBy": f"platform key of {kid[9:]}"})
            entry["usable"], entry["problem"] = True, None
        else:
            ref = parse_key_url(kid)
            problem = engine.key_problem(des.principal_id if des else None, kid, "unwrapKey")
            entry.update({"keyType": "customer-managed", "keyUrl": kid, "keyVersion": ref.version,
                          "wrappedBy": kid, "usable": problem is None,
                          "problem": None if problem is None else problem.message})
            k = engine.t["keys"].get(ref.versionless)
            ver = k.version(ref.version) if k is not None else None
            if ver is not None and ver.get("standIn"):
                entry["keyMaterial"] = STAND_IN_NOTE
        layers.append(entry)
    problem = engine.resource_problem(r)
    out: dict = {
        "id": r.id,
        "name": r.name,
        "kind": r.kind,
        "encryptionType": r.encryption_type,
        "diskEncryptionSetId": r.des_id,
        "doubleEncryption": n > 1,
        "layers": layers,
        "ciphertext": ciphertext_sample(engine, r),
        "readable": problem is None,
        "problem": None if problem is None else problem.message,
        "hostCache": "data keys held sealed by the platform host key" if r.cache else None,
    }
    if r.kind == "disk":
        out["diskState"] = engine.disk_state(r)
    return out


def ciphertext_sample(engine, r) -> dict:
    """The first written record of the blob (hex of its first bytes) and how much is written."""
    rs = crypto.RECORD_SIZE
    blobs = engine.store.blobs
    extents = blobs.extents(r.blob)
    written = sum(length for _, length in extents)
    out = {"blockSize": crypto.BLOCK_SIZE, "recordSize": rs,
           "recordLayout": "nonce(12) || AES-256-GCM ciphertext(4096) || tag(16)",
           "storedBytes": written, "firstRecord": None, "sampleHex": None}
    zero = bytes(rs)
    for off, length in extents:
        first = off // rs
        end = -(-(off + length) // rs)
        for idx in range(first, min(end, first + 4096)):
            rec = blobs.read(r.blob, idx * rs, rs)
            if rec != zero:
                out["firstRecord"] = idx
                out["sampleHex"] = rec[:SAMPLE_BYTES].hex()
                out["nonceHex"] = rec[:crypto.NONCE_SIZE].hex()
                out["tagHex"] = rec[-crypto.TAG_SIZE:].hex()
                return out
    return out


# ---- audit, clock, what-if ------------------------------------------------------------------------------


def audit_view(entry) -> dict:
    return {"id": entry.id, "time": entry.time, "vault": entry.vault, "caller": entry.caller,
            "operation": entry.operation, "keyUrl": entry.kid, "result": entry.result, "code": entry.code,
            "message": entry.message}


def audit_entries(engine, *, vault: str | None = None, key: str | None = None,
                  identity: str | None = None) -> list[dict]:
    """The audit trail (KV8), oldest first, filtered by vault, key (name or id) and caller identity."""
    out = []
    kname = None
    if key:
        kname = parse_key_url(key).name.lower() if key.startswith("https://") else key.lower()
    for e in sorted(engine.t["audit"].values(), key=lambda e: e.id):
        if vault and e.vault.lower() != vault.lower():
            continue
        if identity and e.caller.lower() != identity.lower():
            continue
        if kname is not None:
            try:
                ref = parse_key_url(e.kid) if e.kid else None
            except Exception:
                ref = None
            if ref is None or ref.name.lower() != kname:
                continue
        out.append(audit_view(e))
    return out


def clock_view(engine) -> dict:
    return {"now": engine.now(), "profile": engine.rules.name, "pendingJobs": engine.pending_jobs()}


def impact_view(impact) -> dict:
    """A what-if preview as JSON, in the camelCase of every other view (``vmsStopping``, ``lostForever`` ...)."""
    def camel(key: str) -> str:
        head, *rest = key.split("_")
        return head + "".join(p[:1].upper() + p[1:] for p in rest)
    return {camel(k): v for k, v in impact.to_dict().items()} | {"destructive": impact.destructive}


__all__ = [
    "account_view", "add_resource_group", "audit_entries", "audit_view", "clock_view", "deleted_key_list_item",
    "deleted_key_view", "deleted_vault_view", "des_view", "disk_view", "group_view", "image_view",
    "impact_view", "inspect_resource", "key_attributes", "key_bundle", "key_list_item", "key_versions_view",
    "resource_view", "role_assignment_view", "rotation_policy_view", "snapshot_view", "vault_list_item",
    "vault_view", "vm_create_output", "vm_instance_view", "vm_view", "vmss_create_output", "vmss_instance_view",
    "vmss_view",
]


# ---- scale sets -------------------------------------------------------------------------------------------


def _vmss_disk_set(des_id: str | None) -> dict | None:
    return {"id": des_id} if des_id else None


def vmss_view(engine, ss) -> dict:
    """``az vmss show/list/update``: the scale set and its model (``virtualMachineProfile``), the disk encryption
    sets of the OS and data disks at ``storageProfile.*.managedDisk.diskEncryptionSet``."""
    instances = engine.scale_set_instances(ss)
    data_disks = [{
        "caching": "None", "createOption": "Empty", "deleteOption": "Delete", "diskIOPSReadWrite": None,
        "diskMBpsReadWrite": None, "diskSizeGB": gb, "lun": lun,
        "managedDisk": {"diskEncryptionSet": _vmss_disk_set(ss.data_disk_set(lun)), "securityProfile": None,
                        "storageAccountType": "Premium_LRS"},
        "name": None, "writeAcceleratorEnabled": None,
    } for lun, gb in enumerate(ss.data_disk_sizes_gb)]
    return add_resource_group(with_props({
        "id": ss.id,
        "location": ss.location,
        "name": ss.name,
        "orchestrationMode": ss.orchestration_mode,
        "platformFaultDomainCount": 1,
        "provisioningState": "Succeeded",
        "singlePlacementGroup": False if ss.orchestration_mode == "Flexible" else True,
        "sku": {"capacity": len(instances), "name": ss.size, "tier": "Standard"},
        "tags": _tags(ss.tags),
        "timeCreated": ss.created,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "uniqueId": ss.unique_id,
        "upgradePolicy": {"mode": ss.upgrade_mode},
        "virtualMachineProfile": {
            "osProfile": {"adminUsername": ss.admin_username, "computerNamePrefix": ss.name[:9]},
            "securityProfile": {"encryptionAtHost": ss.encryption_at_host} if ss.encryption_at_host else None,
            "storageProfile": {
                "dataDisks": data_disks,
                "imageReference": image_reference(ss.image),
                "osDisk": {"caching": "ReadWrite", "createOption": "FromImage", "deleteOption": "Delete",
                           "diskSizeGB": ss.os_disk_size_gb,
                           "managedDisk": {"diskEncryptionSet": _vmss_disk_set(ss.os_disk_encryption_set),
                                           "securityProfile": None, "storageAccountType": "Premium_LRS"},
                           "osType": "Windows" if "win" in ss.image.lower() else "Linux"},
            },
        },
        "zones": None,
    }, ss.props))


def vmss_create_output(engine, ss) -> dict:
    """``az vmss create`` prints the deployment's output: the scale set's properties under ``vmss``."""
    out = vmss_view(engine, ss)
    if isinstance(out.get("virtualMachineProfile"), dict):
        out["virtualMachineProfile"].pop("userData", None)  # Azure returns it only when asked ($expand=userData)
    props = {k: v for k, v in out.items() if k not in ("id", "location", "name", "resourceGroup", "sku", "tags",
                                                       "type", "zones")}
    return {"vmss": props}


def vmss_instance_view(engine, ss, vm) -> dict:
    """One item of ``az vmss list-instances``: the instance VM, its instance id and whether it has the latest
    model (encryption at host and disk encryption sets as the model says)."""
    out = vm_view(engine, vm)
    for key in ("extensionsTimeBudget", "priority", "virtualMachineScaleSet"):
        out.pop(key, None)  # a VM's, not a scale set VM's (az's VirtualMachineScaleSetVM schema has no such key)
    out["instanceId"] = vm.name[len(ss.name) + 1:]
    out["latestModelApplied"] = engine.instance_on_latest_model(ss, vm)
    return out

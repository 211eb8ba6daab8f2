"""``az disk-encryption-set``, ``az disk``, ``az snapshot`` and ``az image``."""

from __future__ import annotations

from .. import generic, props
from ..props import Prop
from ..errors import CLIError
from ..wait import arm_shape, wait_command
from engine.rules import DES_ENCRYPTION_TYPES_AZ as DES_ENCRYPTION_TYPES
from engine.rules import DISK_ENCRYPTION_TYPES, DISK_SKUS, IMAGE_STORAGE_SKUS, SNAPSHOT_SKUS
# the one list of each, owned by the rules: each profile says which SKUs its engine takes, and refuses the others
# naming itself (K9)

from ..output import transform_disk, transform_disk_create
from ..spec import (Arg, Call, aaz_bool, command, enum, flag3, location, name,
                    no_wait, rg, tags, yes, views)

OS_TYPES = ("Windows", "Linux")
HYPER_V = ("V1", "V2")

# ---- disk encryption sets --------------------------------------------------------------------------------


_DES_PARAMS = {"key_url": ("key_url", "key_url"), "source_vault": ("source_vault", "name"),
               "rotation_to_latest": "auto_rotation"}
"""A set's key URL is asked of the store when it is the key's current version; ``--enable-auto-key-rotation``."""
_DISK_PARAMS = {"disk_encryption_set": ("disk_encryption_set", "name"), "source": ("source", "name")}
"""Sets and sources by name (az takes a name or an id; a name replays on another subscription)."""


def _des_name(required: bool = True) -> Arg:
    return name("Name of disk encryption set.", required=required, extra=("--disk-encryption-set-name",))


_SOURCE_VAULT = Arg(("--source-vault",), "source_vault", "Name or ID of the KeyVault containing the key or secret.")
_AUTO_ROTATION = aaz_bool(("--enable-auto-key-rotation", "--auto-rotation"), "auto_rotation",
                          "Enable automatic rotation of keys.")

command("az disk-encryption-set create", "Create a disk encryption set.", [
    _des_name(), rg(),
    Arg(("--key-url",), "key_url", "URL pointing to a key or secret in KeyVault.", required=True),
    _SOURCE_VAULT,
    enum(("--encryption-type",), "encryption_type", "The type of key used to encrypt the data of the disk.",
         DES_ENCRYPTION_TYPES, help_default="EncryptionAtRestWithCustomerKey"),
    _AUTO_ROTATION, location(), tags(),
    Arg(("--federated-client-id",), "federated_client_id", "The federated client id used in cross tenant scenario."),
    aaz_bool(("--mi-system-assigned",), "mi_system_assigned", "Provide this flag to use system assigned identity. "
             "Check out help for more examples."),
    no_wait(),
], method="create_des", params=_DES_PARAMS, render=lambda e, d, ns: views.des_view(d),
    call=lambda ns, ctx: Call("create_des", (ns.name, ns.resource_group, ns.key_url), {
        "source_vault": ns.source_vault, "location": ns.location,
        "encryption_type": ns.encryption_type or "EncryptionAtRestWithCustomerKey",
        "rotation_to_latest": bool(ns.auto_rotation), "tags": ns.tags}),
    examples=[("Create a disk encryption set.",
               "az disk-encryption-set create --resource-group MyResourceGroup --name MyDiskEncryptionSet "
               "--key-url MyKey --source-vault MyVault"),
              ("Create a disk encryption set for double encryption, with automatic key rotation.",
               "az disk-encryption-set create -g MyResourceGroup -n MySet --key-url MyKey --source-vault MyVault "
               "--encryption-type EncryptionAtRestWithPlatformAndCustomerKeys --enable-auto-key-rotation true")])

command("az disk-encryption-set show", "Get information about a disk encryption set.", [_des_name(), rg()], ids="Microsoft.Compute/diskEncryptionSets", 
        call=lambda ns, ctx: Call("get_des", (ns.name, ns.resource_group)),
        render=lambda e, d, ns: views.des_view(d),
        examples=[("Get a set's identity.",
                   "az disk-encryption-set show -n MySet -g MyResourceGroup --query identity.principalId -o tsv")])

command("az disk-encryption-set list", "List disk encryption sets.", [rg(required=False)],
        call=lambda ns, ctx: Call("list_des", (ns.resource_group,)),
        render=lambda e, ds, ns: [views.des_view(d) for d in ds],
        examples=[("List disk encryption sets.", "az disk-encryption-set list -g MyResourceGroup")])

command("az disk-encryption-set update", "Update a disk encryption set.", [
    _des_name(), rg(),
    Arg(("--key-url",), "key_url", "URL pointing to a key or secret in KeyVault."),
    _SOURCE_VAULT, _AUTO_ROTATION,
    Arg(("--federated-client-id",), "federated_client_id", "The federated client id used in cross tenant scenario."),
    no_wait(), *generic.generic_args(),
], method="update_des", params={**_DES_PARAMS, "tags": generic.tags_set_words}, ids="Microsoft.Compute/diskEncryptionSets", render=lambda e, d, ns: views.des_view(d),
    call=lambda ns, ctx: Call("update_des", (ns.name, ns.resource_group), {
        "key_url": ns.key_url, "source_vault": ns.source_vault, "rotation_to_latest": ns.auto_rotation,
        **_des_generic(ns, ctx)}),
    examples=[("Move a set (and every disk of it) to a new key version.",
               "az disk-encryption-set update -n MySet -g MyResourceGroup --key-url MyKey --source-vault MyVault")])

command("az disk-encryption-set delete", "Delete a disk encryption set.", [_des_name(), rg(), no_wait()],
        method="delete_des", ids="Microsoft.Compute/diskEncryptionSets", probe="get_des", call=lambda ns, ctx: Call("delete_des", (ns.name, ns.resource_group)),
        examples=[("Delete a disk encryption set.", "az disk-encryption-set delete -n MySet -g MyResourceGroup")])

command("az disk-encryption-set list-associated-resources", "List all resources that are encrypted with this disk "
        "encryption set.", [_des_name(), rg()],
        call=lambda ns, ctx: Call("get_des", (ns.name, ns.resource_group)),
        render=lambda e, d, ns: sorted(r.id for r in e.des_resources(d)),
        examples=[("List the resources a set encrypts.",
                   "az disk-encryption-set list-associated-resources -n MySet -g MyResourceGroup")])



def _str(value) -> str:
    if not isinstance(value, str) or not value:
        raise CLIError(f"a generic update gave {json_text(value)} where a non-empty string is needed")
    return value


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise CLIError(f"a generic update gave {json_text(value)} where true or false is needed")
    return value


def _int(value) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CLIError(f"a generic update gave {json_text(value)} where a whole number is needed")
    return value


def json_text(value) -> str:
    import json

    return json.dumps(value)


DES_UPDATABLE = {
    generic.TAGS: ("tags", generic.aaz_tags), "activeKey.keyUrl": ("key_url", _str),
    "activeKey.sourceVault.id": ("source_vault", _str),
    "rotationToLatestKeyVersionEnabled": ("rotation_to_latest", _bool), "encryptionType": ("encryption_type", _str),
}
"""What a generic update can change on a disk encryption set (its JSON path -> the facade keyword)."""


def _des_generic(ns, ctx) -> dict:
    if not generic.given(ns):
        return {}
    engine = ctx.engine
    before = views.des_view(engine.get_des(ns.name, ns.resource_group))
    return generic.changes(before, generic.apply(before, ns, aaz=True), DES_UPDATABLE,
                           "az disk-encryption-set update")


# ---- disks -------------------------------------------------------------------------------------------


def _encryption_args() -> list[Arg]:
    return [enum(("--encryption-type",), "encryption_type", "Encryption type. EncryptionAtRestWithPlatformKey: Disk "
                 "is encrypted with XStore managed key at rest. It is the default encryption type. "
                 "EncryptionAtRestWithCustomerKey: Disk is encrypted with Customer managed key at rest.",
                 DISK_ENCRYPTION_TYPES),
            Arg(("--disk-encryption-set",), "disk_encryption_set", "Name or ID of disk encryption set that is used "
                "to encrypt the disk.")]


_NETWORK_ACCESS = Prop(("--network-access-policy",), "network_access_policy", "networkAccessPolicy",
                       "Policy for accessing the disk via network.", kind="enum",
                       choices=("AllowAll", "AllowPrivate", "DenyAll"))
_PUBLIC_ACCESS = Prop(("--public-network-access",), "public_network_access", "publicNetworkAccess",
                      "Customers can set on Managed Disks or Snapshots to control the export policy on the disk.",
                      kind="enum", choices=("Disabled", "Enabled"))
_DISK_ACCESS = Prop(("--disk-access",), "disk_access", "diskAccessId", "Name or ID of the disk access resource for "
                    "using private endpoints on disks.", convert=props.resource_id("Microsoft.Compute/diskAccesses"))
_ARCHITECTURE = Prop(("--architecture",), "architecture", "supportedCapabilities.architecture", "CPU architecture.",
                     kind="enum", choices=("x64", "Arm64"))
_ACCELERATED = Prop(("--accelerated-network",), "accelerated_network", "supportedCapabilities.acceleratedNetwork",
                    "Customers can set on Managed Disks or Snapshots to enable the accelerated networking if the OS "
                    "disk image support.", kind="flag3")
_EDGE_ZONE = Prop(("--edge-zone",), "edge_zone", "extendedLocation", "The name of edge zone.",
                  convert=props.edge_zone)
_DATA_AUTH = Prop(("--data-access-auth-mode",), "data_access_auth_mode", "dataAccessAuthMode", "Specify the auth "
                  "mode when exporting or uploading to a disk or snapshot.", kind="enum",
                  choices=("AzureActiveDirectory", "None"))
_SECURITY_OPTION = Prop(("--supported-security-option", "--security-option"), "supported_security_option",
                        "supportedCapabilities.supportedSecurityOption", "Refer to the security capability of the "
                        "disk supported to create a Trusted launch or Confidential VM.", kind="enum",
                        choices=("TrustedLaunchAndConfidentialVMSupported", "TrustedLaunchSupported"))


def _performance_props() -> list[Prop]:
    return [
        Prop(("--max-shares",), "max_shares", "maxShares", "The maximum number of VMs that can attach to the disk "
             "at the same time. Value greater than one indicates a disk that can be mounted on multiple VMs at the "
             "same time.", kind="int"),
        Prop(("--disk-iops-read-write",), "disk_iops_read_write", "diskIOPSReadWrite", "The number of IOPS allowed "
             "for this disk. Only settable for UltraSSD disks.", kind="int"),
        Prop(("--disk-mbps-read-write",), "disk_mbps_read_write", "diskMBpsReadWrite", "The bandwidth allowed for "
             "this disk. Only settable for UltraSSD disks.", kind="int"),
        Prop(("--disk-iops-read-only",), "disk_iops_read_only", "diskIOPSReadOnly", "The total number of IOPS that "
             "will be allowed across all VMs mounting the shared disk as ReadOnly.", kind="int"),
        Prop(("--disk-mbps-read-only",), "disk_mbps_read_only", "diskMBpsReadOnly", "The total throughput (MBps) "
             "that will be allowed across all VMs mounting the shared disk as ReadOnly.", kind="int"),
    ]


DISK_CREATE_PROPS = [
    *_performance_props(), _NETWORK_ACCESS, _PUBLIC_ACCESS, _DISK_ACCESS, _DATA_AUTH, _ARCHITECTURE, _ACCELERATED,
    _EDGE_ZONE, _SECURITY_OPTION,
    Prop(("--action-on-disk-delay",), "action_on_disk_delay", "availabilityPolicy.actionOnDiskDelay", "Determine "
         "the action on disk delay.", kind="enum", choices=("AutomaticReattach",)),
    Prop(("--enable-bursting",), "enable_bursting", "burstingEnabled", "Enable on-demand bursting beyond the "
         "provisioned performance target of the disk.", kind="flag3"),
    Prop(("--tier",), "tier", "tier", "Performance tier of the disk (e.g, P4, S10) as described here: "
         "https://azure.microsoft.com/pricing/details/managed-disks/."),
    Prop(("--optimized-for-frequent-attach",), "optimized_for_frequent_attach", "optimizedForFrequentAttach",
         "Setting this property to true improves reliability and performance of data disks that are frequently "
         "(more than 5 times a day) by detached from one virtual machine and attached to another.", kind="flag3"),
    Prop(("--support-hibernation",), "support_hibernation", "supportsHibernation", "Indicate the OS on a disk "
         "supports hibernation.", kind="flag3"),
    Prop(("--logical-sector-size",), "logical_sector_size", "creationData.logicalSectorSize", "Logical sector size "
         "in bytes for Ultra disks. Supported values are 512 ad 4096. 4096 is the default.", kind="int"),
    Prop(("--performance-plus",), "performance_plus", "creationData.performancePlus", "Set this flag to true to get "
         "a boost on the performance target of the disk deployed.", kind="flag3"),
    Prop(("--security-type",), "security_type", "securityProfile.securityType", "The security type of the managed "
         "disk.", kind="enum", choices=("TrustedLaunch", "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey",
                                        "ConfidentialVM_DiskEncryptedWithPlatformKey",
                                        "ConfidentialVM_DiskEncryptedWithCustomerKey", "Standard")),
]
"""``az disk create`` flags that set a plain property of the disk."""

DISK_UPDATE_PROPS = [
    *_performance_props(), _NETWORK_ACCESS, _PUBLIC_ACCESS, _DISK_ACCESS, _DATA_AUTH, _SECURITY_OPTION,
    Prop(("--enable-bursting", "--bursting-enabled"), "bursting_enabled", "burstingEnabled", "Enable on-demand "
         "bursting beyond the provisioned performance target of the disk.", kind="flag3"),
    Prop(("--architecture",), "architecture", "supportedCapabilities.architecture", "CPU architecture.",
         kind="enum", choices=("Arm64", "x64")),
    Prop(("--accelerated-network",), "accelerated_network", "supportedCapabilities.acceleratedNetwork",
         "Customers can set on Managed Disks or Snapshots to enable the accelerated networking if the OS disk image "
         "support.", kind="flag3"),
    Prop(("--action-on-disk-delay",), "action_on_disk_delay", "availabilityPolicy.actionOnDiskDelay", "Determine "
         "the action on disk delay.", kind="enum", choices=("AutomaticReattach", "None")),
]
"""``az disk update`` flags that set a plain property of the disk."""

SNAPSHOT_CREATE_PROPS = [_NETWORK_ACCESS, _PUBLIC_ACCESS, _DISK_ACCESS, _ARCHITECTURE, _ACCELERATED, _EDGE_ZONE]
"""``az snapshot create`` flags that set a plain property of the snapshot."""

def _validate_disk_create(ns) -> None:
    """az's own check before the PUT (custom.py ``create_managed_disk``): an empty disk needs its size."""
    if ns.size_gb is None and not ns.source:
        raise CLIError("usage error: --size-gb is required to create an empty disk")


def _validate_snapshot_create(ns) -> None:
    """az's own check before the PUT (custom.py ``create_snapshot``): an empty snapshot needs its size."""
    if ns.size_gb is None and not ns.source:
        raise CLIError("Please supply size for the snapshots")


command("az disk create", "Create a managed disk.", [
    rg(), name("The name of the managed disk that is being created. It can't be changed after the disk is created. "
               "Supported characters for the name are a-z, A-Z, 0-9 and _. The maximum name length is 80 characters."),
    Arg(("--size-gb", "-z"), "size_gb", "Size in GB. Max size: 4095 GB (certain preview disks can be larger).",
        kind="int"),
    enum(("--sku",), "sku", "Underlying storage SKU.", DISK_SKUS, help_default="Premium_LRS"),
    Arg(("--source",), "source", "Source to create the disk/snapshot from, including unmanaged blob uri, managed "
        "disk id or name, or snapshot id or name."),
    location(),
    enum(("--zone",), "zone", "Availability zone into which to provision the resource.", ("1", "2", "3")),
    enum(("--os-type",), "os_type", "The Operating System type of the Disk.", OS_TYPES),
    enum(("--hyper-v-generation",), "hyper_v_generation", "The hypervisor generation of the Virtual Machine. "
         "Applicable to OS disks only.", HYPER_V, help_default="V1"),
    *_encryption_args(), tags(), no_wait(), *props.args(DISK_CREATE_PROPS),
], method="create_disk", params=_DISK_PARAMS, table=transform_disk_create, validate=_validate_disk_create, render=lambda e, d, ns: views.disk_view(e, d),
    call=lambda ns, ctx: Call("create_disk", (ns.name, ns.resource_group), {
        "size_gb": ns.size_gb, "sku": ns.sku or "Premium_LRS", "location": ns.location,
        "encryption_type": ns.encryption_type, "disk_encryption_set": ns.disk_encryption_set, "source": ns.source,
        "os_type": ns.os_type, "tags": ns.tags, "zone": ns.zone, "hyper_v_generation": ns.hyper_v_generation,
        "props": props.collect(ns, ctx, DISK_CREATE_PROPS)}),
    examples=[("Create a managed disk encrypted with a customer-managed key.",
               "az disk create -g MyResourceGroup -n MyDisk --size-gb 128 --disk-encryption-set MySet")])

command("az disk show", "Get information about a disk.", [rg(), name("The name of the managed disk.")],
        ids="Microsoft.Compute/disks", call=lambda ns, ctx: Call("get_disk", (ns.name, ns.resource_group)), table=transform_disk,
        render=lambda e, d, ns: views.disk_view(e, d),
        examples=[("Find the encryption type of a disk.",
                   "az disk show -g MyResourceGroup -n MyDisk --query encryption.type -o tsv")])

command("az disk list", "List managed disks.", [rg(required=False)],
        call=lambda ns, ctx: Call("list_disks", (ns.resource_group,)), table=transform_disk,
        render=lambda e, ds, ns: [views.disk_view(e, d) for d in ds],
        examples=[("List managed disks in a resource group.", "az disk list -g MyResourceGroup")])

command("az disk update", "Update a managed disk.", [
    rg(), name("The name of the managed disk."),
    Arg(("--size-gb", "-z"), "size_gb", "Size in GB. Max size: 4095 GB (certain preview disks can be larger).",
        kind="int"),
    enum(("--sku",), "sku", "Underlying storage SKU.", DISK_SKUS),
    *_encryption_args(), no_wait(), *generic.generic_args(), *props.args(DISK_UPDATE_PROPS),
], method="update_disk", params=_DISK_PARAMS, ids="Microsoft.Compute/disks", table=transform_disk, render=lambda e, d, ns: views.disk_view(e, d),
    call=lambda ns, ctx: _disk_update_call(ns, ctx),
    examples=[("Encrypt an existing disk with a customer-managed key (its VM deallocated).",
               "az disk update -g MyResourceGroup -n MyDisk --encryption-type EncryptionAtRestWithCustomerKey "
               "--disk-encryption-set MySet")])

DISK_UPDATABLE = {
    generic.TAGS: ("tags", generic.aaz_tags), "diskSizeGB": ("size_gb", _int), "sku.name": ("sku", _str),
    "encryption.type": ("encryption_type", _str), "encryption.diskEncryptionSetId": ("disk_encryption_set", _str),
}
"""What a generic update can change on a disk."""


def _disk_generic(ns, ctx) -> dict:
    if not generic.given(ns):
        return {}
    engine = ctx.engine
    before = views.disk_view(engine, engine.get_disk(ns.name, ns.resource_group))
    updatable = dict(DISK_UPDATABLE)
    updatable.update({p.path: ("props:" + p.path, None) for p in DISK_UPDATE_PROPS})
    return generic.changes(before, generic.apply(before, ns, aaz=True), updatable, "az disk update")


def _disk_update_call(ns, ctx) -> Call:
    kwargs = {"encryption_type": ns.encryption_type, "disk_encryption_set": ns.disk_encryption_set,
              "size_gb": ns.size_gb, "sku": ns.sku}
    given = props.collect(ns, ctx, DISK_UPDATE_PROPS)
    generic.route_changes(_disk_generic(ns, ctx), kwargs, given)
    if given:
        kwargs["props"] = given
    return Call("update_disk", (ns.name, ns.resource_group), kwargs)


command("az disk delete", "Delete a managed disk.", [rg(), name("The name of the managed disk."), no_wait(), yes()],
        method="delete_disk", confirm=True, ids="Microsoft.Compute/disks", probe="get_disk",
        call=lambda ns, ctx: Call("delete_disk", (ns.name, ns.resource_group)),
        examples=[("Delete a managed disk.", "az disk delete -g MyResourceGroup -n MyDisk --yes")])

# ---- snapshots ---------------------------------------------------------------------------------------

command("az snapshot create", "Create a snapshot.", [
    rg(), name("The name of the snapshot."),
    Arg(("--source",), "source", "Source to create the disk/snapshot from, including unmanaged blob uri, managed "
        "disk id or name, or snapshot id or name."),
    Arg(("--size-gb", "-z"), "size_gb", "Size in GB. Max size: 4095 GB (certain preview disks can be larger).",
        kind="int"),
    enum(("--sku",), "sku", "Underlying storage SKU.", SNAPSHOT_SKUS, help_default="Standard_LRS"),
    flag3(("--incremental",), "incremental", "Whether a snapshot is incremental. Incremental snapshots on the same "
          "disk occupy less space than full snapshots and can be diffed.", default="false"),
    location(),
    enum(("--hyper-v-generation",), "hyper_v_generation", "The hypervisor generation of the Virtual Machine. "
         "Applicable to OS disks only.", HYPER_V),
    *_encryption_args(), tags(), no_wait(), *props.args(SNAPSHOT_CREATE_PROPS),
], method="create_snapshot", params=_DISK_PARAMS, render=lambda e, s, ns: views.snapshot_view(e, s),
    validate=_validate_snapshot_create,
    call=lambda ns, ctx: Call("create_snapshot", (ns.name, ns.resource_group, ns.source), {
        "size_gb": ns.size_gb, "location": ns.location, "encryption_type": ns.encryption_type,
        "disk_encryption_set": ns.disk_encryption_set, "sku": ns.sku, "tags": ns.tags,
        "hyper_v_generation": ns.hyper_v_generation, "props": props.collect(ns, ctx, SNAPSHOT_CREATE_PROPS)}),
    examples=[("Create a snapshot of a disk (a customer-key disk needs a set with the same key).",
               "az snapshot create -g MyResourceGroup -n MySnapshot --source MyDisk --disk-encryption-set MySet")])

command("az snapshot show", "Get information about a snapshot.", [rg(), name("The name of the snapshot.")],
        ids="Microsoft.Compute/snapshots", call=lambda ns, ctx: Call("get_snapshot", (ns.name, ns.resource_group)),
        render=lambda e, s, ns: views.snapshot_view(e, s),
        examples=[("Show a snapshot.", "az snapshot show -g MyResourceGroup -n MySnapshot")])

command("az snapshot list", "List snapshots.", [rg(required=False)],
        call=lambda ns, ctx: Call("list_snapshots", (ns.resource_group,)),
        render=lambda e, ss, ns: [views.snapshot_view(e, s) for s in ss],
        examples=[("List snapshots.", "az snapshot list -g MyResourceGroup")])

command("az snapshot delete", "Delete a snapshot.", [rg(), name("The name of the snapshot."), no_wait()],
        method="delete_snapshot", ids="Microsoft.Compute/snapshots", probe="get_snapshot", call=lambda ns, ctx: Call("delete_snapshot", (ns.name, ns.resource_group)),
        examples=[("Delete a snapshot.", "az snapshot delete -g MyResourceGroup -n MySnapshot")])

# ---- images ------------------------------------------------------------------------------------------

command("az image create", "Create a custom Virtual Machine Image from managed disks or snapshots.", [
    rg(), name("New image name."),
    Arg(("--source",), "source", "OS disk source from the same region, including a virtual machine ID or name, OS "
        "disk blob URI, managed OS disk ID or name, or OS snapshot ID or name.", required=True),
    enum(("--os-type",), "os_type", "The Operating System type of the Disk.", OS_TYPES),
    Arg(("--data-disk-sources",), "data_disk_sources", "Space-separated list of data disk sources, including "
        "unmanaged blob URI, managed disk ID or name, or snapshot ID or name.", nargs="+"),
    enum(("--storage-sku",), "storage_sku", "The SKU of the storage account with which to create the VM image. "
         "Unused if source VM is specified.", IMAGE_STORAGE_SKUS),
    enum(("--hyper-v-generation",), "hyper_v_generation", "The hypervisor generation of the Virtual Machine "
         "created from the image.", HYPER_V, help_default="V1"),
    flag3(("--zone-resilient",), "zone_resilient", "Specifies whether an image is zone resilient or not."),
    location(), tags(),
], method="create_image", params={"source": ("source", "name")}, render=lambda e, i, ns: views.image_view(e, i),
    call=lambda ns, ctx: Call("create_image", (ns.name, ns.resource_group, ns.source), {
        "location": ns.location, "os_type": ns.os_type, "tags": ns.tags,
        "hyper_v_generation": ns.hyper_v_generation or "V1"}),  # az's default, sent when not given (K11)
    examples=[("Create an image from an existing VM.", "az image create -g MyResourceGroup -n image1 --source MyVm1")])

command("az image show", "Get an image.", [rg(), name("The name of the image.")],
        ids="Microsoft.Compute/images", call=lambda ns, ctx: Call("get_image", (ns.name, ns.resource_group)),
        render=lambda e, i, ns: views.image_view(e, i),
        examples=[("Show an image.", "az image show -g MyResourceGroup -n MyImage")])

command("az image list", "List the list of images under a resource group.", [rg(required=False)],
        call=lambda ns, ctx: Call("list_images", (ns.resource_group,)),
        render=lambda e, imgs, ns: [views.image_view(e, i) for i in imgs],
        examples=[("List images.", "az image list -g MyResourceGroup")])

command("az image delete", "Delete an Image.", [rg(), name("The name of the image.")],
        method="delete_image", ids="Microsoft.Compute/images", probe="get_image", call=lambda ns, ctx: Call("delete_image", (ns.name, ns.resource_group)),
        examples=[("Delete an image.", "az image delete -g MyResourceGroup -n MyImage")])

# ---- wait (az's generic wait on the GET of each kind) ----------------------------------------------------

wait_command("az disk wait", [
    rg(), name("The name of the managed disk that is being created. The name can't be changed after the disk is "
               "created. Supported characters for the name are a-z, A-Z, 0-9, _ and -. The maximum name length is "
               "80 characters.", extra=("--disk-name",)),
], lambda e, ns: arm_shape(views.disk_view(e, e.get_disk(ns.name, ns.resource_group))), ids="Microsoft.Compute/disks",
    examples=[("Wait until a disk another terminal makes exists.",
               "az disk wait -g MyResourceGroup -n MyDisk --created --interval 5 --timeout 60")])

wait_command("az snapshot wait", [
    rg(), name("The name of the snapshot that is being created.", extra=("--snapshot-name",)),
], lambda e, ns: arm_shape(views.snapshot_view(e, e.get_snapshot(ns.name, ns.resource_group))),
    ids="Microsoft.Compute/snapshots",
    examples=[("Wait until a snapshot is deleted.", "az snapshot wait -g MyResourceGroup -n MySnapshot --deleted")])

wait_command("az image wait", [
    rg(), name("The name of the image.", extra=("--image-name",)),
    Arg(("--expand",), "expand", "The expand expression to apply on the operation. (No effect in cmklab: the image "
        "is shown whole.)"),
], lambda e, ns: arm_shape(views.image_view(e, e.get_image(ns.name, ns.resource_group))),
    ids="Microsoft.Compute/images",
    examples=[("Wait until an image exists.", "az image wait -g MyResourceGroup -n MyImage --exists")])

wait_command("az disk-encryption-set wait", [_des_name(), rg()],
             lambda e, ns: arm_shape(views.des_view(e.get_des(ns.name, ns.resource_group))),
             ids="Microsoft.Compute/diskEncryptionSets",
             examples=[("Wait until a set uses a key version.", "az disk-encryption-set wait -g MyResourceGroup -n "
                        "MySet --custom \"properties.activeKey.keyUrl=='$KEY_URL'\"")])

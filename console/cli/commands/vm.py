"""``az vm`` and ``az vm disk``."""

from __future__ import annotations

from ..errors import CLIError
from ..output import transform_instance_view, transform_vm
from ..spec import (Arg, Call, command, enum, flag3, location, name, no_wait,
                    rg, tags, yes, views)
from .compute import DISK_SKUS

STOP_WARNING = ("About to power off the specified VM...\n"
                "It will continue to be billed. To deallocate a VM, run: az vm deallocate.")
CACHING = ("None", "ReadOnly", "ReadWrite")
VM_TYPE = "Microsoft.Compute/virtualMachines"
VM_NAME_HELP = ("The name of the Virtual Machine. You can configure the default using `az configure --defaults "
                "vm=<name>`.")


def _vm_name(required: bool = True) -> Arg:
    return name(VM_NAME_HELP, required=required)


def _storage_sku(values: list[str] | None):
    """One SKU for every disk is a string to the engine; ``os=SKU``/``LUN=SKU`` entries stay a list."""
    if values and len(values) == 1 and "=" not in values[0]:
        return values[0]
    return values


def _create_call(ns, ctx) -> Call:
    kwargs: dict = {
        "location": ns.location, "os_disk_name": ns.os_disk_name, "os_disk_encryption_set": ns.os_disk_encryption_set,
        "os_disk_size_gb": ns.os_disk_size_gb, "data_disk_sizes_gb": ns.data_disk_sizes_gb,
        "data_disk_encryption_sets": ns.data_disk_encryption_sets,
        "storage_sku": _storage_sku(ns.storage_sku),
        "ultra_ssd_enabled": bool(ns.ultra_ssd_enabled), "encryption_at_host": bool(ns.encryption_at_host),
        "tags": ns.tags, "zone": ns.zone, "data_disk_caching": ns.data_disk_caching,
    }
    if ns.image:
        kwargs["image"] = ns.image
    kwargs["size"] = ns.size or "Standard_DS1_v2"  # az's default size
    if ns.admin_username:
        kwargs["admin_username"] = ns.admin_username
    return Call("create_vm", (ns.name, ns.resource_group), kwargs)


_STORAGE = "Storage Arguments"
_AUTH = "Authentication Arguments"
_NET = "Network Arguments"

command("az vm create", "Create an Azure Virtual Machine.", [
    _vm_name(), rg(),
    Arg(("--image",), "image", "The name of the operating system image as a URN alias, URN, custom image name or "
        "ID, custom image version ID, or VHD blob URI. This parameter is required unless using `--attach-os-disk.` "
        "Valid URN format: \"Publisher:Offer:Sku:Version\"."),
    Arg(("--size",), "size", "The VM size to be created. See https://azure.microsoft.com/pricing/details/"
        "virtual-machines/ for size info.", help_default="Standard_DS1_v2"),
    location(),
    enum(("--zone", "-z"), "zone", "Availability zone into which to provision the resource.", ("1", "2", "3")),
    tags(),
    Arg(("--admin-username",), "admin_username", "Username for the VM. Default value is current username of OS. If "
        "the default value is system reserved, then default value will be set to azureuser.", group=_AUTH),
    Arg(("--admin-password",), "admin_password", "Password for the VM if authentication type is 'Password'.",
        group=_AUTH),
    Arg(("--generate-ssh-keys",), "generate_ssh_keys", "Generate SSH public and private key files if missing. The "
        "keys will be stored in the ~/.ssh directory.", kind="store_true", group=_AUTH),
    Arg(("--ssh-key-values",), "ssh_key_values", "Space-separated list of SSH public keys or public key file paths.",
        nargs="+", group=_AUTH),
    enum(("--authentication-type",), "authentication_type", "Type of authentication to use with the VM. Defaults to "
         "password for Windows and SSH public key for Linux.", ("ssh", "password", "all"), group=_AUTH),
    Arg(("--os-disk-name",), "os_disk_name", "The name of the new VM OS disk.", group=_STORAGE),
    Arg(("--os-disk-size-gb",), "os_disk_size_gb", "OS disk size in GB to create.", kind="int", group=_STORAGE),
    enum(("--os-disk-caching",), "os_disk_caching", "Storage caching type for the VM OS disk.", CACHING,
         group=_STORAGE),
    Arg(("--storage-sku",), "storage_sku", "The SKU of the storage account with which to persist VM. Use a "
        "singular sku that would be applied across all disks, or specify individual disks. Usage: [--storage-sku "
        "SKU | --storage-sku ID=SKU ID=SKU ID=SKU...], where each ID is \"os\" or a 0-indexed lun.", nargs="+",
        group=_STORAGE),
    Arg(("--data-disk-sizes-gb",), "data_disk_sizes_gb", "Space-separated empty managed data disk sizes in GB to "
        "create.", kind="int", nargs="+", group=_STORAGE),
    enum(("--data-disk-caching",), "data_disk_caching", "Storage caching type for data disk(s), including 'None', "
         "'ReadOnly', 'ReadWrite', etc.", CACHING, group=_STORAGE),
    Arg(("--os-disk-encryption-set",), "os_disk_encryption_set", "Name or ID of disk encryption set for OS disk.",
        group=_STORAGE),
    Arg(("--data-disk-encryption-sets",), "data_disk_encryption_sets", "Names or IDs (space delimited) of disk "
        "encryption sets for data disks.", nargs="+", group=_STORAGE),
    flag3(("--ultra-ssd-enabled",), "ultra_ssd_enabled", "Enables or disables the capability to have 1 or more "
          "managed data disks with UltraSSD_LRS storage account."),
    flag3(("--encryption-at-host",), "encryption_at_host", "Enable Host Encryption for the VM or VMSS. This will "
          "enable the encryption for all the disks including Resource/Temp disk at host itself."),
    Arg(("--vnet-name",), "vnet_name", "Name of the virtual network when creating a new one or referencing an "
        "existing one (cmklab does not model networks).", group=_NET),
    Arg(("--subnet",), "subnet", "The name of the subnet when creating a new VNet or referencing an existing one "
        "(not modelled).", group=_NET),
    Arg(("--nsg",), "nsg", "The name to use when creating a new Network Security Group (default) or referencing an "
        "existing one (not modelled).", group=_NET),
    Arg(("--public-ip-address",), "public_ip_address", "Name of the public IP address when creating one (default) "
        "or referencing an existing one (not modelled).", group=_NET),
    enum(("--public-ip-sku",), "public_ip_sku", "Public IP SKU (not modelled).", ("Basic", "Standard"), group=_NET),
    enum(("--nsg-rule",), "nsg_rule", "NSG rule to create when creating a new NSG (not modelled).",
         ("RDP", "SSH", "NONE"), group=_NET),
    no_wait(),
], mutating=True, call=_create_call, render=lambda e, vm, ns: views.vm_create_output(vm),
    examples=[("Create a VM whose OS and data disks are encrypted with a customer-managed key.",
               "az vm create -g MyResourceGroup -n MyVm --image Ubuntu2204 --os-disk-encryption-set MySet "
               "--data-disk-sizes-gb 128 --data-disk-encryption-sets MySet --generate-ssh-keys")])

command("az vm show", "Get the details of a VM.", [
    _vm_name(), rg(),
    Arg(("--show-details", "-d"), "show_details", "Show public ip address, FQDN, and power states. command will run "
        "slow.", kind="store_true"),
    Arg(("--include-user-data", "-u"), "include_user_data", "Include the user data properties in the query result.",
        kind="store_true"),
], ids=VM_TYPE, call=lambda ns, ctx: Call("get_vm", (ns.name, ns.resource_group)), table=transform_vm,
    render=lambda e, vm, ns: views.vm_view(e, vm, details=ns.show_details),
    examples=[("Show the power state of a VM.", "az vm show -g MyResourceGroup -n MyVm -d --query powerState -o tsv")])

command("az vm list", "List details of Virtual Machines.", [
    rg(required=False),
    Arg(("--show-details", "-d"), "show_details", "Show public ip address, FQDN, and power states. command will run "
        "slow.", kind="store_true"),
], call=lambda ns, ctx: Call("list_vms", (ns.resource_group,)), table=transform_vm,
    render=lambda e, vms, ns: [views.vm_view(e, vm, details=ns.show_details) for vm in vms],
    examples=[("List all VMs with their power state.", "az vm list -d -o table")])

command("az vm get-instance-view", "Get instance information about a VM.", [_vm_name(), rg()], ids=VM_TYPE, 
        call=lambda ns, ctx: Call("get_vm", (ns.name, ns.resource_group)), table=transform_instance_view,
        render=lambda e, vm, ns: views.vm_view(e, vm, instance_view=True),
        examples=[("Get a VM's power state.", "az vm get-instance-view -g MyResourceGroup -n MyVm "
                   "--query instanceView.statuses[1].displayStatus -o tsv")])


def _power(verb: str, method: str, summary: str, extra: list[Arg] | None = None, **kw) -> None:
    command(f"az vm {verb}", summary, [_vm_name(), rg(), *(extra or []), no_wait()], mutating=True, ids=VM_TYPE, 
            call=lambda ns, ctx: Call(method, (ns.name, ns.resource_group)),
            examples=[(f"{summary.split('.')[0]}.", f"az vm {verb} -g MyResourceGroup -n MyVm")], **kw)


_power("start", "start_vm", "Start a stopped VM.")
_power("stop", "stop_vm", "Power off (stop) a running VM.", [
    Arg(("--skip-shutdown",), "skip_shutdown", "Skip shutdown and power-off immediately.", kind="store_true")],
    warning=STOP_WARNING)
_power("deallocate", "deallocate_vm", "Deallocate a VM so that computing resources are no longer allocated (charges "
       "no longer apply). The status will change from 'Stopped' to 'Stopped (Deallocated)'.", [
           Arg(("--hibernate",), "hibernate", "Optional parameter to hibernate a virtual machine.", kind="flag3",
               choices=("true", "false"))])
_power("restart", "restart_vm", "Restart VMs.", [
    Arg(("--force",), "force", "Force the VM to restart by redeploying it. Use if the VM is unresponsive.",
        kind="store_true")])

command("az vm delete", "Delete a VM.", [
    _vm_name(), rg(),
    enum(("--force-deletion",), "force_deletion", "Optional parameter to force delete virtual machines.",
         ("true", "false", "True", "False")),
    no_wait(), yes(),
], mutating=True, confirm=True, ids=VM_TYPE, probe="get_vm",
    call=lambda ns, ctx: Call("delete_vm", (ns.name, ns.resource_group)),
    examples=[("Delete a VM without a prompt (its disks are kept).", "az vm delete -g MyResourceGroup -n MyVm --yes")])


def _update_call(ns, ctx) -> Call:
    eah = ns.encryption_at_host
    for item in ns.set or []:
        path, _, value = item.partition("=")
        if path.strip().lower() == "securityprofile.encryptionathost" and value.strip().lower() in ("true", "false"):
            eah = value.strip().lower() == "true"
        else:
            raise CLIError(f"cmklab's `az vm update --set` takes securityProfile.encryptionAtHost=true|false only; "
                           f"got '{item}'")
    return Call("update_vm", (ns.name, ns.resource_group), {
        "encryption_at_host": eah, "size": ns.size, "ultra_ssd_enabled": ns.ultra_ssd_enabled})


command("az vm update", "Update the properties of a VM.", [
    _vm_name(), rg(),
    Arg(("--size",), "size", "The new size of the virtual machine. See https://azure.microsoft.com/pricing/details/"
        "virtual-machines/ for size info."),
    flag3(("--ultra-ssd-enabled",), "ultra_ssd_enabled", "Enables or disables the capability to have 1 or more "
          "managed data disks with UltraSSD_LRS storage account."),
    flag3(("--encryption-at-host",), "encryption_at_host", "Enable Host Encryption for the VM or VMSS. This will "
          "enable the encryption for all the disks including Resource/Temp disk at host itself."),
    Arg(("--set",), "set", "Update an object by specifying a property path and value to set.  Example: --set "
        "property1.property2=<value>.", nargs="+", group="Generic Update Arguments"),
    no_wait(),
], mutating=True, ids=VM_TYPE, call=_update_call, render=lambda e, vm, ns: views.vm_view(e, vm),
    examples=[("Turn on encryption at host (the VM deallocated).",
               "az vm update -g MyResourceGroup -n MyVm --set securityProfile.encryptionAtHost=true")])

# ---- vm disk -----------------------------------------------------------------------------------------

command("az vm disk attach", "Attach a managed persistent disk to a VM.", [
    Arg(("--vm-name",), "vm_name", "The name of the Virtual Machine. You can configure the default using `az "
        "configure --defaults vm=<name>`.", required=True),
    rg(),
    Arg(("--name", "-n"), "name", "The name or ID of the managed disk."),
    Arg(("--new",), "new", "Create a new disk.", kind="store_true"),
    Arg(("--size-gb", "-z"), "size_gb", "Size in GB. Max size: 4095 GB (certain preview disks can be larger).",
        kind="int"),
    enum(("--sku",), "sku", "Underlying storage SKU.", DISK_SKUS),
    Arg(("--lun",), "lun", "0-based logical unit number (LUN). Max value depends on the Virtual Machine size.",
        kind="int"),
    enum(("--caching",), "caching", "Disk caching policy.", CACHING),
    no_wait(),
], mutating=True, ids=VM_TYPE, id_parts=("resource_group", "vm_name"),
    call=lambda ns, ctx: Call("attach_disk", (ns.vm_name, _need_disk(ns), ns.resource_group), {
    "lun": ns.lun, "new": ns.new, "size_gb": ns.size_gb, "sku": ns.sku, "caching": ns.caching}),
    examples=[("Attach an existing disk encrypted with a customer-managed key.",
               "az vm disk attach -g MyResourceGroup --vm-name MyVm --name MyDisk --lun 1")])


def _need_disk(ns) -> str:
    if not ns.name:
        raise CLIError("usage error: --name NAME | --disks NAME1 NAME2 ...")
    return ns.name


command("az vm disk detach", "Detach a managed disk from a VM.", [
    Arg(("--vm-name",), "vm_name", "The name of the Virtual Machine. You can configure the default using `az "
        "configure --defaults vm=<name>`.", required=True),
    rg(), Arg(("--name", "-n"), "name", "The data disk name.", required=True),
    flag3(("--force-detach",), "force_detach", "Force detach managed data disks from a VM."),
    no_wait(),
], mutating=True, ids=VM_TYPE, id_parts=("resource_group", "vm_name"),
    call=lambda ns, ctx: Call("detach_disk", (ns.vm_name, ns.name, ns.resource_group)),
    examples=[("Detach a data disk.", "az vm disk detach -g MyResourceGroup --vm-name MyVm --name disk_name")])

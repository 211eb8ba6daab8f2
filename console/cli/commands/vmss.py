"""``az vmss``: scale sets over the engine's (each instance a VM ``{name}-{n}``, as in Flexible orchestration), with
disk encryption sets for the OS and data disks in the model, the model updated (``--set``, as az's generic update
arguments), instances brought to it (``update-instances``), listed with ``latestModelApplied``, and power actions
on all or some instances."""

from __future__ import annotations

from ..errors import CLIError
from ..spec import Arg, Call, command, enum, flag3, location, name, no_wait, rg, tags, views

VMSS_TYPE = "Microsoft.Compute/virtualMachineScaleSets"
VMSS_NAME_HELP = "Scale set name. You can configure the default using `az configure --defaults vmss=<name>`."
UPGRADE_MODES = ("Automatic", "Manual", "Rolling")
ORCHESTRATION_MODES = ("Flexible", "Uniform")
_STORAGE = "Storage Arguments"
_AUTH = "Authentication Arguments"
_NET = "Network Arguments"
_NOT_MODELLED = " (cmklab does not model networks: accepted and not used)"


def _vmss_name(required: bool = True) -> Arg:
    return name(VMSS_NAME_HELP, required=required)


def _instance_ids(required: bool = False) -> Arg:
    return Arg(("--instance-ids",), "instance_ids", "Space-separated list of IDs (ex: 1 2 3 ...) or * for all "
               "instances. If not provided, the action will be applied on the scaleset itself", nargs="+",
               required=required)


def _create_call(ns, ctx) -> Call:
    return Call("create_scale_set", (ns.name, ns.resource_group), {
        "capacity": 2 if ns.instance_count is None else ns.instance_count, "size": ns.vm_sku or "Standard_DS1_v2",
        "image": ns.image or "Ubuntu2204", "location": ns.location,
        "os_disk_encryption_set": ns.os_disk_encryption_set, "encryption_at_host": bool(ns.encryption_at_host),
        "data_disk_sizes_gb": ns.data_disk_sizes_gb, "data_disk_encryption_sets": ns.data_disk_encryption_sets,
        "upgrade_mode": ns.upgrade_policy_mode or "Manual", "orchestration_mode": ns.orchestration_mode or "Flexible",
        "admin_username": ns.admin_username or "azureuser", "tags": ns.tags})


command("az vmss create", "Create an Azure Virtual Machine Scale Set.", [
    _vmss_name(), rg(),
    Arg(("--image",), "image", "The name of the operating system image as a URN alias, URN, custom image name or "
        "ID, or VHD blob URI. Valid URN format: \"Publisher:Offer:Sku:Version\"."),
    Arg(("--vm-sku",), "vm_sku", "Size of VMs in the scale set. See https://azure.microsoft.com/pricing/details/"
        "virtual-machines/ for size info.", help_default="Standard_DS1_v2"),
    Arg(("--instance-count",), "instance_count", "Number of VMs in the scale set.", kind="int", help_default="2"),
    location(), tags(),
    enum(("--upgrade-policy-mode",), "upgrade_policy_mode", "The upgrade policy mode: how instances take a new "
         "model (Manual: on az vmss update-instances).", UPGRADE_MODES, help_default="Manual"),
    enum(("--orchestration-mode",), "orchestration_mode", "Choose how virtual machines are managed by the scale "
         "set. cmklab's instances are VMs named {name}-{n} in either mode.", ORCHESTRATION_MODES,
         help_default="Flexible"),
    Arg(("--admin-username",), "admin_username", "Username for the VM.", group=_AUTH),
    Arg(("--admin-password",), "admin_password", "Password for the VM if authentication type is 'Password'.",
        group=_AUTH),
    Arg(("--generate-ssh-keys",), "generate_ssh_keys", "Generate SSH public and private key files if missing.",
        kind="store_true", group=_AUTH),
    enum(("--authentication-type",), "authentication_type", "Type of authentication to use with the VM.",
         ("ssh", "password", "all"), group=_AUTH),
    Arg(("--os-disk-encryption-set",), "os_disk_encryption_set", "Name or ID of disk encryption set for OS disk.",
        group=_STORAGE),
    Arg(("--data-disk-sizes-gb",), "data_disk_sizes_gb", "Space-separated empty managed data disk sizes in GB to "
        "create.", kind="int", nargs="+", group=_STORAGE),
    Arg(("--data-disk-encryption-sets",), "data_disk_encryption_sets", "Names or IDs (space delimited) of disk "
        "encryption sets for data disks.", nargs="+", group=_STORAGE),
    flag3(("--encryption-at-host",), "encryption_at_host", "Enable Host Encryption for the VM or VMSS. This will "
          "enable the encryption for all the disks including Resource/Temp disk at host itself."),
    Arg(("--vnet-name",), "vnet_name", "Name of the virtual network when creating a new one or referencing an "
        "existing one" + _NOT_MODELLED + ".", group=_NET),
    Arg(("--subnet",), "subnet", "The name of the subnet when creating a new VNet or referencing an existing one"
        + _NOT_MODELLED + ".", group=_NET),
    Arg(("--lb",), "load_balancer", "Name to use when creating a new load balancer (default) or referencing an "
        "existing one" + _NOT_MODELLED + ".", group=_NET),
    Arg(("--public-ip-address",), "public_ip_address", "Name of the public IP address when creating one (default) "
        "or referencing an existing one" + _NOT_MODELLED + ".", group=_NET),
    no_wait(),
], method="create_scale_set", call=_create_call, render=lambda e, ss, ns: views.vmss_create_output(e, ss),
    examples=[("Create a scale set whose OS and data disks use customer-managed keys.",
               "az vmss create -g MyResourceGroup -n MyScaleSet --image Ubuntu2204 --instance-count 2 "
               "--os-disk-encryption-set MySet --data-disk-sizes-gb 64 --data-disk-encryption-sets MySet")])

command("az vmss show", "Get details on VMs within a VMSS.", [_vmss_name(), rg()], ids=VMSS_TYPE,
        call=lambda ns, ctx: Call("get_scale_set", (ns.name, ns.resource_group)),
        render=lambda e, ss, ns: views.vmss_view(e, ss),
        examples=[("Which set encrypts the OS disks of a scale set's model.",
                   "az vmss show -g MyResourceGroup -n MyScaleSet --query "
                   "virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id -o tsv")])

command("az vmss list", "List VMSS.", [rg(required=False)],
        call=lambda ns, ctx: Call("list_scale_sets", (ns.resource_group,)),
        render=lambda e, sets, ns: [views.vmss_view(e, ss) for ss in sets],
        examples=[("List the scale sets of a resource group.", "az vmss list -g MyResourceGroup")])

_SET_PATHS = {
    "virtualmachineprofile.securityprofile.encryptionathost": "encryption_at_host",
    "virtualmachineprofile.storageprofile.osdisk.manageddisk.diskencryptionset.id": "os_disk_encryption_set",
    "upgradepolicy.mode": "upgrade_mode",
}
_DATA_DES = "virtualmachineprofile.storageprofile.datadisks["
_DATA_DES_TAIL = "].manageddisk.diskencryptionset.id"


def _update_call(ns, ctx) -> Call:
    """The generic update arguments on the model's paths cmklab simulates (the ones the docs use for customer-managed
    keys and encryption at host)."""
    kwargs: dict = {}
    data_sets: dict[int, str] = {}
    for item in ns.set or []:
        path, eq, value = item.partition("=")
        key = path.strip().lower()
        if not eq:
            raise CLIError(f"usage error: --set property.path=value; got '{item}'")
        if key in _SET_PATHS:
            dest = _SET_PATHS[key]
            if dest == "encryption_at_host":
                if value.lower() not in ("true", "false"):
                    raise CLIError(f"{path} takes true or false, not '{value}'")
                kwargs[dest] = value.lower() == "true"
            else:
                kwargs[dest] = value
        elif key.startswith(_DATA_DES) and key.endswith(_DATA_DES_TAIL) and key[len(_DATA_DES):-len(_DATA_DES_TAIL)
                                                                               ].isdigit():
            data_sets[int(key[len(_DATA_DES):-len(_DATA_DES_TAIL)])] = value
        else:
            raise CLIError(f"cmklab's `az vmss update --set` takes {', '.join(_PATH_NAMES)}; got '{path}'")
    if data_sets:
        ss = ctx.engine.get_scale_set(ns.name, ns.resource_group)
        current = [ss.data_disk_set(lun) for lun in range(len(ss.data_disk_sizes_gb))]
        for lun, value in data_sets.items():
            if lun >= len(current):
                raise CLIError(f"the model has {len(current)} data disk(s); dataDisks[{lun}] is not one of them")
            current[lun] = value
        if any(c is None for c in current):
            raise CLIError("give a disk encryption set for every data disk of the model")
        kwargs["data_disk_encryption_sets"] = current
    if ns.tags is not None:
        kwargs["tags"] = ns.tags
    return Call("update_scale_set", (ns.name, ns.resource_group), kwargs)


_PATH_NAMES = ("virtualMachineProfile.securityProfile.encryptionAtHost=true|false",
               "virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id=SET_ID",
               "virtualMachineProfile.storageProfile.dataDisks[LUN].managedDisk.diskEncryptionSet.id=SET_ID",
               "upgradePolicy.mode=Manual|Automatic|Rolling")

command("az vmss update", "Update a VMSS. Run 'az vmss update-instances' command to roll out the changes to VMs if "
        "you have not configured upgrade policy.", [
            _vmss_name(), rg(), tags(),
            Arg(("--set",), "set", "Update an object by specifying a property path and value to set. Example: --set "
                "property1.property2=<value>. cmklab takes: " + "; ".join(_PATH_NAMES) + ".", nargs="+",
                group="Generic Update Arguments"),
            no_wait(),
        ], method="update_scale_set", ids=VMSS_TYPE, call=_update_call, render=lambda e, ss, ns: views.vmss_view(e, ss),
        examples=[("Turn on encryption at host in the model (instances take it on update-instances, deallocated).",
                   "az vmss update -g MyResourceGroup -n MyScaleSet --set "
                   "virtualMachineProfile.securityProfile.encryptionAtHost=true"),
                  ("Give the model's OS disks another disk encryption set.",
                   "az vmss update -g MyResourceGroup -n MyScaleSet --set "
                   "virtualMachineProfile.storageProfile.osDisk.managedDisk.diskEncryptionSet.id=$DES_ID")])

command("az vmss update-instances", "Upgrade VMs within a VMSS.", [
    _vmss_name(), rg(), _instance_ids(required=True), no_wait(),
], method="upgrade_scale_set_instances", ids=VMSS_TYPE,
    call=lambda ns, ctx: Call("upgrade_scale_set_instances", (ns.name, ns.resource_group),
                              {"instance_ids": ns.instance_ids}),
    examples=[("Bring every instance to the latest model.",
               "az vmss update-instances -g MyResourceGroup -n MyScaleSet --instance-ids '*'")])

command("az vmss list-instances", "Get a list of all virtual machines in a VM scale sets.", [
    _vmss_name(), rg(),
], call=lambda ns, ctx: Call("get_scale_set", (ns.name, ns.resource_group)),
    render=lambda e, ss, ns: [views.vmss_instance_view(e, ss, vm) for vm in e.scale_set_instances(ss)],
    examples=[("Which instances still lack the latest model.",
               "az vmss list-instances -g MyResourceGroup -n MyScaleSet --query \"[?!latestModelApplied].name\"")])

command("az vmss scale", "Change the number of VMs within a VMSS.", [
    _vmss_name(), rg(),
    Arg(("--new-capacity",), "new_capacity", "Number of VMs in the VMSS.", kind="int", required=True), no_wait(),
], method="scale_scale_set", ids=VMSS_TYPE,
    call=lambda ns, ctx: Call("scale_scale_set", (ns.name, ns.new_capacity, ns.resource_group)),
    render=lambda e, ss, ns: views.vmss_view(e, ss),
    examples=[("Add instances (they follow the current model).",
               "az vmss scale -g MyResourceGroup -n MyScaleSet --new-capacity 4")])

command("az vmss delete", "Delete a VM scale set.", [
    _vmss_name(), rg(),
    enum(("--force-deletion",), "force_deletion", "Optional parameter to force delete a VM scale set. (Feature in "
         "Preview).", ("false", "true")),
    no_wait(),
], method="delete_scale_set", ids=VMSS_TYPE, probe="get_scale_set",
    call=lambda ns, ctx: Call("delete_scale_set", (ns.name, ns.resource_group)),
    examples=[("Delete a scale set, its instances and their disks.",
               "az vmss delete -g MyResourceGroup -n MyScaleSet")])


def _power(action: str, summary: str, extra: list[Arg] | None = None) -> None:
    command(f"az vmss {action}", summary, [
        _vmss_name(), rg(), _instance_ids(), *(extra or []), no_wait(),
    ], method="scale_set_power", ids=VMSS_TYPE,
        call=lambda ns, ctx: Call("scale_set_power", (ns.name, action, ns.resource_group),
                                  {"instance_ids": ns.instance_ids}),
        examples=[(f"{action.capitalize()} every instance.", f"az vmss {action} -g MyResourceGroup -n MyScaleSet"),
                  (f"{action.capitalize()} instances 0 and 1.",
                   f"az vmss {action} -g MyResourceGroup -n MyScaleSet --instance-ids 0 1")])


_power("start", "Start VMs within a VMSS.")
_power("stop", "Power off (stop) VMs within a VMSS.", [
    Arg(("--skip-shutdown",), "skip_shutdown", "Skip shutdown and power-off immediately.", kind="store_true")])
_power("deallocate", "Deallocate VMs within a VMSS.", [
    flag3(("--hibernate",), "hibernate", "Hibernate a virtual machine from the VM scale set. Available for Flexible "
          "Virtual Machine Scale Sets only (not modelled: a deallocation).")])
_power("restart", "Restart VMs within a VMSS.")


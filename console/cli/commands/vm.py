"""``az vm`` and ``az vm disk``."""

from __future__ import annotations

from .. import generic, props
from ..props import Prop
from ..errors import CLIError
from ..wait import wait_command
from ..output import deployment_validate_table_format, transform_instance_view, transform_vm
from ..spec import (Arg, Call, command, enum, flag3, location, name, no_wait,
                    rg, tags, yes, views)
from engine.rules import DISK_SKUS

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


_CREATE_PARAMS = {"size": lambda v, w: {"size": v},  # az's default size is not the engine's: always said
                  "os_disk_encryption_set": ("os_disk_encryption_set", "name"),
                  "data_disk_encryption_sets": ("data_disk_encryption_sets", "name"), "scale_set": None}
_DISK_PARAMS = {"disk": ("name", "name")}
LICENSE_TYPES = ("Windows_Server", "Windows_Client", "RHEL_BYOS", "SLES_BYOS", "RHEL_BASE", "RHEL_SAPAPPS",
                 "RHEL_SAPHA", "RHEL_EUS", "RHEL_BASESAPAPPS", "RHEL_BASESAPHA", "SLES_STANDARD", "SLES", "SLES_SAP",
                 "SLES_HPC", "None", "RHEL_ELS_6", "UBUNTU_PRO", "UBUNTU")


def _user_data(value, ns, ctx) -> str:
    """az sends ``--user-data`` base64-encoded (a file's content with ``@file``)."""
    import base64

    return base64.b64encode(str(value).encode()).decode()


def _vm_props(update: bool) -> list[Prop]:
    common = [
        Prop(("--license-type",), "license_type", "licenseType", "Specifies that the Windows image or disk was "
             "licensed on-premises, or that SLES/RHEL is used with a subscription.", kind="enum",
             choices=LICENSE_TYPES),
        Prop(("--priority",), "priority", "priority", "Priority. Use 'Spot' to run short-lived workloads in a "
             "cost-effective way.", kind="enum", choices=("Regular", "Low", "Spot", "SpotPlus")),
        Prop(("--max-price",), "max_price", "billingProfile.maxPrice", "The maximum price (in US Dollars) you are "
             "willing to pay for a Spot VM/VMSS. -1 indicates that the Spot VM/VMSS should not be evicted for price "
             "reasons.", kind="float"),
        Prop(("--enable-secure-boot",), "enable_secure_boot", "securityProfile.uefiSettings.secureBootEnabled",
             "Enable secure boot.", kind="flag3"),
        Prop(("--enable-vtpm",), "enable_vtpm", "securityProfile.uefiSettings.vTpmEnabled", "Enable vTPM.",
             kind="flag3"),
        Prop(("--security-type",), "security_type", "securityProfile.securityType", "Specify the security type of "
             "the virtual machine.", kind="enum", choices=("TrustedLaunch", "Standard", "ConfidentialVM")),
        Prop(("--enable-hibernation",), "enable_hibernation", "additionalCapabilities.hibernationEnabled",
             "The flag that enable or disable hibernation capability on the VM.", kind="flag3"),
        Prop(("--user-data",), "user_data", "userData", "UserData for the VM. It can be passed in as file or string.",
             convert=_user_data),
        Prop(("--ppg",), "proximity_placement_group", "proximityPlacementGroup", "The name or ID of the proximity "
             "placement group the VM should be associated with.",
             convert=props.sub_resource("Microsoft.Compute/proximityPlacementGroups")),
        Prop(("--host",), "dedicated_host", "host", "The ID of the dedicated host that the VM will reside in.",
             convert=lambda v, ns, ctx: {"id": v}),
        Prop(("--host-group",), "dedicated_host_group", "hostGroup", "Name or ID of the dedicated host group that the "
             "VM will reside in.", convert=props.sub_resource("Microsoft.Compute/hostGroups")),
        Prop(("--capacity-reservation-group", "--crg"), "capacity_reservation_group",
             "capacityReservation.capacityReservationGroup", "The ID or name of the capacity reservation group that "
             "is used to allocate.",
             convert=props.sub_resource("Microsoft.Compute/capacityReservationGroups")),
        Prop(("--disk-controller-type",), "disk_controller_type", "storageProfile.diskControllerType", "Specify the "
             "disk controller type configured for the VM or VMSS.", kind="enum", choices=("NVMe", "SCSI")),
        Prop(("--v-cpus-available",), "v_cpus_available", "hardwareProfile.vmSizeProperties.vCPUsAvailable",
             "Specify the number of vCPUs available.", kind="int"),
        Prop(("--v-cpus-per-core",), "v_cpus_per_core", "hardwareProfile.vmSizeProperties.vCPUsPerCore",
             "Specify the ratio of vCPU to physical core. Setting this property to 1 also means that hyper-threading "
             "is disabled.", kind="int"),
        Prop(("--enable-user-reboot-scheduled-events", "--enable-reboot"), "enable_user_reboot_scheduled_events",
             "scheduledEventsPolicy.userInitiatedReboot.automaticallyApprove", "The configuration parameter used "
             "while creating user initiated reboot scheduled event setting creation.", kind="flag3"),
        Prop(("--enable-user-redeploy-scheduled-events", "--enable-redeploy"), "enable_user_redeploy_scheduled_events",
             "scheduledEventsPolicy.userInitiatedRedeploy.automaticallyApprove", "The configuration parameter used "
             "while creating user initiated redeploy scheduled event setting creation.", kind="flag3"),
        Prop(("--enable-all-instance-down", "--all-instance-down"), "enable_all_instance_down",
             "scheduledEventsPolicy.allInstancesDown.automaticallyApprove", "The configuration parameter used while "
             "creating event setting for all instances down.", kind="flag3"),
        Prop(("--additional-scheduled-events", "--additional-events"), "additional_scheduled_events",
             "scheduledEventsProfile.osImageNotificationProfile.enable", "The configuration parameter used while "
             "creating event grid and resource graph scheduled event setting.", kind="flag3"),
    ]
    audit_enforce = ("Audit", "Enforce")
    proxy = "securityProfile.proxyAgentSettings"
    common += [
        Prop(("--processor-mode",), "processor_mode", "hardwareProfile.processorMode", "Specify the processor mode.",
             kind="enum", choices=("Deterministic", "Opportunistic")),
        Prop(("--disable-capacity-reservation-assignment", "--no-cap-reservation"),
             "disable_capacity_reservation_assignment", "capacityReservation.disableCapacityReservationAssignment",
             "Disable the capacity reservation assignment for the VM.", kind="flag3"),
        Prop(("--enable-proxy-agent",), "enable_proxy_agent", f"{proxy}.enabled", "Specify whether the Guest Proxy "
             "Agent feature is enabled on the virtual machine.", kind="flag3"),
        Prop(("--proxy-agent-mode",), "proxy_agent_mode", f"{proxy}.mode", "Specify the mode that the Guest Proxy "
             "Agent will execute on if the feature is enabled.", kind="enum", choices=audit_enforce),
        Prop(("--add-proxy-agent-extension", "--add-proxy-agent-ext"), "add_proxy_agent_extension",
             f"{proxy}.addProxyAgentExtension", "Specify whether to implicitly install the ProxyAgent Extension.",
             kind="flag3"),
        Prop(("--key-incarnation-id",), "key_incarnation_id", f"{proxy}.keyIncarnationId", "Increase the value of "
             "this property allows user to reset the key used for securing communication channel between guest and "
             "host.", kind="int"),
        Prop(("--wire-server-mode",), "wire_server_mode", f"{proxy}.wireServer.mode", "Specify the mode that the "
             "Guest Proxy Agent will execute on for the WireServer endpoint.", kind="enum", choices=audit_enforce),
        Prop(("--wire-server-use-local-file-rules", "--wire-local-rules"), "wire_server_use_local_file_rules",
             f"{proxy}.wireServer.useLocalFileRules", "Specify whether to use local file rules for the WireServer "
             "endpoint.", kind="flag3"),
        Prop(("--wire-server-access-control-profile-reference-id", "--wire-server-profile-id"),
             "wire_server_access_control_profile_reference_id", f"{proxy}.wireServer.inVMAccessControlProfileReferenceId",
             "Specify the access control profile version resource id of the WireServer endpoint."),
        Prop(("--imds-mode",), "imds_mode", f"{proxy}.imds.mode", "Specify the mode that the Guest Proxy Agent will "
             "execute on for the IMDS endpoint.", kind="enum", choices=audit_enforce),
        Prop(("--imds-access-control-profile-reference-id", "--imds-profile-id"),
             "imds_access_control_profile_reference_id", f"{proxy}.imds.inVMAccessControlProfileReferenceId",
             "Specify the access control profile version resource id of the IMDS endpoint."),
    ]
    if update:
        return common
    return common + [
        Prop(("--plan-name",), "plan_name", "plan.name", "Plan name."),
        Prop(("--plan-product",), "plan_product", "plan.product", "Plan product."),
        Prop(("--plan-publisher",), "plan_publisher", "plan.publisher", "Plan publisher."),
        Prop(("--plan-promotion-code",), "plan_promotion_code", "plan.promotionCode", "Plan promotion code."),
        Prop(("--eviction-policy",), "eviction_policy", "evictionPolicy", "The eviction policy for the Spot priority "
             "virtual machine. Default eviction policy is Deallocate for a Spot priority virtual machine.",
             kind="enum", choices=("Deallocate", "Delete")),
        Prop(("--computer-name",), "computer_name", "osProfile.computerName", "The host OS name of the virtual "
             "machine. Defaults to the name of the VM."),
        Prop(("--platform-fault-domain",), "platform_fault_domain", "platformFaultDomain", "Specify the scale set "
             "logical fault domain into which the virtual machine will be created.", kind="int"),
        Prop(("--availability-set",), "availability_set", "availabilitySet", "Name or ID of an existing availability "
             "set to add the VM to.", convert=props.sub_resource("Microsoft.Compute/availabilitySets")),
        Prop(("--boot-diagnostics-storage",), "boot_diagnostics_storage", "diagnosticsProfile.bootDiagnostics",
             "Pre-existing storage account name or its blob uri to capture boot diagnostics.",
             convert=lambda v, ns, ctx: {"enabled": True, "storageUri": v if "://" in str(v)
                                         else f"https://{v}.blob.core.windows.net/"}),
        Prop(("--edge-zone",), "edge_zone", "extendedLocation", "The name of edge zone.", convert=props.edge_zone),
        Prop(("--zone-placement-policy",), "zone_placement_policy", "placement.zonePlacementPolicy", "Specify the "
             "policy for virtual machine's placement in availability zone.", kind="enum", choices=("Any",)),
        Prop(("--include-zones",), "include_zones", "placement.includeZones", "If \"--zone-placement-policy\" is "
             "set to \"Any\", availability zone selected by the system must be present in the list of availability "
             "zones passed with \"--include-zones\".", kind="list"),
        Prop(("--exclude-zones",), "exclude_zones", "placement.excludeZones", "If \"--zone-placement-policy\" is "
             "set to \"Any\", availability zone selected by the system must not be present in the list of "
             "availability zones passed with \"--exclude-zones\".", kind="list"),
    ]


VM_CREATE_PROPS = _vm_props(update=False)
"""``az vm create`` flags that set a plain property of the VM."""
VM_UPDATE_PROPS = _vm_props(update=True)
"""``az vm update`` flags that set a plain property of the VM."""


def _create_call(ns, ctx) -> Call:
    kwargs: dict = {
        "props": props.collect(ns, ctx, VM_CREATE_PROPS),
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
    no_wait(), *props.args(VM_CREATE_PROPS),
], method="create_vm", params=_CREATE_PARAMS, call=_create_call, render=lambda e, vm, ns: views.vm_create_output(vm),
    table=deployment_validate_table_format,
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
    render=lambda e, vm, ns: views.vm_view(e, vm, details=ns.show_details, user_data=ns.include_user_data),
    examples=[("Show the power state of a VM.", "az vm show -g MyResourceGroup -n MyVm -d --query powerState -o tsv")])

def _in_scale_set(vm, vmss: str | None) -> bool:
    """``vm list --vmss NAME|ID``: the VMs of that scale set (every VM without it)."""
    if vmss is None:
        return True
    return bool(vm.scale_set) and vm.scale_set.lower() == vmss.rstrip("/").rsplit("/", 1)[-1].lower()


command("az vm list", "List details of Virtual Machines.", [
    rg(required=False),
    Arg(("--show-details", "-d"), "show_details", "Show public ip address, FQDN, and power states. command will run "
        "slow.", kind="store_true"),
    Arg(("--vmss",), "vmss", "List VM instances in a specific VMSS. Please specify the VMSS id or VMSS name."),
], call=lambda ns, ctx: Call("list_vms", (ns.resource_group,)), table=transform_vm,
    render=lambda e, vms, ns: [views.vm_view(e, vm, details=ns.show_details) for vm in vms
                               if _in_scale_set(vm, ns.vmss)],
    examples=[("List all VMs with their power state.", "az vm list -d -o table")])

command("az vm get-instance-view", "Get instance information about a VM.", [_vm_name(), rg()], ids=VM_TYPE, 
        call=lambda ns, ctx: Call("get_vm", (ns.name, ns.resource_group)), table=transform_instance_view,
        render=lambda e, vm, ns: views.vm_view(e, vm, instance_view=True),
        examples=[("Get a VM's power state.", "az vm get-instance-view -g MyResourceGroup -n MyVm "
                   "--query instanceView.statuses[1].displayStatus -o tsv")])


def _power(verb: str, method: str, summary: str, extra: list[Arg] | None = None, **kw) -> None:
    command(f"az vm {verb}", summary, [_vm_name(), rg(), *(extra or []), no_wait()], method=method, ids=VM_TYPE, 
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

def _ade_call(ns, ctx) -> Call:
    if ns.volume_type is not None and ns.volume_type.upper() != "ALL":
        raise CLIError(f"cmklab encrypts every volume of the VM with Azure Disk Encryption: --volume-type ALL (or "
                       f"leave it out), not {ns.volume_type}")
    return Call("enable_disk_encryption_ade", (ns.name, ns.resource_group),
                {"disk_encryption_keyvault": ns.disk_encryption_keyvault})


command("az vm encryption enable", "Enable disk encryption on the OS disk and/or data disks. Encrypt mounted disks.", [
    _vm_name(), rg(),
    Arg(("--disk-encryption-keyvault",), "disk_encryption_keyvault", "Name or ID of the key vault where the "
        "generated encryption key will be placed.", required=True),
    enum(("--volume-type",), "volume_type", "Type of volume that the encryption operation is performed on "
         "(cmklab encrypts every volume: ALL).", ("ALL", "DATA", "OS")),
], method="enable_disk_encryption_ade", params={"disk_encryption_keyvault": ("disk_encryption_keyvault", "scope")},
    ids=VM_TYPE, call=_ade_call,
    long_summary="Azure Disk Encryption encrypts in the guest; it cannot be combined with customer-managed keys on "
                 "the VM's disks (their disk encryption sets) nor with encryption at host.",
    examples=[("encrypt a VM using a key vault in the same resource group",
               "az vm encryption enable -g MyResourceGroup -n MyVm --disk-encryption-keyvault MyVault")])


command("az vm delete", "Delete a VM.", [
    _vm_name(), rg(),
    enum(("--force-deletion",), "force_deletion", "Optional parameter to force delete virtual machines.",
         ("true", "false", "True", "False")),
    no_wait(), yes(),
], method="delete_vm", confirm=True, ids=VM_TYPE, probe="get_vm",
    call=lambda ns, ctx: Call("delete_vm", (ns.name, ns.resource_group)),
    examples=[("Delete a VM without a prompt (its disks are kept).", "az vm delete -g MyResourceGroup -n MyVm --yes")])


def _bool(value) -> bool:
    if not isinstance(value, bool):
        raise CLIError(f"a generic update gave {value!r} where true or false is needed")
    return value


def _str(value) -> str:
    if not isinstance(value, str) or not value:
        raise CLIError(f"a generic update gave {value!r} where a non-empty string is needed")
    return value


VM_UPDATABLE = {
    generic.TAGS: ("tags", generic.aaz_tags), "securityProfile.encryptionAtHost": ("encryption_at_host", _bool), "hardwareProfile.vmSize": ("size", _str),
    "additionalCapabilities.ultraSSDEnabled": ("ultra_ssd_enabled", _bool),
}
"""What a generic update can change on a VM (its JSON path -> the facade keyword)."""


def _set_words(value, w) -> dict:
    """az 2.91's ``vm update`` has neither ``--encryption-at-host`` nor ``--tags``: the docs set them with the generic
    ``--set``. Both parameters say the one ``--set`` of the call (``w.p``), so either may be the one said last."""
    items = []
    if w.p.get("encryption_at_host") is not None:
        items.append("securityProfile.encryptionAtHost=" + ("true" if w.p["encryption_at_host"] else "false"))
    items += generic.tags_words(w.p.get("tags"))
    return {"set": items} if items else {}


def _update_call(ns, ctx) -> Call:
    kwargs = {"size": ns.size, "ultra_ssd_enabled": ns.ultra_ssd_enabled}
    given = props.collect(ns, ctx, VM_UPDATE_PROPS)
    if generic.given(ns):
        engine = ctx.engine
        before = views.vm_view(engine, engine.get_vm(ns.name, ns.resource_group), nulls=True)
        updatable = dict(VM_UPDATABLE)
        updatable.update({p.path: ("props:" + p.path, None) for p in VM_UPDATE_PROPS})
        generic.route_changes(generic.changes(before, generic.apply(before, ns), updatable, "az vm update"),
                              kwargs, given)
    if given:
        kwargs["props"] = given
    return Call("update_vm", (ns.name, ns.resource_group), kwargs)


command("az vm update", "Update the properties of a VM.", [
    _vm_name(), rg(),
    Arg(("--size",), "size", "The new size of the virtual machine. See https://azure.microsoft.com/pricing/details/"
        "virtual-machines/ for size info."),
    flag3(("--ultra-ssd-enabled",), "ultra_ssd_enabled", "Enables or disables the capability to have 1 or more "
          "managed data disks with UltraSSD_LRS storage account."),
    *generic.generic_args(),
    no_wait(), *props.args(VM_UPDATE_PROPS),
], method="update_vm", params={"encryption_at_host": _set_words, "tags": _set_words}, ids=VM_TYPE, call=_update_call, render=lambda e, vm, ns: views.vm_view(e, vm),
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
], method="attach_disk", params=_DISK_PARAMS, ids=VM_TYPE, id_parts=("resource_group", "vm_name"),
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
], method="detach_disk", params=_DISK_PARAMS, resource_type=VM_TYPE, id_parts=("resource_group", "vm_name"),
    call=lambda ns, ctx: Call("detach_disk", (ns.vm_name, ns.name, ns.resource_group)),
    examples=[("Detach a data disk.", "az vm disk detach -g MyResourceGroup --vm-name MyVm --name disk_name")])

wait_command("az vm wait", [_vm_name(), rg()],
             lambda e, ns: views.vm_view(e, e.get_vm(ns.name, ns.resource_group), instance_view=True),
             ids=VM_TYPE, what="the VM",
             examples=[("Wait until a VM another terminal starts is running.",
                        "az vm wait -g MyResourceGroup -n MyVm --custom "
                        "\"instanceView.statuses[?code=='PowerState/running']\" --interval 5 --timeout 120")])
